//! Wrong staff passwords, per address and for the whole box. After
//! [`FREE_TRIES`] an address waits 1 s, then 2 s, 4 s, … up to 15 minutes
//! between tries; a right password clears it, and an hour of quiet
//! forgets it. Checks in flight count as failures until they end, so a
//! burst from one address gets [`FREE_TRIES`] checks at most, however many
//! arrive at once. Argon2 takes ~19 MiB per check, so checks run on
//! [`CHECKS_AT_ONCE`] threads of their own (on the shared blocking pool
//! every thread that ever ran one keeps its 19 MiB in its malloc arena:
//! 55 checks grew the process by 400 MiB) and the box checks at most
//! [`CHECKS_PER_MINUTE`] a minute; the rest are refused at once. The
//! counts live in the store (`login_throttle` tree): a restart does not
//! hand an attacker fresh tries.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, Semaphore};

pub const FREE_TRIES: u32 = 5;
/// Password checks running at once.
pub const CHECKS_AT_ONCE: usize = 2;
/// Password checks the whole box starts in one minute.
pub const CHECKS_PER_MINUTE: usize = 60;
/// How long a sign-in waits for a free checker before it is refused.
const CHECK_WAIT: Duration = Duration::from_secs(2);
const MAX_DELAY_MS: i64 = 15 * 60_000;
const FORGET_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;
const MAX_TRACKED: usize = 10_000;

/// The wait before the next try after `count` wrong passwords.
pub fn delay_ms(count: u32) -> i64 {
    if count < FREE_TRIES {
        return 0;
    }
    let doublings = (count - FREE_TRIES).min(20);
    (1000i64 << doublings).min(MAX_DELAY_MS)
}

/// Why a sign-in was not checked; displayed in words for staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// This address must wait this long.
    #[error("Too many wrong passwords. Try again in {} s.", (.ms + 999) / 1000)]
    Wait { ms: i64 },
    /// The box is checking as many passwords as it will.
    #[error("The kiosk is checking too many passwords right now. Try again in a minute.")]
    Busy,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Failures {
    count: u32,
    last_ms: i64,
    /// Checks admitted and not yet ended; never stored.
    #[serde(skip)]
    pending: u32,
}

#[derive(Default)]
struct Counts {
    peers: HashMap<IpAddr, Failures>,
    /// When each check of the last minute started.
    recent: VecDeque<i64>,
}

type Check = Box<dyn FnOnce() + Send>;

pub struct LoginThrottle {
    tree: sled::Tree,
    counts: Mutex<Counts>,
    /// Turns at the checker threads; held while a check is queued or runs.
    turns: Arc<Semaphore>,
    checkers: Mutex<mpsc::Sender<Check>>,
}

/// The checker threads; they end when the throttle (the sender) goes.
fn start_checkers() -> mpsc::Sender<Check> {
    let (tx, rx) = mpsc::channel::<Check>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..CHECKS_AT_ONCE {
        let rx = Arc::clone(&rx);
        let spawned = std::thread::Builder::new()
            .name(format!("staff-check-{i}"))
            .spawn(move || loop {
                let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                match next {
                    Ok(check) => check(),
                    Err(_) => break,
                }
            });
        if let Err(e) = spawned {
            tracing::error!("could not start a password checker thread: {e}");
        }
    }
    tx
}

/// One admitted password check; it must end in [`Attempt::failed`] or
/// [`Attempt::succeeded`], and counts as neither if dropped.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    ip: IpAddr,
    ended: bool,
}

impl LoginThrottle {
    /// The throttle with the counts kept in `tree`; unreadable or
    /// forgotten entries are dropped.
    pub fn open(tree: sled::Tree, now_ms: i64) -> Result<Self, sled::Error> {
        let mut peers = HashMap::new();
        for kv in tree.iter() {
            let (k, v) = kv?;
            let ip = std::str::from_utf8(&k).ok().and_then(|s| s.parse().ok());
            let f = serde_json::from_slice::<Failures>(&v).ok();
            match (ip, f) {
                (Some(ip), Some(f)) if (now_ms - f.last_ms).abs() < FORGET_MS => {
                    peers.insert(ip, f);
                }
                _ => {
                    tree.remove(k)?;
                }
            }
        }
        Ok(Self {
            tree,
            counts: Mutex::new(Counts {
                peers,
                recent: VecDeque::new(),
            }),
            turns: Arc::new(Semaphore::new(CHECKS_AT_ONCE)),
            checkers: Mutex::new(start_checkers()),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds `ip` must still wait before its password is checked.
    pub fn wait_ms(&self, ip: IpAddr, now_ms: i64) -> i64 {
        wait(self.counts().peers.get(&ip), now_ms)
    }

    /// Admits one check from `ip`, or says why not: the test and the
    /// record are one step under one lock.
    pub fn admit(&self, ip: IpAddr, now_ms: i64) -> Result<Attempt<'_>, Refused> {
        let mut counts = self.counts();
        let ms = wait(counts.peers.get(&ip), now_ms);
        if ms > 0 {
            return Err(Refused::Wait { ms });
        }
        while counts
            .recent
            .front()
            .is_some_and(|t| (now_ms - t).abs() >= MINUTE_MS)
        {
            counts.recent.pop_front();
        }
        if counts.recent.len() >= CHECKS_PER_MINUTE {
            return Err(Refused::Busy);
        }
        counts.recent.push_back(now_ms);
        let f = counts.peers.entry(ip).or_insert(Failures {
            count: 0,
            last_ms: now_ms,
            pending: 0,
        });
        if (now_ms - f.last_ms).abs() >= FORGET_MS {
            f.count = 0;
        }
        f.pending += 1;
        f.last_ms = now_ms;
        Ok(Attempt {
            throttle: self,
            ip,
            ended: false,
        })
    }

    /// Runs `check` (a password check) on a checker thread once one is
    /// free within a moment; refused when none is.
    pub async fn check<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refused> {
        let turn = tokio::time::timeout(CHECK_WAIT, Arc::clone(&self.turns).acquire_owned())
            .await
            .map_err(|_| Refused::Busy)?
            .map_err(|_| Refused::Busy)?;
        let (tx, rx) = oneshot::channel();
        let job: Check = Box::new(move || {
            let _ = tx.send(check());
        });
        let sent = self
            .checkers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job);
        if sent.is_err() {
            return Err(Refused::Busy);
        }
        let out = rx.await.map_err(|_| Refused::Busy);
        drop(turn);
        out
    }

    fn end(&self, ip: IpAddr, outcome: Option<(bool, i64)>) -> u32 {
        let mut counts = self.counts();
        let Some(f) = counts.peers.get_mut(&ip) else {
            return 0;
        };
        f.pending = f.pending.saturating_sub(1);
        match outcome {
            Some((true, _)) => {
                counts.peers.remove(&ip);
                let _ = self.tree.remove(ip.to_string());
                0
            }
            Some((false, now_ms)) => {
                f.count += 1;
                f.last_ms = now_ms;
                let (n, stored) = (f.count, *f);
                if let Ok(bytes) = serde_json::to_vec(&stored) {
                    let _ = self.tree.insert(ip.to_string(), bytes);
                }
                self.prune(&mut counts, now_ms);
                n
            }
            None => {
                if f.count == 0 && f.pending == 0 {
                    counts.peers.remove(&ip);
                }
                0
            }
        }
    }

    /// Forgets quiet addresses and, under a flood of addresses, the older
    /// half.
    fn prune(&self, counts: &mut Counts, now_ms: i64) {
        let mut gone: Vec<IpAddr> = counts
            .peers
            .iter()
            .filter(|(_, f)| f.pending == 0 && (now_ms - f.last_ms).abs() >= FORGET_MS)
            .map(|(ip, _)| *ip)
            .collect();
        if counts.peers.len() - gone.len() > MAX_TRACKED {
            let mut times: Vec<i64> = counts.peers.values().map(|f| f.last_ms).collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            gone.extend(
                counts
                    .peers
                    .iter()
                    .filter(|(_, f)| f.pending == 0 && f.last_ms <= cut)
                    .map(|(ip, _)| *ip),
            );
        }
        for ip in gone {
            counts.peers.remove(&ip);
            let _ = self.tree.remove(ip.to_string());
        }
    }
}

fn wait(f: Option<&Failures>, now_ms: i64) -> i64 {
    f.map_or(0, |f| {
        // abs: a clock jump back must not lock staff out for longer.
        let since = (now_ms - f.last_ms).abs();
        (delay_ms(f.count + f.pending) - since).max(0)
    })
}

impl Attempt<'_> {
    /// A wrong password; returns how many in a row from this address.
    pub fn failed(mut self, now_ms: i64) -> u32 {
        self.ended = true;
        self.throttle.end(self.ip, Some((false, now_ms)))
    }

    /// The right password: the address starts afresh.
    pub fn succeeded(mut self) {
        self.ended = true;
        self.throttle.end(self.ip, Some((true, 0)));
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.throttle.end(self.ip, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(dir: &tempfile::TempDir) -> LoginThrottle {
        let db = sled::open(dir.path()).expect("sled");
        LoginThrottle::open(db.open_tree("login_throttle").expect("tree"), 0).expect("open")
    }

    #[test]
    fn wrong_passwords_earn_a_growing_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = throttle(&dir);
        let ip: IpAddr = "192.168.1.9".parse().expect("ip");
        let other: IpAddr = "192.168.1.10".parse().expect("ip");
        for _ in 0..4 {
            t.admit(ip, 0).expect("free").failed(0);
            assert_eq!(t.wait_ms(ip, 0), 0, "four wrong tries are free");
        }
        t.admit(ip, 0).expect("fifth").failed(0);
        assert_eq!(t.wait_ms(ip, 0), 1000);
        assert_eq!(t.admit(ip, 500).err(), Some(Refused::Wait { ms: 500 }));
        assert_eq!(t.wait_ms(other, 0), 0, "per address");
        t.admit(ip, 1000).expect("after the wait").failed(1000);
        assert_eq!(t.wait_ms(ip, 1000), 2000);
        assert_eq!(t.wait_ms(ip, 2500), 500);
        assert_eq!(delay_ms(40), MAX_DELAY_MS);
        t.admit(ip, 3000).expect("after the wait").succeeded();
        assert_eq!(t.wait_ms(ip, 3000), 0);
    }

    #[test]
    fn a_burst_gets_five_checks_and_unfinished_ones_count_for_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = throttle(&dir);
        let ip: IpAddr = "10.1.2.3".parse().expect("ip");
        let held: Vec<_> = (0..200).filter_map(|_| t.admit(ip, 0).ok()).collect();
        assert_eq!(held.len(), FREE_TRIES as usize);
        drop(held);
        assert_eq!(t.wait_ms(ip, 0), 0, "dropped checks are not failures");
        assert!(t.counts().peers.is_empty());
    }

    #[test]
    fn the_whole_box_starts_a_bounded_number_of_checks_a_minute() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = throttle(&dir);
        for i in 0..CHECKS_PER_MINUTE {
            let ip = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            t.admit(ip, 0).expect("under the bound").failed(0);
        }
        let late: IpAddr = "10.9.9.9".parse().expect("ip");
        assert_eq!(t.admit(late, 59_000).err(), Some(Refused::Busy));
        assert!(t.admit(late, 60_000).is_ok(), "a minute later");
    }

    #[tokio::test]
    async fn checks_run_on_the_checker_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = throttle(&dir);
        let name = t
            .check(|| std::thread::current().name().map(str::to_string))
            .await
            .expect("a turn");
        assert!(name.is_some_and(|n| n.starts_with("staff-check-")));
    }

    #[test]
    fn the_counts_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ip: IpAddr = "192.168.7.7".parse().expect("ip");
        {
            let t = throttle(&dir);
            for _ in 0..FREE_TRIES {
                t.admit(ip, 0).expect("free").failed(0);
            }
            t.tree.flush().expect("flush");
        }
        let t = throttle(&dir);
        assert_eq!(t.wait_ms(ip, 0), 1000);
        let db = sled::open(dir.path().join("other")).expect("sled");
        let tree = db.open_tree("login_throttle").expect("tree");
        tree.insert("not an ip", b"{}".to_vec()).expect("insert");
        tree.insert("10.0.0.1", b"garbage".to_vec())
            .expect("insert");
        let t = LoginThrottle::open(tree, 0).expect("bad entries are dropped");
        assert!(t.counts().peers.is_empty());
        assert!(t.tree.is_empty());
    }
}
