//! Enrol a screen, publish, receive the retained manifest with the screen's own MQTT
//! credentials, verify it with `playlists`; versions across a restart; broker auth.

use crate::api_support;

use api_support::*;
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::topics::{topic, Kind};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_publish_enrol_receive_verify_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = seed(&ctl).await;
    let code = reg["enrollment_code"].as_str().unwrap().to_string();

    // Enrol with a device key; the code is single-use.
    let device = SecretKey::from_seed([7u8; 32]);
    let enroll = json!({"screen":"lc-a1","code":code,"device_key":device.public().to_base64()});
    let (s, en) = ctl
        .req("POST", "/api/v1/enroll", None, Some(enroll.clone()))
        .await;
    assert_eq!(s, 200, "{en}");
    let (s, again) = ctl.req("POST", "/api/v1/enroll", None, Some(enroll)).await;
    assert_eq!(s, 403, "a used code must be refused: {again}");
    let mqtt_pw = en["mqtt_password"].as_str().unwrap().to_string();
    assert_eq!(en["mqtt_username"], "lc-a1");
    assert!(en["broker"].as_str().unwrap().starts_with("mqtt://"));
    assert_eq!(en["media_base"].as_str().unwrap(), ctl.base);
    assert!(
        en.get("tls_pin_sha256").is_none(),
        "no TLS pin without TLS: {en}"
    );

    // Publish.
    let (s, p) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens":["lc-a1"]}))
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["published"][0]["screen"], "lc-a1");
    assert_eq!(p["published"][0]["version"], 1);

    // The controller key from /api/v1/keys.
    let (s, keys) = ctl.req("GET", "/api/v1/keys", None, None).await;
    assert_eq!(s, 200);
    let pk = PublicKey::from_base64(keys["controller_key"].as_str().unwrap()).unwrap();
    assert_eq!(keys["controller_key_id"], pk.key_id());
    assert_eq!(en["controller_key"], keys["controller_key"]);
    let trusted = KeySet::from_keys([pk]);

    // A plain rumqttc client with the screen's credentials receives the retained manifest.
    let (c, mut el) = mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", &mqtt_pw)
        .await
        .expect("screen creds accepted");
    let bytes = first_message(&c, &mut el, &topic("lc-a1", Kind::Manifest)).await;
    let m = playlists::manifest::verify_manifest(
        &bytes,
        &trusted,
        "lc-a1",
        None,
        jiff::Timestamp::now(),
    )
    .expect("manifest verifies");
    assert_eq!(m.version, 1);
    assert_eq!(m.playlists[0].id, "p1");
    assert_eq!(m.timezone, "Asia/Ho_Chi_Minh");
    assert_eq!(m.languages, vec!["vi".to_string(), "en".to_string()]);
    drop(c);

    // Media used by a published manifest cannot be deleted.
    let sha = &m.media[0].sha256;
    let (s, v) = ctl
        .req(
            "DELETE",
            &format!("/api/v1/media/{sha}"),
            Some(&ctl.admin.clone()),
            None,
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("manifest of screen lc-a1"),
        "{v}"
    );

    // Publishing again without a change keeps the version.
    let (s, p) = ctl
        .admin("POST", "/api/v1/publish", json!({"all": true}))
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["published"][0]["version"], 1);
    assert_eq!(p["published"][0]["changed"], false);

    // Wrong password and disabled screen are refused by the embedded broker.
    assert!(
        mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", "wrong-password")
            .await
            .is_err()
    );
    let (s, _) = ctl
        .admin("POST", "/api/v1/screens/lc-a1/disable", json!({}))
        .await;
    assert_eq!(s, 200);
    assert!(
        mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", &mqtt_pw)
            .await
            .is_err(),
        "disabled screen must be refused"
    );
    let (s, _) = ctl
        .admin("POST", "/api/v1/screens/lc-a1/enable", json!({}))
        .await;
    assert_eq!(s, 200);

    // Restart on new ports: the manifest is re-published, and the next change gets version 2.
    ctl.running.shutdown().await;
    let ctl = start(test_config(dir.path())).await;
    let (c, mut el) = mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", &mqtt_pw)
        .await
        .expect("creds survive restart");
    let bytes = first_message(&c, &mut el, &topic("lc-a1", Kind::Manifest)).await;
    let m = playlists::manifest::verify_manifest(
        &bytes,
        &trusted,
        "lc-a1",
        None,
        jiff::Timestamp::now(),
    )
    .unwrap();
    assert_eq!(
        m.version, 1,
        "the stored manifest is re-published after a restart"
    );
    let (s, v) = ctl
        .admin("POST", "/api/v1/schedules", json!({"id":"s2","playlist":"p1","targets":{"screens":["lc-a1"]},"priority":20,"weekdays":["mon","tue"],"start":"08:00","end":"12:00"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, p) = ctl
        .admin("POST", "/api/v1/publish", json!({"gates":["lao-cai"]}))
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["published"][0]["version"], 2);
    let m2 = loop {
        let bytes = first_message(&c, &mut el, &topic("lc-a1", Kind::Manifest)).await;
        let m = playlists::manifest::verify_manifest(
            &bytes,
            &trusted,
            "lc-a1",
            None,
            jiff::Timestamp::now(),
        )
        .unwrap();
        if m.version == 2 {
            break m;
        }
    };
    assert_eq!(m2.schedule.len(), 2);

    // The action log records the publishes with versions, readable by an auditor.
    let auditor = ctl.token("auditor").await;
    let (s, log) = ctl
        .req("GET", "/api/v1/actions", Some(&auditor), None)
        .await;
    assert_eq!(s, 200);
    let publishes: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "publish")
        .collect();
    assert_eq!(publishes.len(), 3);
    assert_eq!(publishes[2]["versions"][0]["version"], 2);

    // Alerts: signed, retained, verifiable.
    let (s, a) = ctl
        .admin("POST", "/api/v1/alerts", json!({"id":"storm","targets":{"screens":["lc-a1"]},"priority":5,
            "expires_at": jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(2)).unwrap().to_string(),
            "text":[{"lang":"vi","text":"Bão"},{"lang":"en","text":"Storm"}]}))
        .await;
    assert_eq!(s, 201, "{a}");
    let bytes = first_message(&c, &mut el, &topic("lc-a1", Kind::Alert)).await;
    let set = playlists::manifest::verify_alerts(&bytes, &trusted, "lc-a1", None)
        .expect("alert set verifies");
    assert_eq!(set.alerts[0].id, "storm");
    let (s, _) = ctl.admin("DELETE", "/api/v1/alerts/storm", json!({})).await;
    assert_eq!(s, 200);
    let cancelled = loop {
        let bytes = first_message(&c, &mut el, &topic("lc-a1", Kind::Alert)).await;
        let set = playlists::manifest::verify_alerts(&bytes, &trusted, "lc-a1", None).unwrap();
        if set.version == 2 {
            break set;
        }
    };
    assert!(cancelled.alerts.is_empty());

    // Status from the player shows up in /api/v1/screens and /metrics.
    c.publish(topic("lc-a1", Kind::Status), rumqttc::QoS::AtLeastOnce, true,
        serde_json::to_vec(&json!({"state":"playing","manifest_version":2,"last_rejection":{"version":3,"reason":"expired"}})).unwrap())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // keep the MQTT connection moving
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), el.poll()).await;
        let (_, screens) = ctl
            .req("GET", "/api/v1/screens", Some(&auditor), None)
            .await;
        if screens[0]["online"] == true {
            assert_eq!(screens[0]["status"]["manifest_version"], 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status never arrived: {screens}"
        );
    }
    let (_, one) = ctl
        .req("GET", "/api/v1/screens/lc-a1", Some(&auditor), None)
        .await;
    assert_eq!(one["history"][0]["online"], true, "{one}");
    c.publish(
        topic("lc-a1", Kind::Status),
        rumqttc::QoS::AtLeastOnce,
        true,
        br#"{"state":"offline"}"#.to_vec(),
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), el.poll()).await;
        let (_, one) = ctl
            .req("GET", "/api/v1/screens/lc-a1", Some(&auditor), None)
            .await;
        if one["online"] == false {
            assert_eq!(one["history"].as_array().unwrap().len(), 2, "{one}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "offline status never arrived: {one}"
        );
    }
    let metrics = metrics(&ctl).await;
    assert!(metrics.contains("gatecast_screens_online 0"), "{metrics}");
    assert!(metrics.contains("gatecast_publishes_total 1"), "{metrics}");
    assert!(
        metrics.contains("gatecast_manifests_rejected_total 1"),
        "{metrics}"
    );
    ctl.running.shutdown().await;

    // `broker-acl mosquitto` writes the stored hashes and the ACL (database closed now).
    let out = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_gatecast-controller"))
        .args(["broker-acl", "mosquitto", "--out"])
        .arg(out.path())
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let pw = std::fs::read_to_string(out.path().join("passwords")).unwrap();
    assert!(pw.lines().any(|l| l.starts_with("lc-a1:$7$")), "{pw}");
    assert!(pw.lines().any(|l| l.starts_with("_controller:$7$")), "{pw}");
    let acl = std::fs::read_to_string(out.path().join("acl")).unwrap();
    assert!(acl.contains("gatecast/v1/screens/%u/manifest"), "{acl}");
}
