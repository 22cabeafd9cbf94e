//! The in-process players and the live line printed for each screen.

use super::*;

pub(crate) fn player_dir(data: &Path, screen: &str) -> PathBuf {
    data.join("players").join(screen)
}

/// The configuration path of a demo player.
pub fn player_config_path(data: &Path, screen: &str) -> PathBuf {
    player_dir(data, screen).join("player.toml")
}

/// What a demo player pins at enrolment: the controller key id and the approval policy root
/// (`docs/protocol.md` §7, §19).
#[derive(Clone, Copy)]
pub(crate) struct Pins<'a> {
    /// The controller key id (`--expect-key-id`).
    pub key_id: &'a str,
    /// The demo's policy root key id (`--policy-root`).
    pub policy_root: &'a str,
}

/// Enrols the player of `screen` (or reuses its configuration), pointing it at the running
/// controller's current addresses.
pub(crate) async fn prepare_player(
    api: &Api,
    data: &Path,
    screen: &DemoScreen,
    code: Option<&String>,
    broker: &str,
    backend: BackendKind,
    pins: Pins<'_>,
) -> Result<PlayerConfig, DemoError> {
    let Pins {
        key_id,
        policy_root,
    } = pins;
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
        policy_root: vec![policy_root.to_string()],
        config_path,
        data_dir: player_dir(data, screen.id),
        backend,
        ca_file: None,
        pin_sha256: None,
    };
    enroll::enroll(&opts)
        .await
        .map_err(|e| perr(format!("enrolment failed: {e}")))
}

pub(crate) fn mpv_args(index: usize, screen: &DemoScreen) -> Vec<String> {
    // Three small windows side by side instead of three full screens on top of each other.
    vec![
        "--fullscreen=no".into(),
        "--force-window=yes".into(),
        format!("--geometry=640x360+{}+{}", 20 + 660 * index, 40),
        format!("--title=gatecast demo: {}", screen.name),
    ]
}

// ---------------------------------------------------------------------------------------
// Live lines

/// What is known about one screen for its live line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Live {
    state: String,
    current: String,
    manifest_version: Option<u64>,
    acked: Option<u64>,
}

pub(crate) struct Watcher {
    titles: HashMap<String, (String, String)>,
    max_seq: BTreeMap<String, (u64, String)>,
    receipts_api: bool,
}

impl Watcher {
    /// A watcher that knows nothing yet.
    pub(crate) fn new() -> Watcher {
        Watcher {
            titles: HashMap::new(),
            max_seq: BTreeMap::new(),
            receipts_api: true,
        }
    }

    pub(crate) async fn refresh_titles(&mut self, api: &Api) {
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
    pub(crate) async fn snapshot(&mut self, api: &Api) -> Vec<Live> {
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
    pub(crate) async fn acked(&mut self, api: &Api, screen: &str) -> Option<u64> {
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

pub(crate) fn live_line(s: &DemoScreen, l: &Live) -> String {
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

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
