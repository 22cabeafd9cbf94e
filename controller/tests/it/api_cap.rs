//! CAP 1.2 intake through the HTTP API (`docs/protocol.md` §22): a Lào Cai flood warning whose
//! area covers one gate waits in the CAP inbox, and once confirmed becomes an alert on that
//! gate's screens only, in the languages it carries; an allow-listed sender's message is shown
//! at once and its `Cancel` ends it. The attacks (DTD, entities, size, expiry, replay, a sender
//! not on the list) are `attack_cap`.

use crate::api_support;

use api_support::*;
use gatecast_controller::cap::{CapSettings, GateLocation};
use gatecast_controller::config::Config;
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::manifest::AlertSet;
use playlists::topics::{topic, Kind};
use serde_json::{json, Value};

pub const FLOOD: &str = include_str!("../fixtures/cap/laocai-flood-vi-en.xml");
pub const FLOOD_SENDER: &str = "canhbao@kttv-laocai.example.vn";

/// The flood warning, sent now and expiring in six hours (or the given times).
pub fn flood_at(sent: jiff::Timestamp, expires: jiff::Timestamp) -> String {
    FLOOD
        .replace("{SENT}", &sent.to_string())
        .replace("{EXPIRES}", &expires.to_string())
}

pub fn flood() -> String {
    let now = jiff::Timestamp::now();
    flood_at(now, now + jiff::SignedDuration::from_hours(6))
}

/// Three Lào Cai gates with their locations.
pub fn cap_config(dir: &std::path::Path, auto_senders: &[&str]) -> Config {
    let mut c = test_config(dir);
    let g = |gate: &str, lat, lon| GateLocation {
        gate: gate.into(),
        lat,
        lon,
        geocodes: vec!["ISO3166-2=VN-02".into()],
    };
    c.cap = CapSettings {
        max_bytes: Some(16 * 1024),
        auto_senders: auto_senders.iter().map(|s| s.to_string()).collect(),
        gates: vec![
            g("lao-cai", 22.5036, 103.9667),
            g("ban-vuoc", 22.63, 103.80),
            g("muong-khuong", 22.77, 104.12),
        ],
        feeds: Vec::new(),
    };
    c
}

/// Registers one screen at each gate; returns the registration answers.
pub async fn screens(ctl: &Ctl) -> Vec<Value> {
    let mut out = Vec::new();
    for (id, gate) in [
        ("lc-1", "lao-cai"),
        ("bv-1", "ban-vuoc"),
        ("mk-1", "muong-khuong"),
    ] {
        let (s, reg) = ctl
            .admin(
                "POST",
                "/api/v1/screens",
                json!({"id": id, "name": id, "gate": gate, "languages": ["vi", "en"],
                    "timezone": "Asia/Ho_Chi_Minh"}),
            )
            .await;
        assert_eq!(s, 201, "{reg}");
        out.push(reg);
    }
    out
}

/// POSTs a CAP message as XML with `token`.
pub async fn post_cap(ctl: &Ctl, token: Option<&str>, xml: impl Into<Vec<u8>>) -> (u16, Value) {
    let mut r = ctl
        .http
        .post(ctl.url("/api/v1/cap"))
        .header("content-type", "application/cap+xml")
        .body(xml.into());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("request sent");
    let s = resp.status().as_u16();
    (
        s,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// Enrols `id` with its registration answer and returns its verified retained alert set.
async fn alert_set_of(ctl: &Ctl, id: &str, reg: &Value) -> AlertSet {
    let device = SecretKey::from_seed([7u8; 32]);
    let (s, en) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen": id, "code": reg["enrollment_code"],
                "device_key": device.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{en}");
    let pk = PublicKey::from_base64(en["controller_key"].as_str().unwrap()).unwrap();
    let pw = en["mqtt_password"].as_str().unwrap();
    let (c, mut el) = mqtt_connect(ctl.mqtt_addr(), id, id, pw).await.unwrap();
    let bytes = first_message(&c, &mut el, &topic(id, Kind::Alert)).await;
    playlists::manifest::verify_alerts(&bytes, &KeySet::from_keys([pk]), id, None)
        .expect("alert set verifies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_warning_waits_then_reaches_its_gate_only() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[])).await;
    let regs = screens(&ctl).await;
    let operator = ctl.token("operator").await;

    let (s, e) = post_cap(&ctl, Some(&operator), flood()).await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(
        e["state"], "pending",
        "a sender not on the allow-list waits: {e}"
    );
    assert_eq!(e["priority"], 144);
    let matched: Vec<&str> = e["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["gate"].as_str().unwrap())
        .collect();
    assert_eq!(matched, ["ban-vuoc"]);
    assert_eq!(e["matched"][0]["how"], "polygon");
    assert!(
        e["matched"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("Bản Vược"),
        "{e}"
    );
    let id = e["id"].as_str().unwrap().to_string();
    let (_, alerts) = ctl
        .req("GET", "/api/v1/alerts", Some(&operator), None)
        .await;
    assert_eq!(
        alerts,
        json!([]),
        "nothing is shown before the confirmation"
    );

    // The inbox lists it, without the XML; the entry itself has the exact XML.
    let (s, inbox) = ctl.req("GET", "/api/v1/cap", Some(&operator), None).await;
    assert_eq!(s, 200);
    assert_eq!(inbox["entries"][0]["id"], id.as_str());
    assert!(inbox["entries"][0].get("xml").is_none());
    let (_, one) = ctl
        .req("GET", &format!("/api/v1/cap/{id}"), Some(&operator), None)
        .await;
    assert!(one["xml"].as_str().unwrap().contains("Bản Vược"));

    let (s, c) = ctl
        .req(
            "POST",
            &format!("/api/v1/cap/{id}/confirm"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["state"], "shown");
    assert_eq!(c["alert_id"], id.as_str());
    let (_, alerts) = ctl
        .req("GET", "/api/v1/alerts", Some(&operator), None)
        .await;
    assert_eq!(
        alerts[0]["targets"],
        json!({"screens": [], "gates": ["ban-vuoc"]})
    );

    // The screen at Bản Vược gets it in vi and en; the others get no alert.
    let set = alert_set_of(&ctl, "bv-1", &regs[1]).await;
    assert_eq!(set.alerts.len(), 1);
    let a = &set.alerts[0];
    assert_eq!(a.id, id);
    assert_eq!(a.priority, 144);
    let langs: Vec<&str> = a.text.iter().map(|t| t.lang.as_str()).collect();
    assert_eq!(langs, ["vi", "en"]);
    assert!(
        a.text[0].text.starts_with("Cảnh báo lũ quét"),
        "{}",
        a.text[0].text
    );
    let (_, actions) = ctl
        .req("GET", "/api/v1/actions", Some(&operator), None)
        .await;
    let sent_to: Vec<String> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "alert.create")
        .flat_map(|a| {
            a["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["screen"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        sent_to,
        ["bv-1"],
        "only the covered gate's screens get a new alert set"
    );

    // Confirmed once: a second click, or the same message again, changes nothing.
    let (s, _) = ctl
        .req(
            "POST",
            &format!("/api/v1/cap/{id}/confirm"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(s, 409);
    let (s, again) = post_cap(&ctl, Some(&operator), flood()).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["state"], "shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_listed_sender_is_shown_at_once_and_its_cancel_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[FLOOD_SENDER])).await;
    screens(&ctl).await;
    let operator = ctl.token("operator").await;
    let (s, e) = post_cap(&ctl, Some(&operator), flood()).await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["state"], "shown", "{e}");
    assert_eq!(e["auto"], true);
    let (_, alerts) = ctl
        .req("GET", "/api/v1/alerts", Some(&operator), None)
        .await;
    assert_eq!(alerts[0]["cancelled"], false);

    let now = jiff::Timestamp::now();
    let cancel = format!(
        r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>LCI-KTTV-2026-0907-02</identifier><sender>{FLOOD_SENDER}</sender><sent>{now}</sent><status>Actual</status><msgType>Cancel</msgType><scope>Public</scope><references>{FLOOD_SENDER},LCI-KTTV-2026-0907-01,{now}</references></alert>"#
    );
    let (s, c) = post_cap(&ctl, Some(&operator), cancel).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["state"], "cancel");
    let (_, alerts) = ctl
        .req("GET", "/api/v1/alerts", Some(&operator), None)
        .await;
    assert_eq!(alerts[0]["cancelled"], true, "{alerts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dismissed_and_unmatched_messages_are_kept_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[])).await;
    screens(&ctl).await;
    let operator = ctl.token("operator").await;
    // The OASIS Amber alert (Los Angeles), re-dated to now: covers no Lào Cai gate.
    let now = jiff::Timestamp::now();
    let amber = include_str!("../fixtures/cap/oasis-a4-amber-multilingual.xml")
        .replace("2003-06-11T22:39:00-07:00", &now.to_string());
    let (s, e) = post_cap(&ctl, Some(&operator), amber).await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["state"], "no_gate");
    assert_eq!(
        e["text"].as_array().unwrap().len(),
        2,
        "en and es kept: {e}"
    );
    let (s, _) = ctl
        .req(
            "POST",
            &format!("/api/v1/cap/{}/confirm", e["id"].as_str().unwrap()),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(s, 409, "an unmatched message cannot be confirmed");

    let (_, f) = post_cap(&ctl, Some(&operator), flood()).await;
    let id = f["id"].as_str().unwrap();
    let (s, d) = ctl
        .req(
            "POST",
            &format!("/api/v1/cap/{id}/dismiss"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["state"], "dismissed");
    assert!(d["decided_by"].as_str().is_some());
    let (_, alerts) = ctl
        .req("GET", "/api/v1/alerts", Some(&operator), None)
        .await;
    assert_eq!(alerts, json!([]));
}
