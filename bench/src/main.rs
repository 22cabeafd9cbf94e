//! `gatecast-bench`: benchmarks of push fan-out, receipt ingest, cache verification, footprint
//! and API latency against real controller, broker and player processes. Prints a table per
//! scenario and writes `target/bench/<scenario>.json`. `--quick` runs each scenario small
//! (correctness only). See `docs/BENCHMARKS.md`.
//!
//! The package of its own (`bench/`, a workspace default member so that `cargo run --release
//! --bin gatecast-bench` works from the repository root) keeps the benchmarks out of the
//! controller's build: the controller's tests never compile them. One module per scenario,
//! `common` for what they share.
#![forbid(unsafe_code)]

mod api;
mod cache;
mod common;
mod fanout;
mod footprint;
mod ingest;
mod layout_cpu;
mod profile;
mod report;
mod ticker;
mod tls;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};
use common::{ensure_binaries, workspace_root, Opts, Report};
use fanout::Broker;

/// gatecast benchmarks (docs/BENCHMARKS.md).
#[derive(Parser)]
#[command(name = "gatecast-bench")]
struct Cli {
    /// Small sizes, correctness only (no goals judged).
    #[arg(long, global = true)]
    quick: bool,
    /// Directory for the JSON results (default: <workspace>/target/bench).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Clone, Copy, ValueEnum)]
enum BrokerArg {
    Embedded,
    Mosquitto,
    Both,
}

#[derive(Subcommand)]
enum Scenario {
    /// Manifest fan-out to N MQTT screens: publish call to verified acceptance.
    Fanout {
        /// Screen counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = vec![100, 1000, 5000])]
        screens: Vec<usize>,
        /// Broker.
        #[arg(long, value_enum, default_value = "both")]
        broker: BrokerArg,
    },
    /// Receipt ingest: K screens upload signed batches of B receipts concurrently.
    Ingest {
        /// Screens uploading at once.
        #[arg(long, default_value_t = 50)]
        screens: usize,
        /// Receipts per batch.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Batches per screen.
        #[arg(long, default_value_t = 40)]
        batches: usize,
    },
    /// SHA-256 and download+verify versus openssl and curl; resume after a cut.
    Cache {
        /// Test file size in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
    },
    /// Player RSS idle and after many plays; controller RSS with many screens; binary sizes.
    Footprint {
        /// Manifest items.
        #[arg(long, default_value_t = 500)]
        items: usize,
        /// Plays before the second reading.
        #[arg(long, default_value_t = 10_000)]
        plays: u64,
        /// Connected screens for the controller reading.
        #[arg(long, default_value_t = 1000)]
        screens: usize,
    },
    /// API latency under a steady load from this process.
    Api {
        /// Registered screens.
        #[arg(long, default_value_t = 1000)]
        screens: usize,
        /// Load duration.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Requests per second per endpoint (open loop; 20 keeps the controller below
        /// saturation on 2 cores, see docs/BENCHMARKS.md).
        #[arg(long, default_value_t = 20)]
        rate: u64,
    },
    /// TLS: fan-out over MQTTS vs plaintext, a reconnect storm of TLS screens, download +
    /// verify over HTTPS vs curl and openssl.
    Tls {
        /// Screens for the fan-out and the storm.
        #[arg(long, default_value_t = 1000)]
        screens: usize,
        /// HTTPS test file size in MiB.
        #[arg(long, default_value_t = 256)]
        size_mib: u64,
    },
    /// Ticker text to N simulated screens: `POST /api/v1/ticker` to a verified set showing it.
    Ticker {
        /// Simulated screens.
        #[arg(long, default_value_t = 100)]
        screens: usize,
    },
    /// CPU of player and mpv per screen layout (Xvfb, real mpv, a looped 1080p video); not in
    /// `all` (it needs an X server).
    LayoutCpu {
        /// Measured seconds per layout.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Every scenario with its defaults.
    /// The period report over a generated bundle (`gatecast-audit report`: time, peak RSS).
    Report {
        /// Screens in the bundle.
        #[arg(long, default_value_t = 50)]
        screens: usize,
        /// Receipts per screen, spread over a year.
        #[arg(long, default_value_t = 40_000)]
        per_screen: u64,
    },
    All,
}

async fn run(cli: Cli) -> Result<Vec<Report>> {
    let opts = Opts {
        quick: cli.quick,
        out_dir: cli
            .out
            .unwrap_or_else(|| workspace_root().join("target").join("bench")),
    };
    let q = opts.quick;
    let mut out = Vec::new();
    let scenarios = match cli.scenario {
        Scenario::All => vec![
            Scenario::Fanout {
                screens: vec![100, 1000, 5000],
                broker: BrokerArg::Both,
            },
            Scenario::Ingest {
                screens: 50,
                batch: 100,
                batches: 40,
            },
            Scenario::Cache { size_mib: 1024 },
            Scenario::Footprint {
                items: 500,
                plays: 10_000,
                screens: 1000,
            },
            Scenario::Api {
                screens: 1000,
                seconds: 20,
                rate: 20,
            },
            Scenario::Tls {
                screens: 1000,
                size_mib: 256,
            },
            Scenario::Ticker { screens: 100 },
            Scenario::Report {
                screens: 50,
                per_screen: 40_000,
            },
        ],
        s => vec![s],
    };
    for s in scenarios {
        let rep = match s {
            Scenario::Fanout { screens, broker } => {
                let screens = if q { vec![10] } else { screens };
                let brokers = match broker {
                    BrokerArg::Embedded => vec![Broker::Embedded],
                    BrokerArg::Mosquitto => vec![Broker::Mosquitto],
                    BrokerArg::Both => vec![Broker::Embedded, Broker::Mosquitto],
                };
                fanout::run(&opts, &screens, &brokers).await?
            }
            Scenario::Ingest {
                screens,
                batch,
                batches,
            } => {
                let (k, b, m) = if q {
                    (3, 10, 3)
                } else {
                    (screens, batch, batches)
                };
                ingest::run(&opts, k, b, m).await?
            }
            Scenario::Cache { size_mib } => cache::run(&opts, if q { 8 } else { size_mib }).await?,
            Scenario::Footprint {
                items,
                plays,
                screens,
            } => {
                let (i, p, s) = if q {
                    (20, 100, 10)
                } else {
                    (items, plays, screens)
                };
                footprint::run(&opts, i, p, s).await?
            }
            Scenario::Api {
                screens,
                seconds,
                rate,
            } => {
                let (s, d, r) = if q {
                    (10, 1, 10)
                } else {
                    (screens, seconds, rate)
                };
                api::run(&opts, s, d, r).await?
            }
            Scenario::Tls { screens, size_mib } => {
                let (n, m) = if q { (10, 8) } else { (screens, size_mib) };
                tls::run(&opts, n, m).await?
            }
            Scenario::Report {
                screens,
                per_screen,
            } => {
                let (s, p) = if q { (3, 2_000) } else { (screens, per_screen) };
                report::run(&opts, s, p).await?
            }
            Scenario::Ticker { screens } => {
                ticker::run(&opts, if q { 10 } else { screens }).await?
            }
            Scenario::LayoutCpu { seconds } => layout_cpu::run(&opts, seconds).await?,
            Scenario::All => bail!("nested all"),
        };
        out.push(rep.finish(&opts)?);
    }
    Ok(out)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    ensure_binaries()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let t = std::time::Instant::now();
    rt.block_on(run(cli))?;
    println!("gatecast-bench done in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}
