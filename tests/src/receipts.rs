//! Receipt chains for tests that need large, valid batches.

use playlists::receipt::{
    receipt_hash, Backend, Outcome, Receipt, GENESIS_PREV, MAX_RECEIPT_BYTES,
};

/// Receipts `1..=n` of `screen` at the protocol's per-receipt limits (docs/protocol.md §13):
/// `playlist` and `lang` of 128 bytes each of characters that JSON escapes twice (once in the
/// receipt, once in the batch), and an unknown member that readers ignore. Each receipt stays
/// under [`MAX_RECEIPT_BYTES`] while its share of a batch envelope is about 3 KiB: 1000 of them
/// make a batch of about 2.9 MiB.
pub fn heavy_chain(screen: &str, n: u64) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev = GENESIS_PREV.to_string();
    for seq in 1..=n {
        let mut b = Receipt {
            playlist: "\\".repeat(128),
            lang: "\"".repeat(128),
            ..sample_receipt(screen, seq, &prev)
        }
        .to_bytes();
        b.pop(); // the closing brace
        b.extend_from_slice(b",\"note\":\"");
        b.extend_from_slice("\\\\".repeat(200).as_bytes());
        b.extend_from_slice(b"\"}");
        assert!(b.len() <= MAX_RECEIPT_BYTES);
        Receipt::parse(&b).expect("a valid receipt");
        prev = receipt_hash(&b);
        out.push(b);
    }
    out
}

/// Receipt `seq` of `screen` chained on `prev`: a 9 s play on mpv of playlist `p1`, one every
/// 10 s from a fixed instant, so the same seq always has the same bytes.
pub fn sample_receipt(screen: &str, seq: u64, prev: &str) -> Receipt {
    let start =
        jiff::Timestamp::from_second(1_790_000_000 + seq as i64 * 10).expect("a valid time");
    Receipt {
        seq,
        screen: screen.into(),
        manifest_version: 1,
        playlist: "p1".into(),
        media: "ab".repeat(32),
        lang: "vi".into(),
        started_at: start,
        ended_at: start + jiff::SignedDuration::from_millis(9_000),
        outcome: Outcome::Completed,
        backend: Backend::Mpv,
        clock_synced: true,
        prev: prev.to_string(),
        subtitle_lang: None,
    }
}

/// Receipts `from..=to` of `screen` ([`sample_receipt`]), chained from `prev_of_from`, as
/// exact bytes.
pub fn sample_chain(screen: &str, from: u64, to: u64, prev_of_from: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev = prev_of_from.to_string();
    for seq in from..=to {
        let b = sample_receipt(screen, seq, &prev).to_bytes();
        prev = receipt_hash(&b);
        out.push(b);
    }
    out
}
