//! Ed25519 keys: generation, key ids, text formats, strict verification and trusted key sets.
//!
//! # Text formats
//!
//! * **Public key**: standard base64 (RFC 4648 §4, with `=` padding, canonical trailing bits) of
//!   the 32-byte compressed Edwards point, e.g. `"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`.
//!   Surrounding whitespace is ignored when reading.
//! * **Secret key**: one line `gatecast-ed25519-secret-v1 <base64 of the 32-byte seed>` followed
//!   by a newline, e.g. `"gatecast-ed25519-secret-v1 nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n"`.
//!   Surrounding whitespace is ignored when reading; the tag and the single space are required.
//!
//! # Key ids
//!
//! `key_id` = lowercase hex of the first 8 bytes of SHA-256 of the 32-byte public key
//! (16 hex characters). It names a key in DSSE envelopes; it is not a security boundary — the
//! signature is always checked against the full key.
//!
//! # Weak keys
//!
//! [`PublicKey::from_bytes`] rejects encodings that are not canonical (a y coordinate ≥ p, or
//! the "negative zero" x) and points of small order (the identity and the other seven torsion
//! points), for which a signature proves nothing. Verification is always
//! [`ed25519_dalek::VerifyingKey::verify_strict`].

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// Length in bytes of an encoded public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length in bytes of a signature.
pub const SIGNATURE_LEN: usize = 64;
/// The tag that starts the text form of a secret key.
pub const SECRET_KEY_TAG: &str = "gatecast-ed25519-secret-v1";

/// What is wrong with a key, a key encoding or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key bytes have the wrong length.
    #[error("public key must be exactly 32 bytes, got {len}; pass the raw 32-byte Ed25519 key")]
    BadLength {
        /// The length that was given.
        len: usize,
    },
    /// The text is not strict standard base64.
    #[error("key is not valid standard base64 (with padding): {detail}")]
    BadBase64 {
        /// What the decoder complained about.
        detail: String,
    },
    /// The bytes do not decode to a curve point, or are not the canonical encoding of one.
    #[error("public key is not a canonical Ed25519 point encoding; the key is corrupt")]
    NonCanonical,
    /// The point has small order: signatures under it prove nothing.
    #[error(
        "public key is a small-order (weak) point and can never be trusted; generate a new key"
    )]
    WeakKey,
    /// The secret key text does not follow the documented format.
    #[error("secret key text is malformed: {detail}; expected \"{SECRET_KEY_TAG} <base64 of 32-byte seed>\"")]
    BadSecretFormat {
        /// What is wrong with it.
        detail: String,
    },
    /// A signature must be exactly 64 bytes.
    #[error("signature must be exactly 64 bytes, got {len}")]
    BadSignatureLength {
        /// The length that was given.
        len: usize,
    },
    /// The signature does not verify (strictly) under this key.
    #[error("signature does not verify under key {key_id}")]
    BadSignature {
        /// The key id of the key that was tried.
        key_id: String,
    },
}

/// `key_id` of a raw public key: lowercase hex of the first 8 bytes of its SHA-256.
pub fn key_id(public_key_bytes: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key_bytes);
    crate::hex::encode(&digest[..8])
}

/// Strict standard base64 decode (padding required, canonical trailing bits).
pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(s)
}

/// Standard base64 encode with padding.
pub(crate) fn b64_encode(b: &[u8]) -> String {
    STANDARD.encode(b)
}

/// An Ed25519 signing key. Its `Debug` shows only the key id, never secret bytes.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A new random key. Callers pass `rand_core::OsRng`.
    pub fn generate<R: rand_core::CryptoRngCore + ?Sized>(rng: &mut R) -> SecretKey {
        SecretKey(SigningKey::generate(rng))
    }

    /// The key for a given 32-byte seed (deterministic; used for test vectors and key files).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The key id of the matching public key.
    pub fn key_id(&self) -> String {
        self.public().key_id()
    }

    /// Sign `msg` (plain Ed25519, RFC 8032). Envelopes sign PAE bytes, see `crate::envelope`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    /// The documented text form: `"gatecast-ed25519-secret-v1 <base64 seed>\n"`.
    /// Store it in a file with mode 0600; never log it.
    pub fn to_text(&self) -> String {
        format!("{SECRET_KEY_TAG} {}\n", b64_encode(self.0.as_bytes()))
    }

    /// Read the text form written by [`SecretKey::to_text`] (surrounding whitespace ignored).
    pub fn from_text(s: &str) -> Result<SecretKey, KeyError> {
        let s = s.trim();
        let rest = s
            .strip_prefix(SECRET_KEY_TAG)
            .ok_or_else(|| KeyError::BadSecretFormat {
                detail: "it does not start with the tag".into(),
            })?;
        let b64 = rest
            .strip_prefix(' ')
            .ok_or_else(|| KeyError::BadSecretFormat {
                detail: "a single space must follow the tag".into(),
            })?;
        let bytes = b64_decode(b64).map_err(|e| KeyError::BadSecretFormat {
            detail: format!("the seed is not valid standard base64 ({e})"),
        })?;
        let seed: [u8; 32] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::BadSecretFormat {
                    detail: format!("the seed must be 32 bytes, got {}", bytes.len()),
                })?;
        Ok(SecretKey::from_seed(seed))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.key_id())
    }
}

/// A trusted-checkable Ed25519 public key: canonical encoding, not of small order.
#[derive(Clone)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Decode 32 bytes; rejects wrong length, non-canonical encodings and weak (small-order) keys.
    pub fn from_bytes(b: &[u8]) -> Result<PublicKey, KeyError> {
        let arr: &[u8; 32] = b
            .try_into()
            .map_err(|_| KeyError::BadLength { len: b.len() })?;
        let vk = VerifyingKey::from_bytes(arr).map_err(|_| KeyError::NonCanonical)?;
        // Decompression accepts y ≥ p and a set sign bit on x = 0; re-encoding exposes both.
        if vk.to_edwards().compress().as_bytes() != arr {
            return Err(KeyError::NonCanonical);
        }
        if vk.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(PublicKey(vk))
    }

    /// Decode standard base64 (with padding) of 32 bytes; surrounding whitespace is ignored.
    pub fn from_base64(s: &str) -> Result<PublicKey, KeyError> {
        let bytes = b64_decode(s.trim()).map_err(|e| KeyError::BadBase64 {
            detail: e.to_string(),
        })?;
        PublicKey::from_bytes(&bytes)
    }

    /// Standard base64 (with padding) of the 32 key bytes.
    pub fn to_base64(&self) -> String {
        b64_encode(self.as_bytes())
    }

    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Lowercase hex of the first 8 bytes of SHA-256 of the key bytes (16 characters).
    pub fn key_id(&self) -> String {
        key_id(self.as_bytes())
    }

    /// Verify a 64-byte signature over `msg` with `verify_strict` (canonical S < L, R and A not
    /// of small order, cofactorless equation).
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let arr: &[u8; 64] = sig
            .try_into()
            .map_err(|_| KeyError::BadSignatureLength { len: sig.len() })?;
        let sig = Signature::from_bytes(arr);
        self.0
            .verify_strict(msg, &sig)
            .map_err(|_| KeyError::BadSignature {
                key_id: self.key_id(),
            })
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.key_id(), self.to_base64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// A set of trusted public keys, looked up by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: BTreeMap<String, PublicKey>,
}

impl KeySet {
    /// An empty set (trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding `keys`.
    pub fn from_keys(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let mut set = Self::new();
        for k in keys {
            set.insert(k);
        }
        set
    }

    /// Trust `k` (replaces a key with the same key id).
    pub fn insert(&mut self, k: PublicKey) {
        self.keys.insert(k.key_id(), k);
    }

    /// Stop trusting the key with this id (no-op if absent).
    pub fn remove(&mut self, key_id: &str) {
        self.keys.remove(key_id);
    }

    /// The trusted key with this id, if any.
    pub fn get(&self, key_id: &str) -> Option<&PublicKey> {
        self.keys.get(key_id)
    }

    /// Number of trusted keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted keys, ordered by key id.
    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    #[test]
    fn rfc8032_test_vector_1_public_key_and_signature() {
        // RFC 8032 §7.1 TEST 1.
        let seed: [u8; 32] =
            decode_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .try_into()
                .unwrap();
        let sk = SecretKey::from_seed(seed);
        assert_eq!(
            crate::hex::encode(sk.public().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = sk.sign(b"");
        assert_eq!(
            crate::hex::encode(&sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        sk.public().verify_strict(b"", &sig).unwrap();
    }

    fn decode_hex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).expect("hex")
    }

    #[test]
    fn key_id_is_16_lowercase_hex_of_sha256_prefix() {
        let pk = key(1).public();
        let id = pk.key_id();
        assert_eq!(id.len(), 16);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(id, crate::hex::encode(&Sha256::digest(pk.as_bytes())[..8]));
        assert_eq!(id, key(1).key_id());
        assert_ne!(id, key(2).key_id());
    }

    #[test]
    fn secret_debug_never_prints_bytes() {
        let sk = key(7);
        let dbg = format!("{sk:?}");
        assert_eq!(dbg, format!("SecretKey({})", sk.key_id()));
        let seed_b64 = b64_encode(&[7u8; 32]);
        assert!(!dbg.contains(&seed_b64));
        assert!(!dbg.contains("0707"));
    }

    #[test]
    fn secret_text_round_trip() {
        let sk = key(3);
        let text = sk.to_text();
        assert!(text.starts_with("gatecast-ed25519-secret-v1 "));
        assert!(text.ends_with('\n'));
        let back = SecretKey::from_text(&format!("  {text}  ")).unwrap();
        assert_eq!(back.public(), sk.public());
    }

    #[test]
    fn secret_text_rejects_bad_formats() {
        let good = key(3).to_text();
        let seed = good.trim().split(' ').nth(1).unwrap().to_string();
        for bad in [
            String::new(),
            seed.clone(),
            format!("gatecast-ed25519-secret-v2 {seed}"),
            format!("{SECRET_KEY_TAG}{seed}"),
            format!("{SECRET_KEY_TAG}  {seed}"),
            format!("{SECRET_KEY_TAG} {}", &seed[..seed.len() - 1]),
            format!("{SECRET_KEY_TAG} {}", b64_encode(&[1u8; 31])),
            format!("{SECRET_KEY_TAG} {}", b64_encode(&[1u8; 64])),
        ] {
            assert!(
                matches!(
                    SecretKey::from_text(&bad),
                    Err(KeyError::BadSecretFormat { .. })
                ),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn public_base64_round_trip_and_whitespace() {
        let pk = key(4).public();
        let b = pk.to_base64();
        assert_eq!(b.len(), 44);
        assert_eq!(PublicKey::from_base64(&format!("\n{b} \n")).unwrap(), pk);
        assert_eq!(pk.to_string(), b);
    }

    #[test]
    fn public_base64_rejects_unpadded_urlsafe_and_garbage() {
        let b = key(4).public().to_base64();
        let unpadded = b.trim_end_matches('=');
        assert!(matches!(
            PublicKey::from_base64(unpadded),
            Err(KeyError::BadBase64 { .. })
        ));
        assert!(matches!(
            PublicKey::from_base64("!!!!"),
            Err(KeyError::BadBase64 { .. })
        ));
        let urlsafe = b.replace('+', "-").replace('/', "_");
        if urlsafe != b {
            assert!(PublicKey::from_base64(&urlsafe).is_err());
        }
    }

    #[test]
    fn public_rejects_wrong_length() {
        assert_eq!(
            PublicKey::from_bytes(&[9u8; 31]),
            Err(KeyError::BadLength { len: 31 })
        );
        assert_eq!(
            PublicKey::from_base64(&b64_encode(&[9u8; 33])),
            Err(KeyError::BadLength { len: 33 })
        );
    }

    #[test]
    fn public_rejects_small_order_points() {
        // Identity (y = 1) and the point of order 2 (y = -1 = p - 1).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::WeakKey));
        let mut order2 = [0xffu8; 32];
        order2[0] = 0xec;
        order2[31] = 0x7f;
        assert_eq!(PublicKey::from_bytes(&order2), Err(KeyError::WeakKey));
        // y = 0: a point of order 4.
        assert_eq!(PublicKey::from_bytes(&[0u8; 32]), Err(KeyError::WeakKey));
    }

    #[test]
    fn public_rejects_non_canonical_encodings() {
        // y = p + 1 ≡ 1 (identity) but not reduced.
        let mut y = [0xffu8; 32];
        y[0] = 0xee;
        y[31] = 0x7f;
        assert_eq!(PublicKey::from_bytes(&y), Err(KeyError::NonCanonical));
        // Identity with the sign bit set: x = 0 cannot be negative.
        let mut neg_zero = [0u8; 32];
        neg_zero[0] = 1;
        neg_zero[31] = 0x80;
        assert_eq!(
            PublicKey::from_bytes(&neg_zero),
            Err(KeyError::NonCanonical)
        );
        // y = 2 is not on the curve.
        let mut off = [0u8; 32];
        off[0] = 2;
        assert_eq!(PublicKey::from_bytes(&off), Err(KeyError::NonCanonical));
    }

    #[test]
    fn verify_strict_accepts_good_and_rejects_bad() {
        let sk = key(5);
        let pk = sk.public();
        let sig = sk.sign(b"hello");
        pk.verify_strict(b"hello", &sig).unwrap();
        assert!(matches!(
            pk.verify_strict(b"hellp", &sig),
            Err(KeyError::BadSignature { .. })
        ));
        assert_eq!(
            pk.verify_strict(b"hello", &sig[..63]),
            Err(KeyError::BadSignatureLength { len: 63 })
        );
        assert!(matches!(
            key(6).public().verify_strict(b"hello", &sig),
            Err(KeyError::BadSignature { .. })
        ));
    }

    #[test]
    fn keyset_insert_get_remove() {
        let a = key(1).public();
        let b = key(2).public();
        let mut set = KeySet::from_keys([a.clone()]);
        assert_eq!(set.len(), 1);
        assert_eq!(set.get(&a.key_id()), Some(&a));
        assert!(set.get(&b.key_id()).is_none());
        set.insert(b.clone());
        set.insert(b.clone());
        assert_eq!(set.len(), 2);
        set.remove(&a.key_id());
        assert!(set.get(&a.key_id()).is_none());
        set.remove(&b.key_id());
        assert!(set.is_empty());
        assert!(KeySet::new().is_empty());
    }

    #[test]
    fn generate_gives_distinct_keys() {
        let a = SecretKey::generate(&mut rand_core::OsRng);
        let b = SecretKey::generate(&mut rand_core::OsRng);
        assert_ne!(a.public(), b.public());
        let sig = a.sign(b"m");
        a.public().verify_strict(b"m", &sig).unwrap();
    }
}
