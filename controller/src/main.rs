//! `gatecast-controller`: the controller binary (thin: flags, logging, signals).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gatecast_controller::admin::AdminCommand;
use gatecast_controller::config::{Config, FileConfig, Overrides, TlsSource};
use gatecast_controller::serve;
use gatecast_controller::signal::shutdown_signal;
use gatecast_controller::store::Role;
use gatecast_support::logging::LogFormat;

/// gatecast controller: media library, schedules, signed publishing, receipts and audit.
#[derive(Parser)]
#[command(
    name = "gatecast-controller",
    version,
    after_help = "The self-contained demo (controller, broker, sample content, three players) is a \
                  binary of its own: `cargo run --release -- demo` in the repository (gatecast-demo)."
)]
struct Cli {
    /// Log line format on standard error: text or json (one object per line, for journald or
    /// Loki). Text is coloured only on a terminal.
    #[arg(
        long,
        global = true,
        env = "GATECAST_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
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
    /// Manage API tokens (works while the controller runs, through its admin socket).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Make a new controller signing key and a rotation statement signed by the old and the
    /// new key. Players switch to the new key when they receive the statement and keep
    /// trusting the old one for the overlap. A running controller signs with the new key from
    /// its next start.
    RotateKey {
        #[command(flatten)]
        cfg: ConfigArgs,
        /// Days the players keep trusting the old key.
        #[arg(long, default_value_t = gatecast_controller::rotation::DEFAULT_OVERLAP_DAYS)]
        overlap_days: u64,
    },
    /// Manage console users (works while the controller runs, through its admin socket).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Write a consistent backup archive (database, keys, secrets, media), also while the
    /// controller runs; its SHA-256 goes to FILE.sha256.
    Backup {
        /// The archive to write.
        #[arg(long)]
        out: PathBuf,
        /// Leave the media files out (list their hashes only).
        #[arg(long)]
        without_media: bool,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Restore a backup archive into a new, empty data directory.
    Restore {
        /// The archive (FILE.sha256 beside it is checked when present).
        file: PathBuf,
        /// The new data directory (must not exist or be empty).
        #[arg(long)]
        data: PathBuf,
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
    /// List tokens (ids, roles, creation times; never secrets).
    List {
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
enum UserCommand {
    /// Create a user; prints a random password unless --password-stdin.
    Add {
        /// Login (lowercase letters, digits, '.', '-', '_').
        #[arg(long)]
        login: String,
        /// Full name (the action log shows the login).
        #[arg(long)]
        name: String,
        /// admin, operator or auditor.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Turn on two-factor sign-in (TOTP); prints the otpauth:// URI.
        #[arg(long)]
        totp: bool,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Disable a user.
    Disable {
        /// Login.
        login: String,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Give a user a new random password (printed once).
    Reset {
        /// Login.
        login: String,
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

/// Runs an admin command through the running controller's socket, or on the database when
/// the controller is stopped, and prints its output.
async fn admin(cfg: &ConfigArgs, cmd: AdminCommand) -> anyhow::Result<()> {
    let config = load_config(cfg, Overrides::default())?;
    let out = gatecast_controller::admin::run_command(&config.data_dir, cmd).await?;
    println!("{out}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    gatecast_support::logging::init_stderr(cli.log_format, "GATECAST_LOG");
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
        Command::Token { command } => {
            let (cfg, cmd) = match command {
                TokenCommand::Create { role, cfg } => (cfg, AdminCommand::TokenCreate { role }),
                TokenCommand::List { cfg } => (cfg, AdminCommand::TokenList),
                TokenCommand::Revoke { id, cfg } => (cfg, AdminCommand::TokenRevoke { id }),
            };
            admin(&cfg, cmd).await?;
        }
        Command::User { command } => {
            let (cfg, cmd) = match command {
                UserCommand::Add {
                    login,
                    name,
                    role,
                    password_stdin,
                    totp,
                    cfg,
                } => {
                    let password = if password_stdin {
                        let mut line = String::new();
                        std::io::stdin()
                            .read_line(&mut line)
                            .context("reading the password from standard input")?;
                        Some(line.trim_end_matches(['\r', '\n']).to_string())
                    } else {
                        None
                    };
                    let cmd = AdminCommand::UserAdd {
                        login,
                        name,
                        role,
                        password,
                        totp,
                    };
                    (cfg, cmd)
                }
                UserCommand::Disable { login, cfg } => (cfg, AdminCommand::UserDisable { login }),
                UserCommand::Reset { login, cfg } => (cfg, AdminCommand::UserReset { login }),
            };
            admin(&cfg, cmd).await?;
        }
        Command::RotateKey { cfg, overlap_days } => {
            admin(&cfg, AdminCommand::RotateKey { overlap_days }).await?;
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
                let out = std::path::absolute(&out)
                    .with_context(|| format!("resolving {}", out.display()))?;
                let config = load_config(&cfg, Overrides::default())?;
                let (cert, key) = match (tls_cert, tls_key, &config.tls) {
                    (Some(c), Some(k), _) => (Some(c), Some(k)),
                    (None, None, Some(TlsSource::Files { cert, key })) => {
                        (Some(cert.clone()), Some(key.clone()))
                    }
                    (None, None, _) => (None, None),
                    _ => anyhow::bail!("--tls-cert and --tls-key go together"),
                };
                let tls = match (cert, key) {
                    (Some(cert), Some(key)) => Some(gatecast_controller::acl::MosquittoTls {
                        port: mqtts_port,
                        cert: std::path::absolute(&cert)?,
                        key: std::path::absolute(&key)?,
                        ca: tls_ca.map(std::path::absolute).transpose()?,
                    }),
                    _ => None,
                };
                admin(&cfg, AdminCommand::BrokerAclMosquitto { out, tls }).await?;
            }
        },
        Command::Backup {
            out,
            without_media,
            cfg,
        } => {
            let out = gatecast_controller::backup::absolute_out(&out)?;
            let with_media = !without_media;
            admin(&cfg, AdminCommand::Backup { out, with_media }).await?;
        }
        Command::Restore { file, data } => {
            let r = tokio::task::spawn_blocking(move || {
                gatecast_controller::backup::restore(&file, &data)
            })
            .await??;
            println!("{r}");
        }
    }
    Ok(())
}
