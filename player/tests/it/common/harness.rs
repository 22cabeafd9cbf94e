//! A stand-in controller for agent tests: signs manifests and acks with a test key, serves
//! media over HTTP (with Range, recording every request), talks MQTT through the test broker,
//! verifies and stores receipts batches like the real controller (chain, duplicates, gaps),
//! and runs real `gatecast-player` processes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gatecast_testkit::ChildGuard;
use playlists::envelope::{Envelope, MANIFEST_TYPE};
use playlists::keys::{PublicKey, SecretKey};
use playlists::manifest::{Manifest, MediaKind, MediaRef, Playlist, PlaylistItem};
use playlists::receipt::{self, Ack, ChainTip};
use playlists::topics::{self, Kind};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use warp::Filter;

pub use playlists::hex::sha256_hex;

pub const SCREEN: &str = "gate-a1";

/// A slide with `len` deterministic bytes (the null backend never decodes them).
pub fn slide(n: u32, len: usize, duration_ms: u64) -> (MediaRef, Vec<u8>) {
    let mut bytes = format!("gatecast test slide {n}\n").into_bytes();
    let mut x = n.wrapping_mul(2654435761).wrapping_add(1);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    bytes.truncate(len.max(1));
    let m = MediaRef {
        sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "vi".into(),
        title: format!("slide {n}"),
        duration_ms: Some(duration_ms),
        subtitles: Vec::new(),
    };
    (m, bytes)
}

/// A manifest for `screen` playing `media` in order, valid for an hour.
pub fn manifest(screen: &str, version: u64, media: &[MediaRef]) -> Manifest {
    let now = jiff::Timestamp::now();
    Manifest {
        screen: screen.into(),
        version,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(1),
        timezone: "Asia/Ho_Chi_Minh".into(),
        languages: vec![],
        media: media.to_vec(),
        playlists: vec![Playlist {
            id: "main".into(),
            name: "Main".into(),
            items: media
                .iter()
                .map(|m| PlaylistItem {
                    media: m.sha256.clone(),
                    duration_ms: None,
                    variants: vec![],
                })
                .collect(),
        }],
        schedule: vec![],
        fallback: "main".into(),
        layout: None,
    }
}

/// Signs arbitrary payload bytes as `payload_type`.
pub fn sign_raw(payload_type: &str, payload: Vec<u8>, key: &SecretKey) -> Vec<u8> {
    Envelope::sign(payload_type, payload, key).to_json()
}

/// Signs a manifest (without validating it, so tests can sign bad ones).
pub fn sign_manifest(m: &Manifest, key: &SecretKey) -> Vec<u8> {
    sign_raw(MANIFEST_TYPE, m.to_json(), key)
}

/// Every media request: (sha, Range header).
pub type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;
/// Served files by sha.
pub type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// HTTP media server: `GET /media/<sha>` with `Range: bytes=N-` support.
pub struct MediaServer {
    pub url: String,
    files: Files,
    /// Every request: (sha, Range header).
    pub requests: RequestLog,
}

impl MediaServer {
    pub async fn start() -> MediaServer {
        let files: Files = Arc::default();
        let requests: RequestLog = Arc::default();
        let (f2, r2) = (files.clone(), requests.clone());
        let route = warp::path!("media" / String)
            .and(warp::get())
            .and(warp::header::optional::<String>("range"))
            .map(move |sha: String, range: Option<String>| {
                r2.lock().unwrap().push((sha.clone(), range.clone()));
                let body = f2.lock().unwrap().get(&sha).cloned();
                let Some(body) = body else {
                    return warp::http::Response::builder()
                        .status(404)
                        .body(Vec::new())
                        .unwrap();
                };
                let start = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|s| s.parse::<usize>().ok());
                match start {
                    Some(s) if s < body.len() => warp::http::Response::builder()
                        .status(206)
                        .header(
                            "content-range",
                            format!("bytes {s}-{}/{}", body.len() - 1, body.len()),
                        )
                        .body(body[s..].to_vec())
                        .unwrap(),
                    _ => warp::http::Response::builder()
                        .status(200)
                        .body(body)
                        .unwrap(),
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(warp::serve(route).incoming(listener).run());
        MediaServer {
            url,
            files,
            requests,
        }
    }

    /// Serves `bytes` under `sha` (which may deliberately not be their hash).
    pub fn put(&self, sha: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(sha.to_owned(), bytes);
    }

    /// Requests seen for `sha`.
    pub fn requests_for(&self, sha: &str) -> Vec<Option<String>> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| s == sha)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

/// What the stand-in controller has stored.
#[derive(Default)]
pub struct Received {
    /// Stored receipts by seq (exact bytes).
    pub receipts: BTreeMap<u64, Vec<u8>>,
    pub tip: Option<ChainTip>,
    /// Batches that verified.
    pub batches: usize,
    /// Receipts that arrived again (already stored, identical).
    pub duplicates: usize,
    /// Batches refused (bad signature, gap, conflict), with the reason.
    pub refused: Vec<String>,
    /// Status documents in arrival order.
    pub statuses: Vec<Value>,
    /// Enrolment epoch and device key id of the last batch that verified: what acks name.
    pub chain: Option<(u64, String)>,
}

/// The ack of `screen`'s chain `chain` (epoch and device key id; none: epoch 1 without a key
/// id, as before epochs) up to `upto`.
pub fn ack_of(screen: &str, chain: Option<(u64, String)>, upto: u64) -> Ack {
    let (epoch, key_id) = match chain {
        Some((e, k)) => (e, Some(k)),
        None => (receipt::FIRST_EPOCH, None),
    };
    Ack {
        screen: screen.to_owned(),
        epoch,
        key_id,
        upto_seq: upto,
    }
}

/// The stand-in controller on MQTT.
pub struct Controller {
    pub key: SecretKey,
    pub client: AsyncClient,
    pub state: Arc<Mutex<Received>>,
    auto_ack: Arc<std::sync::atomic::AtomicBool>,
    screen: String,
}

impl Controller {
    /// Connects to the broker and subscribes to the screen's receipts and status.
    pub async fn connect(broker_port: u16, screen: &str, key: SecretKey) -> Controller {
        let mut opts = MqttOptions::new(
            format!("test-controller-{}", std::process::id()),
            "127.0.0.1",
            broker_port,
        );
        let (user, password) = super::broker::TEST_LOGIN;
        opts.set_max_packet_size(8 << 20, 8 << 20)
            .set_credentials(user, password)
            .set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let state: Arc<Mutex<Received>> = Arc::default();
        let auto_ack = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<Ack>();
        let (st, aa, scr) = (state.clone(), auto_ack.clone(), screen.to_owned());
        let (sub_tx, sub_rx) = tokio::sync::oneshot::channel::<()>();
        let mut sub_tx = Some(sub_tx);
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(t) = sub_tx.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => match topics::parse(&p.topic) {
                        Some((_, Kind::Status)) => {
                            if let Ok(v) = serde_json::from_slice::<Value>(&p.payload) {
                                st.lock().unwrap().statuses.push(v);
                            }
                        }
                        Some((_, Kind::Receipts)) => {
                            if let Some(upto) = store_batch(&st, &scr, &p.payload) {
                                if aa.load(std::sync::atomic::Ordering::SeqCst) {
                                    let chain = st.lock().unwrap().chain.clone();
                                    let _ = ack_tx.send(ack_of(&scr, chain, upto));
                                }
                            }
                        }
                        _ => {}
                    },
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        client
            .subscribe_many([
                rumqttc::SubscribeFilter::new(
                    topics::topic(screen, Kind::Status),
                    QoS::AtLeastOnce,
                ),
                rumqttc::SubscribeFilter::new(
                    topics::topic(screen, Kind::Receipts),
                    QoS::AtLeastOnce,
                ),
            ])
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), sub_rx)
            .await
            .expect("suback")
            .unwrap();
        let c = Controller {
            key,
            client,
            state,
            auto_ack,
            screen: screen.to_owned(),
        };
        let (client, key, screen) = (c.client.clone(), c.key.clone_for_test(), c.screen.clone());
        tokio::spawn(async move {
            while let Some(ack) = ack_rx.recv().await {
                let env = receipt::sign_ack(&ack, &key).to_json();
                let _ = client
                    .publish(
                        topics::topic(&screen, Kind::Ack),
                        QoS::AtLeastOnce,
                        false,
                        env,
                    )
                    .await;
            }
        });
        c
    }

    pub fn set_auto_ack(&self, on: bool) {
        self.auto_ack.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Publishes raw envelope bytes on the manifest topic, retained.
    pub async fn publish_manifest(&self, bytes: Vec<u8>) {
        self.client
            .publish(
                topics::topic(&self.screen, Kind::Manifest),
                QoS::AtLeastOnce,
                true,
                bytes,
            )
            .await
            .unwrap();
    }

    /// Publishes raw envelope bytes on the alert topic, retained.
    pub async fn publish_alert(&self, bytes: Vec<u8>) {
        self.client
            .publish(
                topics::topic(&self.screen, Kind::Alert),
                QoS::AtLeastOnce,
                true,
                bytes,
            )
            .await
            .unwrap();
    }

    /// Publishes raw envelope bytes on the screenshot topic, not retained (a command is for
    /// now, `docs/protocol.md` §18).
    pub async fn publish_screenshot_request(&self, bytes: Vec<u8>) {
        self.client
            .publish(
                topics::topic(&self.screen, Kind::Screenshot),
                QoS::AtLeastOnce,
                false,
                bytes,
            )
            .await
            .unwrap();
    }

    /// Publishes a signed ack of the chain of the last batch that verified.
    pub async fn ack(&self, upto: u64) {
        let chain = self.state.lock().unwrap().chain.clone();
        self.publish_ack(&ack_of(&self.screen, chain, upto)).await;
    }

    /// Publishes `ack`, signed with the controller key.
    pub async fn publish_ack(&self, ack: &Ack) {
        let env = receipt::sign_ack(ack, &self.key).to_json();
        self.client
            .publish(
                topics::topic(&self.screen, Kind::Ack),
                QoS::AtLeastOnce,
                false,
                env,
            )
            .await
            .unwrap();
    }

    /// Waits for a status satisfying `pred` (checks the latest one).
    pub async fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self
                .state
                .lock()
                .unwrap()
                .statuses
                .last()
                .filter(|v| pred(v))
                .cloned()
            {
                return v;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last status: {:?}",
                    self.last_status()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the stored receipts satisfy `pred`.
    pub async fn wait_received(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Received) -> bool,
    ) {
        let st = self.state.clone();
        super::wait_for(what, timeout, || pred(&st.lock().unwrap()).then_some(())).await
    }

    /// The latest status.
    pub fn last_status(&self) -> Option<Value> {
        self.state.lock().unwrap().statuses.last().cloned()
    }
}

/// Verifies a batch like the controller does and stores its new receipts; returns the seq to
/// acknowledge.
fn store_batch(st: &Arc<Mutex<Received>>, screen: &str, payload: &Bytes) -> Option<u64> {
    let mut s = st.lock().unwrap();
    let device_key = s
        .statuses
        .iter()
        .rev()
        .find_map(|v| v["device_key"].as_str().map(str::to_owned))
        .and_then(|k| PublicKey::from_base64(&k).ok());
    let Some(device_key) = device_key else {
        s.refused.push("no device key known yet".into());
        return None;
    };
    let stored: HashMap<u64, String> = s
        .receipts
        .iter()
        .map(|(k, v)| (*k, receipt::receipt_hash(v)))
        .collect();
    let tip = s.tip.clone();
    match receipt::verify_batch(payload, &device_key, screen, tip.as_ref(), &|seq| {
        stored.get(&seq).cloned()
    }) {
        Ok(vb) => {
            s.batches += 1;
            s.duplicates += vb.receipts.len() - vb.new.len();
            for i in &vb.new {
                let (r, bytes) = &vb.receipts[*i];
                s.receipts.insert(r.seq, bytes.clone());
            }
            let upto = vb.tip.seq;
            s.tip = Some(vb.tip);
            s.chain = Some((vb.epoch, device_key.key_id()));
            Some(upto)
        }
        Err(e) => {
            s.refused.push(e.to_string());
            None
        }
    }
}

/// Extension used to hand the controller key to the ack task.
trait CloneForTest {
    fn clone_for_test(&self) -> SecretKey;
}
impl CloneForTest for SecretKey {
    fn clone_for_test(&self) -> SecretKey {
        SecretKey::from_text(&self.to_text()).unwrap()
    }
}

/// Options for a player process.
pub struct PlayerSpec {
    pub broker_url: String,
    pub media_base: String,
    pub controller_key: PublicKey,
    pub extra_toml: String,
    pub null_speed: f64,
}

/// A running `gatecast-player run` process (its process group is killed when dropped).
pub struct PlayerProc {
    child: ChildGuard,
    pub dir: PathBuf,
    pub config: PathBuf,
}

/// Writes the config for a player with data dir under `dir`.
pub fn write_config(dir: &Path, spec: &PlayerSpec) -> PathBuf {
    let data = dir.join("data");
    let config = dir.join("player.toml");
    let toml = format!(
        "screen = \"{SCREEN}\"\nbroker = \"{}\"\nmqtt_username = \"{SCREEN}\"\nmqtt_password = \"test-password\"\n\
         controller_key = \"{}\"\nmedia_base = \"{}\"\ndata_dir = \"{}\"\nbackend = \"null\"\n\
         batch_max_delay_ms = 100\n{}",
        spec.broker_url,
        spec.controller_key.to_base64(),
        spec.media_base,
        data.display(),
        spec.extra_toml
    );
    std::fs::write(&config, toml).unwrap();
    config
}

impl PlayerProc {
    /// Starts `gatecast-player run` on the config in `dir`.
    pub fn start(dir: &Path, spec: &PlayerSpec) -> PlayerProc {
        PlayerProc::start_with_env(dir, spec, &[])
    }

    /// [`PlayerProc::start`] with extra environment variables (e.g. the `DISPLAY` of a glass
    /// test's X server).
    pub fn start_with_env(dir: &Path, spec: &PlayerSpec, env: &[(&str, String)]) -> PlayerProc {
        let config = dir.join("player.toml");
        if !config.exists() {
            write_config(dir, spec);
        }
        let child = ChildGuard::spawn_stderr_to_log(
            "gatecast-player run",
            std::process::Command::new(env!("CARGO_BIN_EXE_gatecast-player"))
                .envs(env.iter().map(|(k, v)| (k, v)))
                .arg("run")
                .arg("--config")
                .arg(&config)
                .arg("--null-speed")
                .arg(spec.null_speed.to_string())
                .arg("--status-interval-secs")
                .arg("2")
                .env("RUST_LOG", "info,gatecast_player=debug")
                .stdout(std::process::Stdio::null()),
            &dir.join("player.log"),
        );
        PlayerProc {
            child,
            dir: dir.to_owned(),
            config,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The seqs still in the journal of this player, **stopped** (its database is locked while
    /// it runs), read through the journal API: what a forged ack would have pruned.
    pub fn unacked_seqs(&self) -> Vec<u64> {
        let store = gatecast_player::store::Store::open(&self.data())
            .expect("opening the stopped player's state database");
        let journal = gatecast_player::journal::Journal::open(&store, SCREEN)
            .expect("opening the stopped player's journal");
        let unacked = journal.unacked(usize::MAX).expect("reading the journal");
        unacked.into_iter().map(|(seq, _)| seq).collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and wait for it to be gone.
    pub async fn kill9(&mut self) {
        self.child.kill9();
    }

    /// SIGTERM, and wait (at most 20 s) for a clean exit; returns whether it exited 0. Polls
    /// with async sleeps: the broker and the stand-in controller run on this test's runtime.
    pub async fn stop(&mut self) -> bool {
        self.child.sigterm();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait() {
                return st.success();
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The player's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("player.log")).unwrap_or_default()
    }
}

/// The usual setup of an agent test: a broker, a media server, the controller key (seed 7)
/// and a stand-in controller for [`SCREEN`] signing with it.
pub struct Rig {
    pub broker: super::broker::TestBroker,
    pub media: MediaServer,
    pub key: SecretKey,
    pub controller: Controller,
}

impl Rig {
    pub async fn start() -> Rig {
        let broker = super::broker::TestBroker::start();
        let media = MediaServer::start().await;
        let key = SecretKey::from_seed([7; 32]);
        let controller = Controller::connect(broker.port, SCREEN, key.clone_for_test()).await;
        Rig {
            broker,
            media,
            key,
            controller,
        }
    }
}

/// A player that talks to `broker`, fetches from `media` and pins `key`.
pub fn player_spec(
    broker: &super::broker::TestBroker,
    media: &MediaServer,
    key: &SecretKey,
    extra_toml: &str,
    null_speed: f64,
) -> PlayerSpec {
    PlayerSpec {
        broker_url: broker.url(),
        media_base: media.url.clone(),
        controller_key: key.public(),
        extra_toml: extra_toml.to_string(),
        null_speed,
    }
}
