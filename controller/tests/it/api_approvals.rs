//! The approval endpoints (`docs/protocol.md` §17, §19) on an in-process controller:
//! `PUT /api/v1/policy` (admin; refuses what does not verify or is not newer), `POST
//! /api/v1/approvals` (kept only when an approver of the policy signed it), `GET
//! /api/v1/approvals/pending`, the publish refusal naming the item (409 `not_approved`, in
//! Vietnamese and English) and the policy chain and approvals embedded in the manifest.

use crate::api_support;

use api_support::*;
use jiff::{SignedDuration, Timestamp};
use playlists::approval::{Approval, ApprovedMedia, Attachments, Scope};
use playlists::keys::SecretKey;
use playlists::manifest::MediaKind;
use playlists::policy::{sign_policy, Approver, Policy, RootKey};
use serde_json::{json, Value};

pub(crate) fn root() -> SecretKey {
    SecretKey::from_seed([31; 32])
}

pub(crate) fn approver(n: u8) -> SecretKey {
    SecretKey::from_seed([40 + n; 32])
}

pub(crate) fn policy(version: u64, approvers: &[u8]) -> Policy {
    let now = Timestamp::now();
    Policy {
        version,
        issued_at: now - SignedDuration::from_hours(1),
        expires_at: now + SignedDuration::from_hours(24 * 30),
        root_keys: vec![RootKey {
            key_id: root().key_id(),
            public_key: root().public().to_base64(),
        }],
        root_threshold: 1,
        approvers: approvers
            .iter()
            .map(|n| Approver {
                key_id: approver(*n).key_id(),
                public_key: approver(*n).public().to_base64(),
                name: format!("Người duyệt {n}"),
                roles: vec![],
            })
            .collect(),
        media_threshold: 2,
        alert_threshold: 1,
    }
}

pub(crate) fn body(env: &playlists::envelope::Envelope) -> Value {
    serde_json::from_slice(&env.to_json()).unwrap()
}

fn approval(sha: &str) -> Approval {
    let now = Timestamp::now();
    Approval {
        media: vec![ApprovedMedia {
            sha256: sha.into(),
            title: "Welcome".into(),
            lang: "vi".into(),
            kind: MediaKind::Slide,
        }],
        texts: vec![],
        not_before: now - SignedDuration::from_hours(1),
        not_after: now + SignedDuration::from_hours(24),
        scope: Scope::everywhere(),
        note: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_approvals_api_policy_refusals_pending_publish_refusal_and_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    seed(&ctl).await;
    let (_, media) = ctl.admin("GET", "/api/v1/media", json!(null)).await;
    let sha = media[0]["sha256"].as_str().unwrap().to_string();

    // No policy: approvals are refused, nothing waits, publishing works as before.
    let (s, e) = ctl
        .admin(
            "POST",
            "/api/v1/approvals",
            body(&approval(&sha).sign(&approver(1))),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("no_policy")), "{e}");

    // Only an admin may set the policy; a policy signed by a key that is not its
    // root is refused.
    let operator = ctl.token("operator").await;
    let v1 = sign_policy(&policy(1, &[1, 2]), &root());
    let (s, _) = ctl
        .req("PUT", "/api/v1/policy", Some(&operator), Some(body(&v1)))
        .await;
    assert_eq!(s, 403);
    let wrong_signer = sign_policy(&policy(1, &[1, 2]), &approver(9));
    let (s, e) = ctl
        .admin("PUT", "/api/v1/policy", body(&wrong_signer))
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (422, Some("policy_refused")),
        "{e}"
    );
    let (s, e) = ctl.admin("PUT", "/api/v1/policy", body(&v1)).await;
    assert_eq!(s, 200, "{e}");
    let (s, e) = ctl.admin("PUT", "/api/v1/policy", body(&v1)).await;
    assert_eq!(s, 422, "the same version again is not newer: {e}");

    let (s, p) = ctl
        .admin("GET", "/api/v1/approvals/pending", json!(null))
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["policy_version"], 1);
    assert_eq!(p["media"][0]["sha256"], sha.as_str());
    assert_eq!(p["media"][0]["approved_by"].as_array().unwrap().len(), 0);

    // Publishing is refused, naming the item, in the operator's language and in English.
    let (s, e) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens":["lc-a1"]}))
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("not_approved")), "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("Chưa đủ phê duyệt") && msg.contains(&sha) && msg.contains("0 of 2"),
        "{msg}"
    );

    // An approval by a stranger is refused; by approvers kept; the same one twice is not new.
    let (s, e) = ctl
        .admin(
            "POST",
            "/api/v1/approvals",
            body(&approval(&sha).sign(&approver(9))),
        )
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (422, Some("approval_refused")),
        "{e}"
    );
    let a1 = body(&approval(&sha).sign(&approver(1)));
    let auditor = ctl.token("auditor").await;
    let (s, e) = ctl
        .req(
            "POST",
            "/api/v1/approvals",
            Some(&auditor),
            Some(a1.clone()),
        )
        .await;
    assert_eq!((s, e["new"].as_bool()), (200, Some(true)), "{e}");
    let (s, e) = ctl
        .req("POST", "/api/v1/approvals", Some(&auditor), Some(a1))
        .await;
    assert_eq!((s, e["new"].as_bool()), (200, Some(false)), "{e}");
    let (s, e) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens":["lc-a1"]}))
        .await;
    assert_eq!(s, 409, "one of two approvals: {e}");
    let (_, p) = ctl
        .admin("GET", "/api/v1/approvals/pending", json!(null))
        .await;
    assert_eq!(p["media"][0]["approved_by"][0]["name"], "Người duyệt 1");

    let (s, e) = ctl
        .admin(
            "POST",
            "/api/v1/approvals",
            body(&approval(&sha).sign(&approver(2))),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    let (s, p) = ctl
        .admin("GET", "/api/v1/approvals/pending", json!(null))
        .await;
    assert_eq!((s, p["media"].as_array().unwrap().len()), (200, 0), "{p}");
    let (s, e) = ctl
        .admin("POST", "/api/v1/publish", json!({"screens":["lc-a1"]}))
        .await;
    assert_eq!(s, 200, "{e}");

    // The policy endpoint and the manifest carry the chain; the manifest both approvals.
    let (s, pol) = ctl.admin("GET", "/api/v1/policy", json!(null)).await;
    assert_eq!(s, 200);
    assert_eq!(pol["chain"].as_array().unwrap().len(), 1);
    assert_eq!(pol["policy"]["version"], 1);
    // An alert text needs alert_threshold (1) approval of its exact bytes.
    let text = "Cửa khẩu tạm dừng thông quan do lũ.";
    let expires = (Timestamp::now() + SignedDuration::from_hours(2)).to_string();
    let alert = json!({"id": "flood", "targets": {"screens": ["lc-a1"]}, "priority": 5,
        "expires_at": expires, "text": [{"lang": "vi", "text": text}]});
    let (s, e) = ctl.admin("POST", "/api/v1/alerts", alert.clone()).await;
    assert_eq!((s, e["error"].as_str()), (409, Some("not_approved")), "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("alert flood text[vi]"),
        "{e}"
    );
    let (s, list) = ctl.admin("GET", "/api/v1/alerts", json!(null)).await;
    assert_eq!(
        (s, list.as_array().map(Vec::len)),
        (200, Some(0)),
        "nothing stored: {list}"
    );
    let mut text_ok = approval(&sha);
    text_ok.media.clear();
    text_ok.texts = vec![playlists::approval::ApprovedText::of("vi", text)];
    let (s, e) = ctl
        .admin(
            "POST",
            "/api/v1/approvals",
            body(&text_ok.sign(&approver(2))),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    let (s, e) = ctl.admin("POST", "/api/v1/alerts", alert).await;
    assert_eq!(s, 201, "one approval of the exact text is enough: {e}");

    let envelope = manifest_envelope(&ctl).await;
    let payload = playlists::envelope::Envelope::parse(&envelope)
        .unwrap()
        .payload;
    let att = Attachments::from_payload(&payload).unwrap();
    assert_eq!(att.policy.len(), 1);
    assert_eq!(att.approvals.len(), 2);
}

/// The retained manifest of `lc-a1`, read from MQTT as the controller's own account would.
async fn manifest_envelope(ctl: &Ctl) -> Vec<u8> {
    let code = {
        let (s, v) = ctl
            .admin("POST", "/api/v1/screens/lc-a1/enrollment-code", json!({}))
            .await;
        assert_eq!(s, 201, "{v}");
        v["enrollment_code"].as_str().unwrap().to_string()
    };
    let device = SecretKey::from_seed([7u8; 32]);
    let (s, en) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":"lc-a1","code":code,"device_key":device.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{en}");
    assert_eq!(en["gate"], "lao-cai");
    assert_eq!(
        en["policy"].as_array().unwrap().len(),
        1,
        "the chain in the enrolment answer"
    );
    let pw = en["mqtt_password"].as_str().unwrap();
    let (c, mut el) = mqtt_connect(ctl.mqtt_addr(), "lc-a1", "lc-a1", pw)
        .await
        .unwrap();
    c.subscribe(
        playlists::topics::topic("lc-a1", playlists::topics::Kind::Manifest),
        rumqttc::QoS::AtLeastOnce,
    )
    .await
    .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) = el.poll().await {
                return p.payload.to_vec();
            }
        }
    })
    .await
    .expect("the retained manifest")
}
