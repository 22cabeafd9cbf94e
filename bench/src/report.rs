//! `report`: the period report over a large bundle, measured on the offline tool
//! (`gatecast-audit report`), which runs the same streaming code as the controller's
//! `GET /api/v1/reports/period` (`playlists::report::read_bundle`).
//!
//! The bundle is generated here, streamed to disk: `screens` screens, each with a chain of
//! `per_screen` receipts spread evenly over 2026 (gate time, `Asia/Ho_Chi_Minh`), in signed
//! batches of 1,000 as players send them, with signed statements and a signed checkpoint. Its
//! log entries carry no inclusion proofs (the report does not read them; `gatecast-audit
//! verify` would refuse them). The tool's wall time and peak RSS (VmHWM, sampled every 20 ms)
//! are the figures; its `totals.plays` must equal the receipts written.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use playlists::audit::{EntryKind, LogEntry, ScreenEntry, ScreenStatement, BUNDLE_FORMAT};
use playlists::envelope::{Envelope, CHECKPOINT_TYPE};
use playlists::keys::SecretKey;
use playlists::merkle::Checkpoint;
use playlists::receipt::{receipt_hash, sign_batch, Backend, Outcome, Receipt, GENESIS_PREV};

use crate::common::{binary, cpu_seconds, rss_kib, temp_dir, Opts, Report};

const YEAR_START: i64 = 1_767_200_400; // 2026-01-01T00:00:00+07:00
const YEAR_SECS: i64 = 365 * 86_400;
/// The yearly volume of the issue: 50 screens playing every 10 s.
const YEAR_RECEIPTS: f64 = 50.0 * (YEAR_SECS as f64 / 10.0);

fn write_bundle(path: &Path, screens: usize, per_screen: u64) -> Result<u64> {
    let controller = SecretKey::from_seed([1; 32]);
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let ids: Vec<String> = (0..screens).map(|i| format!("scr-{i:03}")).collect();
    let devices: Vec<SecretKey> = (0..screens)
        .map(|i| SecretKey::from_seed([(i % 250) as u8 + 2; 32]))
        .collect();
    write!(
        w,
        "{{\"format\":\"{BUNDLE_FORMAT}\",\"generated_at\":\"2027-01-01T00:00:00.000Z\",\
         \"period\":{{\"from\":\"2025-12-31T10:00:00Z\",\"to\":\"2027-01-01T12:00:00Z\"}},\
         \"controller_key\":\"{}\",\"controller_key_id\":\"{}\",\"screens\":[",
        controller.public().to_base64(),
        controller.key_id()
    )?;
    for (i, id) in ids.iter().enumerate() {
        let st = ScreenStatement {
            screen: id.clone(),
            device_key: devices[i].public().to_base64(),
            gate: format!("gate-{}", i % 5),
            name: id.clone(),
            enrolled_at: "2025-12-01T00:00:00.000Z".into(),
            epochs: vec![],
            timezone: Some("Asia/Ho_Chi_Minh".into()),
            gate_name: None,
        };
        if i > 0 {
            w.write_all(b",")?;
        }
        serde_json::to_writer(
            &mut w,
            &ScreenEntry::from_envelope_bytes(&st.sign(&controller).to_json()),
        )?;
    }
    let batches = screens as u64 * per_screen.div_ceil(1000);
    let cp = Checkpoint {
        origin: "bench".into(),
        size: batches,
        root: "00".repeat(32),
    };
    let cp = Envelope::sign(CHECKPOINT_TYPE, serde_json::to_vec(&cp)?, &controller).to_json();
    write!(w, "],\"log\":{{\"checkpoint\":")?;
    serde_json::to_writer(
        &mut w,
        &playlists::audit::ScreenEntry::from_envelope_bytes(&cp).statement,
    )?;
    w.write_all(b",\"entries\":[")?;
    let step = YEAR_SECS * 1000 / per_screen as i64;
    let langs = ["vi", "en", "zh-Hans", "hmn"];
    let mut index = 0u64;
    for (i, id) in ids.iter().enumerate() {
        let mut prev = GENESIS_PREV.to_string();
        let mut seq = 1u64;
        while seq <= per_screen {
            let mut batch = Vec::with_capacity(1000);
            while seq <= per_screen && batch.len() < 1000 {
                let start = jiff::Timestamp::from_millisecond(
                    YEAR_START * 1000 + (seq as i64 - 1) * step + i as i64 * 7,
                )?;
                let r = Receipt {
                    seq,
                    screen: id.clone(),
                    manifest_version: 1,
                    playlist: ["tet-2026", "du-lich", "an-toan"][(seq % 3) as usize].into(),
                    media: format!("{:064x}", seq % 40),
                    lang: langs[(seq % 4) as usize].into(),
                    started_at: start,
                    ended_at: start + jiff::SignedDuration::from_millis(9_000),
                    outcome: Outcome::Completed,
                    backend: if seq % 50 == 0 {
                        Backend::Null
                    } else {
                        Backend::Mpv
                    },
                    clock_synced: true,
                    prev: prev.clone(),
                    subtitle_lang: None,
                };
                let b = r.to_bytes();
                prev = receipt_hash(&b);
                batch.push(b);
                seq += 1;
            }
            let env = sign_batch(id, &batch, &devices[i]).to_json();
            if index > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut w, &LogEntry::new(index, EntryKind::Batch, &env, &[]))?;
            index += 1;
        }
    }
    w.write_all(b"]}}")?;
    w.flush()?;
    Ok(screens as u64 * per_screen)
}

/// Generates the bundle, runs `gatecast-audit report` on it and reports time and memory.
pub async fn run(opts: &Opts, screens: usize, per_screen: u64) -> Result<Report> {
    let mut rep = Report::new("report", opts);
    let tool = binary("gatecast-audit")?;
    let dir = temp_dir("report")?;
    let bundle = dir.path().join("bundle.json");
    let t = Instant::now();
    let receipts = {
        let (b, s) = (bundle.clone(), screens);
        tokio::task::spawn_blocking(move || write_bundle(&b, s, per_screen)).await??
    };
    let gen = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&bundle)?.len();
    let out_path = dir.path().join("figures.json");
    let t = Instant::now();
    let mut child = Command::new(&tool)
        .args(["report"])
        .arg(&bundle)
        .args(["--from", "2026-01-01", "--to", "2026-12-31"])
        .stdout(Stdio::from(std::fs::File::create(&out_path)?))
        .spawn()
        .with_context(|| format!("starting {}", tool.display()))?;
    let mut hwm = 0u64;
    let mut cpu = 0f64;
    let status = loop {
        if let Some((_, h)) = rss_kib(child.id()) {
            hwm = hwm.max(h);
        }
        if let Some(c) = cpu_seconds(child.id()) {
            cpu = cpu.max(c);
        }
        if let Some(s) = child.try_wait()? {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("gatecast-audit report failed ({status})");
    }
    let figures: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_path)?)?;
    let plays = figures["totals"]["plays"].as_u64().unwrap_or(0);
    if plays != receipts {
        bail!("the report counts {plays} plays, the bundle holds {receipts}");
    }
    let rate = receipts as f64 / secs;
    rep.row("receipts in the bundle", receipts as f64, "receipts");
    rep.row("bundle size", size as f64 / 1_048_576.0, "MiB");
    rep.row("bundle generation", gen, "s");
    rep.row("report time", secs, "s");
    rep.row("report rate", rate, "receipts/s");
    rep.row("report CPU time (user+sys, sampled every 20 ms)", cpu, "s");
    rep.row(
        "report rate per CPU second",
        receipts as f64 / cpu,
        "receipts/s",
    );
    rep.row("report peak RSS (VmHWM)", hwm as f64 / 1024.0, "MiB");
    rep.row(
        "report time extrapolated to 150 M receipts",
        YEAR_RECEIPTS / rate / 60.0,
        "min",
    );
    rep.row(
        "report CPU time extrapolated to 150 M receipts",
        YEAR_RECEIPTS * cpu / receipts as f64 / 60.0,
        "min",
    );
    Ok(rep)
}
