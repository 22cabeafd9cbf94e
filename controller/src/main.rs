//! `gatecast-controller`: the controller binary.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

/// gatecast controller: media library, schedules, signed publishing, receipts and audit.
#[derive(Parser)]
#[command(name = "gatecast-controller", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller (HTTP API, console, MQTT publisher).
    Serve,
    /// Run a self-contained demo: controller, embedded broker, sample content, three players.
    Demo,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve | Command::Demo => {
            anyhow::bail!("not built yet: see the open issues (`serve` is issue 3, `demo` is issue 6)")
        }
    }
}
