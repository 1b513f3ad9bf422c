//! Private Linux namespaces made by the test itself (`unshare` as a mapped
//! root user), kept alive by a sleeping holder; commands enter them with
//! `nsenter`. A mount namespace gives a small private tmpfs; a network
//! namespace gives a non-loopback address that exists nowhere else, so a
//! test never sends a packet to this machine's own network.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// The address of the veth interface inside [`Namespace::network`].
pub const NETNS_IP: &str = "10.213.0.1";

pub struct Namespace {
    holder: Child,
    kinds: Vec<&'static str>,
}

impl Namespace {
    /// Namespaces of `kinds` (`--mount`, `--net`) set up by the shell
    /// script `setup`, which gets `args` as `$1`….
    pub fn new(kinds: &[&'static str], setup: &str, args: &[&str]) -> Self {
        let mut holder = Command::new("unshare")
            .args(["--user", "--map-root-user"])
            .args(kinds)
            .args(["sh", "-c"])
            .arg(format!("{setup} && echo ready && exec sleep 3600"))
            .arg("sh")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        if line.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().expect("holder output");
            panic!(
                "namespaces {kinds:?} could not be set up: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Self {
            holder,
            kinds: kinds.to_vec(),
        }
    }

    /// A network namespace whose only interfaces are `lo` and a veth pair,
    /// one end holding [`NETNS_IP`].
    pub fn network() -> Self {
        Self::new(
            &["--net"],
            &format!(
                "ip link set lo up && ip link add smiley0 type veth peer name smiley1 \
                 && ip addr add {NETNS_IP}/24 dev smiley0 \
                 && ip link set smiley0 up && ip link set smiley1 up"
            ),
            &[],
        )
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `program` run inside these namespaces.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["--target", &self.pid().to_string(), "--user"]);
        for kind in &self.kinds {
            cmd.arg(kind);
        }
        cmd.args(["--preserve-credentials", "--"]).arg(program);
        cmd
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
