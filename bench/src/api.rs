//! `api`: latency of `GET /api/v1/screens` and `GET /api/v1/receipts?limit=100` of a
//! controller process under a steady, open-loop load from this (second) process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;
use tokio::sync::mpsc;

use super::common::{summary, temp_dir, CtlProc, Opts, Report};
use super::ingest;

/// The scenario: `screens` registered screens, `receipts` stored (K×B×M), `rate` requests/s
/// per endpoint for `seconds`.
pub async fn run(opts: &Opts, screens: usize, seconds: u64, rate: u64) -> Result<Report> {
    let mut rep = Report::new("api", opts);
    let dir = temp_dir("api")?;
    let ctl = Arc::new(CtlProc::start(&dir.path().join("ctl"), None).await?);
    eprintln!("api: registering {screens} screens and storing receipts ...");
    let ids: Vec<String> = (0..screens).map(|i| format!("api-{i:05}")).collect();
    ctl.register_many(&ids, "api").await?;
    let (k, b, m) = if opts.quick {
        (2, 10, 6)
    } else {
        (20, 100, 10)
    };
    let work = ingest::generate("rcpt", k, b, m);
    ingest::drive(&ctl, &work, opts.quick).await?;
    let stored = (k * b * m) as u64;

    eprintln!("api: {rate} req/s per endpoint for {seconds} s ...");
    let endpoints = [
        ("GET /api/v1/screens", "/api/v1/screens"),
        (
            "GET /api/v1/receipts?limit=100",
            "/api/v1/receipts?limit=100",
        ),
    ];
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Result<f64, String>)>();
    let mut tickers = Vec::new();
    for (ei, (_, path)) in endpoints.iter().enumerate() {
        let ctl = ctl.clone();
        let tx = tx.clone();
        let path = path.to_string();
        let total = rate * seconds;
        tickers.push(tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for _ in 0..total {
                iv.tick().await;
                let ctl = ctl.clone();
                let tx = tx.clone();
                let path = path.clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let r = ctl
                        .client()
                        .get(format!("{}{path}", ctl.url()))
                        .bearer_auth(&ctl.token)
                        .send()
                        .await;
                    let r = match r {
                        Ok(resp) if resp.status().as_u16() == 200 => match resp.bytes().await {
                            Ok(body) => {
                                let ms = t.elapsed().as_secs_f64() * 1e3;
                                check_body(ei, &body).map(|_| ms)
                            }
                            Err(e) => Err(e.to_string()),
                        },
                        Ok(resp) => Err(format!("status {}", resp.status())),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send((ei, r));
                });
            }
        }));
    }
    drop(tx);
    let start = Instant::now();
    let mut lat: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut errors = Vec::new();
    while let Some((ei, r)) = rx.recv().await {
        match r {
            Ok(ms) => lat[ei].push(ms),
            Err(e) => errors.push(e),
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let rss = ctl.rss();
    if let Ok(c) = Arc::try_unwrap(ctl) {
        c.stop().await;
    }
    if !errors.is_empty() {
        bail!("{} requests failed, first: {}", errors.len(), errors[0]);
    }
    for (ei, (name, _)) in endpoints.iter().enumerate() {
        let n = lat[ei].len();
        let (p50, p99, max) = summary(&mut lat[ei]);
        rep.row(format!("{name} p50"), p50, "ms");
        rep.row(format!("{name} p99"), p99, "ms");
        rep.row(format!("{name} max"), max, "ms");
        rep.row(format!("{name} requests"), n as f64, "");
    }
    rep.row(
        "achieved total rate",
        (lat[0].len() + lat[1].len()) as f64 / wall,
        "req/s",
    );
    rep.detail(
        "params",
        json!({"screens": screens, "receipts_stored": stored, "rate_per_endpoint": rate,
               "seconds": seconds, "controller_rss_kib": rss.0, "controller_hwm_kib": rss.1}),
    );
    Ok(rep)
}

/// Checks that an answer is JSON with at least one row, without building it as values: the
/// bench shares the machine's cores with the controller, so its own parsing of 10,000
/// screens (megabytes per answer) must stay cheap.
fn check_body(endpoint: usize, body: &[u8]) -> Result<(), String> {
    use serde::de::IgnoredAny;
    #[derive(serde::Deserialize)]
    struct Receipts {
        receipts: Vec<IgnoredAny>,
    }
    let rows = match endpoint {
        0 => serde_json::from_slice::<Vec<IgnoredAny>>(body).map(|v| v.len()),
        _ => serde_json::from_slice::<Receipts>(body).map(|r| r.receipts.len()),
    }
    .map_err(|e| format!("answer of endpoint {endpoint} is not the expected JSON: {e}"))?;
    if rows == 0 {
        return Err(format!("no rows in answer of endpoint {endpoint}"));
    }
    Ok(())
}
