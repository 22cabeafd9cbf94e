//! `verify_manifest` / `verify_alerts` on raw envelope bytes with a fixed trusted controller key.
//!
//! The first input byte picks `last_accepted_version` (None or a small number) so the version
//! rule is reached by the signed seeds; the rest is the envelope. Invariants: nothing panics;
//! an accepted manifest is for our screen, newer than the last accepted version, unexpired and
//! valid; a rejection carries one of the documented reasons.
#![no_main]

use gatecast_fuzz::{controller_trusted, now, SCREEN};
use libfuzzer_sys::fuzz_target;
use playlists::manifest::{verify_alerts, verify_manifest, RejectReason};

fuzz_target!(|data: &[u8]| {
    let Some((&opt, envelope)) = data.split_first() else {
        return;
    };
    let last = (opt & 0x80 != 0).then_some(u64::from(opt & 0x0f));
    let keys = controller_trusted();
    match verify_manifest(envelope, &keys, SCREEN, last, now()) {
        Ok(m) => {
            assert_eq!(m.screen, SCREEN);
            assert!(last.is_none_or(|l| m.version > l));
            assert!(m.expires_at > now());
            m.validate().expect("an accepted manifest is valid");
        }
        Err(r) => assert!(RejectReason::ALL.contains(&r.reason)),
    }
    match verify_alerts(envelope, &keys, SCREEN, last) {
        Ok(a) => {
            assert_eq!(a.screen, SCREEN);
            assert!(last.is_none_or(|l| a.version > l));
            a.validate().expect("an accepted alert set is valid");
        }
        Err(r) => assert!(RejectReason::ALL.contains(&r.reason)),
    }
});
