//! `ticker`: N **simulated** screens (one process, one rumqttc client each, running the real
//! `playlists::manifest::verify_ticker` and `ticker_turns`, no mpv) subscribed to their
//! `ticker` topics on a real controller process's embedded broker; one
//! `POST /api/v1/ticker` to all of them (by gate); the time from that call to each screen
//! receiving the set, which must then verify and have a turn with the new text
//! (`docs/protocol.md` §20).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use playlists::keys::KeySet;
use playlists::manifest::{ticker_turns, verify_ticker};
use playlists::topics::{topic, Kind};
use rumqttc::{Event, Packet, QoS};
use serde_json::json;
use tokio::sync::{mpsc, watch, Semaphore};

use super::common::{mqtt_client, mqtt_options, summary, temp_dir, CtlProc, Opts, Report};

const TEXT: &str = "Đính chính: Quốc lộ 4D đã thông xe từ 14:00";

struct Screen {
    id: String,
    password: String,
    host: String,
    port: u16,
    keys: Arc<KeySet>,
    t0: Arc<OnceLock<Instant>>,
    permits: Arc<Semaphore>,
}

async fn screen_task(
    s: Screen,
    ready: mpsc::UnboundedSender<()>,
    done: mpsc::UnboundedSender<Result<Duration, String>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut permit = s.permits.clone().acquire_owned().await.ok();
    let options = mqtt_options(&s.id, &s.id, &s.password, &s.host, s.port);
    let (client, mut ev) = mqtt_client(options, 16);
    let ticker_topic = topic(&s.id, Kind::Ticker);
    let (mut subscribed, mut shown) = (false, false);
    let langs = vec!["vi".to_string(), "en".to_string()];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            e = ev.poll() => match e {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe(ticker_topic.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) if !subscribed => {
                    subscribed = true;
                    permit.take();
                    let _ = ready.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == ticker_topic => {
                    let Some(start) = s.t0.get().copied() else { continue };
                    if shown {
                        continue;
                    }
                    // Arrival time; the set is verified after it (on a real screen each
                    // screen verifies on its own CPU; here 100 share the bench's cores).
                    let arrived = start.elapsed();
                    let r = verify_ticker(&p.payload, &s.keys, &s.id, None).map_err(|e| format!("{}: {e}", s.id));
                    let r = r.and_then(|t| {
                        let turns = ticker_turns(&t, &langs, jiff::Timestamp::now());
                        if turns.iter().any(|t| t.text == TEXT) {
                            Ok(arrived)
                        } else {
                            Err(format!("{}: the set has no turn with the text", s.id))
                        }
                    });
                    shown = r.is_ok();
                    let _ = done.send(r);
                }
                Ok(_) => {}
                Err(_) => {
                    // Pacing a reconnect, not synchronisation.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    let _ = client.try_disconnect();
}

/// One run: a fresh controller, `n` simulated screens at gate `bench`, one ticker text.
/// Returns the latencies (ms) and the POST's own duration (ms).
async fn run_one(opts: &Opts, n: usize) -> Result<(Vec<f64>, f64)> {
    let dir = temp_dir("ticker")?;
    let ctl = CtlProc::start_with(&dir.path().join("ctl"), None, None).await?;
    let a = ctl
        .mqtt
        .ok_or_else(|| anyhow!("controller reported no broker address"))?;
    let ids: Vec<String> = (0..n).map(|i| format!("bench-{i:05}")).collect();
    let regs = ctl.register_many(&ids, "bench").await?;
    let keys = Arc::new(ctl.keys().await?);
    let t0 = Arc::new(OnceLock::new());
    let permits = Arc::new(Semaphore::new(64));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for (id, _code, password) in regs {
        let s = Screen {
            id,
            password,
            host: a.ip().to_string(),
            port: a.port(),
            keys: keys.clone(),
            t0: t0.clone(),
            permits: permits.clone(),
        };
        tasks.spawn(screen_task(
            s,
            ready_tx.clone(),
            done_tx.clone(),
            stop_rx.clone(),
        ));
    }
    let deadline = Duration::from_secs(if opts.quick { 60 } else { 300 });
    let t = Instant::now();
    for i in 0..n {
        tokio::time::timeout(deadline.saturating_sub(t.elapsed()), ready_rx.recv())
            .await
            .map_err(|_| anyhow!("only {i} of {n} screens subscribed in {deadline:?}"))?;
    }
    let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let start = Instant::now();
    t0.set(start).expect("clock starts once");
    ctl.api(
        reqwest::Method::POST,
        "/api/v1/ticker",
        Some(json!({"targets": {"gates": ["bench"]}, "priority": 5, "expires_at": expires,
            "text": [{"lang": "vi", "text": TEXT}, {"lang": "en", "text": "Correction: road 4D open since 14:00"}]})),
        201,
    )
    .await?;
    let call_ms = start.elapsed().as_secs_f64() * 1e3;
    let (mut lat, mut errors) = (Vec::with_capacity(n), Vec::new());
    while lat.len() < n {
        match tokio::time::timeout(deadline.saturating_sub(start.elapsed()), done_rx.recv()).await {
            Ok(Some(Ok(d))) => lat.push(d.as_secs_f64() * 1e3),
            Ok(Some(Err(e))) => errors.push(e),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    ctl.stop().await;
    if let Some(e) = errors.first() {
        bail!(
            "{} screens refused the ticker set, first: {e}",
            errors.len()
        );
    }
    if lat.len() != n {
        bail!(
            "only {} of {n} screens showed the ticker text within {deadline:?}",
            lat.len()
        );
    }
    Ok((lat, call_ms))
}

/// The scenario: `screens` simulated screens, one table row per figure; the goal is p99 ≤ 1 s.
pub async fn run(opts: &Opts, screens: usize) -> Result<Report> {
    let mut rep = Report::new("ticker", opts);
    eprintln!("ticker: {screens} simulated screens ...");
    let (mut lat, call_ms) = run_one(opts, screens).await?;
    let (p50, p99, max) = summary(&mut lat);
    let tag = format!("n={screens} (simulated screens)");
    rep.row(format!("{tag} POST /api/v1/ticker call"), call_ms, "ms");
    rep.row(format!("{tag} publish → shown p50"), p50, "ms");
    rep.goal(
        format!("{tag} publish → shown p99"),
        p99,
        "ms",
        "<= 1000",
        p99 <= 1000.0,
    );
    rep.row(format!("{tag} publish → shown max"), max, "ms");
    rep.detail(
        "ticker",
        json!({"screens": screens, "simulated": true, "p50_ms": p50, "p99_ms": p99, "max_ms": max, "post_ms": call_ms}),
    );
    Ok(rep)
}
