//! `fanout`: N screens as real MQTT sessions (one process, one rumqttc client each, on a
//! multi-thread runtime) running the real `playlists::manifest::verify_manifest`; one
//! `POST /api/v1/publish {"all":true}` to a real controller process; the time from that call
//! to each screen's verified acceptance.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use playlists::keys::KeySet;
use playlists::manifest::verify_manifest;
use playlists::topics::{topic, Kind};
use rumqttc::{Event, Packet, QoS};
use serde_json::json;
use tokio::sync::{mpsc, watch, Semaphore};

use super::common::{
    mqtt_client, mqtt_options, summary, temp_dir, CtlProc, Mosquitto, Opts, Report,
};
use super::profile::Window;

/// Which broker carries the fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// The controller's embedded broker.
    Embedded,
    /// mosquitto, started by the bench.
    Mosquitto,
}

impl Broker {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Broker::Embedded => "embedded",
            Broker::Mosquitto => "mosquitto",
        }
    }
}

/// The figures of one fan-out run.
#[derive(Debug, Clone)]
pub struct FanoutResult {
    /// Screens.
    pub n: usize,
    /// Screens that accepted the new manifest.
    pub accepted: usize,
    /// Seconds to register the screens.
    pub register_s: f64,
    /// Seconds to connect and subscribe all screens.
    pub connect_s: f64,
    /// Time from the start to each screen's SUBACK, p50 and p99 (ms).
    pub connect_p50_ms: f64,
    /// p99.
    pub connect_p99_ms: f64,
    /// Controller CPU seconds while the screens connected.
    pub connect_cpu_s: f64,
    /// Connection attempts of the screens that failed and were retried (a TLS handshake or
    /// CONNECT that timed out under load, a refused connection).
    pub connect_retries: u64,
    /// Duration of the publish HTTP call (ms).
    pub publish_call_ms: f64,
    /// Acceptance latency p50 / p99 / max (ms).
    pub p50_ms: f64,
    /// p99.
    pub p99_ms: f64,
    /// max.
    pub max_ms: f64,
    /// Controller RSS / HWM (KiB) with the screens connected, after the publish.
    pub ctl_rss_kib: (u64, u64),
    /// Controller CPU seconds spent in the publish.
    pub ctl_cpu_s: f64,
    /// Broker CPU seconds during the publish (mosquitto only).
    pub broker_cpu_s: Option<f64>,
}

struct Acceptance {
    elapsed: Duration,
}

/// How one fan-out run connects its screens.
#[derive(Clone, Default)]
pub struct Link {
    /// MQTT over TLS to the controller's `--mqtts` listener: the controller's certificate
    /// and the screens' trust (`None`: plaintext).
    pub tls: Option<(
        super::common::CtlTls,
        Arc<gatecast_tls::rustls::ClientConfig>,
    )>,
    /// Screens connecting at once (0: 64, the default ramp).
    pub concurrent_connects: usize,
}

#[allow(clippy::too_many_arguments)]
async fn screen_task(
    id: String,
    password: String,
    host: String,
    port: u16,
    keys: Arc<KeySet>,
    t0: Arc<OnceLock<Instant>>,
    connect_permits: Arc<Semaphore>,
    retries: Arc<std::sync::atomic::AtomicU64>,
    tls: Option<Arc<gatecast_tls::rustls::ClientConfig>>,
    ready: mpsc::UnboundedSender<()>,
    done: mpsc::UnboundedSender<Result<Acceptance, String>>,
    mut stop: watch::Receiver<bool>,
) {
    let permit = connect_permits.acquire_owned().await.ok();
    let mut permit = permit;
    let mut options = mqtt_options(&id, &id, &password, &host, port);
    if let Some(tls) = tls {
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls),
        ));
    }
    let (client, mut ev) = mqtt_client(options, 16);
    let manifest_topic = topic(&id, Kind::Manifest);
    let mut subscribed = false;
    let mut accepted = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            e = ev.poll() => match e {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe(manifest_topic.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if !subscribed {
                        subscribed = true;
                        permit.take();
                        let _ = ready.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == manifest_topic => {
                    // Only a manifest published after the clock started counts.
                    let Some(start) = t0.get().copied() else { continue };
                    if accepted {
                        continue;
                    }
                    let r = verify_manifest(&p.payload, &keys, &id, None, jiff::Timestamp::now());
                    let elapsed = start.elapsed();
                    accepted = r.is_ok();
                    let _ = done.send(r.map(|_| Acceptance { elapsed }).map_err(|e| format!("{id}: {e}")));
                }
                Ok(_) => {}
                Err(_) => {
                    retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    let _ = client.try_disconnect();
}

/// Runs one fan-out: a fresh controller (and mosquitto), `n` screens.
pub async fn run_one(opts: &Opts, n: usize, broker: Broker) -> Result<Option<FanoutResult>> {
    run_one_with(opts, n, broker, &Link::default()).await
}

/// [`run_one`] over the given [`Link`] (TLS, connection ramp); TLS only with the embedded
/// broker.
pub async fn run_one_with(
    opts: &Opts,
    n: usize,
    broker: Broker,
    link: &Link,
) -> Result<Option<FanoutResult>> {
    let dir = temp_dir("fanout")?;
    let mosq = match broker {
        Broker::Mosquitto => match Mosquitto::start(dir.path()).await? {
            Some(m) => Some(m),
            None => return Ok(None),
        },
        Broker::Embedded => None,
    };
    let broker_url = mosq
        .as_ref()
        .map(|m| format!("mqtt://127.0.0.1:{}", m.port));
    let ctl_tls = link.tls.as_ref().map(|(c, _)| c);
    let ctl = CtlProc::start_with(&dir.path().join("ctl"), broker_url.as_deref(), ctl_tls).await?;
    let (host, port) = match (&mosq, ctl.mqtt) {
        (Some(m), _) => ("127.0.0.1".to_string(), m.port),
        // The certificate's name.
        (None, Some(a)) if link.tls.is_some() => ("localhost".to_string(), a.port()),
        (None, Some(a)) => (a.ip().to_string(), a.port()),
        (None, None) => bail!("controller reported no broker address"),
    };
    ctl.simple_content("bench").await?;
    let ids: Vec<String> = (0..n).map(|i| format!("bench-{i:05}")).collect();
    let t = Instant::now();
    let regs = ctl.register_many(&ids, "bench").await?;
    let register_s = t.elapsed().as_secs_f64();
    let keys = Arc::new(ctl.keys().await?);

    let t0 = Arc::new(OnceLock::new());
    let ramp = match link.concurrent_connects {
        0 => 64,
        c => c,
    };
    let permits = Arc::new(Semaphore::new(ramp));
    let retries = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tag = format!("{}-{n}", if link.tls.is_some() { "tls" } else { "plain" });
    let mut connect_window = Window::attach(&format!("connect-{tag}"), ctl.pid).await?;
    if let Some(w) = connect_window.as_mut() {
        w.open().await?;
    }
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (id, _code, pw) in regs {
        tasks.spawn(screen_task(
            id,
            pw,
            host.clone(),
            port,
            keys.clone(),
            t0.clone(),
            permits.clone(),
            retries.clone(),
            link.tls.as_ref().map(|(_, c)| c.clone()),
            ready_tx.clone(),
            done_tx.clone(),
            stop_rx.clone(),
        ));
    }
    let connect_deadline = Duration::from_secs(if opts.quick { 60 } else { 300 });
    let connect_cpu0 = super::common::cpu_seconds(ctl.pid).unwrap_or(0.0);
    let mut connected_ms = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::timeout(
            connect_deadline.saturating_sub(t.elapsed()),
            ready_rx.recv(),
        )
        .await
        .map_err(|_| {
            anyhow!("only {i} of {n} screens connected and subscribed in {connect_deadline:?}")
        })?;
        connected_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let connect_s = t.elapsed().as_secs_f64();
    if let Some(w) = connect_window {
        w.close().await?;
    }
    let connect_cpu_s = super::common::cpu_seconds(ctl.pid).unwrap_or(0.0) - connect_cpu0;
    let connect_retries = retries.load(std::sync::atomic::Ordering::Relaxed);
    let (connect_p50_ms, connect_p99_ms, _) = summary(&mut connected_ms);

    let cpu0 = super::common::cpu_seconds(ctl.pid).unwrap_or(0.0);
    let bcpu0 = mosq
        .as_ref()
        .and_then(|m| m.pid())
        .and_then(super::common::cpu_seconds);
    let mut publish_window = Window::attach(&format!("publish-{tag}"), ctl.pid).await?;
    if let Some(w) = publish_window.as_mut() {
        w.open().await?;
    }
    let start = Instant::now();
    t0.set(start).expect("clock starts once");
    let (published, publish_call_ms) = ctl
        .api_timed_apart(
            reqwest::Method::POST,
            "/api/v1/publish",
            Some(json!({"all": true})),
            200,
        )
        .await?;
    if let Some(w) = publish_window {
        w.close().await?;
    }
    let count = published["published"].as_array().map(Vec::len).unwrap_or(0);
    if count != n {
        bail!("publish answered for {count} screens, expected {n}: {published}");
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = Vec::new();
    let deadline = Duration::from_secs(if opts.quick { 60 } else { 300 });
    while lat.len() < n {
        match tokio::time::timeout(deadline.saturating_sub(start.elapsed()), done_rx.recv()).await {
            Ok(Some(Ok(a))) => lat.push(a.elapsed.as_secs_f64() * 1e3),
            Ok(Some(Err(e))) => errors.push(e),
            Ok(None) | Err(_) => break,
        }
    }
    let ctl_cpu_s = super::common::cpu_seconds(ctl.pid).unwrap_or(0.0) - cpu0;
    let broker_cpu_s = match (bcpu0, mosq.as_ref().and_then(|m| m.pid())) {
        (Some(c0), Some(pid)) => super::common::cpu_seconds(pid).map(|c| c - c0),
        _ => None,
    };
    let ctl_rss_kib = ctl.rss();
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    ctl.stop().await;
    if let Some(m) = mosq {
        m.stop().await;
    }
    if !errors.is_empty() {
        bail!(
            "{} screens rejected the manifest, first: {}",
            errors.len(),
            errors[0]
        );
    }
    let accepted = lat.len();
    if accepted != n {
        bail!("only {accepted} of {n} screens accepted the manifest within {deadline:?}");
    }
    let (p50_ms, p99_ms, max_ms) = summary(&mut lat);
    Ok(Some(FanoutResult {
        n,
        accepted,
        register_s,
        connect_s,
        connect_p50_ms,
        connect_p99_ms,
        connect_cpu_s,
        connect_retries,
        publish_call_ms,
        p50_ms,
        p99_ms,
        max_ms,
        ctl_rss_kib,
        ctl_cpu_s,
        broker_cpu_s,
    }))
}

/// The scenario: every size on every broker, one table.
pub async fn run(opts: &Opts, sizes: &[usize], brokers: &[Broker]) -> Result<Report> {
    let mut rep = Report::new("fanout", opts);
    let mut runs = Vec::new();
    for &n in sizes {
        for &b in brokers {
            eprintln!("fanout: {n} screens, {} broker ...", b.name());
            let Some(r) = run_one(opts, n, b).await? else {
                continue;
            };
            let tag = format!("{} n={}", b.name(), r.n);
            rep.row(format!("{tag} publish call"), r.publish_call_ms, "ms");
            rep.row(format!("{tag} p50"), r.p50_ms, "ms");
            let goal = match (b, n) {
                (Broker::Embedded, 1000) => Some(1000.0),
                (Broker::Embedded, 5000) => Some(3000.0),
                _ => None,
            };
            match goal {
                Some(g) => rep.goal(
                    format!("{tag} p99"),
                    r.p99_ms,
                    "ms",
                    &format!("<= {g:.0}"),
                    r.p99_ms <= g,
                ),
                None => rep.row(format!("{tag} p99"), r.p99_ms, "ms"),
            }
            rep.row(format!("{tag} max"), r.max_ms, "ms");
            rep.row(format!("{tag} controller CPU"), r.ctl_cpu_s, "s");
            runs.push(json!({
                "broker": b.name(), "screens": n, "accepted": r.accepted,
                "register_s": r.register_s, "connect_s": r.connect_s,
                "publish_call_ms": r.publish_call_ms, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                "max_ms": r.max_ms, "controller_rss_kib": r.ctl_rss_kib.0,
                "controller_hwm_kib": r.ctl_rss_kib.1, "controller_cpu_s": r.ctl_cpu_s,
                "broker_cpu_s": r.broker_cpu_s,
            }));
        }
    }
    rep.detail("runs", json!(runs));
    rep.detail(
        "ulimit_n",
        json!(std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| s
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .map(str::to_string))),
    );
    Ok(rep)
}
