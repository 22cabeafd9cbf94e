//! Playback receipts (`docs/protocol.md` §13): one per play, hash-chained per screen, uploaded in signed
//! batches and acknowledged with signed acks.
//!
//! # Receipt bytes
//!
//! [`Receipt::to_bytes`] is compact JSON with the fields in this fixed order:
//! `seq, screen, manifest_version, playlist, media, lang, started_at, ended_at, outcome, backend,
//! clock_synced, prev`. Timestamps are RFC 3339 UTC strings with exactly three fractional digits
//! (milliseconds, truncated), e.g. `"2025-11-26T08:00:00.000Z"`. Example:
//!
//! ```json
//! {"seq":1,"screen":"lao-cai-1","manifest_version":3,"playlist":"main","media":"<64 hex>","lang":"vi","started_at":"2025-11-26T08:00:00.000Z","ended_at":"2025-11-26T08:00:10.000Z","outcome":"completed","backend":"mpv","clock_synced":true,"prev":"<64 hex>"}
//! ```
//!
//! Receipts are identified by their **exact bytes**: `prev` of receipt n+1 is the lowercase hex
//! SHA-256 of receipt n's bytes ([`GENESIS_PREV`] for seq 1). Verification never re-serializes;
//! [`Receipt::parse`] accepts any well-formed JSON text with the required fields (unknown fields
//! are ignored for forward compatibility), at most [`MAX_RECEIPT_BYTES`] bytes.
//!
//! # Batches
//!
//! A batch is a DSSE [`RECEIPTS_TYPE`] envelope signed by the device key, with payload
//! `{"screen":"<id>","receipts":["<receipt JSON text>",…]}`: each receipt is a JSON *string*
//! holding its exact bytes. A batch holds 1..=[`MAX_BATCH_RECEIPTS`] receipts with consecutive
//! `seq` values, each linked to the one before it. [`verify_batch`] checks, in this order: the
//! signature, the payload shape, the screen of the batch and of every receipt, and then the chain
//! against what is already stored. Receipts at or below the stored tip must be byte-identical to
//! what is stored (idempotent re-upload); the first new receipt must continue the stored tip.
//!
//! # Acks
//!
//! An [`Ack`] `{"screen","upto_seq"}` (DSSE [`ACK_TYPE`], controller key) says that every receipt
//! with `seq <= upto_seq` is durably stored; only then may the player delete them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::envelope::{self, Envelope, EnvelopeError, ACK_TYPE, RECEIPTS_TYPE};
use crate::keys::{KeySet, PublicKey, SecretKey};

/// `prev` of the first receipt (seq 1): 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Most receipts in one batch. The batch envelope must also stay within
/// [`crate::envelope::MAX_ENVELOPE_BYTES`] (a typical receipt is ~350 bytes, so 1000 fit easily).
pub const MAX_BATCH_RECEIPTS: usize = 1000;
/// Largest accepted receipt, in bytes of its JSON text.
pub const MAX_RECEIPT_BYTES: usize = 4096;
/// Longest accepted `playlist` id and `lang` tag, in bytes.
pub const MAX_LABEL_LEN: usize = 128;

/// How a play ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Played to its end.
    Completed,
    /// Stopped early (schedule change, alert, shutdown).
    Interrupted,
    /// Could not be played.
    Failed,
}

/// Which playback backend produced the receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// mpv rendered it on the screen.
    Mpv,
    /// The null backend: nothing was shown; never counts as proof of play.
    Null,
}

/// One play of one media item on one screen (field names fixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Per-screen sequence number, from 1, without gaps.
    pub seq: u64,
    /// Screen id.
    pub screen: String,
    /// Version of the manifest that was active.
    pub manifest_version: u64,
    /// Playlist id (or alert id) the item came from.
    pub playlist: String,
    /// sha256 of the media played (64 lowercase hex).
    pub media: String,
    /// BCP 47 language tag of the media.
    pub lang: String,
    /// When the play started (RFC 3339 UTC, milliseconds).
    #[serde(with = "ts_millis")]
    pub started_at: Timestamp,
    /// When the play ended (RFC 3339 UTC, milliseconds).
    #[serde(with = "ts_millis")]
    pub ended_at: Timestamp,
    /// How the play ended.
    pub outcome: Outcome,
    /// Which backend played it.
    pub backend: Backend,
    /// Whether the player's clock was known to be synchronized.
    pub clock_synced: bool,
    /// Lowercase hex SHA-256 of the previous receipt's exact bytes ([`GENESIS_PREV`] for seq 1).
    pub prev: String,
}

/// Timestamps as RFC 3339 UTC strings with exactly millisecond precision.
mod ts_millis {
    use jiff::Timestamp;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{ts:.3}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if !s.ends_with('Z') {
            return Err(D::Error::custom(format!(
                "timestamp {s:?} must be RFC 3339 in UTC, ending in 'Z'"
            )));
        }
        s.parse::<Timestamp>()
            .map_err(|e| D::Error::custom(format!("timestamp {s:?} is not RFC 3339: {e}")))
    }
}

/// What is wrong with a single receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Over [`MAX_RECEIPT_BYTES`].
    #[error("receipt is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not a receipt JSON object (bad JSON, missing field, wrong type, trailing data).
    #[error("receipt is not valid receipt JSON: {0}")]
    Malformed(String),
    /// A field has an invalid value.
    #[error("receipt field `{field}` is invalid: {detail}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl Receipt {
    /// The canonical bytes written by gatecast players (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a receipt cannot fail")
    }

    /// Parse and validate receipt bytes (any well-formed JSON text; see the module docs).
    pub fn parse(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
        if bytes.len() > MAX_RECEIPT_BYTES {
            return Err(ReceiptError::TooLarge {
                size: bytes.len(),
                max: MAX_RECEIPT_BYTES,
            });
        }
        let r: Receipt =
            serde_json::from_slice(bytes).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        r.validate()?;
        Ok(r)
    }

    /// Check field values: seq ≥ 1, valid screen id, media and prev 64 lowercase hex,
    /// non-empty bounded playlist and lang, seq 1 links to [`GENESIS_PREV`].
    pub fn validate(&self) -> Result<(), ReceiptError> {
        let invalid = |field, detail: &str| {
            Err(ReceiptError::Invalid {
                field,
                detail: detail.to_owned(),
            })
        };
        if self.seq == 0 {
            return invalid("seq", "sequence numbers start at 1");
        }
        if !crate::manifest::is_valid_screen_id(&self.screen) {
            return invalid("screen", "must match ^[a-z0-9][a-z0-9-]{0,62}$");
        }
        if !is_hex64(&self.media) {
            return invalid("media", "must be a sha256 as 64 lowercase hex characters");
        }
        if !is_hex64(&self.prev) {
            return invalid("prev", "must be a sha256 as 64 lowercase hex characters");
        }
        if self.seq == 1 && self.prev != GENESIS_PREV {
            return invalid("prev", "the receipt with seq 1 must have prev = 64 zeros");
        }
        for (field, v) in [("playlist", &self.playlist), ("lang", &self.lang)] {
            if v.is_empty() || v.len() > MAX_LABEL_LEN || v.chars().any(char::is_control) {
                return invalid(field, "must be 1 to 128 bytes without control characters");
            }
        }
        Ok(())
    }

    /// [`receipt_hash`] of [`Receipt::to_bytes`].
    pub fn hash(&self) -> String {
        receipt_hash(&self.to_bytes())
    }
}

/// Lowercase hex SHA-256 of a receipt's exact bytes (the next receipt's `prev`).
pub fn receipt_hash(receipt_bytes: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(receipt_bytes))
}

#[derive(Serialize, Deserialize)]
struct BatchPayload {
    screen: String,
    receipts: Vec<String>,
}

/// Batch payload bytes: `{"screen":…,"receipts":["<receipt text>",…]}`.
///
/// Receipt bytes must be UTF-8 JSON text (as [`Receipt::to_bytes`] produces); invalid UTF-8 is
/// replaced with U+FFFD, which breaks the chain and makes the batch fail verification.
pub fn batch_payload(screen: &str, receipts: &[Vec<u8>]) -> Vec<u8> {
    let p = BatchPayload {
        screen: screen.to_owned(),
        receipts: receipts
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect(),
    };
    serde_json::to_vec(&p).expect("serializing strings cannot fail")
}

/// Sign a batch of receipts (exact bytes, in seq order) with the device key.
pub fn sign_batch(screen: &str, receipts: &[Vec<u8>], key: &SecretKey) -> Envelope {
    Envelope::sign(RECEIPTS_TYPE, batch_payload(screen, receipts), key)
}

/// Signs the longest prefix of `receipts` (at least one receipt, if any) whose batch envelope
/// fits in [`crate::envelope::MAX_ENVELOPE_BYTES`]; returns the envelope's JSON text and how
/// many receipts it holds. A sender that always builds its batches here never sends one the
/// receivers must refuse for its size (`docs/protocol.md` §5, §13): the rest goes in the next
/// batch. Receipts themselves are at most [`MAX_RECEIPT_BYTES`], so one always fits.
pub fn sign_batch_within_limit(
    screen: &str,
    receipts: &[Vec<u8>],
    key: &SecretKey,
) -> (Vec<u8>, usize) {
    let json_len = |s: &str| serde_json::to_string(s).map_or(usize::MAX / 4, |j| j.len());
    // `{"screen":<screen>,"receipts":[<r1>,<r2>…]}` and its base64 inside the envelope, whose
    // other members (type, keyid, signature) have a fixed length for a given key.
    let fixed = Envelope::sign(RECEIPTS_TYPE, Vec::new(), key)
        .to_json()
        .len();
    let b64 = |n: usize| n.div_ceil(3) * 4;
    let mut payload = r#"{"screen":,"receipts":[]}"#.len() + json_len(screen);
    let mut count = 0;
    for (i, r) in receipts.iter().enumerate() {
        let next = payload + json_len(&String::from_utf8_lossy(r)) + usize::from(i > 0);
        if i > 0 && fixed + b64(next) > crate::envelope::MAX_ENVELOPE_BYTES {
            break;
        }
        payload = next;
        count = i + 1;
    }
    let mut env = sign_batch(screen, &receipts[..count], key).to_json();
    // The length above is exact; this only guards against a future change of the encoding.
    while env.len() > crate::envelope::MAX_ENVELOPE_BYTES && count > 1 {
        count -= 1;
        env = sign_batch(screen, &receipts[..count], key).to_json();
    }
    (env, count)
}

/// The last stored receipt of a screen's chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainTip {
    /// Its seq.
    pub seq: u64,
    /// Its [`receipt_hash`].
    pub hash: String,
}

/// A batch whose signature and chain hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBatch {
    /// The screen (equal to the expected one).
    pub screen: String,
    /// Every receipt of the batch with its exact bytes, in order.
    pub receipts: Vec<(Receipt, Vec<u8>)>,
    /// Indexes into `receipts` of those not yet stored (to store now, in order).
    pub new: Vec<usize>,
    /// The chain tip after storing the new receipts.
    pub tip: ChainTip,
}

/// Why a receipts batch was rejected. Nothing of a rejected batch may be stored or acked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The envelope is malformed, too large or of the wrong type.
    #[error("receipts batch envelope rejected: {0}")]
    BadEnvelope(EnvelopeError),
    /// Not signed (validly) by this screen's registered device key.
    #[error("receipts batch is not validly signed by the screen's registered device key")]
    BadSignature,
    /// The batch or one of its receipts names another screen.
    #[error("receipts batch is for screen {found:?}, expected {expected:?}")]
    WrongScreen {
        /// The screen the batch was received for.
        expected: String,
        /// The screen it names.
        found: String,
    },
    /// A seq is missing: the chain does not continue where it should.
    #[error("receipt seq gap: expected seq {expected}, found {found}; the player must resend from seq {expected}")]
    SeqGap {
        /// The seq that should come next.
        expected: u64,
        /// The seq that came.
        found: u64,
    },
    /// `prev` of this receipt is not the hash of the receipt before it.
    #[error("receipt seq {seq}: prev does not match the hash of the previous receipt; the chain is broken")]
    PrevMismatch {
        /// The receipt whose `prev` is wrong.
        seq: u64,
    },
    /// A receipt with this seq is already stored with different bytes.
    #[error("receipt seq {seq} is already stored with different content; refusing to overwrite")]
    DuplicateConflict {
        /// The conflicting seq.
        seq: u64,
    },
    /// The payload or a receipt in it is malformed.
    #[error("receipts batch is malformed: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// More than [`MAX_BATCH_RECEIPTS`] receipts.
    #[error("receipts batch holds {count} receipts, over the limit of {max}")]
    TooManyReceipts {
        /// How many it holds.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The caller's store has a tip beyond `seq` but no receipt at `seq`.
    #[error("the receipt store has no receipt at seq {seq} although its chain tip is beyond it; the store is inconsistent")]
    StoreInconsistent {
        /// The missing seq.
        seq: u64,
    },
}

impl BatchError {
    /// A short stable code for logs, metrics and test vectors.
    pub fn as_str(&self) -> &'static str {
        match self {
            BatchError::BadEnvelope(_) => "bad_envelope",
            BatchError::BadSignature => "bad_signature",
            BatchError::WrongScreen { .. } => "wrong_screen",
            BatchError::SeqGap { .. } => "seq_gap",
            BatchError::PrevMismatch { .. } => "prev_mismatch",
            BatchError::DuplicateConflict { .. } => "duplicate_conflict",
            BatchError::Malformed { .. } => "malformed",
            BatchError::TooManyReceipts { .. } => "too_many_receipts",
            BatchError::StoreInconsistent { .. } => "store_inconsistent",
        }
    }
}

/// Verify a receipts batch from `device_key` for `expected_screen` against the stored chain.
///
/// `tip` is the last stored receipt (None if nothing is stored); `stored(seq)` returns the
/// [`receipt_hash`] of the stored receipt at `seq` (consulted only for `seq <= tip.seq`).
pub fn verify_batch(
    envelope_bytes: &[u8],
    device_key: &PublicKey,
    expected_screen: &str,
    tip: Option<&ChainTip>,
    stored: &dyn Fn(u64) -> Option<String>,
) -> Result<VerifiedBatch, BatchError> {
    let verified = envelope::verify_with_key(envelope_bytes, RECEIPTS_TYPE, device_key).map_err(
        |e| match e {
            EnvelopeError::BadSignature { .. }
            | EnvelopeError::UnknownKey { .. }
            | EnvelopeError::NoSignatures => BatchError::BadSignature,
            other => BatchError::BadEnvelope(other),
        },
    )?;
    let payload: BatchPayload =
        serde_json::from_slice(&verified.payload).map_err(|e| BatchError::Malformed {
            detail: format!("payload is not {{\"screen\",\"receipts\"}}: {e}"),
        })?;
    if payload.screen != expected_screen {
        return Err(BatchError::WrongScreen {
            expected: expected_screen.to_owned(),
            found: payload.screen,
        });
    }
    if payload.receipts.is_empty() {
        return Err(BatchError::Malformed {
            detail: "batch holds no receipts".into(),
        });
    }
    if payload.receipts.len() > MAX_BATCH_RECEIPTS {
        return Err(BatchError::TooManyReceipts {
            count: payload.receipts.len(),
            max: MAX_BATCH_RECEIPTS,
        });
    }
    let mut receipts = Vec::with_capacity(payload.receipts.len());
    for (i, text) in payload.receipts.into_iter().enumerate() {
        let bytes = text.into_bytes();
        let r = Receipt::parse(&bytes).map_err(|e| BatchError::Malformed {
            detail: format!("receipt #{i}: {e}"),
        })?;
        if r.screen != expected_screen {
            return Err(BatchError::WrongScreen {
                expected: expected_screen.to_owned(),
                found: r.screen,
            });
        }
        receipts.push((r, bytes));
    }

    let tip_seq = tip.map_or(0, |t| t.seq);
    let mut new = Vec::new();
    let mut new_tip = tip.cloned();
    let mut prev_hash: Option<String> = None;
    for (i, (r, bytes)) in receipts.iter().enumerate() {
        let hash = receipt_hash(bytes);
        if i > 0 {
            let before = receipts[i - 1].0.seq;
            // checked: a tip at u64::MAX - 1 must not make `before + 1` overflow (fuzz harness)
            if before.checked_add(1) != Some(r.seq) {
                return Err(BatchError::SeqGap {
                    expected: before.saturating_add(1),
                    found: r.seq,
                });
            }
            if Some(&r.prev) != prev_hash.as_ref() {
                return Err(BatchError::PrevMismatch { seq: r.seq });
            }
        }
        if r.seq <= tip_seq {
            match stored(r.seq) {
                Some(h) if h == hash => {}
                Some(_) => return Err(BatchError::DuplicateConflict { seq: r.seq }),
                None => return Err(BatchError::StoreInconsistent { seq: r.seq }),
            }
        } else {
            if new.is_empty() {
                if r.seq != tip_seq + 1 {
                    return Err(BatchError::SeqGap {
                        expected: tip_seq + 1,
                        found: r.seq,
                    });
                }
                let want = tip.map_or(GENESIS_PREV, |t| t.hash.as_str());
                if r.prev != want {
                    return Err(BatchError::PrevMismatch { seq: r.seq });
                }
            }
            new.push(i);
            new_tip = Some(ChainTip {
                seq: r.seq,
                hash: hash.clone(),
            });
        }
        prev_hash = Some(hash);
    }
    let tip = new_tip.expect("a non-empty batch either extends the chain or lies within the tip");
    Ok(VerifiedBatch {
        screen: payload.screen,
        receipts,
        new,
        tip,
    })
}

/// "Every receipt with seq ≤ `upto_seq` of `screen` is durably stored."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Screen id.
    pub screen: String,
    /// Highest seq covered.
    pub upto_seq: u64,
}

/// Why an ack was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The envelope did not verify against the controller key.
    #[error("ack envelope rejected: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not an ack.
    #[error("ack payload is malformed: {0}")]
    Malformed(String),
    /// The ack is for another screen.
    #[error("ack is for screen {found:?}, this is {expected:?}")]
    WrongScreen {
        /// This screen.
        expected: String,
        /// The screen named in the ack.
        found: String,
    },
}

impl Ack {
    /// Payload JSON `{"screen":…,"upto_seq":…}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing an ack cannot fail")
    }
}

/// Sign an ack with the controller key (DSSE [`ACK_TYPE`]).
pub fn sign_ack(ack: &Ack, controller_key: &SecretKey) -> Envelope {
    Envelope::sign(ACK_TYPE, ack.to_json(), controller_key)
}

/// Verify an ack envelope against the pinned controller key(s) and this screen's id.
pub fn verify_ack(
    envelope_bytes: &[u8],
    trusted: &KeySet,
    own_screen: &str,
) -> Result<Ack, AckError> {
    let v = envelope::verify(envelope_bytes, ACK_TYPE, trusted)?;
    let ack: Ack =
        serde_json::from_slice(&v.payload).map_err(|e| AckError::Malformed(e.to_string()))?;
    if ack.screen != own_screen {
        return Err(AckError::WrongScreen {
            expected: own_screen.to_owned(),
            found: ack.screen,
        });
    }
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SCREEN: &str = "lao-cai-1";

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    fn receipt(seq: u64, prev: &str) -> Receipt {
        let start = Timestamp::from_second(1_764_144_000 + seq as i64 * 10).unwrap();
        Receipt {
            seq,
            screen: SCREEN.into(),
            manifest_version: 3,
            playlist: "main".into(),
            media: "ab".repeat(32),
            lang: "vi".into(),
            started_at: start,
            ended_at: start + jiff::SignedDuration::from_millis(9_500),
            outcome: Outcome::Completed,
            backend: Backend::Mpv,
            clock_synced: true,
            prev: prev.into(),
        }
    }

    /// A chain of receipts 1..=n as bytes.
    fn chain(n: u64) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for seq in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS_PREV.to_string(), |b| receipt_hash(b));
            out.push(receipt(seq, &prev).to_bytes());
        }
        out
    }

    struct Store(BTreeMap<u64, String>);

    impl Store {
        fn with(chain: &[Vec<u8>]) -> Store {
            Store(
                chain
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i as u64 + 1, receipt_hash(b)))
                    .collect(),
            )
        }
        fn tip(&self) -> Option<ChainTip> {
            self.0.last_key_value().map(|(s, h)| ChainTip {
                seq: *s,
                hash: h.clone(),
            })
        }
    }

    fn check(batch: &[Vec<u8>], store: &Store) -> Result<VerifiedBatch, BatchError> {
        let env = sign_batch(SCREEN, batch, &key(9)).to_json();
        let tip = store.tip();
        verify_batch(&env, &key(9).public(), SCREEN, tip.as_ref(), &|s| {
            store.0.get(&s).cloned()
        })
    }

    #[test]
    fn to_bytes_has_fixed_field_order_and_millisecond_timestamps() {
        let text = String::from_utf8(receipt(1, GENESIS_PREV).to_bytes()).unwrap();
        let fields = [
            "seq",
            "screen",
            "manifest_version",
            "playlist",
            "media",
            "lang",
            "started_at",
            "ended_at",
            "outcome",
            "backend",
            "clock_synced",
            "prev",
        ];
        let mut at = 0;
        for f in fields {
            let pos = text.find(&format!("\"{f}\":")).unwrap();
            assert!(pos >= at, "{f} out of order in {text}");
            at = pos;
        }
        assert!(
            text.contains("\"started_at\":\"2025-11-26T08:00:10.000Z\""),
            "{text}"
        );
        assert!(
            text.contains("\"ended_at\":\"2025-11-26T08:00:19.500Z\""),
            "{text}"
        );
        assert!(text.contains("\"outcome\":\"completed\",\"backend\":\"mpv\""));
    }

    #[test]
    fn parse_round_trips_to_bytes() {
        let r = receipt(2, &"cd".repeat(32));
        let bytes = r.to_bytes();
        let back = Receipt::parse(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.hash(), receipt_hash(&bytes));
    }

    #[test]
    fn timestamps_are_truncated_to_milliseconds() {
        let mut r = receipt(1, GENESIS_PREV);
        r.started_at = Timestamp::new(1_764_144_000, 123_456_789).unwrap();
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(text.contains("\"2025-11-26T08:00:00.123Z\""), "{text}");
    }

    #[test]
    fn parse_rejects_bad_receipts() {
        let good = String::from_utf8(receipt(2, &"cd".repeat(32)).to_bytes()).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (good.replace("\"seq\":2", "\"seq\":0"), "seq"),
            (good.replace(SCREEN, "Lao Cai"), "screen"),
            (good.replace(&"ab".repeat(32), &"AB".repeat(32)), "media"),
            (good.replace(&"cd".repeat(32), "cd"), "prev"),
            (good.replace("\"lang\":\"vi\"", "\"lang\":\"\""), "lang"),
            (
                good.replace("\"playlist\":\"main\"", "\"playlist\":\"a\\nb\""),
                "playlist",
            ),
        ];
        for (text, field) in cases {
            match Receipt::parse(text.as_bytes()) {
                Err(ReceiptError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        for text in [
            good.replace("completed", "done"),
            good.replace("\"backend\":\"mpv\",", ""),
            good.replace(".000Z", ".000+07:00"),
            good.replace("2025-11-26T08:00:20.000Z", "yesterday"),
            format!("{good}x"),
            "[]".to_string(),
        ] {
            assert!(
                matches!(
                    Receipt::parse(text.as_bytes()),
                    Err(ReceiptError::Malformed(_))
                ),
                "accepted {text}"
            );
        }
        let big = format!("{} {}", good, " ".repeat(MAX_RECEIPT_BYTES));
        assert!(matches!(
            Receipt::parse(big.as_bytes()),
            Err(ReceiptError::TooLarge { .. })
        ));
    }

    #[test]
    fn seq_one_must_link_to_genesis() {
        let r = receipt(1, &"cd".repeat(32));
        assert!(matches!(
            Receipt::parse(&r.to_bytes()),
            Err(ReceiptError::Invalid { field: "prev", .. })
        ));
    }

    #[test]
    fn parse_ignores_unknown_fields_and_keeps_exact_bytes_for_hashing() {
        let good = String::from_utf8(receipt(1, GENESIS_PREV).to_bytes()).unwrap();
        let extended = good.replacen('{', "{\"future\":1, ", 1);
        let r = Receipt::parse(extended.as_bytes()).unwrap();
        assert_eq!(r, receipt(1, GENESIS_PREV));
        assert_ne!(receipt_hash(extended.as_bytes()), r.hash());
    }

    #[test]
    fn batch_payload_carries_receipts_as_strings() {
        let c = chain(2);
        let p: serde_json::Value = serde_json::from_slice(&batch_payload(SCREEN, &c)).unwrap();
        assert_eq!(p["screen"], SCREEN);
        assert_eq!(p["receipts"][1].as_str().unwrap().as_bytes(), &c[1][..]);
    }

    #[test]
    fn verify_fresh_chain() {
        let c = chain(5);
        let v = check(&c, &Store(BTreeMap::new())).unwrap();
        assert_eq!(v.new, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            v.tip,
            ChainTip {
                seq: 5,
                hash: receipt_hash(&c[4])
            }
        );
        assert_eq!(v.receipts[2].1, c[2]);
        assert_eq!(v.screen, SCREEN);
    }

    #[test]
    fn verify_continuation_and_idempotent_resend() {
        let c = chain(6);
        let store = Store::with(&c[..3]);
        let v = check(&c[3..], &store).unwrap();
        assert_eq!(v.new, vec![0, 1, 2]);
        assert_eq!(v.tip.seq, 6);
        // Overlapping resend: 2,3 stored, 4,5 new.
        let v = check(&c[1..5], &store).unwrap();
        assert_eq!(v.new, vec![2, 3]);
        assert_eq!(v.tip.seq, 5);
        // Pure duplicate: nothing new, tip unchanged.
        let v = check(&c[..3], &store).unwrap();
        assert!(v.new.is_empty());
        assert_eq!(Some(v.tip), store.tip());
    }

    #[test]
    fn rejects_seq_gap_against_tip() {
        let c = chain(6);
        let store = Store::with(&c[..2]);
        assert_eq!(
            check(&c[3..], &store),
            Err(BatchError::SeqGap {
                expected: 3,
                found: 4
            })
        );
        assert_eq!(
            check(&c[1..2], &Store(BTreeMap::new())),
            Err(BatchError::SeqGap {
                expected: 1,
                found: 2
            })
        );
    }

    #[test]
    fn reports_inconsistent_store() {
        let c = chain(3);
        let mut store = Store::with(&c);
        store.0.remove(&2);
        assert_eq!(
            check(&c[1..2], &store),
            Err(BatchError::StoreInconsistent { seq: 2 })
        );
    }

    #[test]
    fn rejects_seq_gap_inside_batch() {
        let c = chain(5);
        let batch = vec![c[0].clone(), c[1].clone(), c[3].clone()];
        assert_eq!(
            check(&batch, &Store(BTreeMap::new())),
            Err(BatchError::SeqGap {
                expected: 3,
                found: 4
            })
        );
    }

    #[test]
    fn rejects_prev_mismatch_inside_batch_and_at_tip() {
        let mut c = chain(3);
        c[2] = receipt(3, &"ee".repeat(32)).to_bytes();
        assert_eq!(
            check(&c, &Store(BTreeMap::new())),
            Err(BatchError::PrevMismatch { seq: 3 })
        );
        let c = chain(3);
        let mut store = Store::with(&c[..2]);
        store.0.insert(2, "ff".repeat(32));
        assert_eq!(
            check(&c[2..], &store),
            Err(BatchError::PrevMismatch { seq: 3 })
        );
    }

    #[test]
    fn rejects_duplicate_with_different_content() {
        let c = chain(3);
        let store = Store::with(&c);
        let mut other = receipt(2, &receipt_hash(&c[0]));
        other.outcome = Outcome::Interrupted;
        assert_eq!(
            check(&[other.to_bytes()], &store),
            Err(BatchError::DuplicateConflict { seq: 2 })
        );
    }

    #[test]
    fn rejects_wrong_screen_of_batch_and_of_receipt() {
        let c = chain(1);
        let env = sign_batch("other-screen", &c, &key(9)).to_json();
        assert_eq!(
            verify_batch(&env, &key(9).public(), SCREEN, None, &|_| None),
            Err(BatchError::WrongScreen {
                expected: SCREEN.into(),
                found: "other-screen".into()
            })
        );
        let mut r = receipt(1, GENESIS_PREV);
        r.screen = "other-screen".into();
        assert!(matches!(
            check(&[r.to_bytes()], &Store(BTreeMap::new())),
            Err(BatchError::WrongScreen { found, .. }) if found == "other-screen"
        ));
    }

    #[test]
    fn rejects_bad_signature_and_other_key() {
        let c = chain(2);
        let env = sign_batch(SCREEN, &c, &key(8)).to_json();
        assert_eq!(
            verify_batch(&env, &key(9).public(), SCREEN, None, &|_| None),
            Err(BatchError::BadSignature)
        );
        let mut e = sign_batch(SCREEN, &c, &key(9));
        e.signatures[0].sig[10] ^= 1;
        assert_eq!(
            verify_batch(&e.to_json(), &key(9).public(), SCREEN, None, &|_| None),
            Err(BatchError::BadSignature)
        );
        let e = Envelope::sign(ACK_TYPE, batch_payload(SCREEN, &c), &key(9)).to_json();
        assert!(matches!(
            verify_batch(&e, &key(9).public(), SCREEN, None, &|_| None),
            Err(BatchError::BadEnvelope(EnvelopeError::WrongType { .. }))
        ));
    }

    #[test]
    fn rejects_malformed_and_oversized_batches() {
        let k = key(9);
        let run = |payload: &[u8]| {
            let e = Envelope::sign(RECEIPTS_TYPE, payload.to_vec(), &k).to_json();
            verify_batch(&e, &k.public(), SCREEN, None, &|_| None)
        };
        assert!(matches!(run(b"{}"), Err(BatchError::Malformed { .. })));
        assert!(matches!(
            run(br#"{"screen":"lao-cai-1","receipts":[]}"#),
            Err(BatchError::Malformed { .. })
        ));
        assert!(matches!(
            run(br#"{"screen":"lao-cai-1","receipts":["{}"]}"#),
            Err(BatchError::Malformed { .. })
        ));
        let many = vec![chain(1)[0].clone(); MAX_BATCH_RECEIPTS + 1];
        assert_eq!(
            run(&batch_payload(SCREEN, &many)),
            Err(BatchError::TooManyReceipts {
                count: MAX_BATCH_RECEIPTS + 1,
                max: MAX_BATCH_RECEIPTS
            })
        );
    }

    #[test]
    fn batch_error_codes_are_distinct() {
        let errs = [
            BatchError::BadEnvelope(EnvelopeError::NoSignatures),
            BatchError::BadSignature,
            BatchError::WrongScreen {
                expected: "a".into(),
                found: "b".into(),
            },
            BatchError::SeqGap {
                expected: 1,
                found: 2,
            },
            BatchError::PrevMismatch { seq: 1 },
            BatchError::DuplicateConflict { seq: 1 },
            BatchError::Malformed { detail: "x".into() },
            BatchError::TooManyReceipts { count: 2, max: 1 },
            BatchError::StoreInconsistent { seq: 1 },
        ];
        let codes: std::collections::BTreeSet<_> = errs.iter().map(|e| e.as_str()).collect();
        assert_eq!(codes.len(), errs.len());
    }

    #[test]
    fn ack_sign_verify_and_rejections() {
        let ctl = key(1);
        let trusted = KeySet::from_keys([ctl.public()]);
        let ack = Ack {
            screen: SCREEN.into(),
            upto_seq: 42,
        };
        let bytes = sign_ack(&ack, &ctl).to_json();
        assert_eq!(verify_ack(&bytes, &trusted, SCREEN).unwrap(), ack);
        assert!(matches!(
            verify_ack(&bytes, &trusted, "other"),
            Err(AckError::WrongScreen { .. })
        ));
        assert!(matches!(
            verify_ack(&bytes, &KeySet::from_keys([key(2).public()]), SCREEN),
            Err(AckError::Envelope(EnvelopeError::UnknownKey { .. }))
        ));
        let wrong_type = Envelope::sign(RECEIPTS_TYPE, ack.to_json(), &ctl).to_json();
        assert!(matches!(
            verify_ack(&wrong_type, &trusted, SCREEN),
            Err(AckError::Envelope(EnvelopeError::WrongType { .. }))
        ));
        let junk = Envelope::sign(ACK_TYPE, b"{\"screen\":1}".to_vec(), &ctl).to_json();
        assert!(matches!(
            verify_ack(&junk, &trusted, SCREEN),
            Err(AckError::Malformed(_))
        ));
    }

    #[test]
    fn batches_are_cut_to_the_envelope_limit() {
        use crate::envelope::MAX_ENVELOPE_BYTES;
        let device = key(9);
        // Receipts near MAX_RECEIPT_BYTES whose padding JSON escapes twice: 1000 of them would
        // make an envelope of about 10 MiB.
        let mut prev = GENESIS_PREV.to_string();
        let mut big = Vec::new();
        for seq in 1..=1000 {
            let mut b = receipt(seq, &prev).to_bytes();
            b.pop();
            b.extend_from_slice(format!(",\"note\":\"{}\"}}", "\\\\".repeat(1700)).as_bytes());
            assert!(b.len() <= MAX_RECEIPT_BYTES);
            prev = receipt_hash(&b);
            big.push(b);
        }
        assert!(sign_batch(SCREEN, &big, &device).to_json().len() > MAX_ENVELOPE_BYTES);
        let (env, n) = sign_batch_within_limit(SCREEN, &big, &device);
        assert!(env.len() <= MAX_ENVELOPE_BYTES, "{} bytes", env.len());
        assert!(n > 1 && n < 1000, "{n} receipts");
        assert_eq!(env, sign_batch(SCREEN, &big[..n], &device).to_json());
        let one_more = sign_batch(SCREEN, &big[..=n], &device).to_json().len();
        assert!(
            one_more > MAX_ENVELOPE_BYTES,
            "the longest prefix that fits"
        );
        let v = verify_batch(&env, &device.public(), SCREEN, None, &|_| None).unwrap();
        assert_eq!(v.receipts.len(), n);
        // Ordinary receipts: the whole batch.
        let first = receipt(1, GENESIS_PREV).to_bytes();
        let second = receipt(2, &receipt_hash(&first)).to_bytes();
        let small = vec![first.clone(), second, first];
        let (env, n) = sign_batch_within_limit(SCREEN, &small, &device);
        assert_eq!(n, 3);
        assert_eq!(env, sign_batch(SCREEN, &small, &device).to_json());
    }
}
