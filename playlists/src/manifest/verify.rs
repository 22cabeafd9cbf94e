//! Verification of signed manifests and alert sets received from outside.

use super::*;

impl From<&EnvelopeError> for RejectReason {
    fn from(e: &EnvelopeError) -> RejectReason {
        match e {
            EnvelopeError::TooLarge { .. }
            | EnvelopeError::Malformed(_)
            | EnvelopeError::TrailingData { .. }
            | EnvelopeError::BadBase64 { .. }
            | EnvelopeError::NoSignatures => RejectReason::BadEnvelope,
            EnvelopeError::WrongType { .. } => RejectReason::WrongType,
            EnvelopeError::UnknownKey { .. } => RejectReason::UnknownKey,
            EnvelopeError::BadSignatureLength { .. } | EnvelopeError::BadSignature { .. } => {
                RejectReason::BadSignature
            }
        }
    }
}

impl From<EnvelopeError> for Rejection {
    fn from(e: EnvelopeError) -> Rejection {
        Rejection::new(RejectReason::from(&e), None, e.to_string())
    }
}

/// Reads just the `version` of a signed payload that failed to parse as a whole, for the
/// rejection record.
pub(super) fn peek_version(payload: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Peek {
        version: Option<u64>,
    }
    serde_json::from_slice::<Peek>(payload)
        .ok()
        .and_then(|p| p.version)
}

pub(super) fn check_not_newer(version: u64, last: Option<u64>) -> Result<(), Rejection> {
    match last {
        Some(last) if version <= last => Err(Rejection::new(
            RejectReason::NotNewer,
            Some(version),
            format!("version {version} is not newer than the last accepted version {last}"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_own_screen(
    screen: &str,
    own_screen: &str,
    version: u64,
) -> Result<(), Rejection> {
    if screen == own_screen {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectReason::WrongScreen,
            Some(version),
            format!("payload is for screen {screen:?}, this is screen {own_screen:?}"),
        ))
    }
}

/// The one entry point for a manifest from outside (`docs/protocol.md` §8). In this order:
/// 1. the envelope bytes verify as a `manifest` envelope signed by a key in `trusted`
///    (exact bytes, before any parsing of the payload) — else `bad_envelope`, `wrong_type`,
///    `unknown_key` or `bad_signature`;
/// 2. the payload parses as a manifest — else `invalid_content`;
/// 3. `screen == own_screen` — else `wrong_screen`;
/// 4. `version > last_accepted_version` (any version if `None`) — else `not_newer`;
/// 5. `now < expires_at` — else `expired`;
/// 6. [`Manifest::validate`] passes — else `invalid_content`.
pub fn verify_manifest(
    envelope_bytes: &[u8],
    trusted: &KeySet,
    own_screen: &str,
    last_accepted_version: Option<u64>,
    now: Timestamp,
) -> Result<Manifest, Rejection> {
    let verified = envelope::verify(envelope_bytes, MANIFEST_TYPE, trusted)?;
    let m = Manifest::from_json(&verified.payload).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidContent,
            peek_version(&verified.payload),
            e.to_string(),
        )
    })?;
    check_own_screen(&m.screen, own_screen, m.version)?;
    check_not_newer(m.version, last_accepted_version)?;
    if m.expires_at <= now {
        return Err(Rejection::new(
            RejectReason::Expired,
            Some(m.version),
            format!("manifest expired at {} (now {now})", m.expires_at),
        ));
    }
    m.validate().map_err(|e| {
        Rejection::new(RejectReason::InvalidContent, Some(m.version), e.to_string())
    })?;
    Ok(m)
}

/// The one entry point for an alert set from outside. Same order as [`verify_manifest`]
/// (envelope of type `alert`, parse, screen, version against the last accepted *alert* version,
/// validation); there is no set-wide expiry: each alert expires on its own (see
/// [`crate::schedule::active_alert`]), so `expired` is never returned here.
pub fn verify_alerts(
    envelope_bytes: &[u8],
    trusted: &KeySet,
    own_screen: &str,
    last_accepted_version: Option<u64>,
) -> Result<AlertSet, Rejection> {
    let verified = envelope::verify(envelope_bytes, ALERT_TYPE, trusted)?;
    let a = AlertSet::from_json(&verified.payload).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidContent,
            peek_version(&verified.payload),
            e.to_string(),
        )
    })?;
    check_own_screen(&a.screen, own_screen, a.version)?;
    check_not_newer(a.version, last_accepted_version)?;
    a.validate().map_err(|e| {
        Rejection::new(RejectReason::InvalidContent, Some(a.version), e.to_string())
    })?;
    Ok(a)
}
