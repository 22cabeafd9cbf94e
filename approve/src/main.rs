//! `gatecast-approve`: the approver's tool (`docs/protocol.md` §19). It runs on the approver's
//! own computer (or the root key holder's): keys never leave it, and the controller only ever
//! receives signatures.
//!
//! ```text
//! gatecast-approve keygen --out FILE
//! gatecast-approve policy init --root-key FILE… --approver NAME=PUBKEY… --media-threshold N --alert-threshold N --out FILE
//! gatecast-approve policy next --previous FILE --root-key FILE… --approver NAME=PUBKEY… … --out FILE
//! gatecast-approve policy sign --key FILE --policy FILE
//! gatecast-approve review --controller URL --token T [--out DIR]
//! gatecast-approve sign --key FILE --controller URL --token T [SHA256…]
//! ```
#![forbid(unsafe_code)]

mod client;
mod keys;
mod policy_cmd;
mod review;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The approver's tool: keys, approval policies, review and signing of content.
#[derive(Parser)]
#[command(name = "gatecast-approve", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a key: the secret key in FILE (mode 0600), the public key (base64) in FILE.pub;
    /// prints the key id as the last word.
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make or sign an approval policy (root key holders).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Download what waits for approval, check each file's SHA-256 and write a contact sheet.
    Review {
        /// Controller base URL.
        #[arg(long)]
        controller: String,
        /// An API token.
        #[arg(long, env = "GATECAST_TOKEN")]
        token: String,
        /// Where to save the files and `review.html`.
        #[arg(long, default_value = "gatecast-review")]
        out: PathBuf,
    },
    /// Sign the named media (or everything waiting) and upload only the signature.
    Sign {
        /// The approver's secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Controller base URL.
        #[arg(long)]
        controller: String,
        /// An API token.
        #[arg(long, env = "GATECAST_TOKEN")]
        token: String,
        /// Alert or ticker texts to approve, `LANG=TEXT` (the exact text the screen will show).
        #[arg(long = "alert-text", value_name = "LANG=TEXT")]
        alert_texts: Vec<String>,
        /// Limit the approval to these gates (default: every gate).
        #[arg(long, value_delimiter = ',')]
        gates: Vec<String>,
        /// How many days the approval counts.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// A note kept with the approval.
        #[arg(long)]
        note: Option<String>,
        /// Only sign media whose file in this review directory has the right SHA-256.
        #[arg(long)]
        reviewed: Option<PathBuf>,
        /// SHA-256 of the media to approve; none: everything waiting (unless --alert-text).
        sha256: Vec<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// The first policy (version 1).
    Init(policy_cmd::PolicyArgs),
    /// The next policy, version = the previous one's + 1 (rotation, revocation).
    Next(policy_cmd::PolicyArgs),
    /// Add a root key's signature to a policy file (in place).
    Sign {
        /// The root key holder's secret key.
        #[arg(long)]
        key: PathBuf,
        /// The policy envelope file.
        #[arg(long)]
        policy: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Keygen { out } => keys::keygen(&out),
        Command::Policy { command } => match command {
            PolicyCommand::Init(a) => policy_cmd::make(&a, false),
            PolicyCommand::Next(a) => policy_cmd::make(&a, true),
            PolicyCommand::Sign { key, policy } => policy_cmd::sign(&key, &policy),
        },
        Command::Review {
            controller,
            token,
            out,
        } => runtime()?.block_on(review::review(&controller, &token, &out)),
        Command::Sign {
            key,
            controller,
            token,
            alert_texts,
            gates,
            days,
            note,
            reviewed,
            sha256,
        } => runtime()?.block_on(review::sign(review::SignArgs {
            key,
            controller,
            token,
            alert_texts,
            gates,
            days,
            note,
            reviewed,
            sha256,
        })),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
