//! Attacks through a screen's own `status` and `receipts` topics on the real controller
//! (in-process, embedded broker, screens registered and enrolled over HTTP, MQTT clients
//! playing the players): statuses with fields of the wrong type, oversized statuses, conflicting
//! batches resent many times, and lists that grow without end. The threat table is
//! `docs/security.md` §3 (rows 48-50).

use crate::api_support;
use crate::ingest_support;

use std::time::Duration;

use api_support::*;
use gatecast_controller::store::StatusRecord;
use ingest_support::*;
use playlists::keys::SecretKey;
use playlists::receipt::Receipt;
use playlists::topics::{topic, Kind};
use serde_json::{json, Value};

const A: &str = "lc-a1";
const B: &str = "lc-b2";

/// Publishes `bad` as A's status and a good status as B's, then waits until the controller
/// has dealt with both: B's status stored and A's either stored or counted as refused for
/// `reason`. Returns A's stored status (`None` when refused).
async fn status_pair(
    ctl: &Ctl,
    a: &Player,
    b: &Player,
    bad: Vec<u8>,
    reason: &str,
) -> Option<Value> {
    a.publish_raw_topic(&topic(A, Kind::Status), bad).await;
    b.publish_raw_topic(
        &topic(B, Kind::Status),
        br#"{"state":"playing","current":null}"#.to_vec(),
    )
    .await;
    let store = ctl.running.store();
    let refused = format!("gatecast_status_rejected_total{{reason=\"{reason}\"}}");
    gatecast_testkit::wait_until_async(
        "neither status was dealt with",
        Duration::from_secs(15),
        || async {
            let counted = metrics(ctl)
                .await
                .lines()
                .find_map(|l| l.strip_prefix(refused.as_str())?.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let a_stored = store.status(A).unwrap();
            (store.status(B).unwrap().is_some() && (a_stored.is_some() || counted > 0))
                .then_some(a_stored.map(|s| s.status))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_status_with_a_number_for_current() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let a = player(&ctl, A, A, SecretKey::from_seed([7; 32])).await;
    let b = player(&ctl, B, B, SecretKey::from_seed([8; 32])).await;
    let bad = br#"{"state":"playing","current":12345,"manifest_version":"7"}"#.to_vec();
    let stored = status_pair(&ctl, &a, &b, bad, "bad_field").await;
    assert_eq!(stored, None, "a status with current=12345 was stored");
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_oversized_status() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let a = player(&ctl, A, A, SecretKey::from_seed([7; 32])).await;
    let b = player(&ctl, B, B, SecretKey::from_seed([8; 32])).await;
    let big =
        serde_json::to_vec(&json!({"state": "playing", "pad": "x".repeat(512 * 1024)})).unwrap();
    let stored = status_pair(&ctl, &a, &b, big, "too_large").await;
    assert_eq!(
        stored.map(|s| s.to_string().len()),
        None,
        "a 512 KiB status was stored"
    );
    ctl.running.shutdown().await;
}

/// A 2 MiB status (over the MQTT client's old 1 MiB status limit, under the packet limit) is
/// refused and counted as `too_large` like any status over the 8 KiB cap, not dropped
/// uncounted on the way in (`docs/protocol.md` §12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_status_over_the_client_limit_is_counted_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let a = player(&ctl, A, A, SecretKey::from_seed([7; 32])).await;
    let b = player(&ctl, B, B, SecretKey::from_seed([8; 32])).await;
    let big = serde_json::to_vec(&json!({"state": "playing", "pad": "x".repeat(2 << 20)})).unwrap();
    let stored = status_pair(&ctl, &a, &b, big, "too_large").await;
    assert_eq!(stored, None, "a 2 MiB status was stored");
    ctl.running.shutdown().await;
}

/// 30 conflicting "seq 1" batches signed with the screen's own key: the first is kept as
/// evidence, the rest only counted (in the API's conflict list).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_conflict_evidence_flood() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let device = SecretKey::from_seed([7; 32]);
    let mut a = player(&ctl, A, A, device.clone()).await;
    a.send(&chain(A, 1), &device).await;
    assert_eq!(a.next_ack().await.0, 1);
    for i in 0..30u64 {
        // Same seq, other bytes: a different play, each a conflict.
        let mut r = Receipt::parse(&chain(A, 1)[0]).unwrap();
        r.playlist = format!("other-{i}");
        a.send(&[r.to_bytes()], &device).await;
        // One batch in flight at a time, as a player sends them (docs/protocol.md §13).
        wait_metric(&ctl, "gatecast_receipt_conflicts_total", i + 1).await;
    }
    let (s, v) = ctl
        .admin("GET", "/api/v1/receipts/rejections", Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    let conflicts = v["conflicts"].as_array().unwrap();
    assert_eq!(
        conflicts.len(),
        1,
        "{} conflict envelopes kept for one seq",
        conflicts.len()
    );
    assert_eq!(conflicts[0]["seq"], 1);
    assert_eq!(conflicts[0]["repeats"], 29, "{}", conflicts[0]);
    // Every rejection is counted per screen and reason, kept as a row or not.
    assert_eq!(
        v["counts"],
        json!([{
            "screen": A,
            "reason": "duplicate_conflict",
            "count": 30,
            "first_received_at": v["rejections"][0]["received_at"],
            "last_received_at": v["rejections"][29]["received_at"],
            "last_envelope_sha256": v["rejections"][29]["envelope_sha256"],
            "last_envelope_bytes": v["rejections"][29]["envelope_bytes"],
        }]),
        "{v}"
    );
    // The rejection list is paged.
    let (s, p) = ctl
        .admin("GET", "/api/v1/receipts/rejections?limit=5", Value::Null)
        .await;
    assert_eq!(s, 200, "{p}");
    let rows = p["rejections"].as_array().map_or(0, Vec::len)
        + p["conflicts"].as_array().map_or(0, Vec::len);
    assert_eq!(rows, 5, "{p}");
    let cursor = p["next_cursor"].as_str().expect("next_cursor").to_string();
    let (s, p2) = ctl
        .admin(
            "GET",
            &format!("/api/v1/receipts/rejections?limit=100&cursor={cursor}"),
            Value::Null,
        )
        .await;
    assert_eq!(s, 200, "{p2}");
    // 30 rejections and 1 conflict in all.
    let rest =
        p2["rejections"].as_array().unwrap().len() + p2["conflicts"].as_array().unwrap().len();
    assert_eq!(rows + rest, 31, "{p2}");
    assert!(p2["next_cursor"].is_null(), "{p2}");
    // The export carries the one kept envelope and the count of the others.
    let resp = ctl
        .http
        .get(ctl.url(&format!(
            "/api/v1/audit/export?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&screens={A}"
        )))
        .bearer_auth(&ctl.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bundle: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let exported = bundle["conflicts"]
        .as_array()
        .expect("conflicts in the bundle");
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert_eq!(exported[0]["repeats"], 29);
    ctl.running.shutdown().await;
}

/// 1,500 online/offline flips: the history keeps transitions only, at most the cap per screen,
/// and `GET /api/v1/screens/{id}` pages it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_status_history_flood() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    register(&ctl, A, A).await;
    let store = ctl.running.store();
    let t0 = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    for i in 0..1_500i64 {
        let rec = StatusRecord {
            screen: A.into(),
            status: json!({"state": if i % 2 == 0 { "playing" } else { "offline" }}),
            received_at: (t0 + jiff::SignedDuration::from_secs(i)).to_string(),
            online: i % 2 == 0,
        };
        store
            .put_status(&rec, std::time::Duration::from_secs(90))
            .await
            .unwrap();
    }
    let all = store.status_history(A).unwrap();
    assert_eq!(all.len(), 1_000, "{} history rows kept", all.len());
    // The newest are kept.
    assert_eq!(
        all.last().unwrap().at,
        (t0 + jiff::SignedDuration::from_secs(1_499)).to_string()
    );
    let (s, one) = ctl
        .admin("GET", &format!("/api/v1/screens/{A}"), Value::Null)
        .await;
    assert_eq!(s, 200);
    let inline = one["history"].as_array().unwrap().len();
    assert!(inline <= 100, "{inline} history rows in the screen answer");
    let (s, page) = ctl
        .admin(
            "GET",
            &format!("/api/v1/screens/{A}/history?limit=400"),
            Value::Null,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["history"].as_array().unwrap().len(), 400);
    let mut n = 400;
    let mut cursor = page["next_cursor"].as_str().unwrap().to_string();
    loop {
        let (s, p) = ctl
            .admin(
                "GET",
                &format!("/api/v1/screens/{A}/history?limit=400&cursor={cursor}"),
                Value::Null,
            )
            .await;
        assert_eq!(s, 200, "{p}");
        n += p["history"].as_array().unwrap().len();
        match p["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(n, 1_000);
    ctl.running.shutdown().await;
}
