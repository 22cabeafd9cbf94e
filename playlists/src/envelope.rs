//! DSSE v1 envelopes (`docs/protocol.md` §5): the one signed container for every gatecast message.
//!
//! Wire form (field names fixed):
//!
//! ```json
//! {"payloadType":"application/vnd.gatecast.manifest+json",
//!  "payload":"<standard base64 of the exact payload bytes>",
//!  "signatures":[{"keyid":"<key_id>","sig":"<standard base64 of the 64-byte signature>"}]}
//! ```
//!
//! The signature is Ed25519 over [`pae`]`(payloadType, payload)`. Verification ([`verify`])
//! works on the bytes as received: size check first, then a strict parse, then `verify_strict`
//! over the PAE of the *decoded* payload bytes; the payload is never re-serialized and is handed
//! to the caller only after a signature holds.
//!
//! Parsing rules ([`Envelope::parse`]), each with its own error:
//! * at most [`MAX_ENVELOPE_BYTES`] bytes, checked before any parsing;
//! * exactly one JSON object with exactly the fields `payloadType`, `payload`, `signatures`
//!   (unknown or duplicate fields are rejected); signature objects have exactly `keyid` and `sig`;
//! * nothing but whitespace after the object;
//! * `payload` and `sig` are strict standard base64 (RFC 4648 §4, padding required, canonical);
//! * every `sig` decodes to exactly 64 bytes;
//! * `payloadType` at most [`MAX_PAYLOAD_TYPE_LEN`] bytes, `keyid` 1..=[`MAX_KEYID_LEN`] bytes of
//!   printable ASCII, at most [`MAX_SIGNATURES`] signatures.

use serde::{Deserialize, Serialize};

use crate::keys::{b64_decode, b64_encode, KeySet, PublicKey, SecretKey, SIGNATURE_LEN};

/// Common prefix of every gatecast payloadType.
pub const PAYLOAD_TYPE_PREFIX: &str = "application/vnd.gatecast.";
/// payloadType of a manifest (fixed).
pub const MANIFEST_TYPE: &str = "application/vnd.gatecast.manifest+json";
/// payloadType of an alert set (fixed).
pub const ALERT_TYPE: &str = "application/vnd.gatecast.alert+json";
/// payloadType of a ticker set (fixed, `docs/protocol.md` §20).
pub const TICKER_TYPE: &str = "application/vnd.gatecast.ticker+json";
/// payloadType of a receipts batch (fixed).
pub const RECEIPTS_TYPE: &str = "application/vnd.gatecast.receipts+json";
/// payloadType of an ack (fixed).
pub const ACK_TYPE: &str = "application/vnd.gatecast.ack+json";
/// payloadType of a Merkle log checkpoint (fixed).
pub const CHECKPOINT_TYPE: &str = "application/vnd.gatecast.checkpoint+json";
/// Largest envelope accepted, in bytes of its JSON text.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;
/// Largest MQTT payload any gatecast party (player, controller, embedded broker, the shipped
/// mosquitto `message_size_limit`) sends or accepts: twice [`MAX_ENVELOPE_BYTES`], so an
/// envelope over the limit still reaches its receiver and is refused with a named reason
/// (`bad_envelope`) instead of breaking the connection (`docs/protocol.md` §6, "Sizes").
pub const MAX_MQTT_PAYLOAD_BYTES: usize = 2 * MAX_ENVELOPE_BYTES;
/// Room in an MQTT packet beside its payload: fixed header, topic, packet id.
pub const MQTT_OVERHEAD_BYTES: usize = 64 * 1024;
/// Largest MQTT packet on the wire, both ways, for every gatecast party:
/// [`MAX_MQTT_PAYLOAD_BYTES`] + [`MQTT_OVERHEAD_BYTES`].
pub const MAX_MQTT_PACKET_BYTES: usize = MAX_MQTT_PAYLOAD_BYTES + MQTT_OVERHEAD_BYTES;
/// Most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 8;
/// Longest accepted `keyid`, in bytes.
pub const MAX_KEYID_LEN: usize = 64;
/// Longest accepted `payloadType`, in bytes.
pub const MAX_PAYLOAD_TYPE_LEN: usize = 128;

/// Why an envelope was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Over [`MAX_ENVELOPE_BYTES`]; checked before parsing.
    #[error("envelope is {size} bytes, over the limit of {max} bytes; it was not parsed")]
    TooLarge {
        /// Size of what was received.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not a DSSE envelope object (bad JSON, missing/unknown/duplicate fields, bad limits).
    #[error("envelope is malformed: {0}")]
    Malformed(String),
    /// Something other than whitespace follows the JSON object.
    #[error("envelope has trailing data after the JSON object (at byte {offset})")]
    TrailingData {
        /// Byte offset where the trailing data starts.
        offset: usize,
    },
    /// A base64 field is not strict standard base64 with padding.
    #[error("envelope field `{field}` is not strict standard base64 with padding: {detail}")]
    BadBase64 {
        /// Which field: `payload` or `sig`.
        field: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// The envelope's payloadType is not the one the caller asked for.
    #[error("envelope payloadType is {found:?}, expected {expected:?}; a payload signed as one type never verifies as another")]
    WrongType {
        /// The type the caller expected.
        expected: String,
        /// The type in the envelope.
        found: String,
    },
    /// No signature carries a keyid of a trusted key.
    #[error("no signature is by a trusted key (first keyid {keyid:?}); check that the signer's public key is pinned/registered")]
    UnknownKey {
        /// The first keyid seen.
        keyid: String,
    },
    /// A signature is not 64 bytes.
    #[error("signature is {len} bytes, an Ed25519 signature is exactly 64 bytes")]
    BadSignatureLength {
        /// The decoded length.
        len: usize,
    },
    /// A trusted key's signature does not verify strictly over PAE(type, payload).
    #[error(
        "signature by trusted key {keyid} does not verify; the envelope was altered or forged"
    )]
    BadSignature {
        /// The keyid of the failing signature.
        keyid: String,
    },
    /// The signatures list is empty.
    #[error("envelope has no signatures")]
    NoSignatures,
}

/// DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`, LEN in decimal bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let t = payload_type.as_bytes();
    let mut out = Vec::with_capacity(32 + t.len() + payload.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(t.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(t);
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// A decoded DSSE envelope (not yet verified unless obtained from [`verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The payloadType string.
    pub payload_type: String,
    /// The exact payload bytes (base64-decoded).
    pub payload: Vec<u8>,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signer's key id.
    pub keyid: String,
    /// The raw signature bytes (64 for a well-formed signature).
    pub sig: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<WireSignature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSignature {
    keyid: String,
    sig: String,
}

impl Envelope {
    /// Sign `payload` as `payload_type` with `key` (one signature, keyid = the key's id).
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &SecretKey) -> Envelope {
        let sig = key.sign(&pae(payload_type, &payload));
        Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures: vec![EnvelopeSignature {
                keyid: key.key_id(),
                sig: sig.to_vec(),
            }],
        }
    }

    /// Compact JSON: `{"payloadType":…,"payload":…,"signatures":[{"keyid":…,"sig":…}]}`.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = WireEnvelope {
            payload_type: self.payload_type.clone(),
            payload: b64_encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignature {
                    keyid: s.keyid.clone(),
                    sig: b64_encode(&s.sig),
                })
                .collect(),
        };
        serde_json::to_vec(&wire).expect("serializing strings to JSON cannot fail")
    }

    /// Strictly parse envelope bytes (see the module docs for the rules). Does not verify.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len(),
                max: MAX_ENVELOPE_BYTES,
            });
        }
        let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<WireEnvelope>();
        let wire = match stream.next() {
            None => return Err(EnvelopeError::Malformed("empty input".into())),
            Some(r) => r.map_err(|e| EnvelopeError::Malformed(e.to_string()))?,
        };
        let end = stream.byte_offset();
        if let Some(p) = bytes[end..].iter().position(|b| !b" \t\r\n".contains(b)) {
            return Err(EnvelopeError::TrailingData { offset: end + p });
        }
        if wire.payload_type.len() > MAX_PAYLOAD_TYPE_LEN {
            return Err(EnvelopeError::Malformed(format!(
                "payloadType is {} bytes, over the limit of {MAX_PAYLOAD_TYPE_LEN}",
                wire.payload_type.len()
            )));
        }
        if wire.signatures.is_empty() {
            return Err(EnvelopeError::NoSignatures);
        }
        if wire.signatures.len() > MAX_SIGNATURES {
            return Err(EnvelopeError::Malformed(format!(
                "{} signatures, over the limit of {MAX_SIGNATURES}",
                wire.signatures.len()
            )));
        }
        let payload = b64_decode(&wire.payload).map_err(|e| EnvelopeError::BadBase64 {
            field: "payload",
            detail: e.to_string(),
        })?;
        let mut signatures = Vec::with_capacity(wire.signatures.len());
        for s in wire.signatures {
            if s.keyid.is_empty()
                || s.keyid.len() > MAX_KEYID_LEN
                || !s.keyid.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(EnvelopeError::Malformed(format!(
                    "keyid must be 1 to {MAX_KEYID_LEN} printable ASCII characters"
                )));
            }
            let sig = b64_decode(&s.sig).map_err(|e| EnvelopeError::BadBase64 {
                field: "sig",
                detail: e.to_string(),
            })?;
            if sig.len() != SIGNATURE_LEN {
                return Err(EnvelopeError::BadSignatureLength { len: sig.len() });
            }
            signatures.push(EnvelopeSignature {
                keyid: s.keyid,
                sig,
            });
        }
        Ok(Envelope {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }

    /// Verify an already parsed envelope: type must equal `expected_type`; the first signature
    /// whose keyid is in `trusted` must verify strictly over PAE(type, payload).
    pub fn verify(&self, expected_type: &str, trusted: &KeySet) -> Result<Verified, EnvelopeError> {
        if self.payload_type != expected_type {
            return Err(EnvelopeError::WrongType {
                expected: expected_type.to_owned(),
                found: self.payload_type.clone(),
            });
        }
        let first = self.signatures.first().ok_or(EnvelopeError::NoSignatures)?;
        let mut failed: Option<EnvelopeError> = None;
        for s in &self.signatures {
            let Some(key) = trusted.get(&s.keyid) else {
                continue;
            };
            match self.check_one(key, s) {
                Ok(()) => {
                    return Ok(Verified {
                        payload: self.payload.clone(),
                        key_id: s.keyid.clone(),
                        payload_type: self.payload_type.clone(),
                    })
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        Err(failed.unwrap_or_else(|| EnvelopeError::UnknownKey {
            keyid: first.keyid.clone(),
        }))
    }

    fn check_one(&self, key: &PublicKey, s: &EnvelopeSignature) -> Result<(), EnvelopeError> {
        if s.sig.len() != SIGNATURE_LEN {
            return Err(EnvelopeError::BadSignatureLength { len: s.sig.len() });
        }
        key.verify_strict(&pae(&self.payload_type, &self.payload), &s.sig)
            .map_err(|_| EnvelopeError::BadSignature {
                keyid: s.keyid.clone(),
            })
    }
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The exact payload bytes that the signature covers.
    pub payload: Vec<u8>,
    /// The key id of the key whose signature verified.
    pub key_id: String,
    /// The payloadType (equal to the expected one).
    pub payload_type: String,
}

/// Verify exact envelope bytes: size limit, strict parse, `payloadType == expected_type`, then
/// a signature whose keyid is in `trusted` must verify (`verify_strict`) over
/// PAE(type, decoded payload bytes). Only then are the payload bytes returned.
pub fn verify(
    envelope_bytes: &[u8],
    expected_type: &str,
    trusted: &KeySet,
) -> Result<Verified, EnvelopeError> {
    Envelope::parse(envelope_bytes)?.verify(expected_type, trusted)
}

/// [`verify`] against exactly one key (e.g. a device key).
pub fn verify_with_key(
    envelope_bytes: &[u8],
    expected_type: &str,
    key: &PublicKey,
) -> Result<Verified, EnvelopeError> {
    verify(
        envelope_bytes,
        expected_type,
        &KeySet::from_keys([key.clone()]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    fn trusted(n: u8) -> KeySet {
        KeySet::from_keys([key(n).public()])
    }

    fn signed(payload: &[u8]) -> Vec<u8> {
        Envelope::sign(MANIFEST_TYPE, payload.to_vec(), &key(1)).to_json()
    }

    #[test]
    fn payload_types_share_prefix() {
        for t in [
            MANIFEST_TYPE,
            ALERT_TYPE,
            RECEIPTS_TYPE,
            ACK_TYPE,
            CHECKPOINT_TYPE,
        ] {
            assert!(t.starts_with(PAYLOAD_TYPE_PREFIX) && t.ends_with("+json"));
        }
    }

    #[test]
    fn pae_matches_dsse_spec_example() {
        // The example from the DSSE v1 protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn round_trip_sign_serialize_verify() {
        let bytes = signed(b"{\"a\":1}");
        let v = verify(&bytes, MANIFEST_TYPE, &trusted(1)).unwrap();
        assert_eq!(v.payload, b"{\"a\":1}");
        assert_eq!(v.key_id, key(1).key_id());
        assert_eq!(v.payload_type, MANIFEST_TYPE);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("{\"payloadType\":\""));
        assert!(text.contains("\"signatures\":[{\"keyid\":\""));
    }

    #[test]
    fn rejects_too_large_before_parsing() {
        let big = vec![b'x'; MAX_ENVELOPE_BYTES + 1];
        assert_eq!(
            verify(&big, MANIFEST_TYPE, &trusted(1)),
            Err(EnvelopeError::TooLarge {
                size: MAX_ENVELOPE_BYTES + 1,
                max: MAX_ENVELOPE_BYTES
            })
        );
    }

    #[test]
    fn rejects_wrong_type() {
        let bytes = Envelope::sign(ALERT_TYPE, b"{}".to_vec(), &key(1)).to_json();
        assert!(matches!(
            verify(&bytes, MANIFEST_TYPE, &trusted(1)),
            Err(EnvelopeError::WrongType { .. })
        ));
    }

    #[test]
    fn type_is_bound_by_signature() {
        // Changing the payloadType in transit breaks the signature.
        let mut env = Envelope::sign(ALERT_TYPE, b"{}".to_vec(), &key(1));
        env.payload_type = MANIFEST_TYPE.into();
        assert!(matches!(
            verify(&env.to_json(), MANIFEST_TYPE, &trusted(1)),
            Err(EnvelopeError::BadSignature { .. })
        ));
    }

    #[test]
    fn rejects_unknown_key() {
        let bytes = signed(b"{}");
        assert_eq!(
            verify(&bytes, MANIFEST_TYPE, &trusted(2)),
            Err(EnvelopeError::UnknownKey {
                keyid: key(1).key_id()
            })
        );
        assert!(matches!(
            verify(&bytes, MANIFEST_TYPE, &KeySet::new()),
            Err(EnvelopeError::UnknownKey { .. })
        ));
    }

    #[test]
    fn rejects_keyid_claiming_trusted_key() {
        // Signed by key 2 but claims key 1's id.
        let mut env = Envelope::sign(MANIFEST_TYPE, b"{}".to_vec(), &key(2));
        env.signatures[0].keyid = key(1).key_id();
        assert_eq!(
            verify(&env.to_json(), MANIFEST_TYPE, &trusted(1)),
            Err(EnvelopeError::BadSignature {
                keyid: key(1).key_id()
            })
        );
    }

    #[test]
    fn second_signature_by_trusted_key_is_enough() {
        let mut env = Envelope::sign(MANIFEST_TYPE, b"{}".to_vec(), &key(2));
        let other = Envelope::sign(MANIFEST_TYPE, b"{}".to_vec(), &key(1));
        env.signatures.push(other.signatures[0].clone());
        let v = verify(&env.to_json(), MANIFEST_TYPE, &trusted(1)).unwrap();
        assert_eq!(v.key_id, key(1).key_id());
    }

    #[test]
    fn rejects_bad_signature_length() {
        let mut env = Envelope::sign(MANIFEST_TYPE, b"{}".to_vec(), &key(1));
        env.signatures[0].sig.truncate(63);
        assert_eq!(
            verify(&env.to_json(), MANIFEST_TYPE, &trusted(1)),
            Err(EnvelopeError::BadSignatureLength { len: 63 })
        );
        env.signatures[0].sig = vec![0; 65];
        assert_eq!(
            Envelope::parse(&env.to_json()),
            Err(EnvelopeError::BadSignatureLength { len: 65 })
        );
    }

    #[test]
    fn rejects_no_signatures() {
        let json = br#"{"payloadType":"application/vnd.gatecast.manifest+json","payload":"e30=","signatures":[]}"#;
        assert_eq!(Envelope::parse(json), Err(EnvelopeError::NoSignatures));
    }

    fn text_of(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn rejects_trailing_data_but_allows_trailing_whitespace() {
        let mut bytes = signed(b"{}");
        let len = bytes.len();
        bytes.extend_from_slice(b"\n");
        verify(&bytes, MANIFEST_TYPE, &trusted(1)).unwrap();
        bytes.extend_from_slice(b"{}");
        assert_eq!(
            verify(&bytes, MANIFEST_TYPE, &trusted(1)),
            Err(EnvelopeError::TrailingData { offset: len + 1 })
        );
    }

    #[test]
    fn rejects_unknown_and_duplicate_fields() {
        let text = text_of(&signed(b"{}"));
        let unknown = text.replacen('{', "{\"extra\":1,", 1);
        assert!(matches!(
            Envelope::parse(unknown.as_bytes()),
            Err(EnvelopeError::Malformed(m)) if m.contains("extra")
        ));
        let dup = text.replacen('{', "{\"payload\":\"e30=\",", 1);
        assert!(matches!(
            Envelope::parse(dup.as_bytes()),
            Err(EnvelopeError::Malformed(m)) if m.contains("duplicate")
        ));
        let sig_extra = text.replacen("{\"keyid\"", "{\"x\":\"\",\"keyid\"", 1);
        assert!(matches!(
            Envelope::parse(sig_extra.as_bytes()),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_non_object_and_missing_fields() {
        for bad in [
            &b""[..],
            b"[]",
            b"null",
            b"{}",
            b"{\"payloadType\":\"t\",\"payload\":\"\"}",
        ] {
            assert!(
                matches!(Envelope::parse(bad), Err(EnvelopeError::Malformed(_))),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_base64_in_payload_and_sig() {
        let env = Envelope::sign(MANIFEST_TYPE, b"{}".to_vec(), &key(1));
        let text = text_of(&env.to_json());
        // "e30=" is base64 of "{}"; unpadded, URL-safe-only and non-canonical forms are rejected.
        for bad_payload in ["e30", "e31=", "e3-=", "e30=\n", " e30="] {
            let t = text.replace(
                "\"payload\":\"e30=\"",
                &format!("\"payload\":{bad_payload:?}"),
            );
            assert_ne!(t, text);
            assert!(
                matches!(
                    Envelope::parse(t.as_bytes()),
                    Err(EnvelopeError::BadBase64 {
                        field: "payload",
                        ..
                    })
                ),
                "accepted payload {bad_payload:?}"
            );
        }
        let sig = b64_encode(&env.signatures[0].sig);
        let t = text.replace(&sig, sig.trim_end_matches('='));
        assert!(matches!(
            Envelope::parse(t.as_bytes()),
            Err(EnvelopeError::BadBase64 { field: "sig", .. })
        ));
    }

    #[test]
    fn rejects_bad_keyid_and_long_type() {
        let mut env = Envelope::sign(MANIFEST_TYPE, b"{}".to_vec(), &key(1));
        env.signatures[0].keyid = String::new();
        assert!(matches!(
            Envelope::parse(&env.to_json()),
            Err(EnvelopeError::Malformed(_))
        ));
        env.signatures[0].keyid = "a".repeat(MAX_KEYID_LEN + 1);
        assert!(matches!(
            Envelope::parse(&env.to_json()),
            Err(EnvelopeError::Malformed(_))
        ));
        let env = Envelope::sign(&"t".repeat(MAX_PAYLOAD_TYPE_LEN + 1), vec![], &key(1));
        assert!(matches!(
            Envelope::parse(&env.to_json()),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_too_many_signatures() {
        let mut env = Envelope::sign(MANIFEST_TYPE, b"{}".to_vec(), &key(1));
        let s = env.signatures[0].clone();
        env.signatures = vec![s; MAX_SIGNATURES + 1];
        assert!(matches!(
            Envelope::parse(&env.to_json()),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn verifies_exact_payload_bytes_without_reserializing() {
        // Payload with whitespace and key order a JSON re-serializer would change.
        let payload = b"{ \"b\" : 1,\n  \"a\":2 }".to_vec();
        let bytes = Envelope::sign(MANIFEST_TYPE, payload.clone(), &key(1)).to_json();
        assert_eq!(
            verify(&bytes, MANIFEST_TYPE, &trusted(1)).unwrap().payload,
            payload
        );
    }

    #[test]
    fn error_messages_name_the_problem() {
        let e = EnvelopeError::WrongType {
            expected: MANIFEST_TYPE.into(),
            found: ALERT_TYPE.into(),
        };
        assert!(e.to_string().contains("alert+json"));
        assert!(EnvelopeError::TooLarge { size: 9, max: 1 }
            .to_string()
            .contains("over the limit"));
    }
}
