//! `footprint`: a real `gatecast-player` process (null backend) idle with a large manifest and
//! after many plays (the null backend's speed-up); the controller with many connected screens
//! (a fan-out run); the binaries' sizes, as built and stripped.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use super::common::{
    bin_dir, binary, program_path, rss_kib, temp_dir, terminate, CtlProc, Opts, Report,
};
use super::fanout::{self, Broker};

const SCREEN: &str = "fp-1";

fn start_player(dir: &Path, speed: f64) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("player.log"))?;
    Command::new(binary("gatecast-player")?)
        .arg("run")
        .arg("--config")
        .arg(dir.join("player.toml"))
        .args(["--backend", "null", "--null-speed", &speed.to_string()])
        .args(["--status-interval-secs", "5"])
        .env("GATECAST_LOG", "warn")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting gatecast-player run")
}

async fn status(ctl: &CtlProc) -> Result<Value> {
    let v = ctl
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/screens/{SCREEN}"),
            None,
            200,
        )
        .await?;
    Ok(v["status"].clone())
}

/// Samples the process's RSS every 250 ms for `d`; returns `(max VmRSS, VmHWM)` in KiB.
async fn sample_rss(pid: u32, d: Duration) -> Result<(u64, u64)> {
    let end = Instant::now() + d;
    let mut max = 0;
    let mut hwm = 0;
    loop {
        let (rss, h) = rss_kib(pid).ok_or_else(|| anyhow!("player process {pid} is gone"))?;
        max = max.max(rss);
        hwm = hwm.max(h);
        if Instant::now() >= end {
            return Ok((max, hwm));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn sizes() -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let tmp = temp_dir("strip")?;
    for name in ["gatecast-controller", "gatecast-player", "gatecast-audit"] {
        let p = bin_dir().join(name);
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        let stripped = if program_path("strip").is_some() {
            let dst = tmp.path().join(name);
            let ok = std::process::Command::new("strip")
                .arg("-o")
                .arg(&dst)
                .arg(&p)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                std::fs::metadata(&dst).ok().map(|m| m.len())
            } else {
                None
            }
        } else {
            None
        };
        out.push(json!({"binary": name, "bytes": meta.len(), "stripped_bytes": stripped}));
    }
    Ok(out)
}

/// The scenario.
pub async fn run(opts: &Opts, items: usize, plays: u64, screens: usize) -> Result<Report> {
    let mut rep = Report::new("footprint", opts);
    let dir = temp_dir("footprint")?;
    let ctl = CtlProc::start(&dir.path().join("ctl"), None).await?;
    eprintln!("footprint: uploading {items} slides ...");
    let mut list = Vec::with_capacity(items);
    for i in 0..items {
        let sha = ctl
            .upload(
                super::common::png(i as u32 + 10, 200),
                "image/png",
                "slide",
                &format!("s{i}"),
            )
            .await?;
        list.push(json!({"media": sha, "duration_ms": 1000}));
    }
    ctl.api(
        reqwest::Method::POST,
        "/api/v1/playlists",
        Some(json!({"id": "p1", "name": "Many", "items": list})),
        201,
    )
    .await?;
    ctl.api(
        reqwest::Method::POST,
        "/api/v1/schedules",
        Some(json!({"id": "s1", "playlist": "p1", "targets": {"gates": ["fp"]}, "priority": 10})),
        201,
    )
    .await?;
    let regs = ctl.register_many(&[SCREEN.to_string()], "fp").await?;
    let pdir = dir.path().join("player");
    std::fs::create_dir_all(&pdir)?;
    let o = Command::new(binary("gatecast-player")?)
        .arg("enroll")
        .args([
            "--controller",
            &ctl.url(),
            "--screen",
            SCREEN,
            "--code",
            &regs[0].1,
        ])
        .arg("--config")
        .arg(pdir.join("player.toml"))
        .arg("--data")
        .arg(pdir.join("data"))
        .args(["--backend", "null"])
        .output()
        .await?;
    if !o.status.success() {
        bail!(
            "gatecast-player enroll failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // Idle: real-time null backend, the whole manifest cached and active.
    let mut player = start_player(&pdir, 1.0)?;
    let pid = player.id().ok_or_else(|| anyhow!("player has no pid"))?;
    ctl.api(
        reqwest::Method::POST,
        "/api/v1/publish",
        Some(json!({"screens": [SCREEN]})),
        200,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(if opts.quick { 60 } else { 180 });
    loop {
        let st = status(&ctl).await?;
        if st["manifest_version"] == 1 && st["state"] == "playing" {
            break;
        }
        if Instant::now() > deadline {
            bail!("player not playing the manifest in time; last status {st}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settle = Duration::from_secs(if opts.quick { 1 } else { 10 });
    let (idle_rss, idle_hwm) = sample_rss(pid, settle).await?;
    terminate(&mut player, Duration::from_secs(20)).await;

    // Many plays: the same player, null backend sped up (1 s items at `speed`x).
    let before = ctl.metric("gatecast_receipts_stored_total").await?;
    let speed = 500.0;
    let mut player = start_player(&pdir, speed)?;
    let pid = player.id().ok_or_else(|| anyhow!("player has no pid"))?;
    let t = Instant::now();
    let deadline = Duration::from_secs(if opts.quick { 60 } else { 240 });
    let mut peak = 0u64;
    loop {
        let n = ctl.metric("gatecast_receipts_stored_total").await? - before;
        if let Some((r, _)) = rss_kib(pid) {
            peak = peak.max(r);
        }
        if n >= plays as f64 {
            break;
        }
        if t.elapsed() > deadline {
            bail!("only {n} plays acknowledged in {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let plays_s = t.elapsed().as_secs_f64();
    let (after_rss, after_hwm) = rss_kib(pid).ok_or_else(|| anyhow!("player gone"))?;
    terminate(&mut player, Duration::from_secs(20)).await;
    ctl.stop().await;

    let mib = |k: u64| k as f64 / 1024.0;
    rep.goal(
        format!("player RSS idle, {items}-item manifest"),
        mib(idle_rss),
        "MiB",
        "<= 10",
        mib(idle_rss) <= 10.0,
    );
    rep.row("player VmHWM idle run", mib(idle_hwm), "MiB");
    rep.row(
        format!("player RSS after {plays} plays"),
        mib(after_rss),
        "MiB",
    );
    rep.row("player VmHWM plays run", mib(after_hwm), "MiB");
    rep.row(
        "plays acked per second (null, sped up)",
        plays as f64 / plays_s,
        "1/s",
    );

    eprintln!("footprint: controller with {screens} connected screens ...");
    let f = fanout::run_one(opts, screens, Broker::Embedded)
        .await?
        .ok_or_else(|| anyhow!("embedded fan-out cannot be skipped"))?;
    rep.goal(
        format!("controller RSS, {screens} screens connected"),
        mib(f.ctl_rss_kib.0),
        "MiB",
        "<= 150",
        mib(f.ctl_rss_kib.0) <= 150.0,
    );
    rep.row("controller VmHWM", mib(f.ctl_rss_kib.1), "MiB");
    let sizes = sizes()?;
    for s in &sizes {
        let name = s["binary"].as_str().unwrap_or("?");
        rep.row(
            format!("{name} size"),
            s["bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
            "MiB",
        );
        if let Some(b) = s["stripped_bytes"].as_f64() {
            rep.row(format!("{name} stripped"), b / 1048576.0, "MiB");
        }
    }
    rep.detail(
        "params",
        json!({"items": items, "plays": plays, "null_speed": speed, "screens": screens,
               "idle_rss_kib": idle_rss, "idle_hwm_kib": idle_hwm, "after_rss_kib": after_rss,
               "after_hwm_kib": after_hwm, "peak_rss_kib_plays": peak,
               "controller_rss_kib": f.ctl_rss_kib.0, "controller_hwm_kib": f.ctl_rss_kib.1}),
    );
    rep.detail("binaries", json!(sizes));
    Ok(rep)
}
