//! `gatecast-player`: the player agent binary.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

/// gatecast player agent: verified offline cache, scheduler, playback, signed receipts.
#[derive(Parser)]
#[command(name = "gatecast-player", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enrol this screen with a controller and write the player configuration.
    Enroll,
    /// Run the agent.
    Run,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Enroll | Command::Run => anyhow::bail!("not built yet: see issue 4"),
    }
}
