//! The pure encoding of stored receipts: keys, the time index's keys, and runs (the new
//! receipts of one batch in one value). No database access here, so it is unit-tested alone.

use super::{be_u64, corrupt, Result};

/// `screen` `/` seq(u64): the key of the run starting at `seq`.
pub(super) fn receipt_key(screen: &str, seq: u64) -> Vec<u8> {
    seq_key(screen.as_bytes(), seq)
}

/// `screen` `/` seq(u64): the key of receipt runs and manifest history.
pub(super) fn seq_key(screen: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(screen.len() + 9);
    k.extend_from_slice(screen);
    k.push(b'/');
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Splits a [`seq_key`] into the screen bytes and the seq.
pub(super) fn split_seq_key(key: &[u8]) -> Result<(&[u8], u64)> {
    let split = key
        .len()
        .checked_sub(9)
        .ok_or_else(|| corrupt("receipt run", "short key"))?;
    Ok((&key[..split], be_u64("receipt run key", &key[split + 1..])?))
}

/// Order-preserving encoding of a signed millisecond timestamp.
pub(super) fn time_prefix(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1u64 << 63)).to_be_bytes()
}

/// The time-index key of the run at `key` ([`seq_key`]) whose least started_at is `ms`.
pub(super) fn time_key(ms: i64, key: &[u8]) -> Vec<u8> {
    let mut k = time_prefix(ms).to_vec();
    k.extend_from_slice(key);
    k
}

/// Longest span of `started_at` inside one stored run of receipts (one hour).
pub const RUN_SPAN_MS: i64 = 3_600_000;

/// Format tag of a run value.
const RUN_FORMAT: u8 = 1;

/// Encodes a run: format byte, batch_index (u64), received_at (u16 length + UTF-8), receipt
/// count (u32), then each receipt as u32 length + exact bytes.
pub(super) fn encode_run(received_at: &str, batch_index: u64, receipts: &[&[u8]]) -> Vec<u8> {
    let len = 15 + received_at.len() + receipts.iter().map(|r| 4 + r.len()).sum::<usize>();
    let mut v = Vec::with_capacity(len);
    v.push(RUN_FORMAT);
    v.extend_from_slice(&batch_index.to_be_bytes());
    v.extend_from_slice(&(received_at.len() as u16).to_be_bytes());
    v.extend_from_slice(received_at.as_bytes());
    v.extend_from_slice(&(receipts.len() as u32).to_be_bytes());
    for r in receipts {
        v.extend_from_slice(&(r.len() as u32).to_be_bytes());
        v.extend_from_slice(r);
    }
    v
}

/// A decoded run, borrowing the stored value.
pub(super) struct Run<'a> {
    pub(super) batch_index: u64,
    pub(super) received_at: &'a str,
    pub(super) receipts: Vec<&'a [u8]>,
}

/// Decodes a run written by [`encode_run`]; a malformed value is [`super::StoreError::Corrupt`].
pub(super) fn decode_run(v: &[u8]) -> Result<Run<'_>> {
    let bad = |what: &str| corrupt("receipt run", what.to_string());
    let mut rest = v;
    let mut take = |n: usize| -> Result<&[u8]> {
        if rest.len() < n {
            return Err(bad("truncated"));
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Ok(a)
    };
    if take(1)? != [RUN_FORMAT] {
        return Err(bad("unknown format"));
    }
    let batch_index = u64::from_be_bytes(take(8)?.try_into().map_err(|_| bad("index"))?);
    let n = u16::from_be_bytes(take(2)?.try_into().map_err(|_| bad("length"))?) as usize;
    let received_at = std::str::from_utf8(take(n)?).map_err(|_| bad("received_at not UTF-8"))?;
    let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("count"))?) as usize;
    let mut receipts = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("length"))?) as usize;
        receipts.push(take(n)?);
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(Run {
        batch_index,
        received_at,
        receipts,
    })
}

/// Cuts the new receipts of a batch into runs: consecutive seqs whose `started_at` stay within
/// [`RUN_SPAN_MS`] of each other. Returns `(first index, end index, least started ms)`.
pub(super) fn cut_runs(items: &[(u64, i64)]) -> Vec<(usize, usize, i64)> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < items.len() {
        let (mut lo, mut hi) = (items[start].1, items[start].1);
        let mut end = start + 1;
        while end < items.len() {
            let (seq, ms) = items[end];
            let (nlo, nhi) = (lo.min(ms), hi.max(ms));
            if seq != items[end - 1].0 + 1 || nhi.saturating_sub(nlo) > RUN_SPAN_MS {
                break;
            }
            (lo, hi) = (nlo, nhi);
            end += 1;
        }
        runs.push((start, end, lo));
        start = end;
    }
    runs
}
