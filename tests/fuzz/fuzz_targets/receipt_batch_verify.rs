//! Receipt batch verification (`verify_batch`) and ack verification (`verify_ack`) with random
//! chain tips and stored lookups.
//!
//! Input: byte 0 picks the mode:
//! * 0 — raw: the rest (after a tip header) is a batch *payload*, signed here with the fixed
//!   device key so the fuzzer reaches payload parsing and the chain rules;
//! * 1 — structured: a chain of receipts is built from the bytes (mostly valid, linked and
//!   consecutive, with occasional wrong screens, seqs, prevs or raw texts), signed, and checked
//!   against a stored prefix of itself or a random tip;
//! * 2 — unsigned: the rest is raw envelope bytes;
//! * 3 — ack: the rest is an ack payload signed with the controller key.
//!
//! Tip header (modes 0 and 2): one byte `t` (`t % 8` in 0..=5: the first `t` receipts of the
//! `docs/test-vectors/receipts.json` chain are stored; 6: a random tip whose lookups answer a
//! random hash or nothing; 7: tip seq `u64::MAX`), then 8 bytes of seq and 32 bytes of hash for
//! the random tips.
//!
//! Invariants: nothing panics; an accepted batch is for our screen, consecutive, linked, its
//! old part matches the store byte for byte, its new part continues the tip, and the returned tip
//! is the last receipt; uploading the same batch again after storing it is a pure duplicate; a
//! clean structured chain from genesis is always accepted.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use gatecast_fuzz::{controller_key, controller_trusted, device_key, Bytes, SCREEN};
use libfuzzer_sys::fuzz_target;
use playlists::envelope::{Envelope, RECEIPTS_TYPE};
use playlists::hex::encode as hex;
use playlists::receipt::{
    receipt_hash, sign_batch, verify_ack, verify_batch, Backend, ChainTip, Outcome, Receipt,
    VerifiedBatch, GENESIS_PREV,
};

/// `(seq, hash)` of the receipts of the published test-vector chain.
fn vector_chain() -> &'static Vec<(u64, String)> {
    static CHAIN: OnceLock<Vec<(u64, String)>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/test-vectors/receipts.json"))
                .expect("receipts.json is JSON");
        v["chain"]
            .as_array()
            .expect("chain array")
            .iter()
            .map(|r| {
                (
                    r["seq"].as_u64().expect("seq"),
                    r["hash"].as_str().expect("hash").to_owned(),
                )
            })
            .collect()
    })
}

struct Store {
    tip: Option<ChainTip>,
    stored: BTreeMap<u64, String>,
    /// For random tips: what a lookup of an unknown seq answers.
    default: Option<String>,
}

impl Store {
    fn lookup(&self, seq: u64) -> Option<String> {
        self.stored
            .get(&seq)
            .cloned()
            .or_else(|| self.default.clone())
    }

    fn prefix(chain: &[(u64, String)]) -> Store {
        Store {
            tip: chain.last().map(|(s, h)| ChainTip {
                seq: *s,
                hash: h.clone(),
            }),
            stored: chain.iter().cloned().collect(),
            default: None,
        }
    }
}

fn tip_header(b: &mut Bytes) -> Store {
    let t = b.u8() % 8;
    let seq = b.u64();
    let hash = hex(b.bytes(32));
    let chain = vector_chain();
    match t {
        0..=5 => Store::prefix(&chain[..usize::from(t).min(chain.len())]),
        6 => Store {
            tip: Some(ChainTip {
                seq,
                hash: hash.clone(),
            }),
            stored: BTreeMap::new(),
            default: (seq & 1 == 1).then_some(hash),
        },
        _ => {
            let mut s = Store::prefix(chain);
            s.tip = Some(ChainTip {
                seq: u64::MAX,
                hash,
            });
            s
        }
    }
}

fn check(store: &Store, res: &Result<VerifiedBatch, playlists::receipt::BatchError>) {
    let Ok(vb) = res else {
        return;
    };
    assert_eq!(vb.screen, SCREEN);
    assert!(!vb.receipts.is_empty());
    let tip_seq = store.tip.as_ref().map_or(0, |t| t.seq);
    for (i, (r, bytes)) in vb.receipts.iter().enumerate() {
        assert_eq!(r.screen, SCREEN);
        assert_eq!(&Receipt::parse(bytes).expect("accepted receipt parses"), r);
        if i > 0 {
            let (p, pb) = &vb.receipts[i - 1];
            assert_eq!(Some(r.seq), p.seq.checked_add(1), "not consecutive");
            assert_eq!(r.prev, receipt_hash(pb), "not linked");
        }
        let is_new = vb.new.contains(&i);
        assert_eq!(is_new, r.seq > tip_seq, "new/old split wrong at #{i}");
        if !is_new {
            assert_eq!(store.lookup(r.seq), Some(receipt_hash(bytes)));
        }
    }
    assert!(vb.new.windows(2).all(|w| w[1] == w[0] + 1));
    match vb.new.first() {
        Some(&first) => {
            let (r, _) = &vb.receipts[first];
            assert_eq!(r.seq, tip_seq + 1);
            let want = store.tip.as_ref().map_or(GENESIS_PREV, |t| t.hash.as_str());
            assert_eq!(r.prev, want);
            let (last, lb) = vb.receipts.last().expect("non-empty");
            assert_eq!(vb.tip.seq, last.seq);
            assert_eq!(vb.tip.hash, receipt_hash(lb));
        }
        None => assert_eq!(Some(&vb.tip), store.tip.as_ref()),
    }
}

/// After storing an accepted batch, the same envelope again must be a pure duplicate.
fn replay_is_duplicate(env: &[u8], store: &Store, vb: &VerifiedBatch) {
    let mut stored = store.stored.clone();
    for (r, bytes) in &vb.receipts {
        stored.insert(r.seq, receipt_hash(bytes));
    }
    let after = Store {
        tip: Some(vb.tip.clone()),
        stored,
        default: store.default.clone(),
    };
    let again = verify_batch(
        env,
        &device_key().public(),
        SCREEN,
        after.tip.as_ref(),
        &|s| after.lookup(s),
    )
    .expect("a replayed accepted batch verifies");
    assert!(
        again.new.is_empty(),
        "a replayed batch produced new receipts"
    );
    assert_eq!(again.tip, vb.tip);
}

fn run(env: &[u8], store: &Store) -> Result<VerifiedBatch, playlists::receipt::BatchError> {
    let res = verify_batch(
        env,
        &device_key().public(),
        SCREEN,
        store.tip.as_ref(),
        &|s| store.lookup(s),
    );
    check(store, &res);
    if let Ok(vb) = &res {
        replay_is_duplicate(env, store, vb);
    }
    res
}

const SCREENS: [&str; 4] = [SCREEN, SCREEN, SCREEN, "mong-cai-2"];
const LABELS: [&str; 6] = ["main", "vi", "en", "x", "", "a\u{7}b"];

fn structured(b: &mut Bytes) {
    let n = 1 + b.below(6);
    let start = match b.u8() % 8 {
        0..=4 => 1,
        5 => u64::from(b.u8()),
        6 => u64::MAX - u64::from(b.u8() % 4),
        _ => b.u64(),
    };
    let mut clean = start == 1;
    let mut texts: Vec<Vec<u8>> = Vec::new();
    let mut seq = start;
    let mut prev = GENESIS_PREV.to_string();
    for i in 0..n {
        let flags = b.u8();
        let fault = flags & 0x80 != 0;
        clean &= !fault;
        if i > 0 {
            seq = if fault && flags & 0x07 == 1 {
                b.u64()
            } else {
                seq.wrapping_add(1)
            };
        }
        let pick = |bit: u8, ok: &'static str, bad: &'static str| {
            if fault && flags & 0x07 == bit {
                bad
            } else {
                ok
            }
        };
        let r = Receipt {
            seq,
            screen: pick(2, SCREEN, SCREENS[usize::from(flags >> 3) & 3]).to_owned(),
            manifest_version: u64::from(b.u16()),
            playlist: pick(3, "main", LABELS[usize::from(flags >> 3) % LABELS.len()]).to_owned(),
            media: if fault && flags & 0x07 == 4 {
                b.string(70)
            } else {
                hex(&[b.u8(); 32])
            },
            lang: "vi".to_owned(),
            started_at: jiff::Timestamp::from_second(i64::from(b.u32()))
                .expect("in range")
                .checked_add(jiff::SignedDuration::from_millis(i64::from(b.u16())))
                .expect("in range"),
            ended_at: jiff::Timestamp::from_second(i64::from(b.u32())).expect("in range"),
            outcome: [Outcome::Completed, Outcome::Interrupted, Outcome::Failed][b.below(3)],
            backend: [Backend::Mpv, Backend::Null][b.below(2)],
            clock_synced: b.bool(),
            prev: if fault && flags & 0x07 == 5 {
                hex(b.bytes(32))
            } else {
                prev.clone()
            },
            subtitle_lang: None,
        };
        let mut text = r.to_bytes();
        if fault && flags & 0x07 == 6 {
            text = b.bytes(200).to_vec();
        } else if fault && flags & 0x07 == 7 {
            // Same receipt, different bytes (whitespace): must be a different hash.
            text.insert(1, b' ');
        }
        prev = receipt_hash(&text);
        texts.push(text);
    }
    let batch_screen = if b.u8() & 0x1f == 0x1f {
        clean = false;
        b.string(70)
    } else {
        SCREEN.to_owned()
    };
    let env = sign_batch(&batch_screen, &texts, &device_key()).to_json();

    // Which part of the chain is already stored (with the exact hashes), or a random tip.
    let sel = b.u8();
    let hashes: Vec<(u64, String)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (start.wrapping_add(i as u64), receipt_hash(t)))
        .collect();
    let store = match sel % 4 {
        0 => Store::prefix(&[]),
        1 | 2 => {
            let k = b.below(n + 1);
            let mut s = Store::prefix(&hashes[..k]);
            if sel & 0x40 != 0 {
                clean = false;
                if let Some(k) = s.stored.keys().next().copied() {
                    s.stored.remove(&k); // an inconsistent store
                }
            }
            s
        }
        _ => {
            clean = false;
            Store {
                tip: Some(ChainTip {
                    seq: b.u64(),
                    hash: hex(b.bytes(32)),
                }),
                stored: BTreeMap::new(),
                default: b.bool().then(|| hex(b.bytes(32))),
            }
        }
    };
    let res = run(&env, &store);
    if clean {
        let vb = res.expect("a clean chain from genesis is accepted");
        let tip_seq = store.tip.as_ref().map_or(0, |t| t.seq);
        assert_eq!(vb.new.len() as u64, n as u64 - tip_seq);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    match b.u8() % 4 {
        0 => {
            let store = tip_header(&mut b);
            let env = Envelope::sign(RECEIPTS_TYPE, b.rest().to_vec(), &device_key()).to_json();
            let _ = run(&env, &store);
        }
        1 => structured(&mut b),
        2 => {
            let store = tip_header(&mut b);
            let _ = run(b.rest(), &store);
        }
        _ => {
            let payload = b.rest().to_vec();
            let env = playlists::envelope::Envelope::sign(
                playlists::envelope::ACK_TYPE,
                payload,
                &controller_key(),
            )
            .to_json();
            let key_id = device_key().key_id();
            let own = playlists::receipt::OwnChain {
                screen: SCREEN,
                epoch: 1,
                key_id: &key_id,
            };
            if let Ok(ack) = verify_ack(&env, &controller_trusted(), &own) {
                assert_eq!(ack.screen, SCREEN);
                assert_eq!(ack.epoch, 1);
            }
            // An ack must never verify under the device key alone (a player forging acks).
            let dev = playlists::keys::KeySet::from_keys([device_key().public()]);
            assert!(verify_ack(&env, &dev, &own).is_err());
        }
    }
});
