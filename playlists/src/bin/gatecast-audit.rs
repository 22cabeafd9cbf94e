//! `gatecast-audit`: offline verification of a gatecast audit export bundle.
//!
//! ```text
//! gatecast-audit verify BUNDLE --controller-key KEY [--json] [--previous-checkpoint FILE]
//! gatecast-audit report BUNDLE --from YYYY-MM-DD --to YYYY-MM-DD [--gates a,b] [--check REPORT.json]
//! ```
//!
//! `report` recomputes the figures of a period report (`playlists::report`) from the bundle and
//! prints them as JSON; with `--check` it compares them with a report's JSON instead (exit 0:
//! equal, 1: they differ, naming the sections). The period and gates default to the report's.
//!
//! Exit codes: 0 = every check holds; 1 = verification problems found (each printed with its
//! screen and seq); 2 = usage error or unreadable input (file missing, key not a valid key).
//! Standard library only: no network, no database, no async runtime.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use playlists::audit::verify_bundle;
use playlists::keys::PublicKey;

#[path = "gatecast-audit/report.rs"]
mod report;

const USAGE: &str = "\
usage: gatecast-audit verify BUNDLE --controller-key KEY [--json] [--previous-checkpoint FILE]

Verifies a gatecast audit export bundle offline: controller signatures (checkpoint, screen
statements), every receipts batch's device signature, every chain link per screen, every
inclusion proof, and (with --previous-checkpoint) that the log only grew since a checkpoint
you kept.

  BUNDLE                        the bundle file (GET /api/v1/audit/export)
  --controller-key KEY          the controller public key: base64 of 32 bytes, or a file holding it
  --json                        print the report as JSON instead of a human summary
  --previous-checkpoint FILE    a checkpoint envelope saved earlier (GET /api/v1/log/checkpoint)

exit codes: 0 every check holds; 1 verification problems found; 2 usage error or unreadable input

usage: gatecast-audit report BUNDLE --from YYYY-MM-DD --to YYYY-MM-DD [--gates a,b] [--check REPORT.json]

Recomputes every figure of a period report (GET /api/v1/reports/period?format=json) from the
bundle the report names (its evidence.bundle_sha256) and prints them as JSON. With --check, the
period and gates come from REPORT.json (unless given) and the figures are compared with it.
Run `verify` on the same bundle to check its signatures, chains and proofs.

exit codes: 0 printed, or the report matches; 1 the report differs; 2 usage error or unreadable input";

/// Exit code when every check holds.
const EXIT_OK: u8 = 0;
/// Exit code when verification found problems.
const EXIT_PROBLEMS: u8 = 1;
/// Exit code for a usage error or unreadable input.
const EXIT_USAGE: u8 = 2;

struct Args {
    bundle: String,
    controller_key: String,
    json: bool,
    previous_checkpoint: Option<String>,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("verify") => {}
        Some("-h" | "--help" | "help") => return Ok(Parsed::Help),
        Some(other) => {
            return Err(format!(
                "unknown command {other:?}; the commands are `verify` and `report`"
            ))
        }
        None => return Err("missing command; the command is `verify`".into()),
    }
    let mut bundle = None;
    let mut key = None;
    let mut json = false;
    let mut previous = None;
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match name {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--json" if inline.is_none() => json = true,
            "--controller-key" => key = Some(value(name)?),
            "--previous-checkpoint" => previous = Some(value(name)?),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {a:?}")),
            _ if bundle.is_none() => bundle = Some(a.clone()),
            _ => {
                return Err(format!(
                    "unexpected argument {a:?}: only one BUNDLE is accepted"
                ))
            }
        }
    }
    Ok(Parsed::Run(Args {
        bundle: bundle.ok_or("missing BUNDLE file")?,
        controller_key: key.ok_or("missing --controller-key KEY")?,
        json,
        previous_checkpoint: previous,
    }))
}

/// KEY is base64 of the 32-byte public key, or the path of a file holding that text.
fn load_key(arg: &str) -> Result<PublicKey, String> {
    if let Ok(k) = PublicKey::from_base64(arg.trim()) {
        return Ok(k);
    }
    let text = std::fs::read_to_string(arg).map_err(|e| {
        format!("--controller-key {arg:?} is neither a base64 public key nor a readable file: {e}")
    })?;
    PublicKey::from_base64(text.trim())
        .map_err(|e| format!("the file {arg:?} does not hold a base64 controller public key: {e}"))
}

fn read(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {path:?}: {e}"))
}

fn run(args: &Args) -> Result<u8, String> {
    let key = load_key(&args.controller_key)?;
    let bundle = read(&args.bundle, "bundle")?;
    let previous = match &args.previous_checkpoint {
        Some(p) => Some(read(p, "previous checkpoint")?),
        None => None,
    };
    let report = verify_bundle(&bundle, &key, previous.as_deref());
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| format!("cannot serialize the report: {e}"))?;
        println!("{text}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.ok { EXIT_OK } else { EXIT_PROBLEMS })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("report") {
        return ExitCode::from(match report::run(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("gatecast-audit report: {e}\n\n{USAGE}");
                EXIT_USAGE
            }
        });
    }
    let code = match parse_args(&args) {
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("gatecast-audit: {e}\n\n{USAGE}");
            EXIT_USAGE
        }
        Ok(Parsed::Run(a)) => match run(&a) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("gatecast-audit: {e}");
                EXIT_USAGE
            }
        },
    };
    ExitCode::from(code)
}
