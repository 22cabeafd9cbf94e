//! `gatecast-demo`: the demo binary (thin: flags, logging, signals; the demo itself is the
//! library next to it).
//!
//! Why a binary of its own: the demo runs three players in the controller's process, so it
//! needs the player crate (and its mpv backend and HTTP client). Keeping it here leaves the
//! production `gatecast-controller` binary without the player and without the sample content;
//! this package is the only one that links the two. It uses only the controller's public API
//! (`gatecast_controller::serve`, `config`, `signal`), the same entry points as
//! `gatecast-controller serve`.
//!
//! Why the `demo` subcommand: the README's command stays `cargo run --release -- demo`. This
//! package is a workspace default member with `default-run = "gatecast-demo"`, so plain
//! `cargo run` runs this binary and the `demo` after `--` names what it does.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gatecast_controller::signal::shutdown_signal;
use gatecast_demo::{DemoBackend, DemoOptions};
use gatecast_support::logging::LogFormat;

/// gatecast demo: controller, embedded broker, sample content and three players in one process.
#[derive(Parser)]
#[command(name = "gatecast-demo", version)]
struct Cli {
    /// Format of the lines in `<data>/demo.log`: text or json (one object per line).
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

#[derive(Args)]
struct DemoArgs {
    /// Demo data directory (made if missing; only a directory made by `demo` is reused).
    #[arg(long, default_value = gatecast_demo::DEFAULT_DATA_DIR)]
    data: PathBuf,
    /// Delete the demo data directory first and start over.
    #[arg(long)]
    fresh: bool,
    /// Playback backend of the three players: null (timing only) or mpv (real windows).
    #[arg(long, default_value = "null", value_parser = ["null", "mpv"])]
    backend: String,
    /// HTTP listen address (port 0 picks a free port).
    #[arg(long, default_value = gatecast_controller::config::DEFAULT_HTTP_ADDR)]
    http: SocketAddr,
    /// Listen address of the embedded MQTT broker (port 0 picks a free port).
    #[arg(long, default_value = gatecast_controller::config::DEFAULT_MQTT_ADDR)]
    mqtt: SocketAddr,
}

#[derive(Subcommand)]
enum Command {
    /// Run a self-contained demo: controller, embedded broker, sample content, three players.
    Demo(DemoArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(a) => {
            let mut opts = DemoOptions {
                data_dir: a.data,
                fresh: a.fresh,
                backend: if a.backend == "mpv" {
                    DemoBackend::Mpv
                } else {
                    DemoBackend::Null
                },
                http_addr: a.http,
                mqtt_addr: a.mqtt,
            };
            opts.data_dir = gatecast_demo::prepare_data_dir(&opts)?;
            gatecast_demo::log_to_file(&opts.data_dir, cli.log_format)?;
            gatecast_demo::run(opts, shutdown_signal())
                .await
                .context("the demo failed")?;
        }
    }
    Ok(())
}
