//! Controller configuration: a TOML file, `GATECAST_*` environment variables and command-line
//! flags, in rising order of precedence (flags win). Every key has a documented default; see
//! `deploy/controller.example.toml` and `docs/operations.md` ("Controller configuration").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// File names inside the data directory.
pub mod files {
    /// The controller's Ed25519 signing key (0600).
    pub const CONTROLLER_KEY: &str = "controller.key";
    /// The first admin API token (0600).
    pub const ADMIN_TOKEN: &str = "admin.token";
    /// The controller's own MQTT password (0600).
    pub const MQTT_PASSWORD: &str = "mqtt-controller.password";
    /// The sled database directory.
    pub const DB: &str = "db";
    /// Media files (`media/sha256/<hex>`).
    pub const MEDIA: &str = "media";
}

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./gatecast-data";
/// Default HTTP listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Default listen address of the embedded MQTT broker.
pub const DEFAULT_MQTT_ADDR: &str = "127.0.0.1:1883";
/// Default media upload limit: 4 GiB.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 4 * 1024 * 1024 * 1024;
/// Default lifetime of an enrolment code: 24 hours.
pub const DEFAULT_ENROLLMENT_CODE_HOURS: u64 = 24;
/// Default lifetime of a published manifest: 30 days.
pub const DEFAULT_MANIFEST_LIFETIME_DAYS: u64 = 30;
/// Limit on JSON request bodies: 1 MiB.
pub const JSON_BODY_LIMIT: u64 = 1024 * 1024;
/// Default total time to send a request body other than a media upload: 60 s. The largest
/// such body ([`JSON_BODY_LIMIT`]) arrives in that time at 17 KiB/s, slower than any link a
/// console or a screen uses; a client that takes longer is holding the connection, not sending.
pub const DEFAULT_HTTP_BODY_DEADLINE_SECS: u64 = 60;
/// Default cap on open HTTP connections: 512. Under the common open-file limit of 1,024 this
/// leaves half the descriptors to the MQTT broker, the database and media files; raise it
/// together with the process's limit (`LimitNOFILE`), keeping it below half of it.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 512;
/// Default cap on open HTTP connections from one client address: 64. The screens of a gate
/// may share one address behind NAT (a player holds one or two connections while downloading)
/// and a console holds about six; 64 serves a busy gate while one address cannot take more than
/// an eighth of [`DEFAULT_HTTP_MAX_CONNECTIONS`].
pub const DEFAULT_HTTP_MAX_CONNECTIONS_PER_ADDR: usize = 64;

/// A configuration problem, named precisely enough to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has an unknown/mistyped key.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (it names the key and line).
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("config key `{key}` is invalid: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// Default age after which a screen whose last status said online counts as offline: three
/// heartbeat intervals (a player reports at least every 30 s, `docs/protocol.md` §12).
pub const DEFAULT_STATUS_STALE_SECS: u64 = 90;

/// The configuration file format (all keys optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory (`data_dir`), default `./gatecast-data`.
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address (`http_addr`), default `127.0.0.1:8080`.
    pub http_addr: Option<SocketAddr>,
    /// Embedded broker listen address (`mqtt_addr`), default `127.0.0.1:1883`.
    pub mqtt_addr: Option<SocketAddr>,
    /// External broker URL (`broker`, `mqtt://host:port`); when set no broker is embedded.
    pub broker: Option<String>,
    /// Broker URL handed to players at enrolment (`public_broker_url`).
    pub public_broker_url: Option<String>,
    /// Media base URL handed to players at enrolment (`public_media_base`).
    pub public_media_base: Option<String>,
    /// Upload limit in bytes (`upload_limit_bytes`), default 4 GiB.
    pub upload_limit_bytes: Option<u64>,
    /// Enrolment code lifetime in hours (`enrollment_code_hours`), default 24.
    pub enrollment_code_hours: Option<u64>,
    /// Manifest lifetime in days (`manifest_lifetime_days`), default 30.
    pub manifest_lifetime_days: Option<u64>,
    /// Total seconds to send a request body other than an upload (`http_body_deadline_secs`),
    /// default 60.
    pub http_body_deadline_secs: Option<u64>,
    /// Open HTTP connections at most (`http_max_connections`), default 512.
    pub http_max_connections: Option<usize>,
    /// Open HTTP connections from one address at most (`http_max_connections_per_addr`),
    /// default 64.
    pub http_max_connections_per_addr: Option<usize>,
    /// Seconds without a status after which an online screen counts as offline
    /// (`status_stale_secs`), default 90 (three heartbeats).
    pub status_stale_secs: Option<u64>,
    /// The period report's document settings (`[report]`: agency, number, signer, fonts).
    #[serde(default)]
    pub report: crate::report::ReportSettings,
}

impl FileConfig {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

/// Values from flags or environment (already merged by clap: a flag beats its variable).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data` / `GATECAST_DATA`.
    pub data_dir: Option<PathBuf>,
    /// `--http` / `GATECAST_HTTP`.
    pub http_addr: Option<SocketAddr>,
    /// `--mqtt` / `GATECAST_MQTT`.
    pub mqtt_addr: Option<SocketAddr>,
    /// `--broker` / `GATECAST_BROKER`.
    pub broker: Option<String>,
    /// `--public-broker-url` / `GATECAST_PUBLIC_BROKER_URL`.
    pub public_broker_url: Option<String>,
    /// `--public-media-base` / `GATECAST_PUBLIC_MEDIA_BASE`.
    pub public_media_base: Option<String>,
    /// `--upload-limit-bytes` / `GATECAST_UPLOAD_LIMIT_BYTES`.
    pub upload_limit_bytes: Option<u64>,
    /// `--enrollment-code-hours` / `GATECAST_ENROLLMENT_CODE_HOURS`.
    pub enrollment_code_hours: Option<u64>,
    /// `--manifest-lifetime-days` / `GATECAST_MANIFEST_LIFETIME_DAYS`.
    pub manifest_lifetime_days: Option<u64>,
}

/// Where the controller's MQTT broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerMode {
    /// Run the embedded broker, listening here (port 0 picks a free port).
    Embedded(SocketAddr),
    /// Use an external broker at this host and port.
    External {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
    },
}

/// The effective controller configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory (layout: docs/operations.md, "Data directory layout").
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// Embedded or external broker.
    pub broker: BrokerMode,
    /// Broker URL given to players; `None` = derived from the bound broker address.
    pub public_broker_url: Option<String>,
    /// Media base given to players; `None` = derived from the bound HTTP address.
    pub public_media_base: Option<String>,
    /// Largest accepted media upload in bytes.
    pub upload_limit_bytes: u64,
    /// How long an enrolment code stays valid.
    pub enrollment_code_lifetime: Duration,
    /// How long a published manifest is valid.
    pub manifest_lifetime: Duration,
    /// Bounds on HTTP clients (slow bodies, connection floods).
    pub http_limits: HttpLimits,
    /// A screen whose last status is older than this counts as offline, whatever that status
    /// said (screens API, console, compliance report's dark periods).
    pub status_stale_after: Duration,
    /// The period report's document settings (`[report]`).
    pub report: crate::report::ReportSettings,
}

/// Bounds on HTTP clients, so that slow or many connections cannot hold the API or take the
/// descriptors the broker needs (docs/security.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Total time to send a request body other than a media upload (uploads, which need a
    /// token, are cut only when they stall).
    pub body_deadline: Duration,
    /// Open HTTP connections at most; one more is closed at once.
    pub max_connections: usize,
    /// Open HTTP connections from one client address at most.
    pub max_connections_per_addr: usize,
}

impl Config {
    /// A configuration with every default, using `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config::resolve(FileConfig::default(), Overrides::default())
            .map(|mut c| {
                c.data_dir = data_dir.into();
                c
            })
            .expect("defaults are valid")
    }

    /// Merges file values and overrides (overrides win) and validates the result.
    pub fn resolve(file: FileConfig, o: Overrides) -> Result<Config, ConfigError> {
        let data_dir = o
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let http_addr = o
            .http_addr
            .or(file.http_addr)
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.parse().expect("valid default"));
        let mqtt_addr = o
            .mqtt_addr
            .or(file.mqtt_addr)
            .unwrap_or_else(|| DEFAULT_MQTT_ADDR.parse().expect("valid default"));
        // A flag for either mode beats the file's choice of the other.
        let broker_url = if o.mqtt_addr.is_some() {
            o.broker.clone()
        } else {
            o.broker.clone().or(file.broker)
        };
        let broker = match broker_url.filter(|s| !s.trim().is_empty()) {
            Some(url) => {
                let (host, port) =
                    parse_broker_setting(&url).map_err(|message| ConfigError::Invalid {
                        key: "broker",
                        message,
                    })?;
                BrokerMode::External { host, port }
            }
            None => BrokerMode::Embedded(mqtt_addr),
        };
        let public_broker_url = o.public_broker_url.or(file.public_broker_url);
        if let Some(u) = &public_broker_url {
            parse_broker_setting(u).map_err(|message| ConfigError::Invalid {
                key: "public_broker_url",
                message,
            })?;
        }
        let public_media_base = o.public_media_base.or(file.public_media_base);
        if let Some(u) = &public_media_base {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key: "public_media_base",
                    message: format!("{u:?} must start with http:// or https://"),
                });
            }
        }
        let upload_limit_bytes = o
            .upload_limit_bytes
            .or(file.upload_limit_bytes)
            .unwrap_or(DEFAULT_UPLOAD_LIMIT);
        if upload_limit_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "upload_limit_bytes",
                message: "must be greater than 0".into(),
            });
        }
        let hours = o
            .enrollment_code_hours
            .or(file.enrollment_code_hours)
            .unwrap_or(DEFAULT_ENROLLMENT_CODE_HOURS);
        if hours == 0 || hours > 24 * 365 {
            return Err(ConfigError::Invalid {
                key: "enrollment_code_hours",
                message: format!("{hours} is out of range 1..=8760"),
            });
        }
        let days = o
            .manifest_lifetime_days
            .or(file.manifest_lifetime_days)
            .unwrap_or(DEFAULT_MANIFEST_LIFETIME_DAYS);
        if days == 0 || days > 3650 {
            return Err(ConfigError::Invalid {
                key: "manifest_lifetime_days",
                message: format!("{days} is out of range 1..=3650"),
            });
        }
        let body_secs = file
            .http_body_deadline_secs
            .unwrap_or(DEFAULT_HTTP_BODY_DEADLINE_SECS);
        if body_secs == 0 || body_secs > 3600 {
            return Err(ConfigError::Invalid {
                key: "http_body_deadline_secs",
                message: format!("{body_secs} is out of range 1..=3600"),
            });
        }
        let max_connections = file
            .http_max_connections
            .unwrap_or(DEFAULT_HTTP_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "http_max_connections",
                message: "must be greater than 0".into(),
            });
        }
        let per_addr = file
            .http_max_connections_per_addr
            .unwrap_or(DEFAULT_HTTP_MAX_CONNECTIONS_PER_ADDR.min(max_connections));
        if per_addr == 0 || per_addr > max_connections {
            return Err(ConfigError::Invalid {
                key: "http_max_connections_per_addr",
                message: format!(
                    "{per_addr} is out of range 1..={max_connections} (http_max_connections)"
                ),
            });
        }
        let stale_secs = file.status_stale_secs.unwrap_or(DEFAULT_STATUS_STALE_SECS);
        if stale_secs == 0 || stale_secs > 86_400 {
            return Err(ConfigError::Invalid {
                key: "status_stale_secs",
                message: format!("{stale_secs} is out of range 1..=86400"),
            });
        }
        Ok(Config {
            status_stale_after: Duration::from_secs(stale_secs),
            report: file.report,
            data_dir,
            http_addr,
            broker,
            public_broker_url,
            public_media_base,
            upload_limit_bytes,
            enrollment_code_lifetime: Duration::from_secs(hours * 3600),
            manifest_lifetime: Duration::from_secs(days * 86400),
            http_limits: HttpLimits {
                body_deadline: Duration::from_secs(body_secs),
                max_connections,
                max_connections_per_addr: per_addr,
            },
        })
    }
}

/// A broker URL of the controller's configuration: `mqtt://` spelled out (the configuration
/// documents only that scheme), then the shared rules of [`playlists::broker_url`].
fn parse_broker_setting(url: &str) -> Result<(String, u16), String> {
    if !url.starts_with("mqtt://") {
        return Err(format!(
            "{url:?} must start with mqtt:// (TLS is not supported)"
        ));
    }
    playlists::broker_url::parse(url).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_and_defaults_fill_the_rest() {
        let file: FileConfig =
            toml::from_str("http_addr = \"127.0.0.1:9000\"\nupload_limit_bytes = 10\n").unwrap();
        let o = Overrides {
            http_addr: Some("127.0.0.1:9001".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::resolve(file, o).unwrap();
        assert_eq!(c.http_addr.port(), 9001);
        assert_eq!(c.upload_limit_bytes, 10);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(
            c.broker,
            BrokerMode::Embedded("127.0.0.1:1883".parse().unwrap())
        );
    }

    #[test]
    fn unknown_key_and_bad_broker_are_named() {
        let e = toml::from_str::<FileConfig>("htp_addr = \"x\"").unwrap_err();
        assert!(e.to_string().contains("htp_addr"), "{e}");
        let o = Overrides {
            broker: Some("tcp://x:1".into()),
            ..Default::default()
        };
        let e = Config::resolve(FileConfig::default(), o).unwrap_err();
        assert!(e.to_string().contains("broker"), "{e}");
    }

    #[test]
    fn example_config_parses() {
        let file: FileConfig =
            toml::from_str(include_str!("../../deploy/controller.example.toml")).unwrap();
        let c = Config::resolve(file, Overrides::default()).unwrap();
        assert_eq!(c.http_addr.port(), 8080);
        assert_eq!(c.manifest_lifetime, Duration::from_secs(30 * 86400));
        assert_eq!(
            c.http_limits,
            HttpLimits {
                body_deadline: Duration::from_secs(DEFAULT_HTTP_BODY_DEADLINE_SECS),
                max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
                max_connections_per_addr: DEFAULT_HTTP_MAX_CONNECTIONS_PER_ADDR,
            }
        );
    }

    #[test]
    fn http_limits_are_checked() {
        let bad = [
            "http_body_deadline_secs = 0",
            "http_max_connections = 0",
            "http_max_connections = 4\nhttp_max_connections_per_addr = 5",
        ];
        for text in bad {
            let file: FileConfig = toml::from_str(text).unwrap();
            let e = Config::resolve(file, Overrides::default()).unwrap_err();
            assert!(e.to_string().contains("http_"), "{text}: {e}");
        }
        let file: FileConfig = toml::from_str("http_max_connections = 8").unwrap();
        let c = Config::resolve(file, Overrides::default()).unwrap();
        assert_eq!(c.http_limits.max_connections_per_addr, 8);
    }
}
