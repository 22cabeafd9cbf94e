//! Attacks on the embedded broker by a screen with valid credentials of its own (or by anyone
//! on the network), over real TCP: taking another screen's client id, piling up persistent
//! sessions, flooding an offline session's queue, guessing passwords from one address, and a
//! disabled screen keeping its live connection. The threat table is `docs/security.md` §3.

use crate::broker_embedded::{connect_packet, creds, start, Raw, CTL_PW};
use crate::support::{wait_until, Creds};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatecast_broker::session::MAX_QUEUED_BYTES;
use gatecast_broker::{CredentialCheck, MAX_PERSISTENT_SESSIONS_PER_USER};
use playlists::topics::{topic, Kind, CONTROLLER_CLIENT_ID, CONTROLLER_USER};
use rumqttc::mqttbytes::v4::{ConnectReturnCode, Packet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_client_id_squatting() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let manifest = topic("lc-a1", Kind::Manifest);

    // The real screen has a persistent session and is momentarily offline.
    let (mut a, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    a.subscribe(&[&manifest]).await;
    a.disconnect().await;

    // Another screen, with its own valid credentials, tries to take that client id (and the
    // controller's): refused with "identifier rejected" / "not authorized".
    let (mut squat, ack) = Raw::open(port, connect_packet("lc-a1", "lc-b2", "pw-b2", false)).await;
    assert_eq!(
        ack.code,
        ConnectReturnCode::BadClientId,
        "a screen took another screen's client id while it was offline"
    );
    squat.closed().await;
    let (mut squat, ack) = Raw::open(
        port,
        connect_packet(CONTROLLER_CLIENT_ID, "lc-b2", "pw-b2", false),
    )
    .await;
    assert_eq!(ack.code, ConnectReturnCode::NotAuthorized);
    squat.closed().await;

    // The real screen comes back: accepted, its session (and subscription) intact.
    let (mut a, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    assert!(present, "the squatter replaced the real screen's session");
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    ctl.publish(&manifest, b"m1", false).await;
    assert_eq!(a.next_publish().await.payload.as_ref(), b"m1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_persistent_session_flood() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();

    // A screen opens persistent sessions under fresh client ids: each is refused (with the
    // client id bound to the username it has one session, under its own id).
    let mut accepted = 0;
    for n in 0..20 {
        let id = format!("lc-a1-{n}");
        let (mut raw, ack) = Raw::open(port, connect_packet(&id, "lc-a1", "pw-a1", false)).await;
        if ack.code == ConnectReturnCode::Success {
            accepted += 1;
            raw.disconnect().await;
        } else {
            raw.closed().await;
        }
    }
    assert_eq!(
        accepted, 0,
        "a screen opened persistent sessions under other ids"
    );

    // The controller's account may use any client id, but keeps at most a bounded number of
    // persistent sessions: the oldest offline one goes first.
    let total = MAX_PERSISTENT_SESSIONS_PER_USER + 2;
    for n in 0..total {
        let id = format!("ctl-{n}");
        let (mut raw, _) = Raw::login(port, &id, CONTROLLER_USER, CTL_PW, false).await;
        raw.subscribe(&["gatecast/v1/screens/+/status"]).await;
        raw.disconnect().await;
    }
    let (last, present) = Raw::login(
        port,
        &format!("ctl-{}", total - 1),
        CONTROLLER_USER,
        CTL_PW,
        false,
    )
    .await;
    assert!(present, "the newest persistent session is kept");
    last.disconnect().await;
    let (_first, present) = Raw::login(port, "ctl-0", CONTROLLER_USER, CTL_PW, false).await;
    assert!(
        !present,
        "more than {MAX_PERSISTENT_SESSIONS_PER_USER} persistent sessions kept for one username"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_offline_session_never_expires() {
    let broker = start(|c| c.session_expiry = Duration::from_millis(300), creds());
    let port = broker.local_addr().port();
    let (mut a, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    a.subscribe(&[&topic("lc-a1", Kind::Ack)]).await;
    let (ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, false).await;
    assert_eq!(broker.session_count(), 2);
    a.disconnect().await;
    // The offline session is dropped after the expiry; the live one stays.
    wait_until("the offline session expired", || {
        broker.session_count() == 1
    })
    .await;
    let (_a, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    assert!(!present, "an expired session came back");
    drop(ctl);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_status_flood_into_an_offline_session() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let status = topic("lc-a1", Kind::Status);
    // The controller's persistent session subscribes, then is away (a restart).
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, false).await;
    ctl.subscribe(&[&status]).await;
    ctl.disconnect().await;

    // A screen floods its own status topic with 1 MiB messages.
    let (mut a, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    let big = vec![b' '; 1 << 20];
    let sent = 40usize;
    for _ in 0..sent {
        a.publish(&status, &big, false).await;
    }
    a.publish(&status, b"end", false).await;

    // Back online, the controller gets at most the byte bound's worth, then the last message.
    let (mut ctl, present) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, false).await;
    assert!(present);
    let mut bytes = 0usize;
    loop {
        let p = ctl.next_publish().await;
        if p.payload.as_ref() == b"end" {
            break;
        }
        bytes += p.payload.len();
    }
    assert!(
        bytes <= MAX_QUEUED_BYTES,
        "an offline session queued {bytes} bytes (bound {MAX_QUEUED_BYTES})"
    );
}

/// Counts the (expensive) credential checks the broker asks for.
struct Counting {
    inner: Arc<Creds>,
    calls: AtomicUsize,
}

impl CredentialCheck for Counting {
    fn check(&self, username: &str, password: &str) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.check(username, password)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_login_flood_from_one_address() {
    let counting = Arc::new(Counting {
        inner: creds(),
        calls: AtomicUsize::new(0),
    });
    let addr = "127.0.0.1:0".parse().unwrap();
    let broker = gatecast_broker::EmbeddedBroker::start(
        gatecast_broker::BrokerConfig::new(addr),
        counting.clone(),
    )
    .unwrap();
    let port = broker.local_addr().port();
    // A new username for every attempt, so the per-username lockout never triggers: only a
    // per-address throttle stops the broker from checking (PBKDF2) every one.
    let attempts = 200usize;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..attempts {
        tasks.spawn(async move {
            let id = format!("guess-{n}");
            let (mut raw, ack) = Raw::open(port, connect_packet(&id, &id, "guess", true)).await;
            assert_ne!(ack.code, ConnectReturnCode::Success);
            raw.closed().await;
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let calls = counting.calls.load(Ordering::SeqCst);
    assert!(
        calls <= attempts / 4,
        "{calls} of {attempts} failed logins from one address were checked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_evicts_a_disabled_users_live_session() {
    let creds = creds();
    let broker = start(|_| {}, creds.clone());
    let port = broker.local_addr().port();
    let (mut a, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    a.subscribe(&[&topic("lc-a1", Kind::Ack)]).await;
    let (mut b, _) = Raw::login(port, "lc-b2", "lc-b2", "pw-b2", false).await;
    creds.disable("lc-a1");
    assert_eq!(broker.handle().evict_user("lc-a1"), 1);
    a.closed().await;
    assert_eq!(broker.session_count(), 1, "the evicted session is gone");
    // Others are untouched.
    b.send(Packet::PingReq).await;
    assert!(matches!(b.next().await, Some(Packet::PingResp)));
}

/// A screen reconnecting after every burst gets no fresh allowance per CONNECT: the bucket is
/// kept per username across connections (`docs/security.md` §3 row 48).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_publish_allowance_reset_by_reconnecting() {
    const BURST: usize = 64 * 1024;
    let broker = start(
        |c| {
            c.max_packet_size = BURST;
            c.screen_publish_bytes_per_sec = BURST as u64;
        },
        creds(),
    );
    let port = broker.local_addr().port();
    let status = topic("lc-a1", Kind::Status);
    let big = vec![b' '; BURST - 1024];
    let rounds = 5u32;
    let t0 = std::time::Instant::now();
    for _ in 0..rounds {
        let (mut a, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
        a.publish(&status, &big, false).await;
        a.disconnect().await;
    }
    let took = t0.elapsed();
    // One burst, then the rest at the rate: at least (rounds - 1) × 0.98 s.
    let least = Duration::from_secs_f64(f64::from(rounds - 1) * 0.9);
    assert!(
        took >= least,
        "{rounds} bursts of {} bytes over {rounds} connections took {took:?}: each CONNECT got a fresh allowance",
        big.len()
    );
}
