//! `enroll --policy-root` (`docs/protocol.md` §7, §19) against a fake controller whose answer
//! carries the gate and a policy chain: the pinned ids and the gate are written; a chain that
//! does not verify from the pinned ids refuses the enrolment and writes nothing.

use std::path::Path;

use gatecast_player::config::{BackendKind, PlayerConfig};
use gatecast_player::enroll::{enroll, EnrollError, EnrollOptions};
use jiff::{SignedDuration, Timestamp};
use playlists::keys::SecretKey;
use playlists::policy::{sign_policy, Approver, Policy, RootKey};
use warp::Filter;

fn policy_text(root: &SecretKey) -> String {
    let a = SecretKey::from_seed([41; 32]);
    let now = Timestamp::now();
    let p = Policy {
        version: 1,
        issued_at: now - SignedDuration::from_hours(1),
        expires_at: now + SignedDuration::from_hours(24),
        root_keys: vec![RootKey {
            key_id: root.key_id(),
            public_key: root.public().to_base64(),
        }],
        root_threshold: 1,
        approvers: vec![Approver {
            key_id: a.key_id(),
            public_key: a.public().to_base64(),
            name: "Nguyễn Văn An".into(),
            roles: vec![],
        }],
        media_threshold: 1,
        alert_threshold: 1,
    };
    String::from_utf8(sign_policy(&p, root).to_json()).unwrap()
}

/// A fake controller answering every enrolment with the gate and `chain`.
async fn controller(chain: Vec<String>) -> String {
    let key = SecretKey::from_seed([9; 32]).public();
    let route = warp::post()
        .and(warp::path!("api" / "v1" / "enroll"))
        .map(move || {
            warp::reply::json(&serde_json::json!({
                "broker": "mqtt://127.0.0.1:1883", "mqtt_username": "lc-a1",
                "mqtt_password": "pw", "controller_key": key.to_base64(),
                "controller_key_id": key.key_id(), "media_base": "http://127.0.0.1:8080",
                "gate": "lao-cai", "policy": chain.clone(),
            }))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    format!("http://{addr}")
}

fn options(url: &str, dir: &Path, pinned: Vec<String>) -> EnrollOptions {
    EnrollOptions {
        controller: url.into(),
        screen: "lc-a1".into(),
        code: "123456".into(),
        expect_key_id: None,
        policy_root: pinned,
        config_path: dir.join("player.toml"),
        data_dir: dir.join("data"),
        backend: BackendKind::Null,
        ca_file: None,
        pin_sha256: None,
    }
}

#[tokio::test]
async fn attack_enrolment_pins_the_policy_root_and_refuses_a_chain_of_other_roots() {
    let root = SecretKey::from_seed([31; 32]);
    let url = controller(vec![policy_text(&root)]).await;

    let dir = tempfile::tempdir().unwrap();
    let opts = options(&url, dir.path(), vec![root.key_id().to_uppercase()]);
    let cfg = enroll(&opts).await.unwrap();
    let loaded = PlayerConfig::load(&opts.config_path).unwrap();
    assert_eq!(loaded, cfg);
    assert_eq!(loaded.policy_root, vec![root.key_id()]);
    assert_eq!(loaded.gate, "lao-cai");

    // The installation sheet names another root (or the controller hands out a policy of its
    // own roots): refused, nothing written.
    let other = tempfile::tempdir().unwrap();
    let wrong = SecretKey::from_seed([32; 32]).key_id();
    let opts = options(&url, other.path(), vec![wrong]);
    let err = enroll(&opts).await.unwrap_err();
    assert!(
        matches!(&err, EnrollError::BadAnswer(m) if m.contains("does not verify under the pinned root")),
        "{err}"
    );
    assert!(!opts.config_path.exists(), "config written");
    assert!(
        !opts.data_dir.join("device.key").exists(),
        "device key written"
    );
}
