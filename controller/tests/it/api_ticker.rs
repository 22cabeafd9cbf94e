//! `POST|GET /api/v1/ticker`, `DELETE /api/v1/ticker/{id}` and the screen layout
//! (`docs/protocol.md` §20): a ticker text reaches an enrolled screen's `ticker` topic as a
//! signed set at once (no publish), in the gate's languages in turn, gone from its turns at
//! expiry and from the next set when removed; a text the contract refuses is never stored; a
//! layout goes into the screen's next manifest.

use crate::api_support::*;
use crate::attack_alerts::enrol;
use playlists::keys::KeySet;
use playlists::manifest::{ticker_turns, verify_ticker, TickerSet};
use playlists::topics::{topic, Kind};
use rumqttc::{AsyncClient, EventLoop};
use serde_json::json;

/// Waits for the ticker set of `lc-a1` at `version` (earlier versions are skipped).
async fn ticker_set(c: &AsyncClient, el: &mut EventLoop, keys: &KeySet, version: u64) -> TickerSet {
    ticker_envelope(c, el, keys, version).await.0
}

/// As [`ticker_set`], with the envelope's exact payload.
async fn ticker_envelope(
    c: &AsyncClient,
    el: &mut EventLoop,
    keys: &KeySet,
    version: u64,
) -> (TickerSet, Vec<u8>) {
    let t = topic("lc-a1", Kind::Ticker);
    c.subscribe(&t, rumqttc::QoS::AtLeastOnce).await.unwrap();
    loop {
        let bytes = next_message(el, &t).await;
        let set = verify_ticker(&bytes, keys, "lc-a1", None).expect("ticker set verifies");
        if set.version >= version {
            assert_eq!(set.version, version, "ticker set versions");
            let payload = playlists::envelope::Envelope::parse(&bytes)
                .unwrap()
                .payload;
            return (set, payload);
        }
    }
}

/// Publishes `lc-a1` and returns the manifest it receives, verified.
async fn published_manifest(
    ctl: &Ctl,
    tok: &str,
    c: &AsyncClient,
    el: &mut EventLoop,
    keys: &KeySet,
) -> playlists::manifest::Manifest {
    let (s, p) = ctl
        .req(
            "POST",
            "/api/v1/publish",
            Some(tok),
            Some(json!({"screens": ["lc-a1"]})),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let t = topic("lc-a1", Kind::Manifest);
    c.subscribe(&t, rumqttc::QoS::AtLeastOnce).await.unwrap();
    let bytes = next_message(el, &t).await;
    playlists::manifest::verify_manifest(&bytes, keys, "lc-a1", None, jiff::Timestamp::now())
        .expect("manifest verifies")
}

/// Under an approval policy (`docs/protocol.md` §20): a ticker text nobody approved is
/// refused with `409 not_approved` naming it, kept as pending (listed with its exact text for
/// the approvers) and not sent; once one approver signs its exact text it reaches the screen
/// with the policy chain and its approval, which a screen with the pinned root accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_ticker_approvals_unapproved_text_waits_and_is_sent_once_approved() {
    use crate::api_approvals::{approver, body, policy, root};
    use playlists::approval::{Approval, ApprovedText, Enforcement, Scope};
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (c, mut el, keys, _) = enrol(&ctl).await;
    let v1 = playlists::policy::sign_policy(&policy(1, &[1, 2]), &root());
    let (s, e) = ctl.admin("PUT", "/api/v1/policy", body(&v1)).await;
    assert_eq!(s, 200, "{e}");
    let tok = ctl.token("operator").await;
    let now = jiff::Timestamp::now();
    let text = "Đính chính: cửa khẩu Kim Thành vẫn thông quan bình thường.";
    let body_of = |id: &str| {
        json!({"id": id, "targets": {"screens": ["lc-a1"]},
            "expires_at": (now + jiff::SignedDuration::from_hours(1)).to_string(),
            "text": [{"lang": "vi", "text": text}]})
    };
    let (s, e) = ctl
        .req(
            "POST",
            "/api/v1/ticker",
            Some(&tok),
            Some(body_of("fix-kt")),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("not_approved")), "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("ticker fix-kt text[vi]")
            && msg.contains("has 0 of 1")
            && msg.contains("kept as pending"),
        "{msg}"
    );
    // Not sent: the screen's set has no text.
    let (set, _) = ticker_envelope(&c, &mut el, &keys, 1).await;
    assert!(set.items.is_empty(), "{set:?}");
    let (s, p) = ctl
        .req("GET", "/api/v1/approvals/pending", Some(&tok), None)
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["texts"][0]["id"], "fix-kt", "{p}");
    assert_eq!(p["texts"][0]["text"], text, "{p}");
    assert_eq!(p["texts"][0]["lang"], "vi", "{p}");
    assert_eq!(p["texts"][0]["needed"], 1, "{p}");
    let (_, list) = ctl.req("GET", "/api/v1/ticker", Some(&tok), None).await;
    assert_eq!(list[0]["awaiting_approval"], true, "{list}");

    // A forged approval (no approver of the policy) is refused and sends nothing.
    let approval = Approval {
        media: vec![],
        texts: vec![ApprovedText::of("vi", text)],
        not_before: now - jiff::SignedDuration::from_hours(1),
        not_after: now + jiff::SignedDuration::from_hours(24),
        scope: Scope::everywhere(),
        note: None,
    };
    let (s, e) = ctl
        .req(
            "POST",
            "/api/v1/approvals",
            Some(&tok),
            Some(body(&approval.sign(&approver(9)))),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    // The approver signs the exact text: the kept text is sent at once.
    let (s, e) = ctl
        .req(
            "POST",
            "/api/v1/approvals",
            Some(&tok),
            Some(body(&approval.sign(&approver(1)))),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    let (set, payload) = ticker_envelope(&c, &mut el, &keys, 2).await;
    assert_eq!(set.items.len(), 1, "{set:?}");
    assert_eq!(set.items[0].text[0].text, text);
    let pinned = [root().key_id()];
    let guard = Enforcement {
        pinned: &pinned,
        held: None,
        gate: "any-gate",
    };
    let ok = guard.ticker(&payload, &set, jiff::Timestamp::now());
    assert!(ok.is_ok(), "a pinned screen accepts it: {ok:?}");
    let (_, p) = ctl
        .req("GET", "/api/v1/approvals/pending", Some(&tok), None)
        .await;
    assert_eq!(p["texts"], json!([]), "{p}");
    let (_, list) = ctl.req("GET", "/api/v1/ticker", Some(&tok), None).await;
    assert_eq!(list[0].get("awaiting_approval"), None, "{list}");
    // Approved text, sent again by the operator: 201 at once.
    let (s, e) = ctl
        .req(
            "POST",
            "/api/v1/ticker",
            Some(&tok),
            Some(body_of("fix-kt2")),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (set, _) = ticker_envelope(&c, &mut el, &keys, 3).await;
    assert_eq!(set.items.len(), 2, "{set:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_text_reaches_the_screen_in_turn_expires_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (c, mut el, keys, _) = enrol(&ctl).await;
    let tok = ctl.token("operator").await;
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let body = json!({"id": "fix-4d", "targets": {"screens": ["lc-a1"]}, "priority": 3,
        "expires_at": expires.to_string(),
        "text": [{"lang": "vi", "text": "Đính chính: Quốc lộ 4D đã thông xe"},
                 {"lang": "en", "text": "Correction: road 4D is open"}]});
    let (s, v) = ctl
        .req("POST", "/api/v1/ticker", Some(&tok), Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["published"][0]["version"], 1, "{v}");
    let set = ticker_set(&c, &mut el, &keys, 1).await;
    assert_eq!(set.items.len(), 1);
    let langs = vec!["vi".to_string(), "en".to_string()];
    let turns = ticker_turns(&set, &langs, jiff::Timestamp::now());
    let shown: Vec<&str> = turns.iter().map(|t| t.lang.as_str()).collect();
    assert_eq!(shown, ["vi", "en"]);
    assert!(
        ticker_turns(&set, &langs, expires).is_empty(),
        "gone at its expiry"
    );

    let (s, list) = ctl.req("GET", "/api/v1/ticker", Some(&tok), None).await;
    assert_eq!(s, 200);
    assert_eq!(list[0]["id"], "fix-4d");

    // A tab is a control character: refused by name, nothing stored, nothing sent.
    let bad = json!({"id": "bad", "targets": {"screens": ["lc-a1"]},
        "expires_at": expires.to_string(), "text": [{"lang": "vi", "text": "a\tb"}]});
    let (s, e) = ctl
        .req("POST", "/api/v1/ticker", Some(&tok), Some(bad))
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["field"], "text[0].text", "{e}");
    let (_, list) = ctl.req("GET", "/api/v1/ticker", Some(&tok), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (s, v) = ctl
        .req("DELETE", "/api/v1/ticker/fix-4d", Some(&tok), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let set = ticker_set(&c, &mut el, &keys, 2).await;
    assert!(set.items.is_empty());

    // The audit export of the period carries every set that was current in it (the text's
    // and the one without it), for the period report (docs/protocol.md §15 `tickers`); one of
    // a period before them carries none.
    let export =
        |from: &str, to: &str| format!("/api/v1/audit/export?from={from}&to={to}&screens=lc-a1");
    let (s, b) = ctl
        .req(
            "GET",
            &export("2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let versions: Vec<u64> = b["tickers"]
        .as_array()
        .expect("the bundle carries ticker sets")
        .iter()
        .map(|t| {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(t.as_str().unwrap())
                .unwrap();
            verify_ticker(&bytes, &keys, "lc-a1", None)
                .expect("a controller-signed ticker set")
                .version
        })
        .collect();
    assert_eq!(versions, [1, 2]);
    let (s, b) = ctl
        .req(
            "GET",
            &export("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("tickers").is_none(), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_goes_into_the_next_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (c, mut el, keys, _) = enrol(&ctl).await;
    let tok = ctl.token("operator").await;
    let (s, t) = ctl.req("GET", "/api/v1/layouts", Some(&tok), None).await;
    assert_eq!(s, 200);
    assert_eq!(t.as_array().unwrap().len(), 4);
    let (s, e) = ctl
        .req(
            "PUT",
            "/api/v1/screens/lc-a1/layout",
            Some(&tok),
            Some(json!({"template": "nope"})),
        )
        .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("template")), "{e}");
    let (s, l) = ctl
        .req(
            "PUT",
            "/api/v1/screens/lc-a1/layout",
            Some(&tok),
            Some(json!({"template": "main_ticker", "ticker_speed": 150})),
        )
        .await;
    assert_eq!(s, 200, "{l}");
    let m = published_manifest(&ctl, &tok, &c, &mut el, &keys).await;
    let layout = m.layout.expect("the manifest carries the layout");
    assert_eq!(layout.template, "main_ticker");
    assert_eq!(layout.ticker_speed, Some(150));
}

/// Side and logo images picked from the library go into the layout and the manifest's media;
/// a video, an unknown hash or side images for a template without a side region are refused
/// by field (`docs/protocol.md` §20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_and_logo_images_go_into_the_next_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let (c, mut el, keys, _) = enrol(&ctl).await;
    let tok = ctl.token("operator").await;
    let mut shas = Vec::new();
    for seed in [1u8, 2] {
        let (s, v) = ctl
            .upload(
                gatecast_testkit::glass::encode_png(
                    40,
                    20 * u32::from(seed),
                    &vec![seed * 60; 40 * 20 * usize::from(seed) * 3],
                ),
                "image/png",
                "kind=slide&lang=vi",
            )
            .await;
        assert_eq!(s, 201, "{v}");
        shas.push(v["sha256"].as_str().unwrap().to_owned());
    }
    let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3];
    webm.extend_from_slice(&[0u8; 100]);
    let (s, v) = ctl.upload(webm, "video/webm", "kind=video&lang=vi").await;
    assert_eq!(s, 201, "{v}");
    let video = v["sha256"].as_str().unwrap().to_owned();
    let put = |body: serde_json::Value| {
        let (ctl, tok) = (&ctl, &tok);
        async move {
            ctl.req("PUT", "/api/v1/screens/lc-a1/layout", Some(tok), Some(body))
                .await
        }
    };
    let bad = [
        (
            json!({"template": "main_side_ticker", "side_media": ["a".repeat(64)]}),
            "side_media",
        ),
        (
            json!({"template": "main_ticker", "side_media": [shas[0]]}),
            "side_media",
        ),
        (
            json!({"template": "main_ticker", "logo_media": [shas[0], shas[1]]}),
            "logo_media",
        ),
        (
            json!({"template": "main_side_ticker", "side_media": [shas[0]], "side_every_secs": 1}),
            "layout",
        ),
        (
            json!({"template": "main_side_ticker", "side_media": [video]}),
            "side_media",
        ),
    ];
    for (body, field) in bad {
        let (s, e) = put(body.clone()).await;
        assert_eq!((s, e["field"].as_str()), (400, Some(field)), "{body}: {e}");
    }
    let (s, l) = put(
        json!({"template": "main_side_ticker", "side_media": [shas[0], shas[1]],
        "side_every_secs": 7, "logo_media": [shas[1]]}),
    )
    .await;
    assert_eq!(s, 200, "{l}");
    let m = published_manifest(&ctl, &tok, &c, &mut el, &keys).await;
    let layout = m.layout.as_ref().expect("the manifest carries the layout");
    let side = layout
        .region(playlists::manifest::RegionName::Side)
        .unwrap();
    assert_eq!(
        (side.media.clone(), side.every_secs),
        (shas.clone(), Some(7))
    );
    let logo = layout
        .region(playlists::manifest::RegionName::Logo)
        .expect("a logo region");
    assert_eq!(logo.media, vec![shas[1].clone()]);
    assert_eq!((logo.x, logo.y), (0.0, 0.0));
    for sha in &shas {
        let r = m.media.iter().find(|r| &r.sha256 == sha).expect("listed");
        assert_eq!(r.kind, playlists::manifest::MediaKind::Slide);
    }
}
