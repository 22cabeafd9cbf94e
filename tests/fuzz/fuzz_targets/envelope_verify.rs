//! Envelope decode + verify against a fixed key set, for every payloadType, and every typed
//! verifier (manifest, alert set, receipts batch, ack, checkpoint) on the same bytes.
//!
//! Invariants: nothing panics; a parsed envelope re-encodes to JSON that parses back to the same
//! envelope; `verify` equals `parse` then `Envelope::verify`; an envelope that verifies for type
//! T has payloadType T and fails with `WrongType` for every other type; nothing verifies under
//! the unrelated key or an empty key set.
#![no_main]

use gatecast_fuzz::{controller_trusted, device_key, now, other_key, trusted, SCREEN};
use libfuzzer_sys::fuzz_target;
use playlists::envelope::{
    self, Envelope, EnvelopeError, ACK_TYPE, ALERT_TYPE, CHECKPOINT_TYPE, MANIFEST_TYPE,
    RECEIPTS_TYPE,
};
use playlists::keys::KeySet;

const TYPES: [&str; 5] = [
    MANIFEST_TYPE,
    ALERT_TYPE,
    RECEIPTS_TYPE,
    ACK_TYPE,
    CHECKPOINT_TYPE,
];

fuzz_target!(|data: &[u8]| {
    let keys = trusted();
    let parsed = Envelope::parse(data);
    if let Ok(env) = &parsed {
        let again = Envelope::parse(&env.to_json()).expect("a parsed envelope re-encodes validly");
        assert_eq!(&again, env, "re-encoded envelope differs");
        assert!(!env.signatures.is_empty() && env.signatures.len() <= envelope::MAX_SIGNATURES);
    }
    for t in TYPES {
        let v = envelope::verify(data, t, &keys);
        let via_parse = parsed.clone().and_then(|e| e.verify(t, &keys));
        assert_eq!(v, via_parse, "verify differs from parse+verify");
        if let Ok(ok) = &v {
            assert_eq!(ok.payload_type, t);
            for other in TYPES.iter().filter(|o| **o != t) {
                assert!(matches!(
                    envelope::verify(data, other, &keys),
                    Err(EnvelopeError::WrongType { .. })
                ));
            }
        }
        assert!(
            envelope::verify(data, t, &KeySet::from_keys([other_key().public()])).is_err()
                || parsed
                    .as_ref()
                    .is_ok_and(|e| e.signatures.iter().any(|s| s.keyid == other_key().key_id())),
            "verified under the unrelated key without a signature claiming it"
        );
        assert!(envelope::verify(data, t, &KeySet::new()).is_err());
    }

    // The typed entry points on the same bytes: they must only fail cleanly.
    let ctl = controller_trusted();
    let _ = playlists::manifest::verify_manifest(data, &ctl, SCREEN, None, now());
    let _ = playlists::manifest::verify_alerts(data, &ctl, SCREEN, None);
    let own = playlists::receipt::OwnChain {
        screen: SCREEN,
        epoch: 1,
        key_id: &device_key().key_id(),
    };
    let _ = playlists::receipt::verify_ack(data, &ctl, &own);
    let _ = playlists::merkle::verify_checkpoint(data, &ctl);
    let _ = playlists::receipt::verify_batch(data, &device_key().public(), SCREEN, None, &|_| None);
});
