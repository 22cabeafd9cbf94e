//! A CAP message shown as a ticker text (`docs/protocol.md` §22): a `Moderate` message
//! defaults to the ticker and, once confirmed, is a ticker text for the matching gate's
//! screens only, one line per language; an expired message is refused as an alert and as a
//! ticker text alike.

use std::time::Duration;

use crate::api_cap::{cap_config, flood, flood_at, post_cap, screens};
use crate::api_support::*;
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::topics::{topic, Kind};
use serde_json::{json, Value};

fn moderate(xml: String) -> String {
    xml.replace(
        "<severity>Extreme</severity>",
        "<severity>Moderate</severity>",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderate_cap_becomes_a_ticker_text_for_its_gate_only() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[])).await;
    let regs = screens(&ctl).await;
    let operator = ctl.token("operator").await;

    let (s, e) = post_cap(&ctl, Some(&operator), moderate(flood())).await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["default_as"], "ticker", "{e}");
    let id = e["id"].as_str().unwrap().to_string();
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
    assert_eq!(c["shown_as"], "ticker");

    let (s, list) = ctl.admin("GET", "/api/v1/ticker", Value::Null).await;
    assert_eq!(s, 200, "{list}");
    let t = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("no ticker text {id}: {list}"));
    assert_eq!(t["targets"]["gates"], json!(["ban-vuoc"]), "{t}");
    let (s, alerts) = ctl.admin("GET", "/api/v1/alerts", Value::Null).await;
    assert!(
        s != 200 || !alerts.to_string().contains(&id),
        "also an alert: {alerts}"
    );
    let vi = t["text"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["lang"] == "vi")
        .unwrap()["text"]
        .as_str()
        .unwrap();
    assert!(
        vi.starts_with("Cảnh báo lũ quét và sạt lở đất khu vực Bát Xát — Do ảnh hưởng"),
        "{vi}"
    );
    assert!(vi.len() <= 1000 && !vi.contains('\n'), "{vi}");

    // The matching gate's screen receives it in its signed ticker set.
    let reg = &regs[1];
    let device = SecretKey::from_seed([9u8; 32]);
    let (s, en) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen": "bv-1", "code": reg["enrollment_code"],
                "device_key": device.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{en}");
    let pk = PublicKey::from_base64(en["controller_key"].as_str().unwrap()).unwrap();
    let pw = en["mqtt_password"].as_str().unwrap();
    let (c, mut el) = mqtt_connect(ctl.mqtt_addr(), "bv-1", "bv-1", pw)
        .await
        .unwrap();
    let bytes = first_message(&c, &mut el, &topic("bv-1", Kind::Ticker)).await;
    let set = playlists::manifest::verify_ticker(&bytes, &KeySet::from_keys([pk]), "bv-1", None)
        .expect("ticker set verifies");
    assert!(set.items.iter().any(|i| i.id == id), "{set:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_cap_is_refused_as_alert_and_as_ticker() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[])).await;
    screens(&ctl).await;
    let operator = ctl.token("operator").await;
    let now = jiff::Timestamp::now();
    let expires = now + jiff::SignedDuration::from_secs(2);
    let (s, e) = post_cap(&ctl, Some(&operator), moderate(flood_at(now, expires))).await;
    assert_eq!(s, 201, "{e}");
    let id = e["id"].as_str().unwrap().to_string();
    // Let the message's own validity run out (the clock, not another task, is waited for).
    let left = expires
        .duration_since(jiff::Timestamp::now())
        .as_millis()
        .max(0) as u64;
    tokio::time::sleep(Duration::from_millis(left + 50)).await;
    for how in ["ticker", "alert"] {
        let (s, r) = ctl
            .req(
                "POST",
                &format!("/api/v1/cap/{id}/confirm?as={how}"),
                Some(&operator),
                None,
            )
            .await;
        assert_eq!(s, 422, "{how}: {r}");
        assert_eq!(r["error"], "cap_expired", "{how}: {r}");
    }
    let (_, list) = ctl.admin("GET", "/api/v1/ticker", Value::Null).await;
    assert!(!list.to_string().contains(&id), "{list}");
    let (s, r) = ctl
        .req(
            "POST",
            &format!("/api/v1/cap/{id}/confirm?as=banner"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(s, 400, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sender_follows_the_default_and_its_cancel_ends_the_ticker_text() {
    use crate::api_cap::FLOOD_SENDER;
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[FLOOD_SENDER])).await;
    screens(&ctl).await;
    let operator = ctl.token("operator").await;
    let (s, e) = post_cap(&ctl, Some(&operator), moderate(flood())).await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["state"], "shown", "{e}");
    assert_eq!(e["shown_as"], "ticker", "{e}");
    let id = e["id"].as_str().unwrap().to_string();
    let (_, alerts) = ctl.admin("GET", "/api/v1/alerts", Value::Null).await;
    assert!(!alerts.to_string().contains(&id), "not an alert: {alerts}");

    let now = jiff::Timestamp::now();
    let cancel = format!(
        r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>LCI-KTTV-2026-0907-09</identifier><sender>{FLOOD_SENDER}</sender><sent>{now}</sent><status>Actual</status><msgType>Cancel</msgType><scope>Public</scope><references>{FLOOD_SENDER},LCI-KTTV-2026-0907-01,{now}</references></alert>"#
    );
    let (s, c) = post_cap(&ctl, Some(&operator), cancel).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["state"], "cancel", "{c}");
    let (_, list) = ctl.admin("GET", "/api/v1/ticker", Value::Null).await;
    let t = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(t["cancelled"], true, "{t}");
}
