//! `gatecast-audit report`: the figures of a period report, recomputed from a bundle.

use std::io::BufReader;

use playlists::report::{read_bundle, Figures, ReportRequest};

use super::{EXIT_OK, EXIT_PROBLEMS};

#[derive(Default)]
struct Args {
    bundle: Option<String>,
    from: Option<String>,
    to: Option<String>,
    gates: Option<String>,
    check: Option<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.iter();
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
            "--from" => out.from = Some(value(name)?),
            "--to" => out.to = Some(value(name)?),
            "--gates" => out.gates = Some(value(name)?),
            "--check" => out.check = Some(value(name)?),
            s if s.starts_with('-') => return Err(format!("unknown option {a:?}")),
            _ if out.bundle.is_none() => out.bundle = Some(a.clone()),
            _ => {
                return Err(format!(
                    "unexpected argument {a:?}: only one BUNDLE is accepted"
                ))
            }
        }
    }
    Ok(out)
}

/// Run the subcommand; `Err` is a usage error or unreadable input (exit 2).
pub fn run(args: &[String]) -> Result<u8, String> {
    let a = parse(args)?;
    let bundle = a.bundle.ok_or("missing BUNDLE file")?;
    let claimed: Option<Figures> = match &a.check {
        None => None,
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| format!("cannot read report {p:?}: {e}"))?;
            Some(
                serde_json::from_slice(&text)
                    .map_err(|e| format!("{p:?} is not the JSON of a period report: {e}"))?,
            )
        }
    };
    let from = a
        .from
        .or_else(|| claimed.as_ref().map(|c| c.from.clone()))
        .ok_or("missing --from YYYY-MM-DD")?;
    let to =
        a.to.or_else(|| claimed.as_ref().map(|c| c.to.clone()))
            .ok_or("missing --to YYYY-MM-DD")?;
    let gates = a
        .gates
        .or_else(|| claimed.as_ref().map(|c| c.gates_requested.join(",")));
    let req = ReportRequest::parse(&from, &to, gates.as_deref()).map_err(|e| e.to_string())?;
    let file =
        std::fs::File::open(&bundle).map_err(|e| format!("cannot read bundle {bundle:?}: {e}"))?;
    let figures = read_bundle(BufReader::new(file), req).map_err(|e| e.to_string())?;
    match claimed {
        None => {
            let text = serde_json::to_string_pretty(&figures)
                .map_err(|e| format!("cannot serialize the figures: {e}"))?;
            println!("{text}");
            Ok(EXIT_OK)
        }
        Some(c) => {
            let diff = figures.differences(&c);
            if diff.is_empty() {
                println!(
                    "OK: every figure of the report matches the bundle {}",
                    figures.evidence.bundle_sha256
                );
                Ok(EXIT_OK)
            } else {
                println!(
                    "MISMATCH: the report differs from what the bundle {} gives in: {}",
                    figures.evidence.bundle_sha256,
                    diff.join(", ")
                );
                Ok(EXIT_PROBLEMS)
            }
        }
    }
}
