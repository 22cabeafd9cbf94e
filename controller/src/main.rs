//! `gatecast-controller`: the controller binary (thin: flags, logging, signals).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gatecast_controller::config::{Config, FileConfig, Overrides, TlsSource};
use gatecast_controller::serve;
use gatecast_controller::signal::shutdown_signal;
use gatecast_controller::store::Role;

/// gatecast controller: media library, schedules, signed publishing, receipts and audit.
#[derive(Parser)]
#[command(
    name = "gatecast-controller",
    version,
    after_help = "The self-contained demo (controller, broker, sample content, three players) is a \
                  binary of its own: `cargo run --release -- demo` in the repository (gatecast-demo)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from (file, then `GATECAST_*` variables, then flags).
#[derive(Args, Clone, Default)]
struct ConfigArgs {
    /// TOML configuration file (see deploy/controller.example.toml).
    #[arg(long, env = "GATECAST_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./gatecast-data].
    #[arg(long, env = "GATECAST_DATA")]
    data: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    cfg: ConfigArgs,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "GATECAST_HTTP")]
    http: Option<SocketAddr>,
    /// Listen address of the embedded MQTT broker [default: 127.0.0.1:1883].
    #[arg(long, env = "GATECAST_MQTT", conflicts_with = "broker")]
    mqtt: Option<SocketAddr>,
    /// Use an external MQTT broker (mqtt://host:port or mqtts://host:port) instead of the
    /// embedded one.
    #[arg(long, env = "GATECAST_BROKER")]
    broker: Option<String>,
    /// Broker URL handed to players at enrolment [default: derived from the broker address].
    #[arg(long, env = "GATECAST_PUBLIC_BROKER_URL")]
    public_broker_url: Option<String>,
    /// Media base URL handed to players at enrolment [default: http://<bound HTTP address>].
    #[arg(long, env = "GATECAST_PUBLIC_MEDIA_BASE")]
    public_media_base: Option<String>,
    /// Largest media upload in bytes [default: 4294967296].
    #[arg(long, env = "GATECAST_UPLOAD_LIMIT_BYTES")]
    upload_limit_bytes: Option<u64>,
    /// Lifetime of an enrolment code in hours [default: 24].
    #[arg(long, env = "GATECAST_ENROLLMENT_CODE_HOURS")]
    enrollment_code_hours: Option<u64>,
    /// Lifetime of a published manifest in days [default: 30].
    #[arg(long, env = "GATECAST_MANIFEST_LIFETIME_DAYS")]
    manifest_lifetime_days: Option<u64>,
    /// Serve HTTPS (API, console, media) and MQTTS with this certificate chain (PEM, leaf
    /// first); re-read on SIGHUP and when the file changes.
    #[arg(
        long,
        env = "GATECAST_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        env = "GATECAST_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS and MQTTS with a self-signed certificate made on first start in the data
    /// directory (tls-cert.pem, tls-key.pem); its pin (SHA-256 of the public key) is printed.
    #[arg(long, env = "GATECAST_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
    /// A host name or address the self-signed certificate is for (repeatable; localhost,
    /// 127.0.0.1, ::1 and the hosts of the public URLs are always in it).
    #[arg(
        long = "tls-host",
        env = "GATECAST_TLS_HOSTS",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    tls_hosts: Vec<String>,
    /// Listen address of the embedded broker's TLS listener [default with TLS: 127.0.0.1:8883].
    /// With TLS the plain --mqtt listener is off unless --mqtt is given.
    #[arg(
        long,
        env = "GATECAST_MQTTS",
        conflicts_with = "broker",
        value_name = "ADDR"
    )]
    mqtts: Option<SocketAddr>,
    /// A plain HTTP listener that only redirects (301) to the HTTPS address.
    #[arg(long, env = "GATECAST_HTTP_REDIRECT", value_name = "ADDR")]
    http_redirect: Option<SocketAddr>,
    /// CA certificate(s) (PEM) trusted for an external mqtts:// broker [default: the system's
    /// CA store].
    #[arg(long, env = "GATECAST_BROKER_CA", value_name = "FILE")]
    broker_ca: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (HTTP API, embedded MQTT broker, publisher).
    Serve(Box<ServeArgs>),
    /// Manage API tokens (the controller must be stopped: the database is locked while it
    /// runs; use POST/DELETE /api/v1/tokens then).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Make a new controller signing key and a rotation statement signed by the old and the
    /// new key (the controller must be stopped). Players switch to the new key when they
    /// receive the statement and keep trusting the old one for the overlap.
    RotateKey {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Days the players keep trusting the old key.
        #[arg(long, default_value_t = gatecast_controller::rotation::DEFAULT_OVERLAP_DAYS)]
        overlap_days: u64,
    },
    /// Write configuration for an external broker.
    BrokerAcl {
        #[command(subcommand)]
        command: BrokerAclCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; prints it as the last word of the output.
    Create {
        /// admin, operator or auditor.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Revoke a token by its id.
    Revoke {
        /// Token id (the 16 hex characters after `gct_`).
        id: String,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum BrokerAclCommand {
    /// mosquitto password file (`passwords`) and ACL file (`acl`); with a certificate also
    /// the TLS listener lines (`tls-listener.conf`).
    Mosquitto {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Certificate chain (PEM) of mosquitto's TLS listener [default: the controller's
        /// --tls-cert / [tls] cert].
        #[arg(long, env = "GATECAST_TLS_CERT", value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// Its private key (PEM).
        #[arg(long, env = "GATECAST_TLS_KEY", value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// CA certificates (PEM) for mosquitto's `cafile`.
        #[arg(long, value_name = "FILE")]
        tls_ca: Option<PathBuf>,
        /// Port of mosquitto's TLS listener.
        #[arg(long, default_value_t = 8883)]
        mqtts_port: u16,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
}

fn load_config(cfg: &ConfigArgs, mut o: Overrides) -> anyhow::Result<Config> {
    let file = match &cfg.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    o.data_dir = cfg.data.clone();
    Ok(Config::resolve(file, o)?)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATECAST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Serve(a) => {
            let o = Overrides {
                data_dir: None,
                http_addr: a.http,
                mqtt_addr: a.mqtt,
                broker: a.broker,
                public_broker_url: a.public_broker_url,
                public_media_base: a.public_media_base,
                upload_limit_bytes: a.upload_limit_bytes,
                enrollment_code_hours: a.enrollment_code_hours,
                manifest_lifetime_days: a.manifest_lifetime_days,
                tls_cert: a.tls_cert,
                tls_key: a.tls_key,
                tls_self_signed: a.tls_self_signed,
                tls_hosts: a.tls_hosts,
                mqtts_addr: a.mqtts,
                http_redirect: a.http_redirect,
                broker_ca: a.broker_ca,
            };
            let config = load_config(&a.cfg, o)?;
            serve::run(config, shutdown_signal())
                .await
                .context("the controller failed")?;
        }
        Command::Token { command } => match command {
            TokenCommand::Create { role, cfg } => {
                let config = load_config(&cfg, Overrides::default())?;
                let store = serve::open_store(&config)?;
                let (rec, token) = gatecast_controller::tokens::create_token(&store, role).await?;
                println!(
                    "created {} token {} (store it now; it is not shown again): {token}",
                    role.as_str(),
                    rec.id
                );
            }
            TokenCommand::Revoke { id, cfg } => {
                let config = load_config(&cfg, Overrides::default())?;
                let store = serve::open_store(&config)?;
                if !gatecast_controller::tokens::revoke_token(&store, &id).await? {
                    anyhow::bail!("no token with id {id:?}");
                }
                println!("revoked token {id}");
            }
        },
        Command::RotateKey { cfg, overlap_days } => {
            let config = load_config(&cfg, Overrides::default())?;
            let store = serve::open_store(&config)?;
            let r = gatecast_controller::rotation::rotate_key(
                &config.data_dir,
                &store,
                std::time::Duration::from_secs(overlap_days.saturating_mul(86_400)),
                jiff::Timestamp::now(),
            )
            .await?;
            println!(
                "rotated the controller key {} -> {} (old key kept in {}); players trust both until {}; start the controller to publish the statement",
                r.old_key_id,
                r.new_key_id,
                r.retired_path.display(),
                r.overlap_until
            );
        }
        Command::BrokerAcl { command } => match command {
            BrokerAclCommand::Mosquitto {
                out,
                cfg,
                tls_cert,
                tls_key,
                tls_ca,
                mqtts_port,
            } => {
                let config = load_config(&cfg, Overrides::default())?;
                let (cert, key) = match (tls_cert, tls_key, &config.tls) {
                    (Some(c), Some(k), _) => (Some(c), Some(k)),
                    (None, None, Some(TlsSource::Files { cert, key })) => {
                        (Some(cert.clone()), Some(key.clone()))
                    }
                    (None, None, _) => (None, None),
                    _ => anyhow::bail!("--tls-cert and --tls-key go together"),
                };
                let store = serve::open_store(&config)?;
                let screens: Vec<(String, String)> = store
                    .screens()?
                    .into_iter()
                    .filter(|s| !s.disabled)
                    .map(|s| (s.id, s.mqtt_password_hash))
                    .collect();
                let pw_path = config
                    .data_dir
                    .join(gatecast_controller::config::files::MQTT_PASSWORD);
                let (controller_pw, _) = gatecast_controller::secrets::load_or_create_secret(
                    &pw_path,
                    gatecast_controller::mqtt::password::generate_mqtt_password,
                )?;
                gatecast_controller::acl::write_mosquitto_files(&out, &screens, &controller_pw)
                    .with_context(|| format!("writing mosquitto files to {}", out.display()))?;
                if let (Some(cert), Some(key)) = (cert, key) {
                    let tls = gatecast_controller::acl::MosquittoTls {
                        port: mqtts_port,
                        cert: std::path::absolute(&cert)?,
                        key: std::path::absolute(&key)?,
                        ca: tls_ca.map(std::path::absolute).transpose()?,
                    };
                    gatecast_controller::acl::write_tls_listener(&out, &tls).with_context(
                        || format!("writing the TLS listener to {}", out.display()),
                    )?;
                    println!(
                        "wrote {} (listener {mqtts_port} with TLS); include it in mosquitto.conf",
                        out.join(gatecast_controller::acl::TLS_LISTENER_FILE)
                            .display()
                    );
                }
                println!(
                    "wrote {} and {} for {} screen(s); run: mosquitto -c <conf> with password_file and acl_file pointing there",
                    out.join(gatecast_controller::acl::PASSWORD_FILE).display(),
                    out.join(gatecast_controller::acl::ACL_FILE).display(),
                    screens.len()
                );
            }
        },
    }
    Ok(())
}
