//! Unit tests of the agent's state machine (no broker, no files).

use jiff::SignedDuration;
use playlists::envelope::{Envelope, ALERT_TYPE};
use playlists::keys::SecretKey;
use playlists::manifest::{Alert, AlertText, MediaKind, Playlist, PlaylistItem};
use playlists::rotation::Rotation;

use super::*;

const SCREEN: &str = "gate-a1";

fn k1() -> SecretKey {
    SecretKey::from_seed([7; 32])
}

fn k2() -> SecretKey {
    SecretKey::from_seed([21; 32])
}

fn now() -> Timestamp {
    "2030-01-01T08:00:00Z".parse().unwrap()
}

fn media(n: u8) -> MediaRef {
    MediaRef {
        sha256: format!("{n:02x}").repeat(32),
        bytes: 1000 + u64::from(n),
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "vi".into(),
        title: format!("slide {n}"),
        duration_ms: Some(5000),
        subtitles: Vec::new(),
    }
}

/// A valid manifest `version` playing slide `version` (so each version has its own file).
fn manifest(version: u64) -> Manifest {
    let m = media(version as u8);
    Manifest {
        screen: SCREEN.into(),
        version,
        issued_at: now(),
        expires_at: now() + SignedDuration::from_hours(24),
        timezone: "Asia/Ho_Chi_Minh".into(),
        languages: vec![],
        playlists: vec![Playlist {
            id: "main".into(),
            name: "Main".into(),
            items: vec![PlaylistItem {
                media: m.sha256.clone(),
                duration_ms: None,
                variants: vec![],
            }],
        }],
        media: vec![m],
        schedule: vec![],
        fallback: "main".into(),
        layout: None,
    }
}

fn signed(m: &Manifest, key: &SecretKey) -> Bytes {
    Envelope::sign(MANIFEST_TYPE, m.to_json(), key)
        .to_json()
        .into()
}

/// An alert set `version` with one alert (with media slide 200) or none (`cancel`).
fn alerts(version: u64, cancel: bool, key: &SecretKey) -> Bytes {
    let alert = Alert {
        id: "flood".into(),
        priority: 100,
        expires_at: now() + SignedDuration::from_hours(1),
        text: vec![AlertText {
            lang: "vi".into(),
            text: "Cửa khẩu tạm dừng thông quan do lũ.".into(),
        }],
        media: Some(media(200)),
    };
    let set = AlertSet {
        screen: SCREEN.into(),
        version,
        issued_at: now(),
        alerts: if cancel { vec![] } else { vec![alert] },
    };
    Envelope::sign(ALERT_TYPE, set.to_json(), key)
        .to_json()
        .into()
}

/// The statement moving from `old` to `new`, the old key trusted for one more hour.
fn rotation(old: &SecretKey, new: &SecretKey) -> Bytes {
    let overlap_until = now() + SignedDuration::from_hours(1);
    let r = Rotation::new(&old.public(), &new.public(), now(), overlap_until);
    r.sign(old, new).unwrap().to_json().into()
}

fn rotation_k1_to_k2() -> Bytes {
    rotation(&k1(), &k2())
}

fn fresh() -> AgentState {
    restore(Persisted::default()).0
}

fn restore(p: Persisted) -> (AgentState, Vec<Effect>) {
    AgentState::restore(k1().public(), SCREEN, p, now())
}

/// Feeds a manifest and, if the state asks to store it, reports the write as done.
fn accept(state: &mut AgentState, bytes: Bytes) -> Vec<Effect> {
    let mut effects = state.on_manifest(bytes, now());
    match effects.pop() {
        Some(Effect::Save(save @ Save::Pending(_))) if effects.is_empty() => {
            state.on_saved(save, Ok(()))
        }
        other => panic!("expected one Save(Pending), got {other:?} after {effects:?}"),
    }
}

fn sync_target(effects: &[Effect]) -> Option<Option<u64>> {
    effects.iter().find_map(|e| match e {
        Effect::StartSync(p) => Some(p.target),
        _ => None,
    })
}

fn wanted_shas(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::StartSync(p) => Some(p.wanted.iter().map(|w| w.sha256.clone()).collect()),
            _ => None,
        })
        .expect("a StartSync effect")
}

/// The input changed nothing: ignored without a rejection.
fn ignored(effects: &[Effect]) -> bool {
    matches!(effects, [Effect::SkipBookkeeping])
}

fn rejection_of(effects: &[Effect]) -> &LastRejection {
    match effects {
        [Effect::Reject(r)] => r,
        other => panic!("expected one Reject, got {other:?}"),
    }
}

fn program_of(effects: &[Effect]) -> Program {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Program(p) => Some(p.clone().expect("a program")),
            _ => None,
        })
        .expect("a Program effect")
}

#[test]
fn accepted_manifest_is_pending_only_once_stored() {
    let mut s = fresh();
    let bytes = signed(&manifest(1), &k1());
    let mut effects = s.on_manifest(bytes.clone(), now());
    let Some(Effect::Save(save @ Save::Pending(_))) = effects.pop() else {
        panic!("expected Save(Pending), got {effects:?}");
    };
    assert!(effects.is_empty());
    assert!(
        matches!(&save, Save::Pending(h) if h.manifest.version == 1 && h.bytes[..] == bytes[..])
    );
    assert_eq!(s.pending_version(), None, "not pending before it is stored");
    let effects = s.on_saved(save, Ok(()));
    assert_eq!(s.pending_version(), Some(1));
    assert_eq!(sync_target(&effects), Some(Some(1)));
    assert_eq!(wanted_shas(&effects), vec![media(1).sha256]);
}

#[test]
fn newer_manifest_supersedes_pending_and_older_is_refused() {
    let mut s = fresh();
    let v1 = signed(&manifest(1), &k1());
    accept(&mut s, v1.clone());
    let effects = accept(&mut s, signed(&manifest(2), &k1()));
    assert_eq!(s.pending_version(), Some(2), "v2 replaces pending v1");
    assert_eq!(sync_target(&effects), Some(Some(2)));
    assert_eq!(
        wanted_shas(&effects),
        vec![media(2).sha256],
        "v1's media no longer wanted"
    );

    // The sync of v1 reporting late changes nothing.
    assert!(ignored(&s.on_sync_done(Some(1))));
    assert_eq!(s.pending_version(), Some(2));

    // v1 again (not the pending bytes any more) is not newer than v2: refused.
    let r = rejection_of(&s.on_manifest(v1, now())).clone();
    assert_eq!(
        (r.what.as_str(), r.reason.as_str(), r.version),
        ("manifest", "not_newer", Some(1))
    );
    assert_eq!(s.pending_version(), Some(2));

    // The pending bytes again (a retained replay) are ignored without a rejection.
    assert!(ignored(&s.on_manifest(signed(&manifest(2), &k1()), now())));

    // v2's sync completes: cache check, activation, program, eviction of v1's media.
    let effects = s.on_sync_done(Some(2));
    assert!(
        matches!(&effects[..], [Effect::CheckCache { version: 2, wanted }] if wanted.len() == 1)
    );
    assert!(matches!(
        &s.on_cache_checked(2, Ok(0))[..],
        [Effect::Activate(2)]
    ));
    let effects = s.on_activated(2, Ok(()));
    assert_eq!(program_of(&effects).manifest.map(|m| m.version), Some(2));
    let kept = effects.iter().find_map(|e| match e {
        Effect::Evict(p) => Some(p.clone()),
        _ => None,
    });
    assert_eq!(kept, Some(HashSet::from([media(2).sha256])));
    assert_eq!(s.active().map(|m| m.version), Some(2));
    assert_eq!(s.pending_version(), None);
}

#[test]
fn missing_media_at_activation_syncs_again() {
    let mut s = fresh();
    accept(&mut s, signed(&manifest(1), &k1()));
    s.on_sync_done(Some(1));
    let effects = s.on_cache_checked(1, Ok(1));
    assert_eq!(sync_target(&effects), Some(Some(1)));
    assert!(s.active().is_none());
    assert_eq!(s.pending_version(), Some(1));
}

#[test]
fn manifest_from_unknown_key_is_deferred_then_accepted_after_rotation() {
    let mut s = fresh();
    let early = signed(&manifest(3), &k2());
    let r = rejection_of(&s.on_manifest(early.clone(), now())).clone();
    assert_eq!(r.reason, "unknown_key");
    assert!(s.next_requeued().is_none(), "not retried before a rotation");
    let alert = alerts(1, false, &k2());
    assert_eq!(
        rejection_of(&s.on_alert(alert.clone(), now())).reason,
        "unknown_key"
    );

    let effects = s.on_rotation(rotation_k1_to_k2(), now());
    assert!(matches!(&effects[0], Effect::Save(Save::Rotation(_))));
    let Some(Effect::TrustKeys(keys)) = effects.last() else {
        panic!("expected TrustKeys, got {effects:?}");
    };
    assert!(keys.get(&k2().key_id()).is_some() && keys.get(&k1().key_id()).is_some());

    // Both deferred inputs come back once, in the order they arrived.
    assert_eq!(s.next_requeued(), Some(Incoming::Manifest(early.clone())));
    assert_eq!(s.next_requeued(), Some(Incoming::Alert(alert)));
    assert_eq!(s.next_requeued(), None);
    let effects = s.on_message(Incoming::Manifest(early), now());
    assert!(matches!(&effects[..], [Effect::Save(Save::Pending(h))] if h.manifest.version == 3));
}

#[test]
fn only_the_latest_deferred_manifest_is_retried() {
    let mut s = fresh();
    s.on_manifest(signed(&manifest(3), &k2()), now());
    let later = signed(&manifest(4), &k2());
    s.on_manifest(later.clone(), now());
    s.on_rotation(rotation_k1_to_k2(), now());
    assert_eq!(s.next_requeued(), Some(Incoming::Manifest(later)));
    assert_eq!(s.next_requeued(), None);
}

#[test]
fn refused_rotation_is_reported_and_trust_unchanged() {
    let mut s = fresh();
    let attacker = SecretKey::from_seed([99; 32]);
    let forged = rotation(&attacker, &k2());
    let r = rejection_of(&s.on_rotation(forged, now())).clone();
    assert_eq!(r.what, "rotation");
    let mut st = Status::new("k".into());
    s.fill_status(&mut st);
    assert_eq!(st.controller_key_id, Some(k1().key_id()));
    assert!(
        s.on_rotation(Bytes::new(), now()).is_empty(),
        "empty retained message"
    );
}

#[test]
fn retired_key_is_dropped_when_the_overlap_ends() {
    let mut s = fresh();
    s.on_rotation(rotation_k1_to_k2(), now());
    assert!(s.on_tick(now() + SignedDuration::from_mins(59)).is_empty());
    let effects = s.on_tick(now() + SignedDuration::from_mins(61));
    let [Effect::TrustKeys(keys)] = &effects[..] else {
        panic!("expected TrustKeys, got {effects:?}");
    };
    assert!(keys.get(&k1().key_id()).is_none());
    assert!(keys.get(&k2().key_id()).is_some());
    // A manifest signed by the retired key is now refused.
    let late = now() + SignedDuration::from_mins(61);
    let r = rejection_of(&s.on_manifest(signed(&manifest(1), &k1()), late)).clone();
    assert_eq!(r.reason, "unknown_key");
}

#[test]
fn restart_restores_active_and_resumes_pending() {
    let v1 = signed(&manifest(1), &k1());
    let v2 = signed(&manifest(2), &k1());
    let (mut s, effects) = restore(Persisted {
        active: Some(v1.to_vec()),
        pending: Some(v2.to_vec()),
        alerts: Some(alerts(5, false, &k1()).to_vec()),
        last_accepted: Some(2),
        last_alert: Some(5),
        ..Persisted::default()
    });
    assert_eq!(s.active().map(|m| m.version), Some(1));
    assert_eq!(s.pending_version(), Some(2));
    let program = s.program().expect("a program");
    assert_eq!(program.manifest.map(|m| m.version), Some(1));
    assert_eq!(program.alerts.map(|a| a.version), Some(5));
    // The pending manifest's sync resumes, also healing the active and alert media.
    assert_eq!(sync_target(&effects), Some(Some(2)));
    assert_eq!(
        wanted_shas(&effects),
        vec![media(2).sha256, media(1).sha256, media(200).sha256]
    );
    let mut st = Status::new("k".into());
    s.fill_status(&mut st);
    assert_eq!(
        (st.manifest_version, st.pending_version, st.alert_version),
        (Some(1), Some(2), Some(5))
    );

    // Retained replays of what is held are ignored; the stored versions still count.
    assert!(ignored(&s.on_manifest(v2, now())));
    assert!(ignored(&s.on_alert(alerts(5, false, &k1()), now())));
    let mut other_v2 = manifest(2);
    other_v2.issued_at = now() + SignedDuration::from_secs(1);
    let r = rejection_of(&s.on_manifest(signed(&other_v2, &k1()), now())).clone();
    assert_eq!(r.reason, "not_newer");
}

#[test]
fn restart_rebuilds_trust_from_stored_rotations() {
    let by_k2 = signed(&manifest(1), &k2());
    let (s, _) = restore(Persisted {
        active: Some(by_k2.to_vec()),
        rotations: vec![rotation_k1_to_k2().to_vec()],
        ..Persisted::default()
    });
    assert_eq!(s.active().map(|m| m.version), Some(1));
    let mut st = Status::new("k".into());
    s.fill_status(&mut st);
    assert_eq!(st.controller_key_id, Some(k2().key_id()));

    // Without the statement the same stored manifest no longer verifies: dropped.
    let (s, effects) = restore(Persisted {
        active: Some(by_k2.to_vec()),
        ..Persisted::default()
    });
    assert!(s.active().is_none() && s.program().is_none());
    assert_eq!(sync_target(&effects), Some(None));
}

#[test]
fn alert_set_overrides_at_once_and_a_newer_one_replaces_it() {
    let (mut s, _) = restore(Persisted {
        active: Some(signed(&manifest(1), &k1()).to_vec()),
        last_accepted: Some(1),
        ..Persisted::default()
    });
    let effects = s.on_alert(alerts(1, false, &k1()), now());
    assert!(matches!(
        &effects[0],
        Effect::Save(Save::Alerts { version: 1, .. })
    ));
    let p = program_of(&effects);
    assert_eq!(
        p.manifest.map(|m| m.version),
        Some(1),
        "the schedule stays underneath"
    );
    assert_eq!(p.alerts.map(|a| a.alerts.len()), Some(1));
    assert!(wanted_shas(&effects).contains(&media(200).sha256));

    // An alert set that is not newer is refused; the shown one stays.
    let r = rejection_of(&s.on_alert(alerts(1, true, &k1()), now())).clone();
    assert_eq!((r.what.as_str(), r.reason.as_str()), ("alert", "not_newer"));
    assert_eq!(
        s.program().and_then(|p| p.alerts).map(|a| a.version),
        Some(1)
    );

    // A newer set without alerts cancels it.
    let effects = s.on_alert(alerts(2, true, &k1()), now());
    let a = program_of(&effects).alerts.expect("alert set");
    assert_eq!((a.version, a.alerts.len()), (2, 0));
    // A store failure does not take the alert set back.
    let failed = s.on_saved(
        Save::Alerts {
            bytes: alerts(2, true, &k1()).to_vec(),
            version: 2,
        },
        Err("disk full".into()),
    );
    assert!(
        matches!(&failed[..], [Effect::StorageFailed { status, .. }] if status.contains("alert set version 2"))
    );
    assert_eq!(
        s.program().and_then(|p| p.alerts).map(|a| a.version),
        Some(2)
    );
    assert!(matches!(
        s.owed_save(),
        Some(Save::Alerts { version: 2, .. })
    ));
}

#[test]
fn alerts_play_without_an_active_manifest() {
    let mut s = fresh();
    assert!(s.program().is_none());
    let p = program_of(&s.on_alert(alerts(1, false, &k1()), now()));
    assert!(p.manifest.is_none());
    assert_eq!(p.alerts.map(|a| a.version), Some(1));
}

#[test]
fn unstored_manifest_is_handled_again_once_storage_works() {
    let mut s = fresh();
    let bytes = signed(&manifest(1), &k1());
    let Effect::Save(save) = s.on_manifest(bytes.clone(), now()).remove(0) else {
        panic!("expected Save");
    };
    let effects = s.on_saved(save, Err("No space left on device".into()));
    assert!(
        matches!(&effects[..], [Effect::StorageFailed { status, .. }, Effect::SkipBookkeeping] if status.contains("manifest version 1"))
    );
    assert_eq!(s.pending_version(), None);
    assert!(s.outstanding());

    assert!(s.on_storage_ok(true).is_empty());
    assert_eq!(s.next_requeued(), Some(Incoming::Manifest(bytes.clone())));
    accept(&mut s, bytes);
    assert_eq!(s.pending_version(), Some(1));
    assert!(!s.outstanding());
}

#[test]
fn failed_activation_resyncs_once_storage_works_and_no_sync_runs() {
    let mut s = fresh();
    accept(&mut s, signed(&manifest(1), &k1()));
    s.on_sync_done(Some(1));
    let effects = s.on_activated(1, Err("I/O error".into()));
    assert!(
        matches!(&effects[..], [Effect::StorageFailed { status, .. }, Effect::SkipBookkeeping] if status.contains("activate manifest version 1"))
    );
    assert_eq!(s.pending_version(), Some(1));
    assert!(s.active().is_none());
    assert!(s.outstanding());
    assert!(s.on_storage_ok(false).is_empty(), "a sync is under way");
    assert_eq!(sync_target(&s.on_storage_ok(true)), Some(Some(1)));
    assert!(!s.outstanding());
}

#[test]
fn unstored_rotations_are_stored_in_order() {
    let mut s = fresh();
    let first = rotation_k1_to_k2();
    let Effect::Save(save) = s.on_rotation(first.clone(), now()).remove(0) else {
        panic!("expected Save");
    };
    s.on_saved(save, Err("read-only file system".into()));
    let k3 = SecretKey::from_seed([33; 32]);
    let second = rotation(&k2(), &k3);
    let effects = s.on_rotation(second.clone(), now());
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Save(_))),
        "waits behind the unsaved one"
    );
    let owed = s.owed_save().expect("owed");
    assert!(matches!(&owed, Save::Rotation(b) if b[..] == first[..]));
    s.owed_saved(&owed);
    assert!(matches!(s.owed_save(), Some(Save::Rotation(b)) if b[..] == second[..]));
}
