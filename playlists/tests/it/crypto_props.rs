//! Property tests for envelopes, receipts chains and Merkle proofs.

use playlists::envelope::{self, Envelope, EnvelopeError, MANIFEST_TYPE, RECEIPTS_TYPE};
use playlists::keys::{KeySet, SecretKey};
use playlists::merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion, Hash,
};
use playlists::receipt::{
    receipt_hash, sign_batch, verify_batch, Backend, BatchError, ChainTip, Outcome, Receipt,
    GENESIS_PREV,
};
use proptest::prelude::*;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn types() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        envelope::MANIFEST_TYPE,
        envelope::ALERT_TYPE,
        envelope::RECEIPTS_TYPE,
        envelope::ACK_TYPE,
        envelope::CHECKPOINT_TYPE,
    ])
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(payload in prop::collection::vec(any::<u8>(), 0..512),
                                    t in types(), seed in any::<u8>()) {
        let k = key(seed);
        let bytes = Envelope::sign(t, payload.clone(), &k).to_json();
        let v = envelope::verify(&bytes, t, &KeySet::from_keys([k.public()])).unwrap();
        prop_assert_eq!(v.payload, payload);
        prop_assert_eq!(v.key_id, k.key_id());
        prop_assert_eq!(Envelope::parse(&bytes).unwrap().to_json(), bytes);
    }

    #[test]
    fn signed_as_one_type_never_verifies_as_another(t1 in types(), t2 in types()) {
        prop_assume!(t1 != t2);
        let k = key(1);
        let bytes = Envelope::sign(t1, b"{}".to_vec(), &k).to_json();
        let r = envelope::verify(&bytes, t2, &KeySet::from_keys([k.public()]));
        prop_assert!(
            matches!(r, Err(EnvelopeError::WrongType { .. })),
            "unexpected {:?}",
            r
        );
    }

    #[test]
    fn any_flipped_payload_byte_is_rejected(payload in prop::collection::vec(any::<u8>(), 1..256),
                                            idx in any::<prop::sample::Index>(), bit in 0u8..8) {
        let k = key(2);
        let mut env = Envelope::sign(MANIFEST_TYPE, payload, &k);
        let i = idx.index(env.payload.len());
        env.payload[i] ^= 1 << bit;
        let r = envelope::verify(&env.to_json(), MANIFEST_TYPE, &KeySet::from_keys([k.public()]));
        prop_assert_eq!(r, Err(EnvelopeError::BadSignature { keyid: k.key_id() }));
    }

    #[test]
    fn any_flipped_signature_byte_is_rejected(payload in prop::collection::vec(any::<u8>(), 0..256),
                                              idx in 0usize..64, bit in 0u8..8) {
        let k = key(3);
        let mut env = Envelope::sign(MANIFEST_TYPE, payload, &k);
        env.signatures[0].sig[idx] ^= 1 << bit;
        let r = envelope::verify(&env.to_json(), MANIFEST_TYPE, &KeySet::from_keys([k.public()]));
        prop_assert_eq!(r, Err(EnvelopeError::BadSignature { keyid: k.key_id() }));
    }

    #[test]
    fn any_flipped_byte_of_the_envelope_text_is_rejected(
        payload in prop::collection::vec(any::<u8>(), 0..128),
        idx in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let k = key(4);
        let mut bytes = Envelope::sign(MANIFEST_TYPE, payload, &k).to_json();
        let i = idx.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let r = envelope::verify(&bytes, MANIFEST_TYPE, &KeySet::from_keys([k.public()]));
        prop_assert!(r.is_err(), "flipping bit {} of byte {} was accepted", bit, i);
    }
}

fn leaves(n: usize, salt: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| leaf_hash(&[i.to_le_bytes(), salt.to_le_bytes()].concat()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn inclusion_proofs_verify_and_tampering_fails(n in 1usize..=300, idx in any::<prop::sample::Index>(),
                                                   salt in any::<u64>(), which in any::<prop::sample::Index>(),
                                                   bit in 0u8..8) {
        let l = leaves(n, salt);
        let i = idx.index(n);
        let r = root(&l);
        let p = inclusion_proof(&l, i);
        prop_assert!(verify_inclusion(&l[i], i as u64, n as u64, &p, &r));
        // Wrong leaf, wrong root.
        let mut other = l[i];
        other[0] ^= 1;
        prop_assert!(!verify_inclusion(&other, i as u64, n as u64, &p, &r));
        prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &p, &other));
        if !p.is_empty() {
            let mut bad = p.clone();
            let j = which.index(bad.len());
            bad[j][j % 32] ^= 1 << bit;
            prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &bad, &r));
            prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &p[..p.len() - 1], &r));
        }
        let mut longer = p.clone();
        longer.push(r);
        prop_assert!(!verify_inclusion(&l[i], i as u64, n as u64, &longer, &r));
    }

    #[test]
    fn consistency_proofs_verify_and_tampering_fails(n in 1usize..=300, m in any::<prop::sample::Index>(),
                                                     salt in any::<u64>(), which in any::<prop::sample::Index>(),
                                                     bit in 0u8..8) {
        let l = leaves(n, salt);
        let m = m.index(n) + 1; // 1..=n
        let (old, new) = (root(&l[..m]), root(&l));
        let p = consistency_proof(&l, m);
        prop_assert!(verify_consistency(m as u64, n as u64, &old, &new, &p));
        if m < n {
            let mut bad_old = old;
            bad_old[5] ^= 1 << bit;
            prop_assert!(!verify_consistency(m as u64, n as u64, &bad_old, &new, &p));
            let mut bad_new = new;
            bad_new[7] ^= 1 << bit;
            prop_assert!(!verify_consistency(m as u64, n as u64, &old, &bad_new, &p));
            let mut bad = p.clone();
            let j = which.index(bad.len());
            bad[j][31 - j % 32] ^= 1 << bit;
            prop_assert!(!verify_consistency(m as u64, n as u64, &old, &new, &bad));
            prop_assert!(!verify_consistency(m as u64, n as u64, &old, &new, &p[..p.len() - 1]));
            // A tree that changed one old leaf is not consistent with the old root.
            let mut changed = l.clone();
            changed[which.index(m)][0] ^= 1;
            let changed_root = root(&changed);
            let p2 = consistency_proof(&changed, m);
            prop_assert!(!verify_consistency(m as u64, n as u64, &old, &changed_root, &p2));
        }
    }
}

fn receipt(seq: u64, prev: &str, media_byte: u8) -> Receipt {
    let start = jiff::Timestamp::from_second(1_764_144_000 + seq as i64 * 30).unwrap();
    Receipt {
        seq,
        screen: "huu-nghi-2".into(),
        manifest_version: 7,
        playlist: "main".into(),
        media: format!("{media_byte:02x}").repeat(32),
        lang: "en".into(),
        started_at: start,
        ended_at: start + jiff::SignedDuration::from_secs(20),
        outcome: Outcome::Completed,
        backend: Backend::Null,
        clock_synced: false,
        prev: prev.into(),
        subtitle_lang: None,
    }
}

fn chain(n: u64) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seq in 1..=n {
        let prev = out
            .last()
            .map_or(GENESIS_PREV.to_string(), |b| receipt_hash(b));
        out.push(receipt(seq, &prev, seq as u8).to_bytes());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_split_of_a_chain_verifies_and_any_dropped_receipt_is_a_gap(
        n in 2u64..40, stored_n in any::<prop::sample::Index>(), drop in any::<prop::sample::Index>(),
    ) {
        let c = chain(n);
        let k = key(5);
        let stored_n = stored_n.index(n as usize);
        let hashes: Vec<String> = c.iter().map(|b| receipt_hash(b)).collect();
        let tip = (stored_n > 0).then(|| ChainTip { seq: stored_n as u64, hash: hashes[stored_n - 1].clone() });
        let lookup = |s: u64| hashes.get(s as usize - 1).filter(|_| s as usize <= stored_n).cloned();
        let env = sign_batch("huu-nghi-2", &c[stored_n..], &k).to_json();
        let v = verify_batch(&env, &k.public(), "huu-nghi-2", tip.as_ref(), &lookup).unwrap();
        prop_assert_eq!(v.tip.seq, n);
        prop_assert_eq!(v.new.len(), n as usize - stored_n);

        // Dropping one receipt from the middle of the new part always leaves a gap.
        let new_part = &c[stored_n..];
        if new_part.len() >= 3 {
            let d = drop.index(new_part.len() - 2) + 1; // neither the first nor the last
            let mut broken = new_part.to_vec();
            broken.remove(d);
            let env = sign_batch("huu-nghi-2", &broken, &k).to_json();
            let r = verify_batch(&env, &k.public(), "huu-nghi-2", tip.as_ref(), &lookup);
            prop_assert!(matches!(r, Err(BatchError::SeqGap { .. })), "unexpected {:?}", r);
        }
    }
}

#[test]
fn receipts_type_constant_is_used_for_batches() {
    let k = key(6);
    let env = sign_batch("huu-nghi-2", &chain(1), &k);
    assert_eq!(env.payload_type, RECEIPTS_TYPE);
}
