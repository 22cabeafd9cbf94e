//! `GET /api/v1/screens` is answered from a cache of each screen's rendered entry; every change
//! of a screen (edit, disable, enable, enrolment, re-enrolment, status, publish, delete,
//! re-registration) and of what its entry names (a media title) shows in the very next list,
//! and every entry stays the same as the screen's own `GET /api/v1/screens/{id}`.

use crate::api_support;
use crate::ingest_support;

use std::time::Duration;

use api_support::*;
use ingest_support::*;
use playlists::keys::SecretKey;
use playlists::topics::{topic, Kind};
use serde_json::{json, Value};

const A: &str = "lc-a1";
const B: &str = "lc-b2";

/// The list, as the auditor reads it.
async fn list(ctl: &Ctl, token: &str) -> Vec<Value> {
    let (s, v) = ctl.req("GET", "/api/v1/screens", Some(token), None).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().expect("the list is an array").clone()
}

/// Screen `id`'s entry in the list, checked against its own `GET /api/v1/screens/{id}` (read
/// afresh, without the cache) minus the history that only that one carries.
async fn entry(ctl: &Ctl, token: &str, id: &str) -> Value {
    let all = list(ctl, token).await;
    let ids: Vec<&str> = all.iter().filter_map(|s| s["id"].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "the list is in id order");
    let e = all
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the list {ids:?}"))
        .clone();
    let (s, mut one) = ctl
        .req("GET", &format!("/api/v1/screens/{id}"), Some(token), None)
        .await;
    assert_eq!(s, 200, "{one}");
    let o = one.as_object_mut().unwrap();
    o.remove("history");
    o.remove("history_truncated");
    assert_eq!(e, one, "the list's entry of {id} differs from its own GET");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_screens_list_shows_every_change_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let auditor = ctl.token("auditor").await;
    seed(&ctl).await; // lc-a1 at gate lao-cai, a slide "Welcome", a schedule for the gate
    register(&ctl, B, "B2").await;
    assert_eq!(list(&ctl, &auditor).await.len(), 2);
    let e = entry(&ctl, &auditor, A).await;
    assert_eq!(e["name"], "Lao Cai A1");

    // Edits, disable and enable by the admin.
    let (s, v) = ctl
        .admin(
            "PATCH",
            &format!("/api/v1/screens/{A}"),
            json!({"name": "Cổng A1", "gate": "kim-thanh"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let e = entry(&ctl, &auditor, A).await;
    assert_eq!(
        (&e["name"], &e["gate"]),
        (&json!("Cổng A1"), &json!("kim-thanh"))
    );
    let (s, v) = ctl
        .admin("POST", &format!("/api/v1/screens/{A}/disable"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(entry(&ctl, &auditor, A).await["disabled"], true);
    let (s, v) = ctl
        .admin("POST", &format!("/api/v1/screens/{A}/enable"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(entry(&ctl, &auditor, A).await["disabled"], false);

    // Enrolment, then re-enrolment with a new code and another device.
    let (s, code) = ctl
        .admin(
            "POST",
            &format!("/api/v1/screens/{A}/enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(s, 201, "{code}");
    let first = SecretKey::from_seed([1; 32]);
    enroll(&ctl, A, &code["enrollment_code"], &first).await;
    let e = entry(&ctl, &auditor, A).await;
    assert_eq!(e["device_key"], first.public().to_base64());
    assert_eq!(e["epoch"], 1);
    let (s, code) = ctl
        .admin(
            "POST",
            &format!("/api/v1/screens/{A}/enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(s, 201, "{code}");
    let second = SecretKey::from_seed([2; 32]);
    let password = enroll(&ctl, A, &code["enrollment_code"], &second).await;
    let e = entry(&ctl, &auditor, A).await;
    assert_eq!(e["device_key"], second.public().to_base64());
    assert_eq!(e["epoch"], 2);

    // A status from the screen: in the list as soon as the controller stored it.
    let player = connect(&ctl, A, second, &password).await;
    let (_, media) = ctl.req("GET", "/api/v1/media", Some(&auditor), None).await;
    let sha = media[0]["sha256"]
        .as_str()
        .expect("the seeded slide")
        .to_string();
    let store = ctl.running.store();
    for (n, current) in [(1, Value::Null), (2, json!(sha))] {
        let status = json!({"state": "playing", "current": current, "journal_backlog": n});
        player
            .publish_raw_topic(
                &topic(A, Kind::Status),
                serde_json::to_vec(&status).unwrap(),
            )
            .await;
        gatecast_testkit::wait_until_async(
            "the status was not stored",
            Duration::from_secs(15),
            || async {
                store
                    .status(A)
                    .unwrap()
                    .filter(|s| s.status["journal_backlog"] == n)
                    .map(|_| ())
            },
        )
        .await;
        let e = entry(&ctl, &auditor, A).await;
        assert_eq!(
            e["status"]["journal_backlog"], n,
            "the list shows an older status: {e}"
        );
        assert_eq!(e["online"], true);
    }
    assert_eq!(
        entry(&ctl, &auditor, A).await["showing"]["title"],
        "Welcome"
    );
    // What it shows is named by the media item's title of now.
    let (s, v) = ctl
        .admin(
            "PATCH",
            &format!("/api/v1/media/{sha}"),
            json!({"title": "Chào mừng"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        entry(&ctl, &auditor, A).await["showing"]["title"],
        "Chào mừng"
    );

    // Back at its gate (the schedule's target), then a publish: its version at once.
    let (s, v) = ctl
        .admin(
            "PATCH",
            &format!("/api/v1/screens/{A}"),
            json!({"gate": "lao-cai"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(entry(&ctl, &auditor, A).await["gate"], "lao-cai");
    assert_eq!(
        entry(&ctl, &auditor, A).await["published_version"],
        Value::Null
    );
    let (s, v) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens": [A]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(entry(&ctl, &auditor, A).await["published_version"], 1);

    // Delete and register again under the same id.
    let created = entry(&ctl, &auditor, B).await["created_at"].clone();
    let (s, v) = ctl
        .admin("DELETE", &format!("/api/v1/screens/{B}"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let ids: Vec<Value> = list(&ctl, &auditor)
        .await
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(A)], "a deleted screen is still listed");
    register(&ctl, B, "B2 mới").await;
    let e = entry(&ctl, &auditor, B).await;
    assert_eq!(e["name"], "B2 mới");
    assert!(e["created_at"] != created || e["name"] != "B2", "{e}");
    ctl.running.shutdown().await;
}

/// `online` and `silent_since` are of the moment of the request, not of when the entry was
/// cached: a screen that stops reporting turns offline in the list without any write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_screens_list_turns_a_silent_screen_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.status_stale_after = Duration::from_secs(1);
    let ctl = start(config).await;
    let auditor = ctl.token("auditor").await;
    let p = player(&ctl, A, A, SecretKey::from_seed([3; 32])).await;
    p.publish_raw_topic(
        &topic(A, Kind::Status),
        br#"{"state":"playing","current":null}"#.to_vec(),
    )
    .await;
    let store = ctl.running.store();
    gatecast_testkit::wait_until_async(
        "the status was not stored",
        Duration::from_secs(15),
        || async { store.status(A).unwrap().map(|_| ()) },
    )
    .await;
    // Cached now, while the status is fresh (or already silent: the end is the same).
    let e = list(&ctl, &auditor).await.remove(0);
    assert!(e["last_seen"].is_string(), "{e}");
    let silent = gatecast_testkit::wait_until_async(
        "the silent screen stayed online in the list",
        Duration::from_secs(15),
        || async {
            let e = list(&ctl, &auditor).await.remove(0);
            (e["online"] == false).then_some(e)
        },
    )
    .await;
    assert!(silent["silent_since"].is_string(), "{silent}");
    assert_eq!(entry(&ctl, &auditor, A).await, silent);
    ctl.running.shutdown().await;
}
