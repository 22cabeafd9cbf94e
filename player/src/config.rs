//! The player configuration file (TOML, `docs/protocol.md` §7).
//!
//! Fixed keys (written by `gatecast-player enroll`, or by hand):
//!
//! | key | meaning |
//! |---|---|
//! | `screen` | this screen's id, `^[a-z0-9][a-z0-9-]{0,62}$` |
//! | `broker` | MQTT broker, `mqtt://host:port` |
//! | `mqtt_username`, `mqtt_password` | MQTT credentials (username = screen id) |
//! | `controller_key` | the pinned controller public key, standard base64 of 32 bytes |
//! | `media_base` | one `http://` URL or a list of mirrors, tried in order; media are at `<base>/media/<sha256>` |
//! | `data_dir` | the player's data directory (sled db, cache, device key) |
//! | `backend` | `mpv` or `null` |
//!
//! Optional extras, with their defaults:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `cache_budget_bytes` | none (unlimited) | cache size above which least-recently-played media not in the active or pending manifest are evicted |
//! | `bandwidth_limit_bytes_per_sec` | none (unlimited) | download rate limit |
//! | `batch_max_receipts` | 100 | most receipts in one signed batch |
//! | `batch_max_delay_ms` | 2000 | how long a receipt may wait for more to fill its batch |
//! | `ack_timeout_ms` | 30000 | resend an unacknowledged batch after this long |
//! | `backlog_warn` | 1000 | journal backlog above which the status warns |
//! | `mpv_args` | `[]` | extra arguments for mpv (tests use `["--vo=null", "--ao=null"]`) |
//! | `alert_text_ms` | 8000 | how long each language of an alert text is shown (≥ 500) |
//! | `fallback` | `"black"` | what the screen shows between items, after a failed item and when nothing plays (besides the last frame): only `"black"` for now; mpv never shows its own idle screen |
//!
//! Unknown keys are rejected, so a misspelt key is reported instead of silently ignored.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use playlists::keys::PublicKey;
use serde::{Deserialize, Serialize};

use gatecast_support::fs as fsutil;

/// Where `gatecast-player` looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/gatecast/player.toml";
/// The default data directory written by `enroll` when `--data` is not given.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/gatecast-player";

/// Which playback backend renders the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// mpv through its JSON IPC socket.
    Mpv,
    /// No rendering, timing only (receipts say `"backend": "null"`).
    Null,
}

/// `media_base`: one URL or a list of mirrors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MediaBase {
    /// A single base URL.
    One(String),
    /// Mirrors, tried in order.
    Many(Vec<String>),
}

impl MediaBase {
    /// The mirrors in the order they are tried.
    pub fn mirrors(&self) -> Vec<String> {
        match self {
            MediaBase::One(s) => vec![s.clone()],
            MediaBase::Many(v) => v.clone(),
        }
    }
}

/// The player configuration. `Debug` never prints the MQTT password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayerConfig {
    /// This screen's id.
    pub screen: String,
    /// `mqtt://host:port`.
    pub broker: String,
    /// MQTT username (the screen id).
    pub mqtt_username: String,
    /// MQTT password (a secret: never logged).
    pub mqtt_password: String,
    /// Pinned controller public key, standard base64 of 32 bytes.
    pub controller_key: String,
    /// Media mirrors.
    pub media_base: MediaBase,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Playback backend.
    pub backend: BackendKind,
    /// Cache size budget in bytes (`None` = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_budget_bytes: Option<u64>,
    /// Download rate limit in bytes per second (`None` = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_limit_bytes_per_sec: Option<u64>,
    /// Most receipts in one signed batch.
    #[serde(default = "default_batch_max_receipts")]
    pub batch_max_receipts: usize,
    /// Longest wait for a batch to fill, in ms.
    #[serde(default = "default_batch_max_delay_ms")]
    pub batch_max_delay_ms: u64,
    /// Resend an unacknowledged batch after this many ms.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// Journal backlog above which the status warns.
    #[serde(default = "default_backlog_warn")]
    pub backlog_warn: u64,
    /// Extra mpv command-line arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mpv_args: Vec<String>,
    /// How long each language of an alert text is shown, in ms.
    #[serde(default = "default_alert_text_ms")]
    pub alert_text_ms: u64,
    /// The enrolment epoch this box was enrolled in (from the enrolment answer; 1 when absent,
    /// as for configurations written before epochs): its receipts chain, and the acks it
    /// accepts, are of this epoch (docs/protocol.md §13, §14).
    #[serde(default = "playlists::receipt::first_epoch")]
    pub epoch: u64,
    /// The screen's neutral fallback: only `black` (the default) for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Seconds between periodic screenshots (`docs/protocol.md` §18); 0 = only on request.
    #[serde(default = "default_screenshot_interval_s")]
    pub screenshot_interval_s: u64,
    /// The controller's HTTP base URL screenshots are uploaded to; absent = the first
    /// `media_base` entry (what enrolment writes: the controller itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_url: Option<String>,
}

/// Default of `screenshot_interval_s`: 5 minutes.
pub fn default_screenshot_interval_s() -> u64 {
    300
}

fn default_batch_max_receipts() -> usize {
    100
}
fn default_batch_max_delay_ms() -> u64 {
    2000
}
fn default_ack_timeout_ms() -> u64 {
    30_000
}
fn default_backlog_warn() -> u64 {
    1000
}
/// Default of `alert_text_ms`.
pub fn default_alert_text_ms() -> u64 {
    8000
}

impl fmt::Debug for PlayerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlayerConfig")
            .field("screen", &self.screen)
            .field("broker", &self.broker)
            .field("mqtt_username", &self.mqtt_username)
            .field("mqtt_password", &"<redacted>")
            .field("controller_key", &self.controller_key)
            .field("media_base", &self.media_base)
            .field("data_dir", &self.data_dir)
            .field("backend", &self.backend)
            .field("cache_budget_bytes", &self.cache_budget_bytes)
            .field(
                "bandwidth_limit_bytes_per_sec",
                &self.bandwidth_limit_bytes_per_sec,
            )
            .field("batch_max_receipts", &self.batch_max_receipts)
            .field("batch_max_delay_ms", &self.batch_max_delay_ms)
            .field("ack_timeout_ms", &self.ack_timeout_ms)
            .field("backlog_warn", &self.backlog_warn)
            .field("mpv_args", &self.mpv_args)
            .field("alert_text_ms", &self.alert_text_ms)
            .field("fallback", &self.fallback)
            .finish()
    }
}

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or misses/misspells a key.
    #[error("config file {path} is not a valid player configuration: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's description (names the key and line).
        message: String,
    },
    /// A key has a value that cannot work.
    #[error("config key `{key}` is invalid: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl PlayerConfig {
    /// Reads and validates the configuration at `path`.
    pub fn load(path: &Path) -> Result<PlayerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let cfg: PlayerConfig = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates a configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<PlayerConfig, ConfigError> {
        let cfg: PlayerConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: PathBuf::from("<text>"),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration as TOML text (includes the password: treat as a secret).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a PlayerConfig always serializes to TOML")
    }

    /// Writes the configuration to `path` atomically with mode 0600 (it holds the MQTT
    /// password). Validates first, so an invalid configuration is never written.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate()?;
        let dir = fsutil::parent_dir(path);
        std::fs::create_dir_all(dir).map_err(|source| ConfigError::Io {
            path: dir.to_owned(),
            source,
        })?;
        fsutil::write_atomic(path, self.to_toml().as_bytes(), 0o600).map_err(|source| {
            ConfigError::Io {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// Checks every key's value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(f) = self.fallback.as_deref().filter(|f| *f != "black") {
            return Err(invalid(
                "fallback",
                format!("{f:?} is not supported; the only fallback is \"black\""),
            ));
        }
        if !playlists::manifest::is_valid_screen_id(&self.screen) {
            return Err(invalid(
                "screen",
                format!(
                    "{:?} is not a screen id (lowercase letters, digits and '-', 1 to 63 characters, not starting with '-')",
                    self.screen
                ),
            ));
        }
        self.broker_host_port()?;
        if self.mqtt_username.is_empty() {
            return Err(invalid("mqtt_username", "must not be empty"));
        }
        self.controller_public_key()?;
        let mirrors = self.media_base.mirrors();
        if mirrors.is_empty() {
            return Err(invalid("media_base", "give at least one http:// URL"));
        }
        for m in &mirrors {
            if !m.starts_with("http://") || m.len() <= "http://".len() {
                return Err(invalid(
                    "media_base",
                    format!("{m:?} must be an http:// URL (this player is built without TLS; use a local mirror or a TLS-terminating proxy)"),
                ));
            }
        }
        if let Some(u) = &self.controller_url {
            if !u.starts_with("http://") || u.len() <= "http://".len() {
                return Err(invalid(
                    "controller_url",
                    format!("{u:?} must be an http:// URL (the controller's HTTP API)"),
                ));
            }
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        if self.batch_max_receipts == 0 {
            return Err(invalid("batch_max_receipts", "must be at least 1"));
        }
        if self.ack_timeout_ms == 0 {
            return Err(invalid("ack_timeout_ms", "must be at least 1"));
        }
        if self.alert_text_ms < 500 {
            return Err(invalid(
                "alert_text_ms",
                "must be at least 500 (ms each alert language is shown)",
            ));
        }
        if self.bandwidth_limit_bytes_per_sec == Some(0) {
            return Err(invalid(
                "bandwidth_limit_bytes_per_sec",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        Ok(())
    }

    /// Where screenshots are uploaded: `controller_url`, else the first `media_base` entry.
    pub fn controller_base(&self) -> String {
        let base = match &self.controller_url {
            Some(u) => u.clone(),
            None => self
                .media_base
                .mirrors()
                .into_iter()
                .next()
                .unwrap_or_default(),
        };
        base.trim_end_matches('/').to_string()
    }

    /// The broker's host and port from `broker` (`mqtt://host:port`).
    pub fn broker_host_port(&self) -> Result<(String, u16), ConfigError> {
        let rest = self.broker.strip_prefix("mqtt://").ok_or_else(|| {
            invalid(
                "broker",
                format!("{:?} must look like mqtt://host:port", self.broker),
            )
        })?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
            invalid(
                "broker",
                format!("{:?} has no port (mqtt://host:port)", self.broker),
            )
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(invalid(
                "broker",
                format!("{:?} has no valid host", self.broker),
            ));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("broker", format!("{:?} has an invalid port", self.broker)))?;
        if port == 0 {
            return Err(invalid("broker", "port 0 is not a broker port"));
        }
        Ok((host.to_owned(), port))
    }

    /// The pinned controller public key (rejects non-canonical and weak keys).
    pub fn controller_public_key(&self) -> Result<PublicKey, ConfigError> {
        PublicKey::from_base64(&self.controller_key).map_err(|e| {
            invalid(
                "controller_key",
                format!("not a valid Ed25519 public key in standard base64: {e}"),
            )
        })
    }

    /// Longest wait for a receipts batch to fill.
    pub fn batch_max_delay(&self) -> Duration {
        Duration::from_millis(self.batch_max_delay_ms)
    }

    /// How long to wait for an ack before resending.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> String {
        let key = playlists::keys::SecretKey::from_seed([7; 32])
            .public()
            .to_base64();
        GOOD.replace("KEY", &key)
    }

    const GOOD: &str = r#"
screen = "lc-a1"
broker = "mqtt://127.0.0.1:1883"
mqtt_username = "lc-a1"
mqtt_password = "hunter2-very-secret"
controller_key = "KEY"
media_base = "http://127.0.0.1:8080"
data_dir = "/var/lib/gatecast-player"
backend = "null"
"#;

    #[test]
    fn parses_with_defaults_and_redacts_password() {
        let c = PlayerConfig::from_toml(&good()).unwrap();
        assert_eq!(c.screen, "lc-a1");
        assert_eq!(c.media_base.mirrors(), vec!["http://127.0.0.1:8080"]);
        assert_eq!(c.batch_max_receipts, 100);
        assert_eq!(c.broker_host_port().unwrap(), ("127.0.0.1".into(), 1883));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn mirror_list_and_round_trip() {
        let t = good().replace(
            "media_base = \"http://127.0.0.1:8080\"",
            "media_base = [\"http://a:1\", \"http://b:2\"]\ncache_budget_bytes = 1000",
        );
        let c = PlayerConfig::from_toml(&t).unwrap();
        assert_eq!(c.media_base.mirrors(), vec!["http://a:1", "http://b:2"]);
        assert_eq!(PlayerConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("screen = \"lc-a1\"", "screen = \"LC A1\"", "screen"),
            ("mqtt://127.0.0.1:1883", "tcp://x", "broker"),
            (
                "controller_key = \"",
                "controller_key = \"AAAA",
                "controller_key",
            ),
            ("http://127.0.0.1:8080", "https://x", "media_base"),
            ("backend = \"null\"", "backend = \"vlc\"", "backend"),
            (
                "backend = \"null\"",
                "backend = \"null\"\nbogus = 1",
                "bogus",
            ),
        ];
        for (from, to, key) in cases {
            let err = PlayerConfig::from_toml(&good().replace(from, to)).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        // A well-formed but weak (small-order) key is refused too.
        let zero = good().replace(
            &playlists::keys::SecretKey::from_seed([7; 32])
                .public()
                .to_base64(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        );
        let err = PlayerConfig::from_toml(&zero).unwrap_err();
        assert!(err.to_string().contains("controller_key"), "{err}");
        let missing = good().replace("data_dir = \"/var/lib/gatecast-player\"\n", "");
        let err = PlayerConfig::from_toml(&missing).unwrap_err();
        assert!(err.to_string().contains("data_dir"), "{err}");
    }

    #[test]
    fn fallback_is_black() {
        let with = |v: &str| good() + &format!("fallback = \"{v}\"\n");
        let c = PlayerConfig::from_toml(&with("black")).unwrap();
        assert_eq!(c.fallback.as_deref(), Some("black"));
        for bad in ["red", "#123456", ""] {
            let err = PlayerConfig::from_toml(&with(bad)).unwrap_err();
            assert!(err.to_string().contains("fallback"), "{bad}: {err}");
        }
    }

    #[test]
    fn save_is_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("etc/player.toml");
        let c = PlayerConfig::from_toml(&good()).unwrap();
        c.save(&p).unwrap();
        assert_eq!(PlayerConfig::load(&p).unwrap(), c);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
