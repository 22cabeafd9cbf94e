//! Signed screenshots and the command that asks for one (`docs/protocol.md` §18).
//!
//! # The record
//!
//! A screenshot is an image (JPEG, at most [`MAX_IMAGE_BYTES`] bytes and [`MAX_WIDTH`] pixels
//! wide) and its record, a DSSE [`SCREENSHOT_TYPE`] envelope signed by the screen's device key
//! over compact JSON with the fields in this order:
//!
//! ```json
//! {"screen":"lc-a1","sha256":"<64 hex>","taken_at":"2026-12-07T03:00:00.000Z","width":1280,"height":720,"bytes":48213,"format":"jpeg","request":"r-1"}
//! ```
//!
//! `request` is there only when the screenshot answers a [`ScreenshotRequest`]. The signature
//! covers the image's SHA-256, so the record authenticates the image: [`verify_record`] checks
//! the envelope (exact bytes, payloadType, `verify_strict`) before it parses the payload, then
//! the screen, the image's hash and length, the limits and the time.
//!
//! # The command
//!
//! A [`ScreenshotRequest`] `{"screen","id","issued_at","expires_at"}` is a DSSE
//! [`SCREENSHOT_REQUEST_TYPE`] envelope signed by the controller key, sent on the screen's
//! non-retained `screenshot` topic. [`RequestGuard::accept`] refuses a command for another
//! screen, one that has expired, one that lives longer than [`MAX_REQUEST_LIFETIME_S`], and one
//! whose id it has already accepted (anti-replay: ids are remembered until they expire, so a
//! command can be taken at most once).
//!
//! Domain separation: a record and a command are signed under their own payloadType (PAE), so
//! neither can be passed off as the other, nor as a manifest, alert set, receipt batch or ack.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::envelope::{self, Envelope, EnvelopeError};
use crate::keys::{KeySet, PublicKey, SecretKey};

/// payloadType of a screenshot record (device key).
pub const SCREENSHOT_TYPE: &str = "application/vnd.gatecast.screenshot+json";
/// payloadType of a screenshot command (controller key).
pub const SCREENSHOT_REQUEST_TYPE: &str = "application/vnd.gatecast.screenshot-request+json";
/// Largest accepted image, in bytes (150 KiB).
pub const MAX_IMAGE_BYTES: u64 = 150 * 1024;
/// Widest accepted image, in pixels.
pub const MAX_WIDTH: u32 = 1280;
/// Tallest accepted image, in pixels.
pub const MAX_HEIGHT: u32 = 1280;
/// Largest accepted record or command envelope, in bytes (they are a few hundred bytes).
pub const MAX_RECORD_ENVELOPE_BYTES: usize = 4096;
/// How far in the future a record's `taken_at` may lie (clock skew), in seconds.
pub const MAX_FUTURE_SKEW_S: i64 = 300;
/// How old a record may be when it arrives, in seconds (a day: an upload that waited longer
/// shows nothing an operator needs).
pub const MAX_RECORD_AGE_S: i64 = 86_400;
/// Longest lifetime of a command (`expires_at - issued_at`), in seconds.
pub const MAX_REQUEST_LIFETIME_S: i64 = 600;
/// Most command ids a [`RequestGuard`] remembers at once; more unexpired commands are refused.
pub const MAX_REMEMBERED_REQUESTS: usize = 1024;

/// The image format of a screenshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// `image/jpeg`.
    Jpeg,
}

impl ImageFormat {
    /// The MIME type of the format.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
        }
    }
}

/// The signed facts about one screenshot (field names and order fixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenshotRecord {
    /// The screen that took it.
    pub screen: String,
    /// Lowercase hex SHA-256 of the image bytes.
    pub sha256: String,
    /// When it was taken (the player's clock).
    #[serde(with = "crate::receipt::ts_millis")]
    pub taken_at: Timestamp,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Length of the image in bytes.
    pub bytes: u64,
    /// Image format.
    pub format: ImageFormat,
    /// The id of the [`ScreenshotRequest`] this answers; absent for a periodic screenshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// A command from the controller: take a screenshot now (field names and order fixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenshotRequest {
    /// The screen that must take it.
    pub screen: String,
    /// Unique id (the manifest's id rule); echoed in the record's `request`.
    pub id: String,
    /// When the controller issued it.
    #[serde(with = "crate::receipt::ts_millis")]
    pub issued_at: Timestamp,
    /// After this the command is void.
    #[serde(with = "crate::receipt::ts_millis")]
    pub expires_at: Timestamp,
}

/// Why a screenshot record or command was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScreenshotError {
    /// The envelope failed (parse, payloadType, key or signature).
    #[error("screenshot envelope refused: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The envelope is bigger than [`MAX_RECORD_ENVELOPE_BYTES`].
    #[error("the envelope is {size} bytes, over the limit of {MAX_RECORD_ENVELOPE_BYTES}")]
    EnvelopeTooLarge {
        /// Its size.
        size: usize,
    },
    /// The signed payload is not a valid record or command.
    #[error("malformed screenshot payload: {0}")]
    Malformed(String),
    /// Signed for another screen.
    #[error("signed for screen {found:?}, not {expected:?}")]
    WrongScreen {
        /// The screen it was checked for.
        expected: String,
        /// The screen it names.
        found: String,
    },
    /// The image is not the one that was signed.
    #[error("the image's SHA-256 is {image}, the record signs {record}")]
    HashMismatch {
        /// Hash in the record.
        record: String,
        /// Hash of the image received.
        image: String,
    },
    /// The image length differs from the signed one.
    #[error("the image is {image} bytes, the record signs {record}")]
    LengthMismatch {
        /// Length in the record.
        record: u64,
        /// Length received.
        image: u64,
    },
    /// The image is too large.
    #[error("the image is {size} bytes, over the limit of {MAX_IMAGE_BYTES}")]
    ImageTooLarge {
        /// Its size.
        size: u64,
    },
    /// The image is too wide or too tall.
    #[error("the image is {width}x{height} px, over the limit of {MAX_WIDTH}x{MAX_HEIGHT}")]
    ImageTooBig {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// `taken_at` lies too far in the future.
    #[error("taken at {taken_at}, more than {MAX_FUTURE_SKEW_S} s after now ({now}); check the screen's clock")]
    FromTheFuture {
        /// The record's time.
        taken_at: Timestamp,
        /// The checker's time.
        now: Timestamp,
    },
    /// `taken_at` is too old.
    #[error("taken at {taken_at}, more than {MAX_RECORD_AGE_S} s before now ({now})")]
    TooOld {
        /// The record's time.
        taken_at: Timestamp,
        /// The checker's time.
        now: Timestamp,
    },
    /// The command has expired.
    #[error("screenshot command {id:?} expired at {expires_at} (now {now})")]
    Expired {
        /// Command id.
        id: String,
        /// Its expiry.
        expires_at: Timestamp,
        /// The checker's time.
        now: Timestamp,
    },
    /// The command's id was accepted before.
    #[error("screenshot command {id:?} was already taken (replayed)")]
    Replayed {
        /// Command id.
        id: String,
    },
    /// The command lives longer than [`MAX_REQUEST_LIFETIME_S`] or ends before it starts.
    #[error("screenshot command {id:?} has a lifetime of {seconds} s, outside 1..={MAX_REQUEST_LIFETIME_S}")]
    BadLifetime {
        /// Command id.
        id: String,
        /// `expires_at - issued_at`.
        seconds: i64,
    },
    /// Too many unexpired commands are remembered.
    #[error("{MAX_REMEMBERED_REQUESTS} unexpired screenshot commands are outstanding; command {id:?} refused")]
    TooManyOutstanding {
        /// Command id.
        id: String,
    },
}

fn malformed(e: impl std::fmt::Display) -> ScreenshotError {
    ScreenshotError::Malformed(e.to_string())
}

impl ScreenshotRecord {
    /// Compact JSON in the fixed field order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a screenshot record cannot fail")
    }

    /// Checks the fields that do not depend on the image or the time.
    pub fn validate(&self) -> Result<(), ScreenshotError> {
        if !crate::manifest::is_valid_screen_id(&self.screen) {
            return Err(malformed(format!(
                "{:?} is not a valid screen id",
                self.screen
            )));
        }
        if !crate::hex::is_lower_hex(&self.sha256, 32) {
            return Err(malformed("sha256 must be 64 lowercase hex digits"));
        }
        if self.bytes > MAX_IMAGE_BYTES {
            return Err(ScreenshotError::ImageTooLarge { size: self.bytes });
        }
        if self.width == 0 || self.height == 0 {
            return Err(malformed("width and height must be at least 1"));
        }
        if self.width > MAX_WIDTH || self.height > MAX_HEIGHT {
            return Err(ScreenshotError::ImageTooBig {
                width: self.width,
                height: self.height,
            });
        }
        if let Some(r) = &self.request {
            if !crate::manifest::is_valid_id(r) {
                return Err(malformed(format!("request {r:?} is not a valid id")));
            }
        }
        Ok(())
    }

    /// Validates and signs the record with the device key.
    pub fn sign(&self, device_key: &SecretKey) -> Result<Envelope, ScreenshotError> {
        self.validate()?;
        Ok(Envelope::sign(SCREENSHOT_TYPE, self.to_json(), device_key))
    }
}

/// Verifies a screenshot record's exact envelope bytes under `device_key` and checks that it
/// signs `image` for `screen` at a sane time: [`verify_record_envelope`], then [`check_image`].
pub fn verify_record(
    envelope_bytes: &[u8],
    device_key: &PublicKey,
    screen: &str,
    image: &[u8],
    now: Timestamp,
) -> Result<ScreenshotRecord, ScreenshotError> {
    let rec = verify_record_envelope(envelope_bytes, device_key, screen)?;
    check_image(&rec, image, now)?;
    Ok(rec)
}

/// The first half of [`verify_record`], usable before the image has arrived (a receiver can
/// refuse a forged upload without reading its body): envelope size, payloadType and a strict
/// signature under `device_key` first, then the payload's fields and the screen.
pub fn verify_record_envelope(
    envelope_bytes: &[u8],
    device_key: &PublicKey,
    screen: &str,
) -> Result<ScreenshotRecord, ScreenshotError> {
    if envelope_bytes.len() > MAX_RECORD_ENVELOPE_BYTES {
        return Err(ScreenshotError::EnvelopeTooLarge {
            size: envelope_bytes.len(),
        });
    }
    let v = envelope::verify_with_key(envelope_bytes, SCREENSHOT_TYPE, device_key)?;
    let rec: ScreenshotRecord = serde_json::from_slice(&v.payload).map_err(malformed)?;
    rec.validate()?;
    if rec.screen != screen {
        return Err(ScreenshotError::WrongScreen {
            expected: screen.to_owned(),
            found: rec.screen,
        });
    }
    Ok(rec)
}

/// The second half of [`verify_record`]: `image` is the one `rec` signs (length, SHA-256,
/// size limit) and `taken_at` lies within [`MAX_RECORD_AGE_S`] before and
/// [`MAX_FUTURE_SKEW_S`] after `now`.
pub fn check_image(
    rec: &ScreenshotRecord,
    image: &[u8],
    now: Timestamp,
) -> Result<(), ScreenshotError> {
    let len = image.len() as u64;
    if len > MAX_IMAGE_BYTES {
        return Err(ScreenshotError::ImageTooLarge { size: len });
    }
    if len != rec.bytes {
        return Err(ScreenshotError::LengthMismatch {
            record: rec.bytes,
            image: len,
        });
    }
    let sha = crate::hex::sha256_hex(image);
    if sha != rec.sha256 {
        return Err(ScreenshotError::HashMismatch {
            record: rec.sha256.clone(),
            image: sha,
        });
    }
    check_time(rec, now)
}

/// `taken_at` within [`MAX_RECORD_AGE_S`] before and [`MAX_FUTURE_SKEW_S`] after `now`.
pub fn check_time(rec: &ScreenshotRecord, now: Timestamp) -> Result<(), ScreenshotError> {
    let age = now.as_second() - rec.taken_at.as_second();
    if age < -MAX_FUTURE_SKEW_S {
        return Err(ScreenshotError::FromTheFuture {
            taken_at: rec.taken_at,
            now,
        });
    }
    if age > MAX_RECORD_AGE_S {
        return Err(ScreenshotError::TooOld {
            taken_at: rec.taken_at,
            now,
        });
    }
    Ok(())
}

impl ScreenshotRequest {
    /// Compact JSON in the fixed field order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a screenshot command cannot fail")
    }

    /// Checks the screen id, the id and the lifetime.
    pub fn validate(&self) -> Result<(), ScreenshotError> {
        if !crate::manifest::is_valid_screen_id(&self.screen) {
            return Err(malformed(format!(
                "{:?} is not a valid screen id",
                self.screen
            )));
        }
        if !crate::manifest::is_valid_id(&self.id) {
            return Err(malformed(format!(
                "{:?} is not a valid command id",
                self.id
            )));
        }
        let seconds = self.expires_at.as_second() - self.issued_at.as_second();
        if !(1..=MAX_REQUEST_LIFETIME_S).contains(&seconds) {
            return Err(ScreenshotError::BadLifetime {
                id: self.id.clone(),
                seconds,
            });
        }
        Ok(())
    }

    /// Validates and signs the command with the controller key.
    pub fn sign(&self, controller_key: &SecretKey) -> Result<Envelope, ScreenshotError> {
        self.validate()?;
        Ok(Envelope::sign(
            SCREENSHOT_REQUEST_TYPE,
            self.to_json(),
            controller_key,
        ))
    }
}

/// The player's anti-replay memory for screenshot commands: the ids it accepted, each kept
/// until its command expires. Pure: the caller passes `now`.
#[derive(Debug, Default)]
pub struct RequestGuard {
    seen: BTreeMap<String, Timestamp>,
}

impl RequestGuard {
    /// An empty guard.
    pub fn new() -> RequestGuard {
        RequestGuard::default()
    }

    /// Verifies a command's exact envelope bytes under the `trusted` controller keys and
    /// accepts it once: it must be for `screen`, not expired at `now`, with a lifetime within
    /// [`MAX_REQUEST_LIFETIME_S`], and its id not accepted before.
    pub fn accept(
        &mut self,
        envelope_bytes: &[u8],
        trusted: &KeySet,
        screen: &str,
        now: Timestamp,
    ) -> Result<ScreenshotRequest, ScreenshotError> {
        if envelope_bytes.len() > MAX_RECORD_ENVELOPE_BYTES {
            return Err(ScreenshotError::EnvelopeTooLarge {
                size: envelope_bytes.len(),
            });
        }
        let v = envelope::verify(envelope_bytes, SCREENSHOT_REQUEST_TYPE, trusted)?;
        let req: ScreenshotRequest = serde_json::from_slice(&v.payload).map_err(malformed)?;
        req.validate()?;
        if req.screen != screen {
            return Err(ScreenshotError::WrongScreen {
                expected: screen.to_owned(),
                found: req.screen,
            });
        }
        if req.expires_at <= now {
            return Err(ScreenshotError::Expired {
                id: req.id,
                expires_at: req.expires_at,
                now,
            });
        }
        self.seen.retain(|_, exp| *exp > now);
        if self.seen.contains_key(&req.id) {
            return Err(ScreenshotError::Replayed { id: req.id });
        }
        if self.seen.len() >= MAX_REMEMBERED_REQUESTS {
            return Err(ScreenshotError::TooManyOutstanding { id: req.id });
        }
        self.seen.insert(req.id.clone(), req.expires_at);
        Ok(req)
    }
}

#[cfg(test)]
#[path = "screenshot_tests.rs"]
mod tests;
