//! Attacks on the CAP intake (docs/security.md §3, rows 90–93): DTDs and entities (billion
//! laughs, external entities), oversize bodies, a sender not on the allow-list or no right to
//! post, and expired or replayed messages. Each is refused by name, nothing is stored or shown,
//! and the controller keeps serving.

use crate::api_cap::{cap_config, flood, flood_at, post_cap, screens};
use crate::api_support::*;
use serde_json::json;

async fn nothing_shown(ctl: &Ctl, token: &str) {
    let (_, alerts) = ctl.req("GET", "/api/v1/alerts", Some(token), None).await;
    assert_eq!(alerts, json!([]), "no alert was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cap_dtd_and_entities_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[crate::api_cap::FLOOD_SENDER])).await;
    screens(&ctl).await;
    let op = ctl.token("operator").await;
    let ns = "urn:oasis:names:tc:emergency:cap:1.2";
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><alert xmlns="{ns}"><identifier>&d;</identifier></alert>"#
    );
    let external = format!(
        r#"<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><alert xmlns="{ns}"><identifier>&xxe;</identifier></alert>"#
    );
    // The flood warning from an allow-listed sender, with a DTD slipped in before the root.
    let flood_dtd = flood().replacen(
        "<alert ",
        "<!DOCTYPE alert SYSTEM \"http://127.0.0.1:9/x.dtd\">\n<alert ",
        1,
    );
    for (what, xml) in [
        ("billion laughs", laughs),
        ("external entity", external),
        ("DTD in a real warning", flood_dtd),
    ] {
        let (s, e) = post_cap(&ctl, Some(&op), xml).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (400, Some("cap_dtd_refused")),
            "{what}: {e}"
        );
        assert!(e["message"].as_str().unwrap().contains("DOCTYPE"), "{e}");
    }
    // An entity reference without a DTD names the entity.
    let undeclared = flood().replacen("<identifier>", "<identifier>&xxe;", 1);
    let (s, e) = post_cap(&ctl, Some(&op), undeclared).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("cap_invalid")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("&xxe;"), "{e}");
    let (_, inbox) = ctl.req("GET", "/api/v1/cap", Some(&op), None).await;
    assert_eq!(inbox["entries"], json!([]), "nothing refused is kept");
    nothing_shown(&ctl, &op).await;
    // Still serving: a good message goes through.
    let (s, e) = post_cap(&ctl, Some(&op), flood()).await;
    assert_eq!((s, e["state"].as_str()), (201, Some("shown")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cap_oversize_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[crate::api_cap::FLOOD_SENDER])).await;
    screens(&ctl).await;
    let op = ctl.token("operator").await;
    // 16 KiB is the configured limit: a real warning padded with a 64 KiB description, and
    // 200 KiB of garbage, are refused as soon as the limit passes.
    let padded = flood().replacen(
        "<description>",
        &format!("<description>{}", "mưa ".repeat(13_000)),
        1,
    );
    for body in [padded.into_bytes(), vec![b'<'; 200 * 1024]] {
        let (s, e) = post_cap(&ctl, Some(&op), body).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (413, Some("cap_too_large")),
            "{e}"
        );
        assert!(
            e["message"].as_str().unwrap().contains("[cap] max_bytes"),
            "{e}"
        );
    }
    // 4 MiB never reaches the CAP parser: every request body but a media upload stops at 1 MiB.
    let (s, e) = post_cap(&ctl, Some(&op), vec![b'<'; 4 * 1024 * 1024]).await;
    assert_eq!((s, e["error"].as_str()), (413, Some("too_large")), "{e}");
    nothing_shown(&ctl, &op).await;
    let (s, _) = post_cap(&ctl, Some(&op), flood()).await;
    assert_eq!(s, 201, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cap_unlisted_sender_waits_and_readers_cannot_post() {
    let dir = tempfile::tempdir().unwrap();
    // Only another sender is allowed to display at once.
    let ctl = start(cap_config(dir.path(), &["cap@nchmf.example.vn"])).await;
    screens(&ctl).await;
    let op = ctl.token("operator").await;
    let auditor = ctl.token("auditor").await;
    let (s, e) = post_cap(&ctl, None, flood()).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("unauthorized")), "{e}");
    let (s, e) = post_cap(&ctl, Some(&auditor), flood()).await;
    assert_eq!((s, e["error"].as_str()), (403, Some("forbidden")), "{e}");
    // A message claiming to come from the allow-listed sender's name in another element, or
    // with the sender's name only in a different case, is not auto-shown.
    let spoof = flood().replace("canhbao@kttv-laocai.example.vn", "CAP@nchmf.example.vn");
    let (s, e) = post_cap(&ctl, Some(&op), spoof).await;
    assert_eq!((s, e["state"].as_str()), (201, Some("pending")), "{e}");
    let (s, e) = post_cap(&ctl, Some(&op), flood()).await;
    assert_eq!((s, e["state"].as_str()), (201, Some("pending")), "{e}");
    let (s, _) = ctl
        .req(
            "POST",
            &format!("/api/v1/cap/{}/confirm", e["id"].as_str().unwrap()),
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 403, "an auditor cannot confirm");
    nothing_shown(&ctl, &op).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cap_expired_and_replayed_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(cap_config(dir.path(), &[crate::api_cap::FLOOD_SENDER])).await;
    screens(&ctl).await;
    let op = ctl.token("operator").await;
    let now = jiff::Timestamp::now();
    let h = jiff::SignedDuration::from_hours;
    // Expired an hour ago, from an allow-listed sender.
    let (s, e) = post_cap(&ctl, Some(&op), flood_at(now - h(8), now - h(1))).await;
    assert_eq!((s, e["error"].as_str()), (422, Some("cap_expired")), "{e}");
    // The OASIS example of 2003 without <expires>: its default validity ended long ago.
    let a1 = include_str!("../fixtures/cap/oasis-a1-homeland-security.xml");
    let (s, e) = post_cap(&ctl, Some(&op), a1).await;
    assert_eq!((s, e["error"].as_str()), (422, Some("cap_expired")), "{e}");
    nothing_shown(&ctl, &op).await;

    // Shown once, cancelled by an operator, then replayed: the replay shows nothing new.
    let (s, e) = post_cap(&ctl, Some(&op), flood()).await;
    assert_eq!((s, e["state"].as_str()), (201, Some("shown")), "{e}");
    let id = e["id"].as_str().unwrap();
    let (s, _) = ctl
        .req("DELETE", &format!("/api/v1/alerts/{id}"), Some(&op), None)
        .await;
    assert_eq!(s, 200);
    let (s, e) = post_cap(&ctl, Some(&op), flood()).await;
    assert_eq!((s, e["duplicate"].as_bool()), (200, Some(true)), "{e}");
    let (_, alerts) = ctl.req("GET", "/api/v1/alerts", Some(&op), None).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(
        alerts[0]["cancelled"], true,
        "the replay did not bring it back"
    );

    // A pending message that expires before anyone confirms it cannot be confirmed.
    let ctl2_dir = tempfile::tempdir().unwrap();
    let ctl2 = start(cap_config(ctl2_dir.path(), &[])).await;
    screens(&ctl2).await;
    let op2 = ctl2.token("operator").await;
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(1500);
    let (s, e) = post_cap(&ctl2, Some(&op2), flood_at(now, soon)).await;
    assert_eq!(s, 201, "{e}");
    let path = format!("/api/v1/cap/{}/confirm", e["id"].as_str().unwrap());
    gatecast_testkit::wait_until_async(
        "the message's expiry",
        std::time::Duration::from_secs(10),
        || async { (jiff::Timestamp::now() > soon).then_some(()) },
    )
    .await;
    let (s, e) = ctl2.req("POST", &path, Some(&op2), None).await;
    assert_eq!((s, e["error"].as_str()), (422, Some("cap_expired")), "{e}");
    nothing_shown(&ctl2, &op2).await;
}
