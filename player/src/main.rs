//! `gatecast-player`: the player agent binary (thin: flags, logging, signals).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use gatecast_player::agent::{self, BackendChoice, RunOptions};
use gatecast_player::config::{self, PlayerConfig};
use gatecast_player::enroll::{self, EnrollOptions};

/// gatecast player agent: verified offline cache, scheduler, playback, signed receipts.
#[derive(Parser)]
#[command(name = "gatecast-player", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    /// Render with mpv.
    Mpv,
    /// Timing only (receipts say "backend": "null").
    Null,
}

impl From<BackendArg> for config::BackendKind {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Mpv => config::BackendKind::Mpv,
            BackendArg::Null => config::BackendKind::Null,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Enrol this screen with a controller and write the player configuration (mode 0600).
    Enroll {
        /// Controller base URL, e.g. https://gatecast.example.vn:8443 (plaintext http:// only
        /// on a closed LAN).
        #[arg(long)]
        controller: String,
        /// Trust an https:// controller whose certificate chains to a CA in this PEM file
        /// (written into the configuration as tls_ca_file).
        #[arg(long, conflicts_with = "pin_sha256")]
        ca_file: Option<PathBuf>,
        /// Trust an https:// controller presenting exactly this key: hex SHA-256 of its
        /// certificate's SubjectPublicKeyInfo (the controller prints it; written into the
        /// configuration as tls_pin_sha256).
        #[arg(long)]
        pin_sha256: Option<String>,
        /// This screen's id.
        #[arg(long)]
        screen: String,
        /// The single-use enrolment code.
        #[arg(long)]
        code: String,
        /// Refuse unless the controller's key id is exactly this.
        #[arg(long)]
        expect_key_id: Option<String>,
        /// Where to write the configuration.
        #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Data directory (device key, state, cache).
        #[arg(long, default_value = config::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Backend written into the configuration.
        #[arg(long, value_enum, default_value = "mpv")]
        backend: BackendArg,
    },
    /// Run the agent.
    Run {
        /// The configuration file.
        #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Override the configured backend.
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Null backend only: play this many times faster than real time (tests, demos).
        #[arg(long, default_value_t = 1.0)]
        null_speed: f64,
        /// Status heartbeat interval in seconds (the status is also sent on every change).
        #[arg(long, default_value_t = 30)]
        status_interval_secs: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Two worker threads are plenty for a player and keep the footprint small.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Enroll {
            controller,
            screen,
            code,
            expect_key_id,
            config,
            data,
            backend,
            ca_file,
            pin_sha256,
        } => {
            let opts = EnrollOptions {
                ca_file,
                pin_sha256,
                controller,
                screen,
                code,
                expect_key_id,
                config_path: config.clone(),
                data_dir: data,
                backend: backend.into(),
            };
            let cfg = enroll::enroll(&opts).await.context("enrolment failed")?;
            println!(
                "enrolled screen {} ; configuration written to {}",
                cfg.screen,
                config.display()
            );
            Ok(())
        }
        Command::Run {
            config,
            backend,
            null_speed,
            status_interval_secs,
        } => {
            let mut cfg = PlayerConfig::load(&config).with_context(|| {
                format!("cannot load the player configuration {}", config.display())
            })?;
            if let Some(b) = backend {
                cfg.backend = b.into();
            }
            let mut opts = RunOptions::from_config(&cfg);
            if let BackendChoice::Null { speed } = &mut opts.backend {
                *speed = null_speed;
            }
            opts.status_interval = std::time::Duration::from_secs(status_interval_secs.max(1));
            tracing::info!(screen = %cfg.screen, backend = ?cfg.backend, "gatecast-player starting");
            agent::run(cfg, opts, shutdown_signal())
                .await
                .context("the player agent stopped")
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the agent");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
