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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn assert_corrupt(v: &[u8], why: &str) {
        match decode_run(v) {
            Err(StoreError::Corrupt { what, message }) => {
                assert_eq!(what, "receipt run", "{why}");
                assert!(!message.is_empty(), "{why}");
            }
            Err(e) => panic!("{why}: expected Corrupt, got {e}"),
            Ok(_) => panic!("{why}: malformed run decoded"),
        }
    }

    #[test]
    fn run_round_trips_exact_bytes() {
        let receipts: [&[u8]; 4] = [b"{\"seq\":1}", b"", &[0xff, 0x00, b'/'], &[7u8; 70_000]];
        for n in 0..=receipts.len() {
            let at = "2026-01-05T10:00:00.123Z ä";
            let v = encode_run(at, u64::MAX - n as u64, &receipts[..n]);
            let run = decode_run(&v).unwrap();
            assert_eq!(run.batch_index, u64::MAX - n as u64);
            assert_eq!(run.received_at, at);
            assert_eq!(run.receipts, &receipts[..n]);
        }
    }

    #[test]
    fn run_encoding_is_the_stored_format() {
        // Stored databases hold this layout; changing it needs a schema migration.
        let v = encode_run("t", 2, &[b"ab"]);
        let want: Vec<u8> = [
            &[1u8][..],
            &2u64.to_be_bytes(),
            &1u16.to_be_bytes(),
            b"t",
            &1u32.to_be_bytes(),
            &2u32.to_be_bytes(),
            b"ab",
        ]
        .concat();
        assert_eq!(v, want);
    }

    #[test]
    fn malformed_runs_are_corrupt_not_panics() {
        let good = encode_run("2026-01-05T10:00:00Z", 9, &[b"one", b"two"]);
        assert!(decode_run(&good).is_ok());
        for cut in 0..good.len() {
            assert_corrupt(&good[..cut], &format!("truncated to {cut} bytes"));
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_corrupt(&trailing, "trailing byte");
        let mut format = good.clone();
        format[0] = 2;
        assert_corrupt(&format, "unknown format");
        let mut utf8 = encode_run("ab", 9, &[]);
        utf8[11] = 0xff;
        assert_corrupt(&utf8, "received_at not UTF-8");
        let mut count = encode_run("", 9, &[b"x"]);
        count[14] = 2;
        assert_corrupt(&count, "count larger than the receipts held");
        let mut huge = encode_run("", 9, &[]);
        huge[11..15].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_corrupt(&huge, "absurd count");
    }

    #[test]
    fn cut_runs_splits_at_seq_gaps_and_at_the_span() {
        assert!(cut_runs(&[]).is_empty());
        assert_eq!(cut_runs(&[(5, -3)]), vec![(0, 1, -3)]);
        // Exactly RUN_SPAN_MS apart stays in one run; one ms more starts a new one.
        assert_eq!(
            cut_runs(&[(1, 0), (2, RUN_SPAN_MS), (3, RUN_SPAN_MS + 1)]),
            vec![(0, 2, 0), (2, 3, RUN_SPAN_MS + 1)]
        );
        // A seq gap cuts even when the times are close.
        assert_eq!(
            cut_runs(&[(1, 10), (2, 20), (4, 30), (5, 40)]),
            vec![(0, 2, 10), (2, 4, 30)]
        );
        // Times going backwards: the span counts from the least to the greatest, and the run's
        // time is its least started_at.
        assert_eq!(
            cut_runs(&[(1, 1_000), (2, 0), (3, RUN_SPAN_MS + 1)]),
            vec![(0, 2, 0), (2, 3, RUN_SPAN_MS + 1)]
        );
        assert_eq!(
            cut_runs(&[(1, 500), (2, 0), (3, RUN_SPAN_MS - 1)]),
            vec![(0, 3, 0)]
        );
        // Extreme times do not overflow.
        assert_eq!(
            cut_runs(&[(1, i64::MIN), (2, i64::MAX)]),
            vec![(0, 1, i64::MIN), (1, 2, i64::MAX)]
        );
    }

    #[test]
    fn cut_runs_covers_every_item_once_in_order() {
        let items: Vec<(u64, i64)> = (0..500u64)
            .map(|i| {
                let seq = i + 1 + (i / 97); // a gap every 97 items
                let ms = (i as i64 * 7_919) % (3 * RUN_SPAN_MS) - RUN_SPAN_MS;
                (seq, ms)
            })
            .collect();
        let runs = cut_runs(&items);
        let mut next = 0;
        for &(a, b, lo) in &runs {
            assert_eq!(a, next);
            assert!(b > a);
            let part = &items[a..b];
            assert!(part.windows(2).all(|w| w[1].0 == w[0].0 + 1));
            let min = part.iter().map(|i| i.1).min().unwrap();
            let max = part.iter().map(|i| i.1).max().unwrap();
            assert_eq!(lo, min);
            assert!(max - min <= RUN_SPAN_MS);
            next = b;
        }
        assert_eq!(next, items.len());
    }

    #[test]
    fn time_key_byte_order_is_time_order() {
        let times = [
            i64::MIN,
            i64::MIN + 1,
            -RUN_SPAN_MS,
            -1,
            0,
            1,
            1_767_607_200_000,
            i64::MAX - 1,
            i64::MAX,
        ];
        let keys = [
            seq_key(b"gate-a", 1),
            seq_key(b"gate-a", 2),
            seq_key(b"gate-b", 0),
        ];
        let mut pairs = Vec::new();
        for &ms in &times {
            for k in &keys {
                pairs.push(((ms, k.clone()), time_key(ms, k)));
            }
        }
        for (x, kx) in &pairs {
            for (y, ky) in &pairs {
                assert_eq!(x.cmp(y), kx.cmp(ky), "{x:?} vs {y:?}");
            }
        }
        for w in times.windows(2) {
            assert!(time_prefix(w[0]) < time_prefix(w[1]));
        }
    }

    #[test]
    fn seq_keys_split_back_and_sort_by_seq() {
        for (screen, seq) in [("s1", 0), ("gate-7-left", 1), ("x", u64::MAX)] {
            let k = receipt_key(screen, seq);
            assert_eq!(split_seq_key(&k).unwrap(), (screen.as_bytes(), seq));
        }
        assert!(receipt_key("s", 255) < receipt_key("s", 256));
        assert!(receipt_key("s", u64::MAX) < receipt_key("s0", 0));
        assert!(matches!(
            split_seq_key(b"short"),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
