//! A screen's `gatecast-player`: enrolled with `gatecast-player enroll`, run with the null
//! backend (or mpv, for the glass tests), stopped or killed, its configuration edited and its journal read once stopped.

use std::path::{Path, PathBuf};
use std::process::Command;

use gatecast_testkit::ChildGuard;

use crate::controller::Controller;
use crate::harness::tail;
use crate::process::{self, binary};

/// A screen's player: its directory (`player.toml`, `data/`, `player.log`) and, while
/// running, its `gatecast-player run --backend null` process. Killed when dropped.
pub struct Player {
    /// The screen id.
    pub screen: String,
    dir: PathBuf,
    child: Option<ChildGuard>,
    /// Null-backend speed-up (`--null-speed`).
    pub null_speed: f64,
    /// The backend `run` is started with (`null` unless a test sets `mpv`).
    pub backend: &'static str,
    /// More environment for `run` (e.g. the `DISPLAY` of a glass test's X server).
    pub env: Vec<(String, String)>,
}

impl Player {
    /// Runs `gatecast-player enroll` against `ctl` into `dir` (config `dir/player.toml`,
    /// data `dir/data`, backend null) and asserts it succeeded.
    pub fn enroll(ctl: &Controller, screen: &str, code: &str, dir: &Path) -> Player {
        Player::enroll_with(ctl, screen, code, dir, &[])
    }

    /// [`Player::enroll`] with more `enroll` flags (`--policy-root ID`, `--pin-sha256 HEX`,
    /// `--ca-file FILE`).
    pub fn enroll_with(
        ctl: &Controller,
        screen: &str,
        code: &str,
        dir: &Path,
        extra: &[&str],
    ) -> Player {
        std::fs::create_dir_all(dir).expect("player dir");
        let p = Player {
            screen: screen.to_string(),
            dir: dir.to_path_buf(),
            child: None,
            null_speed: 1.0,
            backend: "null",
            env: Vec::new(),
        };
        let key_id = ctl.get("/api/v1/keys")["controller_key_id"]
            .as_str()
            .expect("controller_key_id")
            .to_string();
        let o = Command::new(binary("gatecast-player"))
            .arg("enroll")
            .args([
                "--controller",
                &ctl.url(),
                "--screen",
                screen,
                "--code",
                code,
            ])
            .args(["--expect-key-id", &key_id])
            .arg("--config")
            .arg(p.config_path())
            .arg("--data")
            .arg(p.data_dir())
            .args(["--backend", "null"])
            .args(extra)
            .output()
            .expect("running gatecast-player enroll");
        assert!(
            o.status.success(),
            "gatecast-player enroll failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        p
    }

    /// `dir/player.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("player.toml")
    }

    /// `dir/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `dir/player.log` (stderr of every run).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("player.log")
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 60)
    }

    /// The cache file of a media hash.
    pub fn cache_file(&self, sha256: &str) -> PathBuf {
        self.data_dir().join("cache").join("sha256").join(sha256)
    }

    /// The configuration as written by `enroll`.
    pub fn config(&self) -> gatecast_player::config::PlayerConfig {
        gatecast_player::config::PlayerConfig::load(&self.config_path())
            .expect("the player configuration loads")
    }

    /// Points the player at another broker (e.g. a [`CutProxy`](crate::CutProxy)) by rewriting
    /// `broker` in its configuration, as a person would. Takes effect at the next start.
    pub fn set_broker(&self, url: &str) {
        self.edit_config(|cfg| cfg.broker = url.to_string());
    }

    /// Changes the configuration file (e.g. `batch_max_delay_ms`); takes effect at the next
    /// start.
    pub fn edit_config(&self, f: impl FnOnce(&mut gatecast_player::config::PlayerConfig)) {
        let mut cfg = self.config();
        f(&mut cfg);
        cfg.save(&self.config_path())
            .expect("saving the player configuration");
    }

    /// Starts `gatecast-player run --backend BACKEND --null-speed SPEED --status-interval-secs 1`
    /// (backend `null` unless [`Player::backend`] says otherwise).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "player already running");
        let child = ChildGuard::spawn(
            &format!("gatecast-player run ({})", self.screen),
            Command::new(binary("gatecast-player"))
                .arg("run")
                .arg("--config")
                .arg(self.config_path())
                .args(["--backend", self.backend, "--status-interval-secs", "1"])
                .arg("--null-speed")
                .arg(self.null_speed.to_string())
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .env("RUST_LOG", "info"),
            &self.log_path(),
        );
        self.child = Some(child);
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        process::is_running(&mut self.child)
    }

    /// SIGTERM and wait for a clean exit (panics if it needed SIGKILL).
    pub fn stop(&mut self) {
        process::stop(&mut self.child);
    }

    /// SIGKILL (a crash or power cut).
    pub fn kill9(&mut self) {
        process::kill9(&mut self.child);
    }

    /// Reads the journal of a **stopped** player (its database is locked while it runs).
    pub fn journal(&self) -> JournalView {
        assert!(
            self.child.is_none(),
            "stop the player before reading its journal"
        );
        let store = gatecast_player::store::Store::open(&self.data_dir())
            .expect("opening the player's state database");
        let j = gatecast_player::journal::Journal::open(&store, &self.screen)
            .expect("opening the player's journal");
        let unacked = j.unacked(usize::MAX).expect("reading the journal");
        JournalView {
            backlog: j.backlog(),
            unacked_seqs: unacked.iter().map(|(s, _)| *s).collect(),
            tip_seq: j.tip().map(|t| t.seq),
        }
    }
}

/// What a stopped player's journal holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalView {
    /// Receipts written but not acknowledged.
    pub backlog: u64,
    /// Their `seq`, ascending.
    pub unacked_seqs: Vec<u64>,
    /// The last `seq` ever written.
    pub tip_seq: Option<u64>,
}
