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
use sha2::{Digest as _, Sha256};
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

/// The catalogue, embedded.
const CONTENT_TOML: &str = include_str!("../content.toml");

/// Every media file of the catalogue, embedded (≈ 220 KB in all).
const FILES: &[(&str, &[u8])] = &[
    (
        "media/welcome-vi.png",
        include_bytes!("../media/welcome-vi.png"),
    ),
    (
        "media/welcome-en.png",
        include_bytes!("../media/welcome-en.png"),
    ),
    (
        "media/welcome-zh-hans.png",
        include_bytes!("../media/welcome-zh-hans.png"),
    ),
    (
        "media/welcome-hmn.png",
        include_bytes!("../media/welcome-hmn.png"),
    ),
    (
        "media/procedures-vi.png",
        include_bytes!("../media/procedures-vi.png"),
    ),
    (
        "media/national-day-vi.png",
        include_bytes!("../media/national-day-vi.png"),
    ),
    (
        "media/resistance-day-vi.png",
        include_bytes!("../media/resistance-day-vi.png"),
    ),
    (
        "media/tourism-en.png",
        include_bytes!("../media/tourism-en.png"),
    ),
    (
        "media/friendship-zh-hans.png",
        include_bytes!("../media/friendship-zh-hans.png"),
    ),
    (
        "media/emergency-vi.png",
        include_bytes!("../media/emergency-vi.png"),
    ),
    (
        "media/laocai-title.mp4",
        include_bytes!("../media/laocai-title.mp4"),
    ),
    (
        "media/greeting-vi.ogg",
        include_bytes!("../media/greeting-vi.ogg"),
    ),
];

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
// Catalogue

/// One `[[media]]` entry of `content.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueMedia {
    /// Path relative to `content.toml`.
    pub file: String,
    /// `video`, `slide` or `clip`.
    pub kind: String,
    /// Content-Type.
    pub mime: String,
    /// BCP 47 language.
    pub lang: String,
    /// Title in its own language.
    pub title: String,
    /// Natural duration in ms.
    pub duration_ms: u64,
    /// Message name: entries with the same message are language variants of one message.
    pub message: String,
    /// Size of the file.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Campaign start (civil date, inclusive).
    #[serde(default)]
    pub from: Option<String>,
    /// Campaign end (civil date, inclusive).
    #[serde(default)]
    pub until: Option<String>,
    /// An emergency notice.
    #[serde(default)]
    pub alert: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    version: u32,
    media: Vec<CatalogueMedia>,
}

/// The sample content: catalogue entries with their embedded bytes.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// Entries with their bytes, in catalogue order.
    pub media: Vec<(CatalogueMedia, &'static [u8])>,
}

impl Catalogue {
    /// Parses the embedded catalogue and checks every embedded file's size and SHA-256.
    pub fn load() -> Result<Catalogue, DemoError> {
        let file: CatalogueFile = toml::from_str(CONTENT_TOML)
            .map_err(|e| DemoError::Catalogue(format!("content.toml: {e}")))?;
        if file.version != 1 {
            return Err(DemoError::Catalogue(format!(
                "content.toml has schema version {}, this build reads version 1",
                file.version
            )));
        }
        let mut media = Vec::new();
        for m in file.media {
            let bytes = FILES
                .iter()
                .find(|(f, _)| *f == m.file)
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    DemoError::Catalogue(format!(
                        "{} is not embedded (FILES in demo/src/lib.rs)",
                        m.file
                    ))
                })?;
            let sha = hex(&Sha256::digest(bytes));
            if bytes.len() as u64 != m.bytes || sha != m.sha256 {
                return Err(DemoError::Catalogue(format!(
                    "{}: embedded file has {} bytes and sha256 {sha}, the catalogue says {} and {}",
                    m.file,
                    bytes.len(),
                    m.bytes,
                    m.sha256
                )));
            }
            media.push((m, bytes));
        }
        Ok(Catalogue { media })
    }

    /// The entry of `message` in `lang`.
    pub fn find(&self, message: &str, lang: &str) -> Option<&CatalogueMedia> {
        self.media
            .iter()
            .map(|(m, _)| m)
            .find(|m| m.message == message && m.lang == lang)
    }

    /// All entries of `message` (its language variants), in catalogue order.
    pub fn message(&self, message: &str) -> Vec<&CatalogueMedia> {
        self.media
            .iter()
            .map(|(m, _)| m)
            .filter(|m| m.message == message)
            .collect()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// The demo's content model

/// A demo screen.
#[derive(Debug, Clone, Copy)]
pub struct DemoScreen {
    /// Screen id.
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Short label for the live lines.
    pub label: &'static str,
    /// Gate id.
    pub gate: &'static str,
    /// Language rotation of the gate.
    pub languages: &'static [&'static str],
}

/// Gate id of the Lao Cai international road border gate (Lào Cai – Hà Khẩu).
pub const GATE_ROAD: &str = "lao-cai-road";
/// Gate id of the Lao Cai international railway gate.
pub const GATE_RAIL: &str = "lao-cai-rail";

/// The three demo screens at two gates.
pub const SCREENS: [DemoScreen; 3] = [
    DemoScreen {
        id: "lao-cai-road-hall-a",
        name: "Lao Cai international road border gate — waiting hall A",
        label: "road gate, hall A",
        gate: GATE_ROAD,
        languages: &["vi", "zh-Hans", "en"],
    },
    DemoScreen {
        id: "lao-cai-road-hall-b",
        name: "Lao Cai international road border gate — waiting hall B",
        label: "road gate, hall B",
        gate: GATE_ROAD,
        languages: &["vi", "zh-Hans", "en"],
    },
    DemoScreen {
        id: "lao-cai-rail-hall",
        name: "Lao Cai international railway gate — waiting hall",
        label: "railway gate",
        gate: GATE_RAIL,
        languages: &["vi", "en", "hmn"],
    },
];

/// A playlist item: one message (its first language's media, the others as variants).
fn item(cat: &Catalogue, message: &str) -> Result<Value, DemoError> {
    let all = cat.message(message);
    let first = all
        .first()
        .ok_or_else(|| DemoError::Catalogue(format!("no media for message {message:?}")))?;
    let mut v = json!({"media": first.sha256});
    if first.kind == "slide" {
        v["duration_ms"] = SLIDE_MS.into();
    }
    if all.len() > 1 {
        v["variants"] = json!(all[1..].iter().map(|m| &m.sha256).collect::<Vec<_>>());
    }
    Ok(v)
}

/// The demo playlists: `(id, name, messages)`.
const PLAYLISTS: &[(&str, &str, &[&str])] = &[
    (
        "demo-welcome",
        "Welcome (all day)",
        &[
            "welcome",
            "laocai-title",
            "tourism",
            "greeting",
            "friendship",
        ],
    ),
    (
        "demo-morning",
        "Morning: border procedures first",
        &["procedures", "welcome", "procedures", "laocai-title"],
    ),
    (
        "demo-national-day",
        "Campaign: National Day, 81st anniversary",
        &["national-day", "welcome", "national-day", "laocai-title"],
    ),
    (
        "demo-resistance-day",
        "Campaign: National Resistance Day, 80th anniversary",
        &[
            "resistance-day",
            "welcome",
            "resistance-day",
            "laocai-title",
        ],
    ),
];

/// The demo schedules, targeting both gates.
fn schedules(cat: &Catalogue) -> Result<Vec<Value>, DemoError> {
    let gates = json!({"gates": [GATE_ROAD, GATE_RAIL]});
    let campaign = |message: &str| -> Result<(String, String), DemoError> {
        let m = cat
            .message(message)
            .into_iter()
            .find(|m| m.from.is_some() && m.until.is_some())
            .ok_or_else(|| DemoError::Catalogue(format!("{message} has no campaign dates")))?;
        Ok((
            m.from.clone().unwrap_or_default(),
            m.until.clone().unwrap_or_default(),
        ))
    };
    let (nd_from, nd_until) = campaign("national-day")?;
    let (rd_from, rd_until) = campaign("resistance-day")?;
    Ok(vec![
        // Fallback: the lowest-priority unconditional entry.
        json!({"id": "demo-all-day", "playlist": "demo-welcome", "targets": gates, "priority": 0}),
        json!({"id": "demo-morning", "playlist": "demo-morning", "targets": gates, "priority": 10,
               "start": "06:00", "end": "11:00"}),
        json!({"id": "demo-national-day", "playlist": "demo-national-day", "targets": gates,
               "priority": 20, "from": nd_from, "until": nd_until}),
        json!({"id": "demo-resistance-day", "playlist": "demo-resistance-day", "targets": gates,
               "priority": 20, "from": rd_from, "until": rd_until}),
    ])
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
/// live lines. `GATECAST_LOG` sets the filter (default `info`). Call once, from the binary.
pub fn log_to_file(data_dir: &Path) -> Result<PathBuf, DemoError> {
    let path = data_dir.join(LOG_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| dir_err(data_dir, format!("cannot open {LOG_FILE}: {e}")))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATECAST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(path)
}

// ---------------------------------------------------------------------------------------
// The controller's API over loopback

/// A small client of the controller's HTTP API, authenticated with the admin token.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(base: String, token: String) -> Result<Api, DemoError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DemoError::Api {
                what: "building the HTTP client".into(),
                message: e.to_string(),
            })?;
        Ok(Api {
            client,
            base,
            token,
        })
    }

    /// Sends a request; returns the status and the body as JSON (or as a JSON string when it
    /// is not JSON).
    async fn send(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, Value), DemoError> {
        let fail = |e: reqwest::Error| DemoError::Api {
            what: what.to_string(),
            message: e.to_string(),
        };
        let resp = req.bearer_auth(&self.token).send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(fail)?;
        let v = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, v))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET; `None` on 404.
    async fn get(&self, what: &str, path: &str) -> Result<Option<Value>, DemoError> {
        let (s, v) = self.send(what, self.client.get(self.url(path))).await?;
        match s {
            200 => Ok(Some(v)),
            404 => Ok(None),
            _ => Err(api_err(what, s, &v)),
        }
    }

    /// POST JSON; any 2xx is success.
    async fn post(&self, what: &str, path: &str, body: &Value) -> Result<Value, DemoError> {
        let req = self
            .client
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).expect("JSON serializes"));
        let (s, v) = self.send(what, req).await?;
        if (200..300).contains(&s) {
            Ok(v)
        } else {
            Err(api_err(what, s, &v))
        }
    }

    /// The receipts of `screen` that started at or after `from`, as parsed JSONL rows.
    /// `Ok(None)` when the controller has no receipts API.
    async fn receipts(
        &self,
        screen: &str,
        from: Option<&str>,
    ) -> Result<Option<Vec<Value>>, DemoError> {
        let mut q = vec![("screen", screen), ("format", "jsonl"), ("limit", "1000")];
        if let Some(f) = from {
            q.push(("from", f));
        }
        let what = "reading receipts";
        let req = self.client.get(self.url("/api/v1/receipts")).query(&q);
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| DemoError::Api {
                what: what.into(),
                message: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| DemoError::Api {
            what: what.into(),
            message: e.to_string(),
        })?;
        match status {
            200 => Ok(Some(
                body.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect(),
            )),
            404 | 405 => Ok(None),
            _ => Err(api_err(
                what,
                status,
                &serde_json::from_str(&body).unwrap_or(Value::String(body)),
            )),
        }
    }
}

fn api_err(what: &str, status: u16, v: &Value) -> DemoError {
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .map(|m| format!("HTTP {status}: {m}"))
        .unwrap_or_else(|| format!("HTTP {status}: {v}"));
    DemoError::Api {
        what: what.to_string(),
        message,
    }
}

/// Loads the sample content through the API; returns the enrolment codes of the screens
/// registered now (screens that already existed keep their enrolment).
async fn load_content(api: &Api, cat: &Catalogue) -> Result<HashMap<String, String>, DemoError> {
    let mut uploaded = 0;
    for (m, bytes) in &cat.media {
        let path = format!("/api/v1/media/{}", m.sha256);
        if api.get("looking up media", &path).await?.is_some() {
            continue;
        }
        let duration = m.duration_ms.to_string();
        let req = api
            .client
            .post(api.url("/api/v1/media"))
            .query(&[
                ("kind", m.kind.as_str()),
                ("lang", m.lang.as_str()),
                ("title", m.title.as_str()),
                ("duration_ms", duration.as_str()),
            ])
            .header(reqwest::header::CONTENT_TYPE, m.mime.as_str())
            .body(*bytes);
        let what = format!("uploading {}", m.file);
        let (s, v) = api.send(&what, req).await?;
        if !(200..300).contains(&s) {
            return Err(api_err(&what, s, &v));
        }
        if v.get("sha256").and_then(Value::as_str) != Some(m.sha256.as_str()) {
            return Err(DemoError::Api {
                what,
                message: format!("the controller stored it under another hash: {v}"),
            });
        }
        uploaded += 1;
    }
    info!(uploaded, total = cat.media.len(), "demo media in place");

    for (id, name, messages) in PLAYLISTS {
        let path = format!("/api/v1/playlists/{id}");
        if api.get("looking up a playlist", &path).await?.is_some() {
            continue;
        }
        let items = messages
            .iter()
            .map(|m| item(cat, m))
            .collect::<Result<Vec<_>, _>>()?;
        api.post(
            &format!("creating playlist {id}"),
            "/api/v1/playlists",
            &json!({"id": id, "name": name, "items": items}),
        )
        .await?;
    }

    let mut codes = HashMap::new();
    for s in &SCREENS {
        let path = format!("/api/v1/screens/{}", s.id);
        if api.get("looking up a screen", &path).await?.is_some() {
            continue;
        }
        let v = api
            .post(
                &format!("registering screen {}", s.id),
                "/api/v1/screens",
                &json!({"id": s.id, "name": s.name, "gate": s.gate,
                        "languages": s.languages, "timezone": TIMEZONE}),
            )
            .await?;
        let code = v
            .get("enrollment_code")
            .and_then(Value::as_str)
            .ok_or_else(|| DemoError::Api {
                what: format!("registering screen {}", s.id),
                message: "the answer has no enrollment_code".into(),
            })?;
        codes.insert(s.id.to_string(), code.to_string());
    }

    for sched in schedules(cat)? {
        let id = sched["id"].as_str().unwrap_or_default();
        let path = format!("/api/v1/schedules/{id}");
        if api.get("looking up a schedule", &path).await?.is_some() {
            continue;
        }
        api.post(
            &format!("creating schedule {id}"),
            "/api/v1/schedules",
            &sched,
        )
        .await?;
    }

    let p = api
        .post("publishing", "/api/v1/publish", &json!({"all": true}))
        .await?;
    info!(published = %p, "demo content published");
    Ok(codes)
}

// ---------------------------------------------------------------------------------------
// Players

fn player_dir(data: &Path, screen: &str) -> PathBuf {
    data.join("players").join(screen)
}

/// The configuration path of a demo player.
pub fn player_config_path(data: &Path, screen: &str) -> PathBuf {
    player_dir(data, screen).join("player.toml")
}

/// Enrols the player of `screen` (or reuses its configuration), pointing it at the running
/// controller's current addresses.
async fn prepare_player(
    api: &Api,
    data: &Path,
    screen: &DemoScreen,
    code: Option<&String>,
    broker: &str,
    backend: BackendKind,
    key_id: &str,
) -> Result<PlayerConfig, DemoError> {
    let perr = |message: String| DemoError::Player {
        screen: screen.id.to_string(),
        message,
    };
    let config_path = player_config_path(data, screen.id);
    if config_path.is_file() {
        let mut cfg = PlayerConfig::load(&config_path).map_err(|e| perr(e.to_string()))?;
        // Ports may differ from the earlier run; the keys and credentials stay.
        cfg.broker = broker.to_string();
        cfg.media_base = MediaBase::One(api.base.clone());
        cfg.backend = backend;
        cfg.save(&config_path).map_err(|e| perr(e.to_string()))?;
        info!(screen = screen.id, "player configuration reused");
        return Ok(cfg);
    }
    let code = match code {
        Some(c) => c.clone(),
        None => {
            // Registered in an earlier run that stopped before this player was enrolled.
            let v = api
                .post(
                    &format!("asking a new enrolment code for {}", screen.id),
                    &format!("/api/v1/screens/{}/enrollment-code", screen.id),
                    &json!({}),
                )
                .await?;
            v.get("enrollment_code")
                .and_then(Value::as_str)
                .ok_or_else(|| perr("the controller sent no enrollment_code".into()))?
                .to_string()
        }
    };
    let opts = EnrollOptions {
        controller: api.base.clone(),
        screen: screen.id.to_string(),
        code,
        expect_key_id: Some(key_id.to_string()),
        config_path,
        data_dir: player_dir(data, screen.id),
        backend,
    };
    enroll::enroll(&opts)
        .await
        .map_err(|e| perr(format!("enrolment failed: {e}")))
}

fn mpv_args(index: usize, screen: &DemoScreen) -> Vec<String> {
    // Three small windows side by side instead of three full screens on top of each other.
    vec![
        "--fullscreen=no".into(),
        "--force-window=yes".into(),
        format!("--geometry=640x360+{}+{}", 20 + 660 * index, 40),
        format!("--title=gatecast demo: {}", screen.name),
    ]
}

fn find_in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

// ---------------------------------------------------------------------------------------
// Live lines

/// What is known about one screen for its live line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Live {
    state: String,
    current: String,
    manifest_version: Option<u64>,
    acked: Option<u64>,
}

struct Watcher {
    titles: HashMap<String, (String, String)>,
    max_seq: BTreeMap<String, (u64, String)>,
    receipts_api: bool,
}

impl Watcher {
    async fn refresh_titles(&mut self, api: &Api) {
        if let Ok(Some(Value::Array(list))) = api.get("listing media", "/api/v1/media").await {
            for m in list {
                if let (Some(sha), Some(title), Some(lang)) = (
                    m.get("sha256").and_then(Value::as_str),
                    m.get("title").and_then(Value::as_str),
                    m.get("lang").and_then(Value::as_str),
                ) {
                    self.titles
                        .insert(sha.to_string(), (title.to_string(), lang.to_string()));
                }
            }
        }
    }

    /// One snapshot per screen (errors become a line saying so: the demo keeps running).
    async fn snapshot(&mut self, api: &Api) -> Vec<Live> {
        let screens = match api.get("listing screens", "/api/v1/screens").await {
            Ok(Some(Value::Array(v))) => v,
            Ok(_) => Vec::new(),
            Err(e) => {
                warn!("live view: {e}");
                Vec::new()
            }
        };
        let mut out = Vec::new();
        for s in &SCREENS {
            let v = screens
                .iter()
                .find(|v| v.get("id").and_then(Value::as_str) == Some(s.id));
            let status = v.and_then(|v| v.get("status")).filter(|s| s.is_object());
            let online = v
                .and_then(|v| v.get("online"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let state = match status.and_then(|s| s.get("state")).and_then(Value::as_str) {
                Some(st) if online || st == "offline" => st.to_string(),
                Some(_) => "offline".to_string(),
                None => "starting".to_string(),
            };
            let current = status
                .and_then(|s| s.get("current"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(c) = &current {
                if !self.titles.contains_key(c) {
                    self.refresh_titles(api).await;
                }
            }
            let current = match current {
                Some(c) => match self.titles.get(&c) {
                    Some((t, l)) => format!("{t} [{l}]"),
                    None => c[..c.len().min(12)].to_string(),
                },
                None => "—".to_string(),
            };
            let manifest_version = status
                .and_then(|s| s.get("manifest_version"))
                .and_then(Value::as_u64);
            let acked = if self.receipts_api {
                self.acked(api, s.id).await
            } else {
                None
            };
            out.push(Live {
                state,
                current,
                manifest_version,
                acked,
            });
        }
        out
    }

    /// Receipts stored (and so acknowledged) for `screen`: the highest seq seen; only the
    /// receipts since the last one seen are fetched.
    async fn acked(&mut self, api: &Api, screen: &str) -> Option<u64> {
        let from = self.max_seq.get(screen).map(|(_, at)| at.clone());
        match api.receipts(screen, from.as_deref()).await {
            Ok(Some(rows)) => {
                for r in rows {
                    let seq = r.get("seq").and_then(Value::as_u64);
                    let at = r.get("started_at_utc").and_then(Value::as_str);
                    if let (Some(seq), Some(at)) = (seq, at) {
                        let e = self
                            .max_seq
                            .entry(screen.to_string())
                            .or_insert((0, String::new()));
                        if seq > e.0 {
                            *e = (seq, at.to_string());
                        }
                    }
                }
                Some(self.max_seq.get(screen).map_or(0, |e| e.0))
            }
            Ok(None) => {
                self.receipts_api = false;
                None
            }
            Err(e) => {
                warn!("live view: {e}");
                self.max_seq.get(screen).map(|e| e.0)
            }
        }
    }
}

fn live_line(s: &DemoScreen, l: &Live) -> String {
    let version = l
        .manifest_version
        .map_or("v-".to_string(), |v| format!("v{v}"));
    let acked = l.acked.map_or("receipts acked ?".to_string(), |n| {
        format!("receipts acked {n}")
    });
    format!(
        "{:<20} {:<8} {:<4} {:<18} now: {}",
        s.id, l.state, version, acked, l.current
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

// ---------------------------------------------------------------------------------------
// Run

/// Runs the demo until `shutdown` resolves. Call [`prepare_data_dir`] first (and
/// [`log_to_file`] from a binary); `opts.data_dir` should be the path it returned.
pub async fn run(opts: DemoOptions, shutdown: impl Future<Output = ()>) -> Result<(), DemoError> {
    let cat = Catalogue::load()?;
    if opts.backend == DemoBackend::Mpv && !find_in_path("mpv") {
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
            &key_id,
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

    let token_path = running.admin_token_path.display().to_string();
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
    println!("  Ctrl-C stops everything; run again to resume, add --fresh to start over.");
    println!();
    let _ = std::io::stdout().flush();

    let tty = std::io::stdout().is_terminal();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(120)
        .max(40);
    let mut watcher = Watcher {
        titles: HashMap::new(),
        max_seq: BTreeMap::new(),
        receipts_api: true,
    };
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
