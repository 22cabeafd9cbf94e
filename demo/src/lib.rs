//! The gatecast demo: the whole system in one process, for a newcomer's first minutes
//! (`cargo run --release -- demo` from the repository root runs it; see `src/main.rs`).
//!
//! This crate is the only one that links the controller and the player together: the
//! production `gatecast-controller` binary carries neither the player nor the sample content.
//!
//! What it does, in order:
//!
//! 1. prepares the demo data directory (`./gatecast-demo` by default; `--fresh` deletes it
//!    first, and only a directory this command made — it carries a marker file — is ever
//!    deleted or reused);
//! 2. starts the real controller ([`gatecast_controller::serve::start`]) with its embedded MQTT
//!    broker;
//! 3. loads the sample content (`demo/content.toml` and the media next to it, both
//!    embedded in the binary so it runs from any directory) **through the controller's own
//!    HTTP API** with the admin token, so the demo exercises the same paths as an operator:
//!    media, playlists, three screens at two Lao Cai gates, schedules (a fallback, a morning
//!    daypart, two campaign date ranges), then publishes;
//! 4. enrols three in-process players ([`gatecast_player::agent::run`], the same agent as the
//!    `gatecast-player` binary) through the real enrolment endpoint, each with its own data
//!    directory, device key and MQTT session;
//! 5. prints the console URL, the admin token file and one live line per screen until
//!    shutdown; then stops the players (they flush their journals) and the controller.
//!
//! A second run finds everything in place: existing media, playlists, schedules and screens
//! are left alone (operator edits made in the console survive), and the players resume with
//! their own keys and journals. Only the player configuration is rewritten, because the
//! controller's addresses may differ between runs (port 0).
//!
//! Slides play for 4 s in the demo playlists (8 s is their real default) so that receipts
//! flow within a minute; videos and clips play for their real length. Playback durations are
//! honest: the `null` backend runs in real time.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gatecast_player::agent::{self, BackendChoice, RunOptions};
use gatecast_player::config::{BackendKind, MediaBase, PlayerConfig};
use gatecast_player::enroll::{self, EnrollOptions};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use gatecast_controller::config::{self, Config, FileConfig, Overrides};
use gatecast_controller::serve;

/// Default demo data directory.
pub const DEFAULT_DATA_DIR: &str = "./gatecast-demo";
/// File that marks a directory as made by `demo` (only such a directory is reused or deleted).
pub const MARKER_FILE: &str = "GATECAST-DEMO";
/// Log file inside the demo data directory (the terminal is kept for the live lines).
pub const LOG_FILE: &str = "demo.log";
/// The timezone of every demo screen.
pub const TIMEZONE: &str = "Asia/Ho_Chi_Minh";
/// How long a slide plays in the demo playlists.
pub const SLIDE_MS: u64 = 4000;
/// How often the live lines are refreshed.
const REFRESH: Duration = Duration::from_secs(2);
/// How long each player may take to stop before the demo gives up waiting for it.
const PLAYER_STOP_TIMEOUT: Duration = Duration::from_secs(20);

mod api;
mod approvals;
mod catalogue;
mod players;

use api::*;
pub use catalogue::*;
pub use players::player_config_path;
use players::*;

/// Which playback backend the demo players use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoBackend {
    /// Timing only, nothing rendered (receipts say `"backend": "null"`).
    Null,
    /// Three real mpv windows.
    Mpv,
}

/// Options of `gatecast-demo demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Data directory (made if missing).
    pub data_dir: PathBuf,
    /// Delete the data directory first.
    pub fresh: bool,
    /// Backend of the three players.
    pub backend: DemoBackend,
    /// HTTP listen address (port 0 picks a free port).
    pub http_addr: SocketAddr,
    /// Embedded broker listen address (port 0 picks a free port).
    pub mqtt_addr: SocketAddr,
}

impl DemoOptions {
    /// The defaults: `./gatecast-demo`, null backend, `127.0.0.1:8080` and `127.0.0.1:1883`.
    pub fn new() -> DemoOptions {
        DemoOptions {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            fresh: false,
            backend: DemoBackend::Null,
            http_addr: config::DEFAULT_HTTP_ADDR.parse().expect("valid default"),
            mqtt_addr: config::DEFAULT_MQTT_ADDR.parse().expect("valid default"),
        }
    }
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions::new()
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The data directory is unusable or is not a demo directory.
    #[error("demo data directory {path}: {message}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The embedded catalogue is inconsistent (a build problem, not a user one).
    #[error("the embedded demo catalogue is broken: {0}")]
    Catalogue(String),
    /// The controller did not start.
    #[error(transparent)]
    Serve(#[from] serve::ServeError),
    /// The controller configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A request to the controller's API failed.
    #[error("{what}: {message}")]
    Api {
        /// What the demo was doing.
        what: String,
        /// What went wrong (the controller's message, or the transport error).
        message: String,
    },
    /// A player could not be enrolled or configured.
    #[error("player {screen}: {message}")]
    Player {
        /// Screen id.
        screen: String,
        /// What went wrong.
        message: String,
    },
    /// A program the chosen backend needs is missing.
    #[error("{0}")]
    Missing(String),
}

fn dir_err(path: &Path, message: impl Into<String>) -> DemoError {
    DemoError::DataDir {
        path: path.to_owned(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Data directory

/// Prepares the data directory: with `fresh`, deletes it (after saying so on stdout); makes
/// it and its marker file. Refuses a non-empty directory without the marker, so `--data`
/// pointing at a real controller's data (or at `/`) is never reused or deleted. Returns the
/// absolute path.
pub fn prepare_data_dir(opts: &DemoOptions) -> Result<PathBuf, DemoError> {
    let dir = &opts.data_dir;
    let marker = dir.join(MARKER_FILE);
    let exists = dir.exists();
    if exists {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| dir_err(dir, format!("cannot read it: {e}")))?
            .next()
            .is_none();
        if !empty && !marker.is_file() {
            return Err(dir_err(
                dir,
                format!(
                    "it exists, is not empty and has no {MARKER_FILE} file, so it was not made by \
                     `gatecast-demo demo`; refusing to use or delete it. Choose another \
                     directory with --data"
                ),
            ));
        }
        if opts.fresh && !empty {
            println!(
                "--fresh: deleting the demo data directory {} (sample content, keys, players, \
                 receipts of earlier demo runs) and starting over",
                dir.display()
            );
            std::fs::remove_dir_all(dir)
                .map_err(|e| dir_err(dir, format!("cannot delete it: {e}")))?;
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| dir_err(dir, format!("cannot create it: {e}")))?;
    if !marker.is_file() {
        std::fs::write(
            &marker,
            "This directory was made by `gatecast-demo demo`; `demo --fresh` deletes it.\n",
        )
        .map_err(|e| dir_err(dir, format!("cannot write {MARKER_FILE}: {e}")))?;
    }
    std::fs::canonicalize(dir).map_err(|e| dir_err(dir, format!("cannot resolve it: {e}")))
}

/// Sends the process's logs to `<data>/demo.log` (appending), so the terminal shows only the
/// live lines, in `format`. `GATECAST_LOG` sets the filter (default `info`). Call once, from
/// the binary.
pub fn log_to_file(
    data_dir: &Path,
    format: gatecast_support::logging::LogFormat,
) -> Result<PathBuf, DemoError> {
    let path = data_dir.join(LOG_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| dir_err(data_dir, format!("cannot open {LOG_FILE}: {e}")))?;
    gatecast_support::logging::init_writer(format, "GATECAST_LOG", std::sync::Mutex::new(file));
    Ok(path)
}

// ---------------------------------------------------------------------------------------
// Run

/// Runs the demo until `shutdown` resolves. Call [`prepare_data_dir`] first (and
/// [`log_to_file`] from a binary); `opts.data_dir` should be the path it returned.
pub async fn run(opts: DemoOptions, shutdown: impl Future<Output = ()>) -> Result<(), DemoError> {
    let cat = Catalogue::load()?;
    if opts.backend == DemoBackend::Mpv && gatecast_support::program::find("mpv").is_none() {
        return Err(DemoError::Missing(
            "--backend mpv needs mpv, which is not on PATH: install it (apt-get install mpv) or \
             use --backend null"
                .into(),
        ));
    }
    if opts.backend == DemoBackend::Mpv
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
    {
        println!(
            "note: neither DISPLAY nor WAYLAND_DISPLAY is set, so mpv has nowhere to open its \
             windows; plays may fail (see the receipts' outcome)"
        );
    }
    let data = opts.data_dir.clone();
    let config = Config::resolve(
        FileConfig::default(),
        Overrides {
            data_dir: Some(data.clone()),
            http_addr: Some(opts.http_addr),
            mqtt_addr: Some(opts.mqtt_addr),
            ..Overrides::default()
        },
    )?;
    let running = serve::start(config).await?;
    // Machine-readable, first line of the run (the tests read it).
    println!("{}", running.listening_line());
    let _ = std::io::stdout().flush();

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut players: Vec<(&'static str, JoinHandle<()>)> = Vec::new();
    tokio::pin!(shutdown);
    let result = tokio::select! {
        r = setup_and_watch(&opts, &cat, &running, &stop_rx, &mut players) => r,
        _ = &mut shutdown => Ok(()),
    };
    if let Err(e) = &result {
        eprintln!("demo: {e}");
    }
    println!("stopping: players first (they flush their receipt journals), then the controller");
    let _ = stop_tx.send(true);
    for (screen, handle) in players {
        match tokio::time::timeout(PLAYER_STOP_TIMEOUT, handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(screen, "player task failed: {e}"),
            Err(_) => warn!(screen, "player did not stop in time"),
        }
    }
    running.shutdown().await;
    println!(
        "demo stopped; its data stays in {} (run again to resume, --fresh to start over)",
        data.display()
    );
    result
}

async fn setup_and_watch(
    opts: &DemoOptions,
    cat: &Catalogue,
    running: &serve::Running,
    stop_rx: &watch::Receiver<bool>,
    players: &mut Vec<(&'static str, JoinHandle<()>)>,
) -> Result<(), DemoError> {
    let data = &opts.data_dir;
    let base = format!("http://{}", running.http_addr);
    let token = std::fs::read_to_string(&running.admin_token_path)
        .map_err(|e| dir_err(data, format!("cannot read the admin token: {e}")))?
        .trim()
        .to_string();
    let api = Api::new(base.clone(), token)?;
    let keys = api
        .get("reading the controller key", "/api/v1/keys")
        .await?
        .unwrap_or_default();
    let key_id = keys
        .get("controller_key_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();

    let codes = load_content(&api, cat).await?;
    let token_path = running.admin_token_path.display().to_string();
    let approvals = approvals::prepare(&api, data, cat, &token_path).await?;
    let p = api
        .post("publishing", "/api/v1/publish", &json!({"all": true}))
        .await?;
    info!(published = %p, "demo content published");
    let backend = match opts.backend {
        DemoBackend::Null => BackendKind::Null,
        DemoBackend::Mpv => BackendKind::Mpv,
    };
    for (i, s) in SCREENS.iter().enumerate() {
        let cfg = prepare_player(
            &api,
            data,
            s,
            codes.get(s.id),
            &running.broker_url,
            backend,
            Pins {
                key_id: &key_id,
                policy_root: &approvals.root_id,
            },
        )
        .await?;
        let mut ropts = RunOptions::from_config(&cfg);
        ropts.backend = match opts.backend {
            DemoBackend::Null => BackendChoice::Null { speed: 1.0 },
            DemoBackend::Mpv => BackendChoice::Mpv {
                extra_args: mpv_args(i, s),
            },
        };
        let mut stop = stop_rx.clone();
        let screen = s.id;
        let handle = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = agent::run(cfg, ropts, shutdown).await {
                eprintln!("demo: player {screen} stopped: {e}");
                warn!(screen, "player stopped: {e}");
            }
        });
        players.push((s.id, handle));
    }

    println!(
        "gatecast demo ready: 3 screens at 2 gates, 3 players ({:?} backend)",
        opts.backend
    );
    println!("  console      {base}/");
    println!("  admin token  {token_path}  (paste it into the console to sign in)");
    println!(
        "  receipts     curl -H \"Authorization: Bearer $(cat {token_path})\" '{base}/api/v1/receipts?format=jsonl'"
    );
    println!("  logs         {}", data.join(LOG_FILE).display());
    println!(
        "  approvals    screens pin the demo root key {} (demo keys in {}); \"Chờ duyệt\" in the console",
        approvals.root_id,
        data.join("demo-keys").display()
    );
    if !approvals.command.is_empty() {
        println!("  waiting      the emergency slide has 1 of 2 approvals; give it the second:");
        println!("               {}", approvals.command);
    }
    println!("  Ctrl-C stops everything; run again to resume, add --fresh to start over.");
    println!();
    let _ = std::io::stdout().flush();

    let tty = std::io::stdout().is_terminal();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(120)
        .max(40);
    let mut watcher = Watcher::new();
    watcher.refresh_titles(&api).await;
    let mut last: Vec<Option<Live>> = vec![None; SCREENS.len()];
    let mut drawn = false;
    let header = format!(
        "{:<20} {:<8} {:<4} {:<18} {}",
        "screen", "state", "ver", "receipts", "on screen (title [language])"
    );
    println!("{}", truncate(&header, width - 1));
    let mut tick = tokio::time::interval(REFRESH);
    loop {
        tick.tick().await;
        let snap = watcher.snapshot(&api).await;
        let mut out = std::io::stdout().lock();
        if tty {
            if drawn {
                let _ = write!(out, "\x1b[{}A", SCREENS.len());
            }
            for (s, l) in SCREENS.iter().zip(&snap) {
                let _ = writeln!(out, "\r\x1b[2K{}", truncate(&live_line(s, l), width - 1));
            }
            drawn = true;
        } else {
            let time = jiff::tz::TimeZone::get(TIMEZONE)
                .map(|tz| {
                    tz.to_datetime(jiff::Timestamp::now())
                        .strftime("%H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default();
            for (i, (s, l)) in SCREENS.iter().zip(&snap).enumerate() {
                if last[i].as_ref() != Some(l) {
                    let _ = writeln!(out, "{time} {}", live_line(s, l));
                    last[i] = Some(l.clone());
                }
            }
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_matches_the_embedded_files() {
        let cat = Catalogue::load().expect("catalogue loads");
        assert_eq!(cat.media.len(), FILES.len());
        let total: usize = cat.media.iter().map(|(_, b)| b.len()).sum();
        assert!(total < 3 * 1024 * 1024, "demo media must stay under 3 MB");
        let welcome: Vec<_> = cat
            .message("welcome")
            .iter()
            .map(|m| m.lang.clone())
            .collect();
        assert_eq!(welcome, ["vi", "en", "zh-Hans", "hmn"]);
    }

    #[test]
    fn welcome_is_one_item_with_three_variants() {
        let cat = Catalogue::load().unwrap();
        let v = item(&cat, "welcome").unwrap();
        assert_eq!(v["media"], cat.find("welcome", "vi").unwrap().sha256);
        assert_eq!(v["variants"].as_array().unwrap().len(), 3);
        assert_eq!(v["duration_ms"], SLIDE_MS);
        let video = item(&cat, "laocai-title").unwrap();
        assert!(
            video.get("duration_ms").is_none(),
            "videos play their real length"
        );
    }

    #[test]
    fn schedules_have_a_fallback_a_daypart_and_campaigns() {
        let cat = Catalogue::load().unwrap();
        let s = schedules(&cat).unwrap();
        assert!(s
            .iter()
            .any(|e| e.get("start").is_none() && e.get("from").is_none()));
        assert!(s
            .iter()
            .any(|e| e["start"] == "06:00" && e["end"] == "11:00"));
        assert!(s
            .iter()
            .any(|e| e["from"] == "2026-08-25" && e["until"] == "2026-09-05"));
        for e in &s {
            let p = e["playlist"].as_str().unwrap();
            assert!(PLAYLISTS.iter().any(|(id, _, _)| *id == p), "{p}");
        }
    }

    #[test]
    fn a_foreign_directory_is_never_reused_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious"), b"x").unwrap();
        let opts = DemoOptions {
            data_dir: dir.path().to_owned(),
            fresh: true,
            ..DemoOptions::new()
        };
        let e = prepare_data_dir(&opts).unwrap_err();
        assert!(e.to_string().contains(MARKER_FILE), "{e}");
        assert!(dir.path().join("precious").exists());

        let demo = dir.path().join("demo");
        let opts = DemoOptions {
            data_dir: demo.clone(),
            fresh: false,
            ..DemoOptions::new()
        };
        prepare_data_dir(&opts).unwrap();
        std::fs::write(demo.join("old"), b"x").unwrap();
        prepare_data_dir(&opts).unwrap();
        assert!(demo.join("old").exists(), "a plain rerun keeps the data");
        let fresh = DemoOptions {
            fresh: true,
            ..opts
        };
        prepare_data_dir(&fresh).unwrap();
        assert!(!demo.join("old").exists(), "--fresh starts over");
        assert!(demo.join(MARKER_FILE).is_file());
    }
}
