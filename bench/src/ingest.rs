//! `ingest`: K screens upload signed receipt batches concurrently through the broker to the
//! real controller process (one batch in flight per screen, like the player's uploader); we
//! count the receipts covered by verified acks per second and the controller's CPU. In the
//! same run: the raw cost on this machine of Ed25519 verification, of the full
//! `verify_batch` (signature + JSON + chain hashes) and of sled insert + flush, so the result
//! is also a ratio to what one core could do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use playlists::keys::{KeySet, SecretKey};
use playlists::receipt::{
    receipt_hash, sign_batch, verify_ack, verify_batch, Backend, ChainTip, Outcome, OwnChain,
    Receipt, VerifiedBatch, GENESIS_PREV,
};
use playlists::topics::{topic, Kind};
use rumqttc::{Event, Packet, QoS};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::common::{cpu_seconds, mqtt_client, mqtt_options, temp_dir, CtlProc, Opts, Report};
use super::profile::Window;

/// One screen's pre-signed work: its device key and its batches `(envelope, last seq)`.
pub struct ScreenWork {
    /// Screen id.
    pub id: String,
    /// Device key.
    pub key: SecretKey,
    /// Envelopes in upload order with the last seq each carries.
    pub batches: Vec<(Vec<u8>, u64)>,
}

/// Builds `k` screens × `m` batches × `b` receipts (chained, signed).
pub fn generate(prefix: &str, k: usize, b: usize, m: usize) -> Vec<ScreenWork> {
    let media = "a".repeat(64);
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24);
    (0..k)
        .map(|s| {
            let id = format!("{prefix}-{s:04}");
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(s as u64 + 1).to_le_bytes());
            seed[8] = prefix.len() as u8;
            let key = SecretKey::from_seed(seed);
            let mut prev = GENESIS_PREV.to_string();
            let mut seq = 0u64;
            let mut batches = Vec::with_capacity(m);
            for _ in 0..m {
                let mut rs = Vec::with_capacity(b);
                for _ in 0..b {
                    seq += 1;
                    let start = base + jiff::SignedDuration::from_secs(seq as i64 * 10);
                    let r = Receipt {
                        seq,
                        screen: id.clone(),
                        manifest_version: 1,
                        playlist: "p1".into(),
                        media: media.clone(),
                        lang: "vi".into(),
                        started_at: start,
                        ended_at: start + jiff::SignedDuration::from_secs(10),
                        outcome: Outcome::Completed,
                        backend: Backend::Null,
                        clock_synced: true,
                        prev: prev.clone(),
                        subtitle_lang: None,
                    };
                    let bytes = r.to_bytes();
                    prev = receipt_hash(&bytes);
                    rs.push(bytes);
                }
                batches.push((sign_batch(&id, &rs, &key).to_json(), seq));
            }
            ScreenWork { id, key, batches }
        })
        .collect()
}

/// What one upload run achieved.
#[derive(Debug, Clone)]
pub struct DriveResult {
    /// Receipts covered by verified acks.
    pub acked: u64,
    /// Wall time from the first upload to the last ack (s).
    pub elapsed_s: f64,
    /// Controller CPU seconds in that time.
    pub ctl_cpu_s: f64,
    /// CPU seconds of this process (the uploading screens, their ack checks) in that time.
    pub bench_cpu_s: f64,
    /// Seconds to connect and subscribe.
    pub connect_s: f64,
}

#[allow(clippy::too_many_arguments)]
async fn uploader(
    id: String,
    key_id: String,
    password: String,
    host: String,
    port: u16,
    keys: Arc<KeySet>,
    batches: Vec<(Vec<u8>, u64)>,
    mut go: watch::Receiver<bool>,
    ready: mpsc::UnboundedSender<()>,
    done: mpsc::UnboundedSender<Result<u64, String>>,
) {
    let (client, mut ev) = mqtt_client(mqtt_options(&id, &id, &password, &host, port), 16);
    let ack_topic = topic(&id, Kind::Ack);
    let receipts_topic = topic(&id, Kind::Receipts);
    let mut subscribed = false;
    let mut started = *go.borrow();
    let mut next = 0usize;
    let mut in_flight = false;
    let mut acked = 0u64;
    loop {
        if started
            && !in_flight
            && next < batches.len()
            && client
                .try_publish(
                    receipts_topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    batches[next].0.clone(),
                )
                .is_ok()
        {
            in_flight = true;
        }
        tokio::select! {
            r = go.changed(), if !started => {
                if r.is_err() { break; }
                started = *go.borrow();
                if !started { continue; }
            }
            e = ev.poll() => match e {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe(ack_topic.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) if !subscribed => {
                    subscribed = true;
                    let _ = ready.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == ack_topic => {
                    let own = OwnChain { screen: &id, epoch: 1, key_id: &key_id };
                    match verify_ack(&p.payload, &keys, &own) {
                        Ok(ack) => {
                            acked = acked.max(ack.upto_seq);
                            while next < batches.len() && batches[next].1 <= ack.upto_seq {
                                next += 1;
                                in_flight = false;
                            }
                            if next == batches.len() {
                                let _ = done.send(Ok(acked));
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = done.send(Err(format!("{id}: ack does not verify: {e}")));
                            break;
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    let _ = client.try_disconnect();
    // Let the DISCONNECT go out.
    let _ = tokio::time::timeout(Duration::from_millis(200), ev.poll()).await;
}

/// Registers and enrols the screens of `work`, connects them, uploads everything, waits for
/// the acks.
pub async fn drive(ctl: &CtlProc, work: &[ScreenWork], quick: bool) -> Result<DriveResult> {
    let ids: Vec<String> = work.iter().map(|w| w.id.clone()).collect();
    let regs = ctl.register_many(&ids, "ingest").await?;
    let mut passwords = Vec::with_capacity(work.len());
    for (w, (_, code, _)) in work.iter().zip(&regs) {
        passwords.push(ctl.enroll(&w.id, code, &w.key.public()).await?);
    }
    let keys = Arc::new(ctl.keys().await?);
    let addr = ctl
        .mqtt
        .ok_or_else(|| anyhow!("controller has no embedded broker"))?;
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = watch::channel(false);
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (w, pw) in work.iter().zip(passwords) {
        tasks.spawn(uploader(
            w.id.clone(),
            w.key.key_id(),
            pw,
            addr.ip().to_string(),
            addr.port(),
            keys.clone(),
            w.batches.clone(),
            go_rx.clone(),
            ready_tx.clone(),
            done_tx.clone(),
        ));
    }
    for i in 0..work.len() {
        tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
            .await
            .map_err(|_| anyhow!("only {i} of {} uploaders connected", work.len()))?;
    }
    let connect_s = t.elapsed().as_secs_f64();
    let mut window = Window::attach("ingest", ctl.pid).await?;
    if let Some(w) = window.as_mut() {
        w.open().await?;
    }
    let cpu0 = cpu_seconds(ctl.pid).unwrap_or(0.0);
    let own0 = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let start = Instant::now();
    go_tx.send(true)?;
    let mut acked = 0u64;
    let deadline = Duration::from_secs(if quick { 60 } else { 300 });
    for i in 0..work.len() {
        match tokio::time::timeout(deadline.saturating_sub(start.elapsed()), done_rx.recv()).await {
            Ok(Some(Ok(n))) => acked += n,
            Ok(Some(Err(e))) => bail!("{e}"),
            Ok(None) | Err(_) => bail!(
                "only {i} of {} screens fully acked within {deadline:?}",
                work.len()
            ),
        }
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let ctl_cpu_s = cpu_seconds(ctl.pid).unwrap_or(0.0) - cpu0;
    let bench_cpu_s = cpu_seconds(std::process::id()).unwrap_or(0.0) - own0;
    if let Some(w) = window {
        w.close().await?;
    }
    while tasks.join_next().await.is_some() {}
    Ok(DriveResult {
        acked,
        elapsed_s,
        ctl_cpu_s,
        bench_cpu_s,
        connect_s,
    })
}

/// Raw costs on this machine (one core).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RawCosts {
    /// Ed25519 `verify_strict` per second over a batch-sized message.
    pub ed25519_verifies_per_s: f64,
    /// Receipts per second through `playlists::receipt::verify_batch` (signature, JSON,
    /// chain hashes), alone.
    pub verify_batch_receipts_per_s: f64,
    /// Receipts per second through sled with one row per receipt (+ one flush per group of `k`
    /// batches): the schema 1 layout.
    pub sled_per_receipt_rows_per_s: f64,
    /// Receipts per second through sled with one row per batch (+ one flush per group of `k`
    /// batches): the controller's layout.
    pub sled_receipts_per_s: f64,
    /// Mean sled flush time (ms).
    pub sled_flush_ms: f64,
    /// verify + store on one core, serially: the limit of a one-task ingest.
    pub limit_receipts_per_s: f64,
}

/// Measures the raw costs with the same batches.
pub fn raw_costs(work: &[ScreenWork], quick: bool) -> Result<RawCosts> {
    // Ed25519 alone.
    let key = SecretKey::from_seed([9; 32]);
    let msg = vec![0x5a_u8; work[0].batches[0].0.len()];
    let sig = key.sign(&msg);
    let public = key.public();
    let n = if quick { 50 } else { 5000 };
    let t = Instant::now();
    for _ in 0..n {
        public
            .verify_strict(&msg, &sig)
            .map_err(|e| anyhow!("verify: {e}"))?;
    }
    let ed25519_verifies_per_s = n as f64 / t.elapsed().as_secs_f64();

    // verify_batch, screen by screen, carrying the tip.
    let mut receipts = 0usize;
    let t = Instant::now();
    let mut verified = Vec::new();
    for w in work {
        let mut tip: Option<ChainTip> = None;
        let public = w.key.public();
        for (env, _) in &w.batches {
            let v = verify_batch(env, &public, &w.id, tip.as_ref(), &|_| None)
                .map_err(|e| anyhow!("verify_batch: {e}"))?;
            receipts += v.new.len();
            tip = Some(v.tip.clone());
            verified.push((w.id.clone(), v));
        }
    }
    let verify_batch_receipts_per_s = receipts as f64 / t.elapsed().as_secs_f64();

    // sled, one row per receipt (the schema 1 layout) and one row per batch (ours: the batch's
    // new receipts in one value, plus its envelope), each with one flush per k batches (group
    // commit of one batch per screen).
    let per_receipt = sled_store(work, &verified, receipts, false)?;
    let (sled_receipts_per_s, sled_flush_ms) = sled_store(work, &verified, receipts, true)?;
    let limit_receipts_per_s =
        1.0 / (1.0 / verify_batch_receipts_per_s + 1.0 / sled_receipts_per_s);
    Ok(RawCosts {
        ed25519_verifies_per_s,
        verify_batch_receipts_per_s,
        sled_per_receipt_rows_per_s: per_receipt.0,
        sled_receipts_per_s,
        sled_flush_ms,
        limit_receipts_per_s,
    })
}

/// Stores every verified receipt in a fresh sled database, one row per receipt or one row per
/// batch, plus each envelope; one flush per round of one batch per screen. Returns receipts/s
/// and the mean flush time (ms).
fn sled_store(
    work: &[ScreenWork],
    verified: &[(String, VerifiedBatch)],
    receipts: usize,
    per_batch: bool,
) -> Result<(f64, f64)> {
    let dir = temp_dir("ingest-sled")?;
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .cache_capacity(64 << 20)
        .open()?;
    let receipts_tree = db.open_tree("receipts")?;
    let batches_tree = db.open_tree("batches")?;
    let mut flushes = 0u32;
    let mut flush_time = Duration::ZERO;
    let t = Instant::now();
    // Interleave screens like the concurrent upload does.
    let per_screen = work[0].batches.len();
    for bi in 0..per_screen {
        for (si, w) in work.iter().enumerate() {
            let (_, v) = &verified[si * per_screen + bi];
            let key = |seq: u64| {
                let mut k = w.id.as_bytes().to_vec();
                k.push(0);
                k.extend_from_slice(&seq.to_be_bytes());
                k
            };
            if per_batch {
                let mut value = Vec::new();
                for &i in &v.new {
                    let bytes = &v.receipts[i].1;
                    value.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                    value.extend_from_slice(bytes);
                }
                if let Some(&i) = v.new.first() {
                    receipts_tree.insert(key(v.receipts[i].0.seq), value)?;
                }
            } else {
                for &i in &v.new {
                    let (r, bytes) = &v.receipts[i];
                    receipts_tree.insert(key(r.seq), bytes.as_slice())?;
                }
            }
            batches_tree.insert(
                format!("{}/{bi}", w.id).as_bytes(),
                w.batches[bi].0.as_slice(),
            )?;
        }
        let f = Instant::now();
        db.flush()?;
        flush_time += f.elapsed();
        flushes += 1;
    }
    Ok((
        receipts as f64 / t.elapsed().as_secs_f64(),
        flush_time.as_secs_f64() * 1e3 / f64::from(flushes.max(1)),
    ))
}

/// The scenario.
pub async fn run(opts: &Opts, k: usize, b: usize, m: usize) -> Result<Report> {
    let mut rep = Report::new("ingest", opts);
    let work = generate("ingest", k, b, m);
    let total = (k * b * m) as u64;
    let dir = temp_dir("ingest")?;
    let ctl = CtlProc::start(&dir.path().join("ctl"), None).await?;
    eprintln!("ingest: {k} screens x {m} batches x {b} receipts = {total} receipts ...");
    let r = drive(&ctl, &work, opts.quick).await?;
    let stored = ctl.metric("gatecast_receipts_stored_total").await?;
    let rejected = ctl
        .metric("gatecast_receipt_batches_rejected_total")
        .await?;
    let flushes = ctl.metric("gatecast_receipt_flushes_total").await?;
    let rss = ctl.rss();
    ctl.stop().await;
    if r.acked != total {
        bail!("acks cover {} receipts, expected {total}", r.acked);
    }
    if stored as u64 != total || rejected != 0.0 {
        bail!("controller stored {stored} receipts and rejected {rejected} batches; expected {total} and 0");
    }
    eprintln!("ingest: raw costs ...");
    let raw = tokio::task::spawn_blocking({
        let quick = opts.quick;
        move || raw_costs(&work, quick)
    })
    .await??;
    let rate = r.acked as f64 / r.elapsed_s;
    rep.goal(
        "durable acked receipts/s",
        rate,
        "1/s",
        ">= 50000",
        rate >= 50_000.0,
    );
    rep.row(
        "controller CPU (cores busy)",
        r.ctl_cpu_s / r.elapsed_s,
        "cores",
    );
    rep.row(
        "bench's screens CPU (cores busy)",
        r.bench_cpu_s / r.elapsed_s,
        "cores",
    );
    rep.row(
        "controller CPU per 1000 receipts",
        r.ctl_cpu_s * 1000.0 / r.acked as f64 * 1e3,
        "ms",
    );
    rep.row("controller flushes (group commits)", flushes, "");
    rep.row(
        "raw Ed25519 verify_strict",
        raw.ed25519_verifies_per_s,
        "1/s",
    );
    rep.row(
        "raw verify_batch (1 core)",
        raw.verify_batch_receipts_per_s,
        "rcpt/s",
    );
    rep.row(
        "raw sled, row per receipt (1 core)",
        raw.sled_per_receipt_rows_per_s,
        "rcpt/s",
    );
    rep.row(
        "raw sled, row per batch (1 core)",
        raw.sled_receipts_per_s,
        "rcpt/s",
    );
    rep.row("raw sled flush", raw.sled_flush_ms, "ms");
    rep.row(
        "limit verify+store (1 core)",
        raw.limit_receipts_per_s,
        "rcpt/s",
    );
    rep.row(
        "ratio to 1-core limit",
        rate / raw.limit_receipts_per_s,
        "x",
    );
    rep.detail(
        "params",
        json!({"screens": k, "batch": b, "batches_per_screen": m, "receipts": total,
               "elapsed_s": r.elapsed_s, "connect_s": r.connect_s,
               "controller_cpu_s": r.ctl_cpu_s, "bench_cpu_s": r.bench_cpu_s, "controller_rss_kib": rss.0,
               "controller_hwm_kib": rss.1}),
    );
    rep.detail("raw", serde_json::to_value(&raw)?);
    Ok(rep)
}
