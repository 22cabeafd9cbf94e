//! The player configuration file (TOML, `docs/protocol.md` §7).
//!
//! Fixed keys (written by `gatecast-player enroll`, or by hand):
//!
//! | key | meaning |
//! |---|---|
//! | `screen` | this screen's id, `^[a-z0-9][a-z0-9-]{0,62}$` |
//! | `broker` | MQTT broker, `mqtts://host:port` (TLS, port 8883 when left out) or `mqtt://host:port` (plaintext, warned about) |
//! | `mqtt_username`, `mqtt_password` | MQTT credentials (username = screen id) |
//! | `controller_key` | the pinned controller public key, standard base64 of 32 bytes |
//! | `media_base` | one `https://` (or plaintext `http://`) URL or a list of mirrors, tried in order; media are at `<base>/media/<sha256>` |
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
//! | `policy_root` | `[]` | policy root key ids pinned at enrolment (`--policy-root`); non-empty: manifests and alert sets need approvals (`docs/protocol.md` §19) |
//! | `gate` | `""` | the screen's gate (from the enrolment answer), for approval scopes |
//! | `tls_ca_file` | none (the system's CA store) | PEM file of the CA(s) that `mqtts://` and `https://` servers must chain to, instead of the system roots |
//! | `tls_pin_sha256` | none | hex SHA-256 of the controller certificate's SubjectPublicKeyInfo: the broker link accepts exactly that key (host name not checked); a mirror is accepted when it presents that key or chains to `tls_ca_file`/the system roots |
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
    /// Policy root key ids pinned at enrolment (`--policy-root`, `docs/protocol.md` §19);
    /// empty: approvals are not enforced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_root: Vec<String>,
    /// The screen's gate (from the enrolment answer), for the scopes of approvals.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gate: String,
    /// PEM file of the CA(s) TLS servers must chain to (`None` = the system's CA store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Hex SHA-256 of the controller certificate's SubjectPublicKeyInfo: pins the broker link
    /// (and is accepted from mirrors besides the CA check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_pin_sha256: Option<String>,
}

/// A broker address: its host, port and whether it speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `mqtts://`: MQTT over TLS.
    pub tls: bool,
}

/// The default MQTT-over-TLS port.
pub const MQTTS_DEFAULT_PORT: u16 = 8883;

/// Parses `mqtts://host[:port]` (TLS, port 8883 by default) or `mqtt://host[:port]`
/// (plaintext, port 1883; `tcp://` is a synonym), as `docs/protocol.md` §7 describes.
pub fn parse_broker_addr(url: &str) -> Result<BrokerAddr, String> {
    let (plain, tls) = match url.strip_prefix("mqtts://") {
        Some(rest) => (format!("mqtt://{rest}"), true),
        None => (url.to_owned(), false),
    };
    let (host, port) = playlists::broker_url::parse(&plain).map_err(|e| {
        format!(
            "{url:?} is not a broker address ({}); expected mqtts://host:port or mqtt://host:port",
            e.why
        )
    })?;
    // broker_url puts in the plaintext default when the URL has no port.
    let has_port = {
        let rest = plain.trim_start_matches("mqtt://").trim_end_matches('/');
        match rest.rsplit_once(']') {
            Some((_, after)) => after.starts_with(':'),
            None => rest.contains(':'),
        }
    };
    let port = if tls && !has_port {
        MQTTS_DEFAULT_PORT
    } else {
        port
    };
    Ok(BrokerAddr { host, port, tls })
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
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_pin_sha256", &self.tls_pin_sha256)
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
            return Err(invalid("media_base", "give at least one https:// URL"));
        }
        for m in &mirrors {
            let rest = m
                .strip_prefix("https://")
                .or_else(|| m.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                return Err(invalid(
                    "media_base",
                    format!("{m:?} must be an https:// (or plaintext http://) URL"),
                ));
            }
        }
        if let Some(u) = &self.controller_url {
            let rest = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"));
            if rest.is_none_or(str::is_empty) {
                return Err(invalid(
                    "controller_url",
                    format!("{u:?} must be an https:// (or plaintext http://) URL (the controller's HTTP API)"),
                ));
            }
        }
        if let Some(pin) = &self.tls_pin_sha256 {
            gatecast_tls::normalize_pin(pin)
                .map_err(|e| invalid("tls_pin_sha256", e.to_string()))?;
        }
        if self
            .tls_ca_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid(
                "tls_ca_file",
                "must not be empty (leave it out to trust the system's CA store)",
            ));
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
        if let Some(bad) = self
            .policy_root
            .iter()
            .find(|id| !playlists::hex::is_lower_hex(id, 8))
        {
            return Err(invalid(
                "policy_root",
                format!("{bad:?} is not a key id (16 lowercase hex digits)"),
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

    /// The broker's host, port and TLS flag from `broker` (`mqtts://host:port` or
    /// `mqtt://host:port`).
    pub fn broker_addr(&self) -> Result<BrokerAddr, ConfigError> {
        parse_broker_addr(&self.broker).map_err(|m| invalid("broker", m))
    }

    /// The broker's host and port from `broker`.
    pub fn broker_host_port(&self) -> Result<(String, u16), ConfigError> {
        self.broker_addr().map(|b| (b.host, b.port))
    }

    /// The normalised `tls_pin_sha256` (64 lowercase hex digits), if set.
    pub fn pin(&self) -> Option<String> {
        self.tls_pin_sha256
            .as_deref()
            .and_then(|p| gatecast_tls::normalize_pin(p).ok())
    }

    /// What is sent in plaintext with this configuration: the broker link and each `http://`
    /// mirror (`docs/security.md` row 65). Empty when everything speaks TLS.
    pub fn plaintext_links(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.broker_addr().is_ok_and(|b| !b.tls) {
            v.push(format!("broker {}", self.broker));
        }
        v.extend(
            self.media_base
                .mirrors()
                .into_iter()
                .filter(|m| m.starts_with("http://"))
                .map(|m| format!("media mirror {m}")),
        );
        v
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
            ("mqtt://127.0.0.1:1883", "ftp://x", "broker"),
            (
                "controller_key = \"",
                "controller_key = \"AAAA",
                "controller_key",
            ),
            ("http://127.0.0.1:8080", "ftp://x", "media_base"),
            ("http://127.0.0.1:8080", "https://", "media_base"),
            ("mqtt://127.0.0.1:1883", "mqtts://h:x", "broker"),
            (
                "backend = \"null\"",
                "backend = \"null\"\ntls_pin_sha256 = \"abc\"",
                "tls_pin_sha256",
            ),
            (
                "backend = \"null\"",
                "backend = \"null\"\ntls_ca_file = \"\"",
                "tls_ca_file",
            ),
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
    fn tls_broker_mirrors_and_trust() {
        let pin = "AB:".repeat(31) + "AB";
        let t = good()
            .replace("mqtt://127.0.0.1:1883", "mqtts://gate.example.vn")
            .replace(
                "media_base = \"http://127.0.0.1:8080\"",
                &format!(
                    "media_base = [\"https://cdn.example.vn\", \"http://10.0.0.5:8080\"]\ntls_pin_sha256 = \"{pin}\"\ntls_ca_file = \"/etc/gatecast/ca.pem\""
                ),
            );
        let c = PlayerConfig::from_toml(&t).unwrap();
        assert_eq!(
            c.broker_addr().unwrap(),
            BrokerAddr {
                host: "gate.example.vn".into(),
                port: 8883,
                tls: true
            }
        );
        assert_eq!(c.pin().unwrap(), "ab".repeat(32));
        assert_eq!(
            c.tls_ca_file.as_deref(),
            Some(Path::new("/etc/gatecast/ca.pem"))
        );
        assert_eq!(
            c.plaintext_links(),
            vec!["media mirror http://10.0.0.5:8080"]
        );
        assert_eq!(PlayerConfig::from_toml(&c.to_toml()).unwrap(), c);
        // Plaintext broker and mirror are both named.
        let plain = PlayerConfig::from_toml(&good()).unwrap();
        assert_eq!(
            plain.plaintext_links(),
            vec![
                "broker mqtt://127.0.0.1:1883",
                "media mirror http://127.0.0.1:8080"
            ]
        );
        for (url, port, tls) in [
            ("mqtts://h:9883", 9883, true),
            ("mqtts://[::1]", 8883, true),
            ("mqtts://[::1]:1", 1, true),
            ("mqtt://h", 1883, false),
        ] {
            let b = parse_broker_addr(url).unwrap();
            assert_eq!((b.port, b.tls), (port, tls), "{url}");
        }
        assert!(parse_broker_addr("mqtts://").is_err());
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
