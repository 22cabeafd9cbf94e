//! The state machine with a pinned policy root (`docs/protocol.md` §19): unapproved content
//! is refused as `not_approved` with nothing stored or downloaded; approved content is taken.

use jiff::SignedDuration;
use playlists::approval::{Approval, ApprovedMedia, ApprovedText, Attachments, Scope};
use playlists::envelope::{Envelope, ALERT_TYPE};
use playlists::keys::SecretKey;
use playlists::manifest::{Alert, AlertText, MediaKind, Playlist, PlaylistItem};
use playlists::policy::{sign_policy, Approver, Policy, RootKey};

use super::*;

const SCREEN: &str = "gate-a1";

fn controller() -> SecretKey {
    SecretKey::from_seed([7; 32])
}
fn root() -> SecretKey {
    SecretKey::from_seed([31; 32])
}
fn approver(n: u8) -> SecretKey {
    SecretKey::from_seed([40 + n; 32])
}
fn now() -> Timestamp {
    "2030-01-01T08:00:00Z".parse().unwrap()
}

fn policy() -> String {
    let p = Policy {
        version: 1,
        issued_at: now() - SignedDuration::from_hours(1),
        expires_at: now() + SignedDuration::from_hours(24 * 365),
        root_keys: vec![RootKey {
            key_id: root().key_id(),
            public_key: root().public().to_base64(),
        }],
        root_threshold: 1,
        approvers: (1..=2)
            .map(|n| Approver {
                key_id: approver(n).key_id(),
                public_key: approver(n).public().to_base64(),
                name: format!("Người duyệt {n}"),
                roles: vec![],
            })
            .collect(),
        media_threshold: 2,
        alert_threshold: 1,
    };
    String::from_utf8(sign_policy(&p, &root()).to_json()).unwrap()
}

fn media() -> MediaRef {
    MediaRef {
        sha256: "ab".repeat(32),
        bytes: 1000,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "vi".into(),
        title: "Chào mừng".into(),
        duration_ms: Some(5000),
        subtitles: Vec::new(),
    }
}

fn manifest() -> Manifest {
    Manifest {
        screen: SCREEN.into(),
        version: 1,
        issued_at: now(),
        expires_at: now() + SignedDuration::from_hours(24),
        timezone: "Asia/Ho_Chi_Minh".into(),
        languages: vec![],
        playlists: vec![Playlist {
            id: "main".into(),
            name: "Main".into(),
            items: vec![PlaylistItem {
                media: media().sha256,
                duration_ms: None,
                variants: vec![],
            }],
        }],
        media: vec![media()],
        schedule: vec![],
        fallback: "main".into(),
        layout: None,
    }
}

fn approval(texts: Vec<ApprovedText>) -> Approval {
    Approval {
        media: vec![ApprovedMedia::of(&media())],
        texts,
        not_before: now() - SignedDuration::from_hours(1),
        not_after: now() + SignedDuration::from_hours(1),
        scope: Scope::everywhere(),
        note: None,
    }
}

fn approvals(by: &[u8], a: &Approval) -> Vec<String> {
    by.iter()
        .map(|n| String::from_utf8(a.sign(&approver(*n)).to_json()).unwrap())
        .collect()
}

fn signed_manifest(approved_by: &[u8]) -> Bytes {
    let att = Attachments {
        policy: vec![policy()],
        approvals: approvals(approved_by, &approval(vec![])),
    };
    Envelope::sign(
        MANIFEST_TYPE,
        att.attach(manifest().to_json()),
        &controller(),
    )
    .to_json()
    .into()
}

fn pinned_state() -> AgentState {
    let p = Persisted {
        pinned_roots: vec![root().key_id()],
        gate: "lao-cai".into(),
        ..Persisted::default()
    };
    AgentState::restore(controller().public(), SCREEN, p, now()).0
}

fn not_approved(effects: &[Effect]) -> bool {
    matches!(effects, [Effect::Reject(r)] if r.reason == "not_approved")
}

#[test]
fn attack_manifest_without_enough_approvals_is_refused_before_any_download() {
    let mut s = pinned_state();
    for by in [&[][..], &[1], &[1, 1]] {
        let effects = s.on_manifest(signed_manifest(by), now());
        assert!(not_approved(&effects), "approved by {by:?}: {effects:?}");
    }
    assert_eq!(s.pending_version(), None);
    let mut status = Status::new("k".into());
    s.fill_status(&mut status);
    assert!(status.approvals.enforced);
    assert_eq!(status.approvals.policy_version, None);
}

#[test]
fn manifest_with_two_approvals_is_taken_and_its_policy_held() {
    let mut s = pinned_state();
    let effects = s.on_manifest(signed_manifest(&[1, 2]), now());
    assert!(
        matches!(effects.as_slice(), [Effect::Save(Save::Pending(_))]),
        "{effects:?}"
    );
    let mut status = Status::new("k".into());
    s.fill_status(&mut status);
    assert_eq!(status.approvals.policy_version, Some(1));
}

#[test]
fn screen_without_pinned_root_takes_unapproved_content_and_says_so() {
    let p = Persisted::default();
    let mut s = AgentState::restore(controller().public(), SCREEN, p, now()).0;
    let effects = s.on_manifest(signed_manifest(&[]), now());
    assert!(matches!(
        effects.as_slice(),
        [Effect::Save(Save::Pending(_))]
    ));
    let mut status = Status::new("k".into());
    s.fill_status(&mut status);
    assert!(!status.approvals.enforced);
}

#[test]
fn attack_alert_text_nobody_signed_is_refused() {
    let alert = Alert {
        id: "flood".into(),
        priority: 100,
        expires_at: now() + SignedDuration::from_hours(1),
        text: vec![AlertText {
            lang: "vi".into(),
            text: "Cửa khẩu tạm dừng thông quan do lũ.".into(),
        }],
        media: None,
    };
    let set = AlertSet {
        screen: SCREEN.into(),
        version: 1,
        issued_at: now(),
        alerts: vec![alert],
    };
    let send = |approved: Vec<String>| -> Bytes {
        let att = Attachments {
            policy: vec![policy()],
            approvals: approved,
        };
        Envelope::sign(ALERT_TYPE, att.attach(set.to_json()), &controller())
            .to_json()
            .into()
    };
    let mut s = pinned_state();
    assert!(not_approved(&s.on_alert(send(vec![]), now())));
    assert!(s.program().is_none());
    let text = ApprovedText::of("vi", &set.alerts[0].text[0].text);
    let effects = s.on_alert(send(approvals(&[2], &approval(vec![text]))), now());
    assert!(
        matches!(effects.first(), Some(Effect::Save(Save::Alerts { .. }))),
        "{effects:?}"
    );
    assert!(s.program().is_some());
}

#[test]
fn after_a_restart_the_held_policy_comes_from_the_stored_manifest() {
    let p = Persisted {
        active: Some(signed_manifest(&[1, 2]).to_vec()),
        pinned_roots: vec![root().key_id()],
        gate: "lao-cai".into(),
        ..Persisted::default()
    };
    let s = AgentState::restore(controller().public(), SCREEN, p, now()).0;
    let mut status = Status::new("k".into());
    s.fill_status(&mut status);
    assert_eq!(status.approvals.policy_version, Some(1));
    // A stored manifest whose chain is of other roots gives no policy.
    let p = Persisted {
        active: Some(signed_manifest(&[1, 2]).to_vec()),
        pinned_roots: vec![approver(1).key_id()],
        gate: "lao-cai".into(),
        ..Persisted::default()
    };
    let s = AgentState::restore(controller().public(), SCREEN, p, now()).0;
    s.fill_status(&mut status);
    assert_eq!(status.approvals.policy_version, None);
}

/// A ticker set for `SCREEN` with one text per language, the approvals `approved` and the
/// policy chain attached (`docs/protocol.md` §20).
fn ticker(version: u64, texts: &[(&str, &str)], approved: Vec<String>) -> Bytes {
    let set = manifest::TickerSet {
        screen: SCREEN.into(),
        version,
        issued_at: now(),
        items: vec![manifest::TickerItem {
            id: "fix".into(),
            priority: 1,
            starts_at: None,
            expires_at: now() + SignedDuration::from_hours(1),
            text: texts
                .iter()
                .map(|(lang, text)| AlertText {
                    lang: (*lang).into(),
                    text: (*text).into(),
                })
                .collect(),
        }],
    };
    let att = Attachments {
        policy: vec![policy()],
        approvals: approved,
    };
    playlists::approval::sign_ticker(&set, &att, &controller())
        .unwrap()
        .to_json()
        .into()
}

fn refusal(effects: &[Effect]) -> String {
    match effects {
        [Effect::Reject(r)] if r.reason == "not_approved" => r.detail.clone(),
        other => panic!("expected a not_approved refusal, got {other:?}"),
    }
}

#[test]
fn attack_ticker_approvals_unapproved_forged_or_out_of_scope_texts_never_scroll() {
    const VI: &str = "Đính chính: cửa khẩu Kim Thành vẫn thông quan bình thường.";
    const EN: &str = "Correction: Kim Thanh gate is open as usual.";
    let both = || vec![ApprovedText::of("vi", VI), ApprovedText::of("en", EN)];
    let mut s = pinned_state();
    // An approved set is taken and shown.
    let ok = ticker(
        1,
        &[("vi", VI), ("en", EN)],
        approvals(&[1], &approval(both())),
    );
    let effects = s.on_ticker(ok.clone(), now());
    assert!(
        matches!(effects.as_slice(), [Effect::Ticker(t)] if t.version == 1),
        "{effects:?}"
    );
    // Nobody approved the texts: refused, naming the text; the held set stays.
    let d = refusal(&s.on_ticker(
        ticker(2, &[("vi", VI), ("en", "Gate closed!")], vec![]),
        now(),
    ));
    assert!(
        d.contains("ticker fix text[vi]") && d.contains("has 0 of 1"),
        "{d}"
    );
    assert_eq!(s.ticker.as_deref(), Some(&ok[..]));
    // Only the Vietnamese text approved: the English one is named.
    let vi_only = approvals(&[1], &approval(vec![ApprovedText::of("vi", VI)]));
    let d = refusal(&s.on_ticker(ticker(3, &[("vi", VI), ("en", EN)], vi_only), now()));
    assert!(d.contains("ticker fix text[en]") && d.contains(EN), "{d}");
    // One changed byte (an approval of another text) does not count.
    let d = refusal(&s.on_ticker(
        ticker(
            4,
            &[("vi", &format!("{VI} ")), ("en", EN)],
            approvals(&[1], &approval(both())),
        ),
        now(),
    ));
    assert!(d.contains("text[vi]"), "{d}");
    // Forged: signed by a key that is no approver of the policy.
    let forged = vec![String::from_utf8(approval(both()).sign(&approver(9)).to_json()).unwrap()];
    let d = refusal(&s.on_ticker(ticker(5, &[("vi", VI), ("en", EN)], forged), now()));
    assert!(d.contains("not signed by an approver"), "{d}");
    // Scoped to another gate, or no longer valid: refused.
    let mut elsewhere = approval(both());
    elsewhere.scope = Scope {
        all: false,
        gates: vec!["bat-xat".into()],
    };
    refusal(&s.on_ticker(
        ticker(6, &[("vi", VI), ("en", EN)], approvals(&[1], &elsewhere)),
        now(),
    ));
    let later = now() + SignedDuration::from_hours(2);
    refusal(&s.on_ticker(
        ticker(
            7,
            &[("vi", VI), ("en", EN)],
            approvals(&[1], &approval(both())),
        ),
        later,
    ));
    assert_eq!(s.ticker.as_deref(), Some(&ok[..]));
    // An empty set needs no approval.
    let empty = playlists::approval::sign_ticker(
        &manifest::TickerSet {
            screen: SCREEN.into(),
            version: 8,
            issued_at: now(),
            items: vec![],
        },
        &Attachments::default(),
        &controller(),
    )
    .unwrap()
    .to_json();
    let effects = s.on_ticker(empty.into(), now());
    assert!(
        matches!(effects.as_slice(), [Effect::Ticker(t)] if t.items.is_empty()),
        "{effects:?}"
    );
}

#[test]
fn a_ticker_set_brings_its_policy_to_a_screen_that_holds_none() {
    let mut s = pinned_state();
    let mut status = Status::new("k".into());
    s.fill_status(&mut status);
    assert_eq!(status.approvals.policy_version, None);
    let text = "Đính chính: lịch thông quan không thay đổi.";
    let approved = approvals(&[2], &approval(vec![ApprovedText::of("vi", text)]));
    let effects = s.on_ticker(ticker(1, &[("vi", text)], approved), now());
    assert!(
        matches!(effects.as_slice(), [Effect::Ticker(_)]),
        "{effects:?}"
    );
    s.fill_status(&mut status);
    assert_eq!(status.approvals.policy_version, Some(1));
}
