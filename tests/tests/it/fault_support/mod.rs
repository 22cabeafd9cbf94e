//! Shared pieces of the fault tests (the `fault_*` modules): loop length, a randomised schedule
//! with a printed seed, a player process whose uploader logs every verified ack, the
//! controller's receipts through `GET /api/v1/receipts?format=jsonl`, the cache check (every
//! complete file hashes to its name), and the one-line result that `tests/fault-loops.sh`
//! collects.
//!
//! Loop length: the short CI loop by default; `GATECAST_FAULT_CYCLES=100` for the long one.
//! Randomness: `GATECAST_FAULT_SEED=<n>` replays a schedule (the seed is printed at the start).
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatecast_tests::{binary, http, sha256_hex, tail, Controller, Player};
use serde_json::Value;

/// How many cycles a fault loop runs: `GATECAST_FAULT_CYCLES`, else `short`.
pub fn cycles(short: usize) -> usize {
    std::env::var("GATECAST_FAULT_CYCLES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(short)
}

/// A small xorshift generator: fault timing only, never security.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `GATECAST_FAULT_SEED`, else from the time; prints the seed.
    pub fn new(test: &str) -> Rng {
        let seed = std::env::var("GATECAST_FAULT_SEED")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    ^ u64::from(std::process::id())
            })
            .max(1);
        eprintln!("{test}: GATECAST_FAULT_SEED={seed}");
        Rng(seed)
    }

    /// The next number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        lo + x % (hi - lo + 1)
    }
}

/// Prints the result line that `tests/fault-loops.sh` collects, and appends it to
/// `$GATECAST_FAULT_RESULTS` when that is set.
pub fn report(line: &str) {
    let line = format!("FAULT-RESULT {line}");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("GATECAST_FAULT_RESULTS") {
        use std::io::Write;
        if let Ok(mut f) = File::options().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A `gatecast-player run --backend null` process on an enrolled [`Player`]'s directory,
/// started here (not through `Player::start`) so that its uploader logs every verified ack
/// (`RUST_LOG=…,gatecast_player::uploader=debug`) into `<dir>/fault-player.log`.
pub struct FaultPlayer {
    /// The enrolled player (configuration, data dir, journal reader).
    pub player: Player,
    child: Option<Child>,
    log: PathBuf,
    /// `--null-speed`.
    pub speed: f64,
}

impl Drop for FaultPlayer {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl FaultPlayer {
    /// Wraps an enrolled player (not running).
    pub fn new(player: Player, speed: f64) -> FaultPlayer {
        let log = player
            .config_path()
            .parent()
            .expect("player dir")
            .join("fault-player.log");
        FaultPlayer {
            player,
            child: None,
            log,
            speed,
        }
    }

    /// The screen id.
    pub fn screen(&self) -> &str {
        &self.player.screen
    }

    /// Starts `gatecast-player run`.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "player already running");
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("player log");
        let err = out.try_clone().expect("player log");
        let child = Command::new(binary("gatecast-player"))
            .arg("run")
            .arg("--config")
            .arg(self.player.config_path())
            .args(["--backend", "null", "--status-interval-secs", "1"])
            .arg("--null-speed")
            .arg(self.speed.to_string())
            .env("RUST_LOG", "info,gatecast_player::uploader=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting gatecast-player run");
        self.child = Some(child);
    }

    /// Whether it runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL (a crash or power cut) and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit (SIGKILL after 20 s, then panic).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!(
                "player {} did not stop on SIGTERM; log:\n{}",
                self.player.screen,
                self.log_tail()
            );
        }
    }

    /// The highest `upto` of every ack the player verified and applied (it deleted the
    /// receipts up to it from its journal), over all its runs; 0 if none.
    pub fn acked_upto(&self) -> u64 {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("receipts acknowledged"))
            .filter_map(|l| {
                let rest = &l[l.find("upto=")? + 5..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0)
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }

    /// Its log path.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

/// Every receipt row the controller stored for `screen`, read with
/// `GET /api/v1/receipts?screen=…&format=jsonl` (following `x-next-cursor`). `None` while the
/// controller does not answer (e.g. it is restarting).
pub fn receipts_jsonl(ctl: &Controller, screen: &str) -> Option<Vec<Value>> {
    let auth = format!("Bearer {}", ctl.token);
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/receipts?screen={screen}&format=jsonl&limit=100000");
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(c);
        }
        let r = http(ctl.http, "GET", &path, &[("Authorization", &auth)], b"").ok()?;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        for line in r.text().lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("receipts jsonl line is not JSON ({e}): {line}"));
            out.push(v);
        }
        match r.header("x-next-cursor") {
            Some(c) if !c.is_empty() => cursor = Some(c.to_string()),
            _ => return Some(out),
        }
    }
}

/// What the controller holds for one screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreCheck {
    /// Rows returned.
    pub rows: u64,
    /// Highest `seq` (= rows: contiguous from 1, none twice).
    pub top: u64,
}

/// Checks the controller's receipts of `screen`: `seq` 1..=top each exactly once (no gap = none
/// lost, none twice = none duplicated), every row of this screen, and `top >= acked` (every
/// receipt the player was told is stored is stored). Panics with the evidence otherwise.
pub fn check_store(ctl: &Controller, screen: &str, acked: u64, when: &str) -> StoreCheck {
    let rows = receipts_jsonl(ctl, screen)
        .unwrap_or_else(|| panic!("{when}: the controller does not answer the receipts query"));
    let mut seqs: Vec<u64> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["screen"], screen, "{when}: a row of another screen: {r}");
            r["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("{when}: row without seq: {r}"))
        })
        .collect();
    seqs.sort_unstable();
    let mut dups = 0u64;
    for w in seqs.windows(2) {
        if w[0] == w[1] {
            dups += 1;
        }
    }
    assert_eq!(dups, 0, "{when}: {screen}: duplicated receipts: {seqs:?}");
    for (i, s) in seqs.iter().enumerate() {
        assert_eq!(
            *s,
            i as u64 + 1,
            "{when}: {screen}: gap in the stored receipts (lost): {:?}",
            &seqs[i.saturating_sub(3)..(i + 3).min(seqs.len())]
        );
    }
    let top = seqs.last().copied().unwrap_or(0);
    assert!(
        top >= acked,
        "{when}: {screen}: the player was acked up to {acked} but the controller holds only 1..={top} (LOST acked receipts)"
    );
    StoreCheck {
        rows: seqs.len() as u64,
        top,
    }
}

/// Hashes every complete file (not `.part`) of a player's cache directory and compares it
/// with its name. Returns `(files checked, corrupted)`; the names of corrupted files are
/// printed.
pub fn check_cache(data_dir: &Path) -> (u64, u64) {
    let dir = data_dir.join("cache").join("sha256");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (0, 0);
    };
    let (mut checked, mut corrupted) = (0, 0);
    for e in entries.map_while(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".part") || !e.path().is_file() {
            continue;
        }
        let bytes = std::fs::read(e.path()).expect("reading a cache file");
        checked += 1;
        if sha256_hex(&bytes) != name {
            eprintln!(
                "CORRUPTED cache file {} ({} bytes)",
                e.path().display(),
                bytes.len()
            );
            corrupted += 1;
        }
    }
    (checked, corrupted)
}

/// The sum of a Prometheus counter over its labels (0 when absent).
pub fn counter(ctl: &Controller, name: &str) -> f64 {
    gatecast_tests::metric_sum(&ctl.metrics(), name).unwrap_or(0.0)
}
