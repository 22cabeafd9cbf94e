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
/// Default listen address of the embedded broker's TLS listener (when TLS is configured).
pub const DEFAULT_MQTTS_ADDR: &str = "127.0.0.1:8883";
/// The MQTTS port of a `mqtts://host` URL without a port.
pub const DEFAULT_MQTTS_PORT: u16 = 8883;
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
/// Default cap on the embedded broker's open MQTT connections: 10,100 — 10,000 screens and the
/// controller's own sessions beside them (monitoring clients, an operator's `mosquitto_sub`).
/// Each connection holds a descriptor: keep it below the open-file limit (`LimitNOFILE`)
/// minus `http_max_connections` and the database's files.
pub const DEFAULT_MQTT_MAX_CONNECTIONS: usize = 10_100;
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

/// Default number of screenshots kept per screen: 288, a day at the players' default interval
/// of 5 minutes (`docs/protocol.md` §18).
pub const DEFAULT_SCREENSHOTS_KEPT: usize = 288;

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
    /// Open connections to the embedded MQTT broker at most (`mqtt_max_connections`), default
    /// [`DEFAULT_MQTT_MAX_CONNECTIONS`].
    pub mqtt_max_connections: Option<usize>,
    /// Open HTTP connections from one address at most (`http_max_connections_per_addr`),
    /// default 64.
    pub http_max_connections_per_addr: Option<usize>,
    /// Seconds without a status after which an online screen counts as offline
    /// (`status_stale_secs`), default 90 (three heartbeats).
    pub status_stale_secs: Option<u64>,
    /// Screenshots kept per screen, the newest (`screenshots_kept`), default 288.
    pub screenshots_kept: Option<usize>,
    /// Embedded broker TLS listen address (`mqtts_addr`), default `127.0.0.1:8883` when TLS
    /// is configured.
    pub mqtts_addr: Option<SocketAddr>,
    /// A plain HTTP listener that only redirects to HTTPS (`http_redirect_addr`), default none.
    pub http_redirect_addr: Option<SocketAddr>,
    /// CA certificate(s) PEM trusted for an external `mqtts://` broker (`broker_ca`); default
    /// the machine's CA store.
    pub broker_ca: Option<PathBuf>,
    /// The `[tls]` table: the certificate of HTTPS and MQTTS.
    pub tls: Option<TlsFileConfig>,
    /// The period report's document settings (`[report]`: agency, number, signer, fonts).
    #[serde(default)]
    pub report: crate::report::ReportSettings,
    /// CAP intake (`[cap]`: size limit, senders shown at once, gate locations;
    /// `docs/protocol.md` §22).
    #[serde(default)]
    pub cap: crate::cap::CapSettings,
}

/// The `[tls]` table of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    /// Certificate chain PEM, leaf first (`cert`).
    pub cert: Option<PathBuf>,
    /// Its private key PEM (`key`).
    pub key: Option<PathBuf>,
    /// Make (once) and use a self-signed certificate in the data directory (`self_signed`).
    pub self_signed: Option<bool>,
    /// Host names and addresses the self-signed certificate is for (`hosts`), besides
    /// `localhost`, `127.0.0.1`, `::1` and the hosts of the public URLs.
    pub hosts: Option<Vec<String>>,
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
    /// `--tls-cert` / `GATECAST_TLS_CERT`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key` / `GATECAST_TLS_KEY`.
    pub tls_key: Option<PathBuf>,
    /// `--tls-self-signed` / `GATECAST_TLS_SELF_SIGNED`.
    pub tls_self_signed: bool,
    /// `--tls-host` (repeatable) / `GATECAST_TLS_HOSTS` (comma-separated).
    pub tls_hosts: Vec<String>,
    /// `--mqtts` / `GATECAST_MQTTS`.
    pub mqtts_addr: Option<SocketAddr>,
    /// `--http-redirect` / `GATECAST_HTTP_REDIRECT`.
    pub http_redirect: Option<SocketAddr>,
    /// `--broker-ca` / `GATECAST_BROKER_CA`.
    pub broker_ca: Option<PathBuf>,
}

/// Where the certificate of HTTPS and MQTTS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files (re-read on SIGHUP and when they change).
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// A self-signed certificate made once in the data directory for these names.
    SelfSigned {
        /// Host names and addresses (`localhost`, `127.0.0.1` and `::1` are added).
        hosts: Vec<String>,
    },
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
    /// The embedded broker's cap on open MQTT connections (screens and the controller's own).
    pub mqtt_max_connections: usize,
    /// A screen whose last status is older than this counts as offline, whatever that status
    /// said (screens API, console, compliance report's dark periods).
    pub status_stale_after: Duration,
    /// Screenshots kept per screen (the newest; older ones are deleted as new ones arrive).
    pub screenshots_kept: usize,
    /// The certificate of HTTPS (API, console, media) and the embedded broker's MQTTS; `None`
    /// serves plain HTTP and MQTT.
    pub tls: Option<TlsSource>,
    /// The embedded broker's TLS listener (set when [`Config::tls`] is and the broker is
    /// embedded).
    pub mqtts_addr: Option<SocketAddr>,
    /// Whether the embedded broker's plain listener is open: always without TLS; with TLS only
    /// when `--mqtt`/`mqtt_addr` asks for it (then a warning is logged).
    pub mqtt_plain: bool,
    /// A plain HTTP listener answering every request with a redirect to HTTPS.
    pub http_redirect: Option<SocketAddr>,
    /// How the controller trusts an external broker reached over `mqtts://` (`None`: the
    /// external broker speaks plain `mqtt://`).
    pub broker_trust: Option<gatecast_tls::ClientTrust>,
    /// The period report's document settings (`[report]`).
    pub report: crate::report::ReportSettings,
    /// CAP intake settings (`[cap]`).
    pub cap: crate::cap::CapSettings,
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
    pub fn resolve(mut file: FileConfig, mut o: Overrides) -> Result<Config, ConfigError> {
        let tls_file = FileConfig {
            tls: file.tls.take(),
            ..FileConfig::default()
        };
        let tls_flags = Overrides {
            tls_cert: o.tls_cert.take(),
            tls_key: o.tls_key.take(),
            tls_self_signed: o.tls_self_signed,
            tls_hosts: std::mem::take(&mut o.tls_hosts),
            ..Overrides::default()
        };
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
        let broker_ca = o.broker_ca.clone().or(file.broker_ca.clone());
        let mut broker_trust = None;
        let broker = match broker_url.filter(|s| !s.trim().is_empty()) {
            Some(url) => {
                let (host, port, tls) =
                    parse_broker_setting(&url).map_err(|message| ConfigError::Invalid {
                        key: "broker",
                        message,
                    })?;
                if tls {
                    broker_trust = Some(match &broker_ca {
                        Some(ca) => gatecast_tls::ClientTrust::CaFile(ca.clone()),
                        None => gatecast_tls::ClientTrust::SystemRoots,
                    });
                }
                BrokerMode::External { host, port }
            }
            None => BrokerMode::Embedded(mqtt_addr),
        };
        if broker_ca.is_some() && broker_trust.is_none() {
            return Err(ConfigError::Invalid {
                key: "broker_ca",
                message: "is only used with an external broker URL starting with mqtts://".into(),
            });
        }
        let public_broker_url = o
            .public_broker_url
            .clone()
            .or(file.public_broker_url.clone());
        if let Some(u) = &public_broker_url {
            parse_broker_setting(u).map_err(|message| ConfigError::Invalid {
                key: "public_broker_url",
                message,
            })?;
        }
        let public_media_base = o
            .public_media_base
            .clone()
            .or(file.public_media_base.clone());
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
        let mqtt_max_connections = file
            .mqtt_max_connections
            .unwrap_or(DEFAULT_MQTT_MAX_CONNECTIONS);
        if !(1..=1_000_000).contains(&mqtt_max_connections) {
            return Err(ConfigError::Invalid {
                key: "mqtt_max_connections",
                message: format!("{mqtt_max_connections} is out of range 1..=1000000"),
            });
        }
        let tls = resolve_tls(
            &tls_file,
            &tls_flags,
            &public_broker_url,
            &public_media_base,
        )?;
        let (mqtts_addr, mqtt_plain, http_redirect) = resolve_listeners(
            o.mqtts_addr.or(file.mqtts_addr),
            o.http_redirect.or(file.http_redirect_addr),
            o.mqtt_addr.is_some() || file.mqtt_addr.is_some(),
            &tls,
            &broker,
        )?;
        let stale_secs = file.status_stale_secs.unwrap_or(DEFAULT_STATUS_STALE_SECS);
        if stale_secs == 0 || stale_secs > 86_400 {
            return Err(ConfigError::Invalid {
                key: "status_stale_secs",
                message: format!("{stale_secs} is out of range 1..=86400"),
            });
        }
        let screenshots_kept = file.screenshots_kept.unwrap_or(DEFAULT_SCREENSHOTS_KEPT);
        if screenshots_kept == 0 || screenshots_kept > 100_000 {
            return Err(ConfigError::Invalid {
                key: "screenshots_kept",
                message: format!("{screenshots_kept} is out of range 1..=100000"),
            });
        }
        if let Some(n) = file.cap.max_bytes {
            if !(1024..=JSON_BODY_LIMIT as usize).contains(&n) {
                return Err(ConfigError::Invalid {
                    key: "cap.max_bytes",
                    message: format!("{n} is out of range 1024..={JSON_BODY_LIMIT}"),
                });
            }
        }
        for f in &file.cap.feeds {
            crate::cap::feed::Fetcher::check_url(&f.url).map_err(|message| {
                ConfigError::Invalid {
                    key: "cap.feeds",
                    message,
                }
            })?;
        }
        for g in &file.cap.gates {
            if !(-90.0..=90.0).contains(&g.lat) || !(-180.0..=180.0).contains(&g.lon) {
                return Err(ConfigError::Invalid {
                    key: "cap.gates",
                    message: format!(
                        "gate {:?}: ({}, {}) is not a WGS 84 latitude, longitude",
                        g.gate, g.lat, g.lon
                    ),
                });
            }
        }
        Ok(Config {
            tls,
            mqtts_addr,
            mqtt_plain,
            http_redirect,
            broker_trust,
            status_stale_after: Duration::from_secs(stale_secs),
            screenshots_kept,
            report: file.report,
            cap: file.cap,
            data_dir,
            http_addr,
            broker,
            public_broker_url,
            public_media_base,
            upload_limit_bytes,
            enrollment_code_lifetime: Duration::from_secs(hours * 3600),
            manifest_lifetime: Duration::from_secs(days * 86400),
            mqtt_max_connections,
            http_limits: HttpLimits {
                body_deadline: Duration::from_secs(body_secs),
                max_connections,
                max_connections_per_addr: per_addr,
            },
        })
    }
}

/// A broker URL of the controller's configuration: `mqtt://` or `mqtts://` spelled out, then
/// the shared rules of [`playlists::broker_url`]. Returns host, port (8883 by default for
/// `mqtts://`) and whether it is TLS.
fn parse_broker_setting(url: &str) -> Result<(String, u16, bool), String> {
    if let Some(rest) = url.strip_prefix("mqtts://") {
        let plain = format!("mqtt://{rest}");
        let (host, port) = playlists::broker_url::parse(&plain)
            .map_err(|e| e.to_string().replace("mqtt://", "mqtts://"))?;
        let explicit_port = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.ends_with(']'));
        return Ok((
            host,
            if explicit_port {
                port
            } else {
                DEFAULT_MQTTS_PORT
            },
            true,
        ));
    }
    if !url.starts_with("mqtt://") {
        return Err(format!("{url:?} must start with mqtt:// or mqtts://"));
    }
    let (host, port) = playlists::broker_url::parse(url).map_err(|e| e.to_string())?;
    Ok((host, port, false))
}

/// The listeners TLS decides: the embedded broker's MQTTS address (with TLS and an embedded
/// broker; `mqtts` as asked for, else the default), whether its plain listener opens (without
/// TLS, or when `mqtt_named`) and the redirect listener (TLS only). Returns
/// `(mqtts_addr, mqtt_plain, http_redirect)`.
fn resolve_listeners(
    mqtts: Option<SocketAddr>,
    redirect: Option<SocketAddr>,
    mqtt_named: bool,
    tls: &Option<TlsSource>,
    broker: &BrokerMode,
) -> Result<(Option<SocketAddr>, bool, Option<SocketAddr>), ConfigError> {
    let needs = |key: &'static str, what: &str| ConfigError::Invalid {
        key,
        message: format!(
            "{what} needs a certificate: --tls-cert and --tls-key, or --tls-self-signed"
        ),
    };
    if tls.is_none() {
        if mqtts.is_some() {
            return Err(needs("mqtts_addr", "an MQTTS listener"));
        }
        if redirect.is_some() {
            return Err(needs("http_redirect_addr", "redirecting to HTTPS"));
        }
        return Ok((None, true, None));
    }
    let mqtts_addr = matches!(broker, BrokerMode::Embedded(_))
        .then(|| mqtts.unwrap_or_else(|| DEFAULT_MQTTS_ADDR.parse().expect("valid default")));
    // With TLS the plain listener is opened only when asked for by name.
    Ok((mqtts_addr, mqtt_named, redirect))
}

/// The certificate settings: flags beat the `[tls]` table; `cert` and `key` go together;
/// files and `self_signed` exclude each other.
fn resolve_tls(
    file: &FileConfig,
    o: &Overrides,
    public_broker_url: &Option<String>,
    public_media_base: &Option<String>,
) -> Result<Option<TlsSource>, ConfigError> {
    let table = file.tls.as_ref();
    let cert = o
        .tls_cert
        .clone()
        .or_else(|| table.and_then(|t| t.cert.clone()));
    let key = o
        .tls_key
        .clone()
        .or_else(|| table.and_then(|t| t.key.clone()));
    let self_signed = o.tls_self_signed || table.and_then(|t| t.self_signed).unwrap_or(false);
    let invalid = |message: &str| ConfigError::Invalid {
        key: "tls",
        message: message.to_string(),
    };
    match (cert, key, self_signed) {
        (Some(_), Some(_), true) => Err(invalid(
            "give either a certificate (--tls-cert/--tls-key) or --tls-self-signed, not both",
        )),
        (Some(cert), Some(key), false) => Ok(Some(TlsSource::Files { cert, key })),
        (Some(_), None, _) => Err(invalid(
            "--tls-cert needs --tls-key (the certificate's private key)",
        )),
        (None, Some(_), _) => Err(invalid(
            "--tls-key needs --tls-cert (the certificate chain)",
        )),
        (None, None, true) => {
            let mut hosts: Vec<String> = table.and_then(|t| t.hosts.clone()).unwrap_or_default();
            hosts.extend(o.tls_hosts.iter().cloned());
            for url in [public_broker_url, public_media_base].into_iter().flatten() {
                if let Some(h) = url_host(url) {
                    hosts.push(h);
                }
            }
            let mut seen = std::collections::HashSet::new();
            hosts.retain(|h| !h.trim().is_empty() && seen.insert(h.clone()));
            Ok(Some(TlsSource::SelfSigned { hosts }))
        }
        (None, None, false) => Ok(None),
    }
}

/// The host of `scheme://host[:port][/path]` (IPv6 without brackets).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then(|| host.to_string())
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
    fn a_cap_feed_that_is_not_http_is_refused_by_name() {
        let file: FileConfig =
            toml::from_str("[[cap.feeds]]\nurl = \"file:///etc/passwd\"\nevery_secs = 60\n")
                .unwrap();
        let e = Config::resolve(file, Overrides::default()).unwrap_err();
        assert!(
            e.to_string().contains("cap.feeds") && e.to_string().contains("file:///etc/passwd"),
            "{e}"
        );
        let ok: FileConfig =
            toml::from_str("[[cap.feeds]]\nurl = \"https://feeds.example.vn/cap.atom\"\n").unwrap();
        let c = Config::resolve(ok, Overrides::default()).unwrap();
        assert_eq!(c.cap.feeds[0].every(), Duration::from_secs(120));
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
    fn tls_turns_the_plain_broker_listener_off_unless_asked_for() {
        let o = Overrides {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..Default::default()
        };
        let c = Config::resolve(FileConfig::default(), o.clone()).unwrap();
        assert_eq!(
            c.tls,
            Some(TlsSource::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        assert!(!c.mqtt_plain);
        assert_eq!(c.mqtts_addr, Some(DEFAULT_MQTTS_ADDR.parse().unwrap()));
        let asked = Overrides {
            mqtt_addr: Some("127.0.0.1:1999".parse().unwrap()),
            ..o
        };
        assert!(
            Config::resolve(FileConfig::default(), asked)
                .unwrap()
                .mqtt_plain
        );
        assert!(Config::with_data_dir("d").mqtt_plain);
        assert_eq!(Config::with_data_dir("d").mqtts_addr, None);
    }

    #[test]
    fn tls_settings_come_from_the_table_and_are_checked() {
        let file: FileConfig = toml::from_str(
            "public_media_base = \"https://media.gate.example:8443\"\n[tls]\nself_signed = true\nhosts = [\"ctl.gate.example\"]\n",
        )
        .unwrap();
        let c = Config::resolve(file, Overrides::default()).unwrap();
        assert_eq!(
            c.tls,
            Some(TlsSource::SelfSigned {
                hosts: vec!["ctl.gate.example".into(), "media.gate.example".into()]
            })
        );
        let half = Overrides {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        };
        let e = Config::resolve(FileConfig::default(), half).unwrap_err();
        assert!(e.to_string().contains("--tls-key"), "{e}");
        let redirect = Overrides {
            http_redirect: Some("127.0.0.1:80".parse().unwrap()),
            ..Default::default()
        };
        let e = Config::resolve(FileConfig::default(), redirect).unwrap_err();
        assert!(e.to_string().contains("http_redirect_addr"), "{e}");
    }

    #[test]
    fn an_mqtts_broker_trusts_its_ca_file_or_the_system_roots() {
        let o = |url: &str, ca: Option<&str>| Overrides {
            broker: Some(url.into()),
            broker_ca: ca.map(PathBuf::from),
            ..Default::default()
        };
        let c = Config::resolve(FileConfig::default(), o("mqtts://broker.example", None)).unwrap();
        assert_eq!(
            c.broker,
            BrokerMode::External {
                host: "broker.example".into(),
                port: 8883
            }
        );
        assert_eq!(c.broker_trust, Some(gatecast_tls::ClientTrust::SystemRoots));
        let c = Config::resolve(
            FileConfig::default(),
            o("mqtts://[::1]:9883", Some("ca.pem")),
        )
        .unwrap();
        assert_eq!(
            c.broker,
            BrokerMode::External {
                host: "::1".into(),
                port: 9883
            }
        );
        assert_eq!(
            c.broker_trust,
            Some(gatecast_tls::ClientTrust::CaFile("ca.pem".into()))
        );
        let e =
            Config::resolve(FileConfig::default(), o("mqtt://b:1883", Some("ca.pem"))).unwrap_err();
        assert!(e.to_string().contains("mqtts://"), "{e}");
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

    #[test]
    fn mqtt_max_connections_leaves_room_for_10000_screens_and_is_checked() {
        let c = Config::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert!(
            c.mqtt_max_connections > 10_000,
            "{}",
            c.mqtt_max_connections
        );
        for text in ["mqtt_max_connections = 0", "mqtt_max_connections = 2000000"] {
            let file: FileConfig = toml::from_str(text).unwrap();
            let e = Config::resolve(file, Overrides::default()).unwrap_err();
            assert!(
                e.to_string().contains("mqtt_max_connections"),
                "{text}: {e}"
            );
        }
        let file: FileConfig = toml::from_str("mqtt_max_connections = 20500").unwrap();
        let c = Config::resolve(file, Overrides::default()).unwrap();
        assert_eq!(c.mqtt_max_connections, 20_500);
    }
}
