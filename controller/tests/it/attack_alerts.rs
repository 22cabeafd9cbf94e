//! Attacks on the emergency channel: an alert the contract cannot sign must never be stored
//! (it would make every later alert set for its screens unsignable), and a bad record left by
//! an older build must not block later alerts or cancellations (docs/security.md §3).

use crate::api_support;

use api_support::*;
use gatecast_controller::store::{AlertRecord, AlertTextRecord, Store, Targets};
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::manifest::AlertSet;
use playlists::topics::{topic, Kind};
use rumqttc::{AsyncClient, EventLoop};
use serde_json::{json, Value};

fn in_two_hours() -> String {
    jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(2))
        .unwrap()
        .to_string()
}

fn alert(id: &str, text: Value) -> Value {
    json!({"id": id, "targets": {"screens": ["lc-a1"]}, "priority": 5,
        "expires_at": in_two_hours(), "text": text})
}

/// Enrols `lc-a1` and connects with its own MQTT credentials; returns the client and the
/// controller's key set and the screen's MQTT password.
pub(crate) async fn enrol(ctl: &Ctl) -> (AsyncClient, EventLoop, KeySet, String) {
    let reg = seed(ctl).await;
    let code = reg["enrollment_code"].as_str().unwrap();
    let device = SecretKey::from_seed([9u8; 32]);
    let (s, en) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":"lc-a1","code":code,"device_key":device.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{en}");
    let pk = PublicKey::from_base64(en["controller_key"].as_str().unwrap()).unwrap();
    let pw = en["mqtt_password"].as_str().unwrap();
    let (c, el) = mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", pw)
        .await
        .expect("screen credentials accepted");
    (c, el, KeySet::from_keys([pk]), pw.to_string())
}

/// Waits for the retained alert set of `lc-a1` at `version` (earlier versions are skipped).
async fn alert_set(c: &AsyncClient, el: &mut EventLoop, keys: &KeySet, version: u64) -> AlertSet {
    let t = topic("lc-a1", Kind::Alert);
    c.subscribe(&t, rumqttc::QoS::AtLeastOnce).await.unwrap();
    loop {
        let bytes = next_message(el, &t).await;
        let set = playlists::manifest::verify_alerts(&bytes, keys, "lc-a1", None)
            .expect("alert set verifies");
        if set.version >= version {
            assert_eq!(set.version, version, "alert set versions");
            return set;
        }
    }
}

fn ids(set: &AlertSet) -> Vec<&str> {
    set.alerts.iter().map(|a| a.id.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_malformed_alert_blocks_later_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (c, mut el, keys, pw) = enrol(&ctl).await;

    // 4,000 characters of Vietnamese are more than the contract's 4,096 bytes; a TAB is a
    // control character; two texts in one language are a duplicate. Each is refused...
    let vietnamese: String = "Cảnh báo bão ".chars().cycle().take(4000).collect();
    assert!(vietnamese.len() > playlists::manifest::MAX_ALERT_TEXT_LEN);
    let bad = [
        ("long-vi", json!([{"lang":"vi","text": vietnamese}])),
        ("tab", json!([{"lang":"en","text":"Storm\tnow"}])),
        (
            "dup-lang",
            json!([{"lang":"en","text":"Storm"},{"lang":"EN","text":"Storm"}]),
        ),
    ];
    for (id, text) in bad {
        let (s, v) = ctl.admin("POST", "/api/v1/alerts", alert(id, text)).await;
        assert_eq!(s, 422, "{id}: {v}");
        assert!(
            v["field"].as_str().unwrap_or("").starts_with("text"),
            "{id}: {v}"
        );
    }
    // ...and not stored.
    let (s, list) = ctl.admin("GET", "/api/v1/alerts", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "refused alerts stored: {list}"
    );

    // A later good alert and its cancellation still work.
    let (s, v) = ctl
        .admin(
            "POST",
            "/api/v1/alerts",
            alert("storm", json!([{"lang":"en","text":"Storm"}])),
        )
        .await;
    assert_eq!(s, 201, "a good alert after refused ones: {v}");
    assert_eq!(ids(&alert_set(&c, &mut el, &keys, 1).await), ["storm"]);
    let (s, v) = ctl.admin("DELETE", "/api/v1/alerts/storm", json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert!(alert_set(&c, &mut el, &keys, 2).await.alerts.is_empty());
    drop((c, el));
    ctl.running.shutdown().await;

    // A record an older build stored without the contract's checks (a TAB in its text).
    {
        let store = Store::open(&dir.path().join("db")).unwrap();
        store
            .create_alert(&AlertRecord {
                id: "old-bad".into(),
                targets: Targets {
                    screens: vec![],
                    gates: vec!["lao-cai".into()],
                },
                priority: 1,
                expires_at: in_two_hours(),
                text: vec![AlertTextRecord {
                    lang: "en".into(),
                    text: "old\tbuild".into(),
                }],
                media: None,
                cancelled: false,
                created_at: jiff::Timestamp::now().to_string(),
            })
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    let ctl = start(test_config(dir.path())).await;
    let (c, mut el) = mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", &pw)
        .await
        .expect("screen credentials accepted after the restart");
    let (s, v) = ctl
        .admin(
            "POST",
            "/api/v1/alerts",
            alert("flood", json!([{"lang":"en","text":"Flood"}])),
        )
        .await;
    assert_eq!(
        s, 201,
        "a new alert with an older build's bad record stored: {v}"
    );
    let set = alert_set(&c, &mut el, &keys, 3).await;
    assert_eq!(
        ids(&set),
        ["flood"],
        "the bad record is left out, the new alert sent"
    );
    let (s, v) = ctl.admin("DELETE", "/api/v1/alerts/flood", json!({})).await;
    assert_eq!(s, 200, "cancelling with a bad record stored: {v}");
    assert!(alert_set(&c, &mut el, &keys, 4).await.alerts.is_empty());
    ctl.running.shutdown().await;
}
