//! Alerts play whatever they carry (`docs/protocol.md` §9: an active alert overrides everything until it
//! expires or is cancelled), with a real `gatecast-player` (null backend): a text-only alert
//! shows on a freshly enrolled screen with no manifest, keeps overriding the schedule once a
//! manifest is active, and the schedule resumes when the alert expires or is cancelled. Its
//! receipts say `playlist` = `alert:<id>`, `media` = SHA-256 of the exact text, `lang` = the
//! text's language (docs/protocol.md §13).

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, Controller, PlayerProc, Rig, SCREEN};
use jiff::{SignedDuration, Timestamp};
use playlists::envelope::ALERT_TYPE;
use playlists::keys::SecretKey;
use playlists::manifest::{Alert, AlertSet, AlertText};
use playlists::receipt::{Backend, Outcome, Receipt};

const T: Duration = Duration::from_secs(40);
const VI: &str = "Cửa khẩu tạm dừng thông quan do lũ.";
const EN: &str = "Border crossing suspended due to flooding.";

fn text_alert(id: &str, expires_at: Timestamp) -> Alert {
    Alert {
        id: id.into(),
        priority: 100,
        expires_at,
        text: vec![
            AlertText {
                lang: "vi".into(),
                text: VI.into(),
            },
            AlertText {
                lang: "en".into(),
                text: EN.into(),
            },
        ],
        media: None,
    }
}

fn signed_alerts(version: u64, alerts: Vec<Alert>, key: &SecretKey) -> Vec<u8> {
    let set = AlertSet {
        screen: SCREEN.into(),
        version,
        issued_at: Timestamp::now(),
        alerts,
    };
    harness::sign_raw(ALERT_TYPE, set.to_json(), key)
}

/// Stored receipts, parsed, in seq order.
fn receipts(c: &Controller) -> Vec<Receipt> {
    c.state
        .lock()
        .unwrap()
        .receipts
        .values()
        .map(|b| Receipt::parse(b).unwrap())
        .collect()
}

fn last_seq(c: &Controller) -> u64 {
    receipts(c).last().map_or(0, |r| r.seq)
}

/// Waits until a receipt after `after` satisfies `pred`.
async fn wait_receipt(c: &Controller, what: &str, after: u64, pred: impl Fn(&Receipt) -> bool) {
    c.wait_received(what, T, |r| {
        r.receipts
            .iter()
            .filter(|(seq, _)| **seq > after)
            .any(|(_, b)| pred(&Receipt::parse(b).unwrap()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_alert_shows_without_manifest_overrides_schedule_and_ends() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let (a, a_bytes) = harness::slide(1, 1000, 2000);
    media.put(&a.sha256, a_bytes);
    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(&broker, &media, &key, "alert_text_ms = 1000\n", 10.0);
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;

    // 1. No manifest at all: the text alert still plays, language after language.
    let (vi_hash, en_hash) = (
        harness::sha256_hex(VI.as_bytes()),
        harness::sha256_hex(EN.as_bytes()),
    );
    let hour = Timestamp::now() + SignedDuration::from_hours(1);
    controller
        .publish_alert(signed_alerts(1, vec![text_alert("flood-1", hour)], &key))
        .await;
    let is_text = |r: &Receipt, lang: &str, hash: &str| {
        r.playlist == "alert:flood-1"
            && r.lang == lang
            && r.media == hash
            && r.outcome == Outcome::Completed
            && r.backend == Backend::Null
    };
    wait_receipt(&controller, "vi and en alert text receipts", 0, |r| {
        is_text(r, "en", &en_hash)
    })
    .await;
    let rs = receipts(&controller);
    assert!(rs.iter().any(|r| is_text(r, "vi", &vi_hash)), "{rs:?}");
    assert!(rs
        .iter()
        .all(|r| r.playlist == "alert:flood-1" && r.manifest_version == 0));
    let st = controller
        .wait_status("playing the alert text", T, |s| s["state"] == "playing")
        .await;
    assert!(st["current"] == vi_hash.as_str() || st["current"] == en_hash.as_str());

    // 2. A manifest arrives and activates: the alert still overrides it.
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, std::slice::from_ref(&a)),
            &key,
        ))
        .await;
    controller
        .wait_status("v1 active", T, |s| s["manifest_version"] == 1)
        .await;
    let from = last_seq(&controller);
    wait_receipt(&controller, "alert text under manifest 1", from, |r| {
        r.manifest_version == 1 && r.playlist == "alert:flood-1" && r.outcome == Outcome::Completed
    })
    .await;
    assert!(
        receipts(&controller).iter().all(|r| r.playlist != "main"),
        "the schedule played during the alert"
    );

    // 3. The alert is replaced by one that expires shortly: once it has, the schedule resumes.
    let soon = Timestamp::now() + SignedDuration::from_secs(2);
    controller
        .publish_alert(signed_alerts(2, vec![text_alert("flood-2", soon)], &key))
        .await;
    wait_receipt(&controller, "the short alert", from, |r| {
        r.playlist == "alert:flood-2"
    })
    .await;
    wait_receipt(&controller, "schedule after the expiry", from, |r| {
        r.playlist == "main" && r.media == a.sha256 && r.outcome == Outcome::Completed
    })
    .await;
    let rs = receipts(&controller);
    let first_main = rs.iter().find(|r| r.playlist == "main").unwrap();
    assert!(
        first_main.started_at >= soon,
        "schedule resumed before the expiry"
    );
    let later = last_seq(&controller);

    // 4. A new alert overrides again; cancelling it (empty set) lets the schedule resume.
    controller
        .publish_alert(signed_alerts(3, vec![text_alert("flood-3", hour)], &key))
        .await;
    wait_receipt(&controller, "the third alert", later, |r| {
        r.playlist == "alert:flood-3" && r.outcome == Outcome::Completed
    })
    .await;
    let cancel_from = last_seq(&controller);
    controller
        .publish_alert(signed_alerts(4, vec![], &key))
        .await;
    wait_receipt(&controller, "schedule after the cancel", cancel_from, |r| {
        r.playlist == "main" && r.outcome == Outcome::Completed
    })
    .await;
    // After the first schedule play following the cancel, no alert play comes any more.
    let rs = receipts(&controller);
    let resumed = rs
        .iter()
        .find(|r| r.seq > cancel_from && r.playlist == "main")
        .unwrap()
        .seq;
    assert!(rs
        .iter()
        .filter(|r| r.seq > resumed)
        .all(|r| r.playlist == "main"));
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
