//! Structure-aware manifest/alert-set verification: the fuzzer's bytes are the *payload*, signed
//! here with the fixed trusted controller key, so the fuzzer gets past the signature check and
//! exercises payload parsing, the screen/version/expiry rules and `Manifest::validate`.
//!
//! Input: byte 0 = options (bits 0-2: payloadType to sign as; bit 7: a last accepted version is
//! set, bits 3-6 its value), then the payload. Invariants: nothing panics; signed as another
//! type → `wrong_type`; an accepted manifest is for our screen, newer, unexpired and valid, its
//! schedule resolves (exactly one playlist, `next_change` after now, variants listed), and its
//! re-serialization signs and verifies to the same manifest.
#![no_main]

use gatecast_fuzz::{controller_key, controller_trusted, now, SCREEN};
use libfuzzer_sys::fuzz_target;
use playlists::envelope::{
    Envelope, ACK_TYPE, ALERT_TYPE, CHECKPOINT_TYPE, MANIFEST_TYPE, RECEIPTS_TYPE,
};
use playlists::manifest::{verify_alerts, verify_manifest, RejectReason};
use playlists::schedule;

const TYPES: [&str; 8] = [
    MANIFEST_TYPE,
    ALERT_TYPE,
    MANIFEST_TYPE,
    ALERT_TYPE,
    RECEIPTS_TYPE,
    ACK_TYPE,
    CHECKPOINT_TYPE,
    "application/vnd.gatecast.manifest+json ",
];

fuzz_target!(|data: &[u8]| {
    let Some((&opt, payload)) = data.split_first() else {
        return;
    };
    let ty = TYPES[usize::from(opt & 7)];
    let last = (opt & 0x80 != 0).then_some(u64::from((opt >> 3) & 0x0f));
    let key = controller_key();
    let keys = controller_trusted();
    let env = Envelope::sign(ty, payload.to_vec(), &key).to_json();

    match verify_manifest(&env, &keys, SCREEN, last, now()) {
        Ok(m) => {
            assert_eq!(ty, MANIFEST_TYPE);
            assert_eq!(m.screen, SCREEN);
            assert!(last.is_none_or(|l| m.version > l));
            assert!(m.expires_at > now());
            m.validate().expect("an accepted manifest is valid");
            let active = schedule::active_playlist(&m, now());
            assert!(m.playlists.iter().any(|p| std::ptr::eq(p, active.playlist)));
            if let Some(t) = schedule::next_change(&m, now()) {
                assert!(t > now());
            }
            for item in &active.playlist.items {
                for rot in 0..=m.languages.len() as u64 {
                    let v = schedule::pick_variant(&m, item, rot);
                    assert!(v.sha256 == item.media || item.variants.contains(&v.sha256));
                }
            }
            let again = m.sign(&key).expect("a valid manifest signs").to_json();
            let m2 = verify_manifest(&again, &keys, SCREEN, last, now())
                .expect("re-serialized manifest verifies");
            assert_eq!(m, m2, "manifest does not survive a JSON round trip");
        }
        Err(r) => {
            assert!(RejectReason::ALL.contains(&r.reason));
            if ty != MANIFEST_TYPE {
                assert_eq!(r.reason, RejectReason::WrongType);
            }
        }
    }

    match verify_alerts(&env, &keys, SCREEN, last) {
        Ok(a) => {
            assert_eq!(ty, ALERT_TYPE);
            assert_eq!(a.screen, SCREEN);
            assert!(last.is_none_or(|l| a.version > l));
            a.validate().expect("an accepted alert set is valid");
            if let Some(active) = schedule::active_alert(&a, now()) {
                assert!(now() < active.expires_at);
                assert!(a
                    .alerts
                    .iter()
                    .filter(|x| now() < x.expires_at)
                    .all(|x| x.priority <= active.priority));
            }
            if let Some(t) = schedule::next_alert_change(&a, now()) {
                assert!(t > now());
            }
            let again = a.sign(&key).expect("a valid alert set signs").to_json();
            let a2 = verify_alerts(&again, &keys, SCREEN, last).expect("round trip verifies");
            assert_eq!(a, a2, "alert set does not survive a JSON round trip");
        }
        Err(r) => {
            assert!(RejectReason::ALL.contains(&r.reason));
            if ty != ALERT_TYPE {
                assert_eq!(r.reason, RejectReason::WrongType);
            }
        }
    }
});
