//! What a test that timed out leaves behind: every thread's stack (a stall
//! is a thread waiting on something, and the stacks say on what) and the
//! in-process kiosks' log lines, which libtest prints for failed tests only.

use std::process::{Command, Stdio};
use std::sync::Once;

/// Every thread of this test process with its stack, from gdb; a line
/// saying why not where gdb is missing or cannot attach.
pub fn thread_stacks() -> String {
    match gdb_stacks() {
        Ok(stacks) => stacks,
        Err(why) => format!("(no thread stacks: {why})"),
    }
}

fn gdb_stacks() -> Result<String, String> {
    // gdb stops this whole process while it reads it, the thread waiting
    // here included: its answer goes to a file, since a pipe nobody reads
    // would fill up and leave both waiting on each other.
    let out = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let file = out.reopen().map_err(|e| e.to_string())?;
    let pid = std::process::id().to_string();
    let status = Command::new("timeout")
        .args(["-s", "KILL", "120", "gdb", "-p", &pid])
        .args(["-batch", "-nx", "-q"])
        .args(["-ex", "set pagination off"])
        .args(["-ex", "thread apply all bt 40"])
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("gdb did not run: {e}"))?;
    let text = std::fs::read_to_string(out.path()).map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("gdb exited with {status}"));
    }
    // gdb's own chatter (symbol loading) is noise beside the stacks.
    Ok(text
        .lines()
        .filter(|l| l.starts_with('#') || l.starts_with("Thread "))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Sends the in-process kiosks' `tracing` lines to libtest's capture, so a
/// failed test shows what its kiosk did (a passing one shows nothing).
pub fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("SMILELOOP_TEST_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("smileloop=info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .with_ansi(false)
            .with_thread_names(true)
            .try_init();
    });
}
