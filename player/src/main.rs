//! `gatecast-player`: the player agent binary (thin: flags, logging, signals).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use gatecast_player::agent::{self, BackendChoice, RunOptions};
use gatecast_player::config::{self, PlayerConfig};
use gatecast_player::enroll::{self, EnrollOptions};
use gatecast_support::logging::LogFormat;

/// gatecast player agent: verified offline cache, scheduler, playback, signed receipts.
#[derive(Parser)]
#[command(name = "gatecast-player", version)]
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
        /// Pin the approval policy root: key ids from the installation sheet, comma separated;
        /// the screen then plays only approved content (docs/protocol.md §19).
        #[arg(long, value_delimiter = ',')]
        policy_root: Vec<String>,
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
    /// Show the display test card through mpv on this display (all four alert scripts and
    /// the 5 % safe-area frame) for a technician to look at; lists the fonts found.
    CheckDisplay {
        /// How long to show the card (Ctrl-C ends it earlier).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// An extra mpv argument (repeatable), e.g. --mpv-arg=--vo=gpu.
        #[arg(long = "mpv-arg", allow_hyphen_values = true)]
        mpv_args: Vec<String>,
    },
}

/// Most threads of the runtime's blocking pool at once (downloads hash one file at a time;
/// the rest are short file operations and the overlay drawing of the mpv backend).
const BLOCKING_THREADS: usize = 4;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    gatecast_support::logging::init_stderr(cli.log_format, "RUST_LOG");
    // Two worker threads are plenty for a player and keep the footprint small. The blocking
    // pool (file hashing, `tokio::fs`, drawing) is capped and lets an idle thread go after 2 s
    // instead of 10 s: each thread is a stack and often a malloc arena of its own, and the idle
    // player kept a dozen of them after a sync (docs/BENCHMARKS.md, "Player idle RSS (prss)").
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(std::time::Duration::from_secs(2))
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
            policy_root,
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
                policy_root,
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
            notify_systemd();
            agent::run(cfg, opts, shutdown_signal())
                .await
                .context("the player agent stopped")
        }
        Command::CheckDisplay { seconds, mpv_args } => check_display(seconds, mpv_args).await,
    }
}

/// `check-display`: the fonts found, then the test card on the glass.
async fn check_display(seconds: u64, mpv_args: Vec<String>) -> anyhow::Result<()> {
    use gatecast_player::backend::mpv::{MpvBackend, MpvConfig, ScreenRenderer};
    use gatecast_player::backend::{Backend as _, Ended, Interrupt};

    let screens = ScreenRenderer::load();
    let coverage = screens.coverage();
    for s in &coverage.scripts {
        let found = match (&s.found, s.required) {
            (Some(family), _) => format!("ok ({family})"),
            (None, true) => format!("MISSING: apt-get install {}", s.package),
            (None, false) => format!("none (optional; {} has one)", s.package),
        };
        println!("{:<20} {found}", s.script);
    }
    if let Some(w) = coverage.warning() {
        eprintln!("warning: {w}");
    }
    let dir = std::env::temp_dir().join(format!("gatecast-check-display-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cfg = MpvConfig::new(dir.join("mpv.sock"));
    cfg.extra_args = mpv_args;
    let mut backend = MpvBackend::new(cfg).with_screens(screens);
    let display = std::env::var("DISPLAY").unwrap_or_else(|_| "(not set)".into());
    println!("showing the test card for {seconds} s on DISPLAY={display}; Ctrl-C ends it");
    let mut stop = Interrupt::new(shutdown_signal());
    let shown = backend
        .show_test_card(std::time::Duration::from_secs(seconds), &mut stop)
        .await;
    backend.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    match shown.ended {
        Ended::Failed(why) => anyhow::bail!("the test card could not be shown: {why}"),
        _ => Ok(()),
    }
}

/// Under a `Type=notify` unit: says the agent is ready and, with `WatchdogSec=`, pings the
/// watchdog from the agent's runtime, so a stalled runtime gets the player restarted
/// (deploy/kiosk/README.md).
fn notify_systemd() {
    use gatecast_support::notify::{watchdog_interval, Notifier};
    let Some(n) = Notifier::from_env() else {
        return;
    };
    if let Err(e) = n.notify("READY=1") {
        tracing::warn!(error = %e, "cannot tell systemd the player is ready");
    }
    if let Some(every) = watchdog_interval() {
        tracing::info!(?every, "pinging the systemd watchdog");
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = n.notify("WATCHDOG=1") {
                    tracing::warn!(error = %e, "systemd watchdog ping failed");
                }
            }
        });
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
