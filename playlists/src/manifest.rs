//! The manifest model (DESIGN §4), its validation and the acceptance rules.
//!
//! A [`Manifest`] fully describes what one screen plays: the media it must cache (by SHA-256),
//! the playlists built from them, the schedule that picks a playlist at any instant, and the
//! fallback playlist. An [`AlertSet`] is the full current set of emergency alerts of one screen.
//! Both travel as the payload of a DSSE envelope (see [`crate::envelope`]) and are only ever
//! accepted through [`verify_manifest`] / [`verify_alerts`], which check the signature over the
//! exact bytes before the JSON is parsed.
//!
//! # Wire format
//!
//! JSON with the field names of the structs below. Timestamps are RFC 3339 strings in UTC
//! (`2025-01-31T08:00:00Z`), dates are `YYYY-MM-DD`, daily times are `HH:MM` (24-hour clock,
//! `00:00`..=`23:59`), weekdays are `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`. Unknown
//! fields are ignored (forward compatibility); every required field must be present. Optional
//! fields may be omitted or `null`. `languages` and `variants` may be omitted (empty).
//!
//! # Validation bounds
//!
//! [`Manifest::validate`] enforces the documented bounds: see the `MAX_*`/`MIN_*` constants.
//! Besides, a signed envelope is at most [`crate::envelope::MAX_ENVELOPE_BYTES`], which in
//! practice caps a manifest at a few thousand media items.
//!
//! # Language tags
//!
//! [`is_valid_lang_tag`] accepts a pragmatic, well-formed subset of BCP 47 (RFC 5646), compared
//! case-insensitively:
//!
//! ```text
//! tag       = language ["-" script] ["-" region] *("-" variant) *("-" extension) ["-" privateuse]
//! language  = 2*3ALPHA *3("-" 3ALPHA)      ; with up to 3 extlang subtags, e.g. zh-yue
//!           / 5*8ALPHA
//! script    = 4ALPHA                       ; zh-Hans
//! region    = 2ALPHA / 3DIGIT              ; pt-BR, es-419
//! variant   = 5*8alphanum / DIGIT 3alphanum
//! extension = singleton 1*("-" 2*8alphanum) ; singleton = one alphanum other than x
//! privateuse= "x" 1*("-" 1*8alphanum)
//! ```
//!
//! at most [`MAX_LANG_TAG_LEN`] bytes. Grandfathered tags and tags that are only private use
//! (`x-…`) are rejected; subtags are not checked against the IANA registry, so `und` and `zxx`
//! (no linguistic content) are accepted. Examples: `vi`, `en`, `zh-Hans`, `hmn`, `ium`, `pt-BR`.

use std::collections::HashSet;
use std::fmt;

use jiff::civil::{Date, Time};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::envelope::{self, Envelope, EnvelopeError, ALERT_TYPE, MANIFEST_TYPE};
use crate::keys::{KeySet, SecretKey};

/// Smallest allowed media size in bytes.
pub const MIN_MEDIA_BYTES: u64 = 1;
/// Largest allowed media size in bytes (64 GiB).
pub const MAX_MEDIA_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Smallest allowed duration (media or playlist item), in milliseconds.
pub const MIN_DURATION_MS: u64 = 1;
/// Largest allowed duration (media or playlist item), in milliseconds (24 hours).
pub const MAX_DURATION_MS: u64 = 24 * 60 * 60 * 1000;
/// Most media items in one manifest.
pub const MAX_MEDIA: usize = 10_000;
/// Most playlists in one manifest.
pub const MAX_PLAYLISTS: usize = 1_000;
/// Most items in one playlist (a playlist has at least one item).
pub const MAX_ITEMS_PER_PLAYLIST: usize = 10_000;
/// Most language variants on one playlist item.
pub const MAX_VARIANTS_PER_ITEM: usize = 32;
/// Most schedule entries in one manifest.
pub const MAX_SCHEDULE_ENTRIES: usize = 1_000;
/// Most languages in a gate's language rotation.
pub const MAX_LANGUAGES: usize = 32;
/// Longest id (playlist, schedule entry, alert), in bytes. See [`is_valid_id`].
pub const MAX_ID_LEN: usize = 128;
/// Longest title or name, in bytes of UTF-8 (may be empty).
pub const MAX_TITLE_LEN: usize = 1024;
/// Longest MIME type, in bytes.
pub const MAX_MIME_LEN: usize = 255;
/// Longest BCP 47 language tag, in bytes.
pub const MAX_LANG_TAG_LEN: usize = 64;
/// Longest IANA timezone name, in bytes.
pub const MAX_TIMEZONE_LEN: usize = 64;
/// Most alerts in one alert set.
pub const MAX_ALERTS: usize = 100;
/// Most texts (languages) in one alert.
pub const MAX_ALERT_TEXTS: usize = 32;
/// Longest alert text, in bytes of UTF-8 (must not be empty).
pub const MAX_ALERT_TEXT_LEN: usize = 4096;

/// Everything one screen plays (DESIGN §4). Field names are fixed by the wire contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The screen this manifest is for; must equal the player's own screen id.
    pub screen: String,
    /// Strictly increasing per screen, never reused.
    pub version: u64,
    /// When the controller issued it (RFC 3339 UTC).
    #[serde(with = "rfc3339")]
    pub issued_at: Timestamp,
    /// A player does not accept it at or after this instant (RFC 3339 UTC); a player that already
    /// accepted it keeps playing it when offline.
    #[serde(with = "rfc3339")]
    pub expires_at: Timestamp,
    /// IANA timezone in which the schedule is evaluated, e.g. `Asia/Ho_Chi_Minh`.
    pub timezone: String,
    /// The gate's language rotation (BCP 47 tags, e.g. `["vi","en","zh-Hans"]`); may be empty.
    /// See [`crate::schedule::pick_variant`].
    #[serde(default)]
    pub languages: Vec<String>,
    /// Every media item the screen must cache.
    pub media: Vec<MediaRef>,
    /// The playlists; schedule entries and the fallback refer to them by id.
    pub playlists: Vec<Playlist>,
    /// Schedule entries; see [`crate::schedule`] for the semantics.
    pub schedule: Vec<ScheduleEntry>,
    /// Id of the playlist that plays when no schedule entry is active.
    pub fallback: String,
}

/// A media item, identified by the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// Lowercase hex SHA-256 of the media bytes (64 characters); the media's identity.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// MIME type, e.g. `video/mp4`.
    pub mime: String,
    /// What kind of media it is.
    pub kind: MediaKind,
    /// BCP 47 language of the media (use `zxx` for no linguistic content).
    pub lang: String,
    /// Human title (may be empty).
    pub title: String,
    /// Natural duration in milliseconds, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// The kind of a media item (`video`, `slide` or `clip` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A video.
    Video,
    /// A still slide (image), shown for the item's duration.
    Slide,
    /// A short clip.
    Clip,
}

/// A named, ordered list of media items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playlist {
    /// Unique id within the manifest ([`is_valid_id`]).
    pub id: String,
    /// Human name (may be empty).
    pub name: String,
    /// The items, played in order; at least one.
    pub items: Vec<PlaylistItem>,
}

/// One entry of a playlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaylistItem {
    /// SHA-256 of a media item listed in the manifest.
    pub media: String,
    /// How long to show it, in milliseconds; `None` = the media's natural duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// SHA-256 of the same message in other languages (each listed in the manifest, each in a
    /// different language). See [`crate::schedule::pick_variant`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

/// A day of the week (`mon`..`sun` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    /// The weekday of a civil date.
    pub fn of(date: Date) -> Weekday {
        match date.weekday() {
            jiff::civil::Weekday::Monday => Weekday::Mon,
            jiff::civil::Weekday::Tuesday => Weekday::Tue,
            jiff::civil::Weekday::Wednesday => Weekday::Wed,
            jiff::civil::Weekday::Thursday => Weekday::Thu,
            jiff::civil::Weekday::Friday => Weekday::Fri,
            jiff::civil::Weekday::Saturday => Weekday::Sat,
            jiff::civil::Weekday::Sunday => Weekday::Sun,
        }
    }
}

/// One schedule entry: plays `playlist` while active. See [`crate::schedule`] for the exact
/// semantics of dates, weekdays and windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    /// Unique id within the manifest ([`is_valid_id`]); breaks priority ties.
    pub id: String,
    /// Id of a playlist listed in the manifest.
    pub playlist: String,
    /// Higher wins among active entries.
    pub priority: i32,
    /// First local day (inclusive) on which a window may start, `YYYY-MM-DD`.
    #[serde(default, with = "opt_date", skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    /// Last local day (inclusive) on which a window may start, `YYYY-MM-DD`.
    #[serde(default, with = "opt_date", skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// Days on which a window may start; `None` = every day. Must not be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<Weekday>>,
    /// Local start of the daily window, `HH:MM`; give both `start` and `end`, or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Local end of the daily window, `HH:MM` (exclusive); `end < start` crosses midnight,
    /// `end == start` is a 24-hour window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// The full current alert set of one screen (payload of an `alert` envelope). Versioned like
/// manifests; cancelling an alert = publishing a new version without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSet {
    /// The screen this alert set is for.
    pub screen: String,
    /// Strictly increasing per screen (its own sequence, independent of manifest versions).
    pub version: u64,
    /// When the controller issued it (RFC 3339 UTC).
    #[serde(with = "rfc3339")]
    pub issued_at: Timestamp,
    /// The alerts; may be empty (= no alert).
    pub alerts: Vec<Alert>,
}

/// One emergency alert; overrides the schedule until it expires or is cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique id within the set ([`is_valid_id`]); breaks priority ties.
    pub id: String,
    /// Higher wins among unexpired alerts.
    pub priority: i32,
    /// The alert is no longer shown at or after this instant (RFC 3339 UTC).
    #[serde(with = "rfc3339")]
    pub expires_at: Timestamp,
    /// The alert text in one or more languages.
    pub text: Vec<AlertText>,
    /// Optional media to show with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaRef>,
}

/// The text of an alert in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertText {
    /// BCP 47 language tag.
    pub lang: String,
    /// The text (non-empty; newlines allowed, other control characters not).
    pub text: String,
}

/// What is wrong with a manifest or alert set. Each variant names the offending field with a
/// path such as `playlists[2].items[0].media`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The payload is not JSON of the expected shape.
    #[error("payload is not a valid JSON document of the expected shape: {0}")]
    Json(String),
    /// The screen id does not match `^[a-z0-9][a-z0-9-]{0,62}$`.
    #[error("screen: {value:?} is not a valid screen id (lowercase letters, digits and '-', 1-63 characters, not starting with '-')")]
    ScreenId {
        /// The offending value.
        value: String,
    },
    /// `expires_at` is not after `issued_at`.
    #[error("expires_at ({expires_at}) must be later than issued_at ({issued_at})")]
    Expiry {
        /// The issue time.
        issued_at: Timestamp,
        /// The expiry time.
        expires_at: Timestamp,
    },
    /// The timezone is not an IANA name known to the bundled tz database.
    #[error("timezone: {value:?} is not an IANA timezone name (use e.g. \"Asia/Ho_Chi_Minh\", exact spelling)")]
    Timezone {
        /// The offending value.
        value: String,
    },
    /// A language tag is not well-formed BCP 47.
    #[error("{field}: {value:?} is not a well-formed BCP 47 language tag (e.g. \"vi\", \"en\", \"zh-Hans\")")]
    LangTag {
        /// The field path.
        field: String,
        /// The offending value.
        value: String,
    },
    /// The same language appears twice where languages must be distinct.
    #[error("{field}: language {lang:?} appears more than once")]
    DuplicateLanguage {
        /// The field path.
        field: String,
        /// The repeated tag.
        lang: String,
    },
    /// A SHA-256 is not 64 lowercase hex characters.
    #[error("{field}: {value:?} is not a SHA-256 (64 lowercase hex characters)")]
    Sha256 {
        /// The field path.
        field: String,
        /// The offending value.
        value: String,
    },
    /// Two media items have the same hash.
    #[error("{field}: media {sha256} is listed more than once")]
    DuplicateMedia {
        /// The field path.
        field: String,
        /// The repeated hash.
        sha256: String,
    },
    /// A reference to a media item that the manifest does not list.
    #[error("{field}: media {sha256} is not listed in the manifest's media")]
    UnknownMedia {
        /// The field path.
        field: String,
        /// The hash.
        sha256: String,
    },
    /// Two playlists have the same id.
    #[error("{field}: playlist id {id:?} is used more than once")]
    DuplicatePlaylist {
        /// The field path.
        field: String,
        /// The repeated id.
        id: String,
    },
    /// A reference to a playlist that the manifest does not list.
    #[error("{field}: playlist {id:?} is not listed in the manifest's playlists")]
    UnknownPlaylist {
        /// The field path.
        field: String,
        /// The id.
        id: String,
    },
    /// Two schedule entries (or alerts) have the same id.
    #[error("{field}: id {id:?} is used more than once")]
    DuplicateId {
        /// The field path.
        field: String,
        /// The repeated id.
        id: String,
    },
    /// An id is empty, too long or has characters outside `[A-Za-z0-9._:-]`.
    #[error("{field}: {value:?} is not a valid id (1-128 characters from A-Z a-z 0-9 . _ : -, starting with a letter or digit)")]
    Id {
        /// The field path.
        field: String,
        /// The offending value.
        value: String,
    },
    /// A number is outside its documented bounds.
    #[error("{field}: {value} is out of range (allowed {min}..={max})")]
    OutOfRange {
        /// The field path.
        field: String,
        /// The offending value.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A list has more elements than allowed.
    #[error("{field}: {count} elements, at most {max} allowed")]
    TooMany {
        /// The field path.
        field: String,
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A list that must not be empty is empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// The field path.
        field: String,
    },
    /// A text is too long or contains control characters.
    #[error("{field}: {problem}")]
    Text {
        /// The field path.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A MIME type is not `type/subtype` (optionally with parameters).
    #[error("{field}: {value:?} is not a MIME type such as \"video/mp4\"")]
    Mime {
        /// The field path.
        field: String,
        /// The offending value.
        value: String,
    },
    /// A daily time is not `HH:MM` in `00:00`..=`23:59`.
    #[error("{field}: {value:?} is not a time of day \"HH:MM\" (00:00 to 23:59)")]
    TimeOfDay {
        /// The field path.
        field: String,
        /// The offending value.
        value: String,
    },
    /// Only one of `start`/`end` is given.
    #[error("{field}: a daily window needs both start and end (or neither)")]
    HalfWindow {
        /// The field path.
        field: String,
    },
    /// `from` is after `until`.
    #[error("{field}: from ({from}) is after until ({until})")]
    DateRange {
        /// The field path.
        field: String,
        /// First day.
        from: Date,
        /// Last day.
        until: Date,
    },
    /// A weekday is listed twice.
    #[error("{field}: weekday {day:?} is listed more than once")]
    DuplicateWeekday {
        /// The field path.
        field: String,
        /// The repeated day.
        day: Weekday,
    },
    /// A variant repeats the item's own media.
    #[error("{field}: variant {sha256} is the item's own media")]
    VariantIsItem {
        /// The field path.
        field: String,
        /// The hash.
        sha256: String,
    },
    /// An alert has neither text nor media.
    #[error("{field}: an alert needs at least one text or a media item")]
    EmptyAlert {
        /// The field path.
        field: String,
    },
}

/// Why a manifest or alert envelope was rejected (a closed set; [`RejectReason::as_str`] gives
/// the wire name used in the player's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The envelope is not a well-formed DSSE envelope (size, JSON, base64, no signatures).
    BadEnvelope,
    /// No signature is by a trusted key.
    UnknownKey,
    /// A signature by a trusted key does not verify (or has the wrong length).
    BadSignature,
    /// The envelope's payloadType is not the expected one.
    WrongType,
    /// The payload is for another screen.
    WrongScreen,
    /// The version is not greater than the last accepted one.
    NotNewer,
    /// The manifest has expired.
    Expired,
    /// The signed payload is not a valid manifest / alert set.
    InvalidContent,
}

impl RejectReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RejectReason; 8] = [
        RejectReason::BadEnvelope,
        RejectReason::UnknownKey,
        RejectReason::BadSignature,
        RejectReason::WrongType,
        RejectReason::WrongScreen,
        RejectReason::NotNewer,
        RejectReason::Expired,
        RejectReason::InvalidContent,
    ];

    /// The wire name: `bad_envelope`, `unknown_key`, `bad_signature`, `wrong_type`,
    /// `wrong_screen`, `not_newer`, `expired`, `invalid_content`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::BadEnvelope => "bad_envelope",
            RejectReason::UnknownKey => "unknown_key",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::WrongType => "wrong_type",
            RejectReason::WrongScreen => "wrong_screen",
            RejectReason::NotNewer => "not_newer",
            RejectReason::Expired => "expired",
            RejectReason::InvalidContent => "invalid_content",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected manifest or alert set: the reason, the version if it could be read from the
/// signed payload, and a human explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why (closed set).
    pub reason: RejectReason,
    /// The payload's version, when the payload was signed and had a readable version.
    pub version: Option<u64>,
    /// What exactly was wrong, for logs and status.
    pub detail: String,
}

impl Rejection {
    fn new(reason: RejectReason, version: Option<u64>, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            version,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "rejected version {v} ({}): {}", self.reason, self.detail),
            None => write!(f, "rejected ({}): {}", self.reason, self.detail),
        }
    }
}

impl std::error::Error for Rejection {}

/// Whether `s` is a valid screen id: `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn is_valid_screen_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Whether `s` is a SHA-256 in lowercase hex (exactly 64 characters `0-9a-f`).
pub fn is_valid_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Whether `s` is a valid id for a playlist, schedule entry or alert:
/// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`.
pub fn is_valid_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_ID_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// Whether `s` is a well-formed BCP 47 language tag (the pragmatic subset documented in the
/// module docs), e.g. `vi`, `en`, `zh-Hans`, `hmn`, `pt-BR`.
pub fn is_valid_lang_tag(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_LANG_TAG_LEN {
        return false;
    }
    let subtags: Vec<&str> = s.split('-').collect();
    let alpha = |t: &str| t.bytes().all(|c| c.is_ascii_alphabetic());
    let digit = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    let alnum = |t: &str| t.bytes().all(|c| c.is_ascii_alphanumeric());
    if subtags.iter().any(|t| t.is_empty() || !alnum(t)) {
        return false;
    }
    // language
    let lang = subtags[0];
    let mut i = match lang.len() {
        2 | 3 if alpha(lang) => {
            let mut i = 1;
            // up to three extlang subtags
            let mut ext = 0;
            while ext < 3 && i < subtags.len() && subtags[i].len() == 3 && alpha(subtags[i]) {
                i += 1;
                ext += 1;
            }
            i
        }
        5..=8 if alpha(lang) => 1,
        _ => return false,
    };
    // script
    if i < subtags.len() && subtags[i].len() == 4 && alpha(subtags[i]) {
        i += 1;
    }
    // region
    if i < subtags.len()
        && ((subtags[i].len() == 2 && alpha(subtags[i]))
            || (subtags[i].len() == 3 && digit(subtags[i])))
    {
        i += 1;
    }
    // variants
    while i < subtags.len() {
        let t = subtags[i];
        let is_variant =
            (5..=8).contains(&t.len()) || (t.len() == 4 && t.as_bytes()[0].is_ascii_digit());
        if !is_variant {
            break;
        }
        i += 1;
    }
    // extensions
    while i < subtags.len() && subtags[i].len() == 1 && !subtags[i].eq_ignore_ascii_case("x") {
        i += 1;
        let start = i;
        while i < subtags.len() && (2..=8).contains(&subtags[i].len()) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    // private use
    if i < subtags.len() && subtags[i].eq_ignore_ascii_case("x") {
        i += 1;
        if i == subtags.len() {
            return false;
        }
        // every remaining subtag is 1..=8 alphanumerics (already checked <= 8 below)
        while i < subtags.len() && subtags[i].len() <= 8 {
            i += 1;
        }
    }
    i == subtags.len()
}

/// Whether `s` is an IANA timezone name known to the bundled tz database, spelled exactly as the
/// database spells it (`Asia/Ho_Chi_Minh`, `Europe/Berlin`, `UTC`).
pub fn is_valid_timezone(s: &str) -> bool {
    if s.is_empty()
        || s.len() > MAX_TIMEZONE_LEN
        || !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'+'))
    {
        return false;
    }
    match jiff::tz::TimeZone::get(s) {
        Ok(tz) => tz.iana_name() == Some(s),
        Err(_) => false,
    }
}

/// Parses a daily time `HH:MM` (`00:00`..=`23:59`, exactly five characters).
pub fn parse_time_of_day(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = (b[0] - b'0') * 10 + (b[1] - b'0');
    let m = (b[3] - b'0') * 10 + (b[4] - b'0');
    if h > 23 || m > 59 {
        return None;
    }
    Time::new(h as i8, m as i8, 0, 0).ok()
}

fn lang_key(tag: &str) -> String {
    tag.to_ascii_lowercase()
}

fn check_text(field: &str, s: &str, max: usize, allow_newline: bool) -> Result<(), ManifestError> {
    if s.len() > max {
        return Err(ManifestError::Text {
            field: field.to_string(),
            problem: format!("{} bytes long, at most {max} allowed", s.len()),
        });
    }
    if s.chars()
        .any(|c| c.is_control() && !(allow_newline && c == '\n'))
    {
        return Err(ManifestError::Text {
            field: field.to_string(),
            problem: "contains control characters; remove them".to_string(),
        });
    }
    Ok(())
}

fn check_range(field: &str, value: u64, min: u64, max: u64) -> Result<(), ManifestError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ManifestError::OutOfRange {
            field: field.to_string(),
            value,
            min,
            max,
        })
    }
}

fn check_count(field: &str, count: usize, max: usize) -> Result<(), ManifestError> {
    if count > max {
        Err(ManifestError::TooMany {
            field: field.to_string(),
            count,
            max,
        })
    } else {
        Ok(())
    }
}

fn check_id(field: &str, id: &str) -> Result<(), ManifestError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ManifestError::Id {
            field: field.to_string(),
            value: id.to_string(),
        })
    }
}

fn check_lang(field: &str, tag: &str) -> Result<(), ManifestError> {
    if is_valid_lang_tag(tag) {
        Ok(())
    } else {
        Err(ManifestError::LangTag {
            field: field.to_string(),
            value: tag.to_string(),
        })
    }
}

fn check_sha(field: &str, sha: &str) -> Result<(), ManifestError> {
    if is_valid_sha256_hex(sha) {
        Ok(())
    } else {
        Err(ManifestError::Sha256 {
            field: field.to_string(),
            value: sha.to_string(),
        })
    }
}

fn check_screen(screen: &str) -> Result<(), ManifestError> {
    if is_valid_screen_id(screen) {
        Ok(())
    } else {
        Err(ManifestError::ScreenId {
            value: screen.to_string(),
        })
    }
}

fn is_valid_mime(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_MIME_LEN || !s.bytes().all(|c| (0x20..0x7f).contains(&c)) {
        return false;
    }
    let head = s.split(';').next().unwrap_or("").trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
    };
    match head.split_once('/') {
        Some((ty, sub)) => token(ty) && token(sub),
        None => false,
    }
}

impl MediaRef {
    /// Checks one media reference; `field` is its path for error messages (e.g. `media[3]`).
    pub fn validate_at(&self, field: &str) -> Result<(), ManifestError> {
        check_sha(&format!("{field}.sha256"), &self.sha256)?;
        check_range(
            &format!("{field}.bytes"),
            self.bytes,
            MIN_MEDIA_BYTES,
            MAX_MEDIA_BYTES,
        )?;
        if !is_valid_mime(&self.mime) {
            return Err(ManifestError::Mime {
                field: format!("{field}.mime"),
                value: self.mime.clone(),
            });
        }
        check_lang(&format!("{field}.lang"), &self.lang)?;
        check_text(&format!("{field}.title"), &self.title, MAX_TITLE_LEN, false)?;
        if let Some(d) = self.duration_ms {
            check_range(
                &format!("{field}.duration_ms"),
                d,
                MIN_DURATION_MS,
                MAX_DURATION_MS,
            )?;
        }
        Ok(())
    }
}

impl Manifest {
    /// Parses a manifest from JSON without validating it (use [`verify_manifest`] for anything
    /// that comes from outside).
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))
    }

    /// The manifest as compact JSON (the bytes that get signed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes to JSON")
    }

    /// Validates the manifest, then signs its JSON as a `manifest` envelope.
    pub fn sign(&self, key: &SecretKey) -> Result<Envelope, ManifestError> {
        self.validate()?;
        Ok(Envelope::sign(MANIFEST_TYPE, self.to_json(), key))
    }

    /// The media item with this SHA-256, if listed.
    pub fn media_by_hash(&self, sha: &str) -> Option<&MediaRef> {
        self.media.iter().find(|m| m.sha256 == sha)
    }

    /// The playlist with this id, if listed.
    pub fn playlist(&self, id: &str) -> Option<&Playlist> {
        self.playlists.iter().find(|p| p.id == id)
    }

    /// Checks every rule of the module docs; the error names the first offending field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_screen(&self.screen)?;
        if self.expires_at <= self.issued_at {
            return Err(ManifestError::Expiry {
                issued_at: self.issued_at,
                expires_at: self.expires_at,
            });
        }
        if !is_valid_timezone(&self.timezone) {
            return Err(ManifestError::Timezone {
                value: self.timezone.clone(),
            });
        }

        check_count("languages", self.languages.len(), MAX_LANGUAGES)?;
        let mut langs = HashSet::new();
        for (i, l) in self.languages.iter().enumerate() {
            let field = format!("languages[{i}]");
            check_lang(&field, l)?;
            if !langs.insert(lang_key(l)) {
                return Err(ManifestError::DuplicateLanguage {
                    field,
                    lang: l.clone(),
                });
            }
        }

        check_count("media", self.media.len(), MAX_MEDIA)?;
        let mut media: std::collections::HashMap<&str, &MediaRef> =
            std::collections::HashMap::new();
        for (i, m) in self.media.iter().enumerate() {
            let field = format!("media[{i}]");
            m.validate_at(&field)?;
            if media.insert(m.sha256.as_str(), m).is_some() {
                return Err(ManifestError::DuplicateMedia {
                    field: format!("{field}.sha256"),
                    sha256: m.sha256.clone(),
                });
            }
        }

        check_count("playlists", self.playlists.len(), MAX_PLAYLISTS)?;
        let mut playlist_ids = HashSet::new();
        for (i, p) in self.playlists.iter().enumerate() {
            let field = format!("playlists[{i}]");
            check_id(&format!("{field}.id"), &p.id)?;
            if !playlist_ids.insert(p.id.as_str()) {
                return Err(ManifestError::DuplicatePlaylist {
                    field: format!("{field}.id"),
                    id: p.id.clone(),
                });
            }
            check_text(&format!("{field}.name"), &p.name, MAX_TITLE_LEN, false)?;
            if p.items.is_empty() {
                return Err(ManifestError::Empty {
                    field: format!("{field}.items"),
                });
            }
            check_count(
                &format!("{field}.items"),
                p.items.len(),
                MAX_ITEMS_PER_PLAYLIST,
            )?;
            for (j, item) in p.items.iter().enumerate() {
                let field = format!("{field}.items[{j}]");
                let own = known_media(&media, &format!("{field}.media"), &item.media)?;
                if let Some(d) = item.duration_ms {
                    check_range(
                        &format!("{field}.duration_ms"),
                        d,
                        MIN_DURATION_MS,
                        MAX_DURATION_MS,
                    )?;
                }
                check_count(
                    &format!("{field}.variants"),
                    item.variants.len(),
                    MAX_VARIANTS_PER_ITEM,
                )?;
                let mut item_langs = HashSet::from([lang_key(&own.lang)]);
                for (k, v) in item.variants.iter().enumerate() {
                    let vfield = format!("{field}.variants[{k}]");
                    let vm = known_media(&media, &vfield, v)?;
                    if *v == item.media {
                        return Err(ManifestError::VariantIsItem {
                            field: vfield,
                            sha256: v.clone(),
                        });
                    }
                    if !item_langs.insert(lang_key(&vm.lang)) {
                        return Err(ManifestError::DuplicateLanguage {
                            field: vfield,
                            lang: vm.lang.clone(),
                        });
                    }
                }
            }
        }

        check_count("schedule", self.schedule.len(), MAX_SCHEDULE_ENTRIES)?;
        let mut entry_ids = HashSet::new();
        for (i, e) in self.schedule.iter().enumerate() {
            let field = format!("schedule[{i}]");
            check_id(&format!("{field}.id"), &e.id)?;
            if !entry_ids.insert(e.id.as_str()) {
                return Err(ManifestError::DuplicateId {
                    field: format!("{field}.id"),
                    id: e.id.clone(),
                });
            }
            if !playlist_ids.contains(e.playlist.as_str()) {
                return Err(ManifestError::UnknownPlaylist {
                    field: format!("{field}.playlist"),
                    id: e.playlist.clone(),
                });
            }
            if let (Some(from), Some(until)) = (e.from, e.until) {
                if from > until {
                    return Err(ManifestError::DateRange {
                        field: format!("{field}.from"),
                        from,
                        until,
                    });
                }
            }
            if let Some(days) = &e.weekdays {
                if days.is_empty() {
                    return Err(ManifestError::Empty {
                        field: format!("{field}.weekdays"),
                    });
                }
                let mut seen = HashSet::new();
                for d in days {
                    if !seen.insert(*d) {
                        return Err(ManifestError::DuplicateWeekday {
                            field: format!("{field}.weekdays"),
                            day: *d,
                        });
                    }
                }
            }
            match (&e.start, &e.end) {
                (None, None) => {}
                (Some(s), Some(t)) => {
                    if parse_time_of_day(s).is_none() {
                        return Err(ManifestError::TimeOfDay {
                            field: format!("{field}.start"),
                            value: s.clone(),
                        });
                    }
                    if parse_time_of_day(t).is_none() {
                        return Err(ManifestError::TimeOfDay {
                            field: format!("{field}.end"),
                            value: t.clone(),
                        });
                    }
                }
                (Some(_), None) => {
                    return Err(ManifestError::HalfWindow {
                        field: format!("{field}.end"),
                    })
                }
                (None, Some(_)) => {
                    return Err(ManifestError::HalfWindow {
                        field: format!("{field}.start"),
                    })
                }
            }
        }

        if !playlist_ids.contains(self.fallback.as_str()) {
            return Err(ManifestError::UnknownPlaylist {
                field: "fallback".to_string(),
                id: self.fallback.clone(),
            });
        }
        Ok(())
    }
}

fn known_media<'a>(
    media: &std::collections::HashMap<&str, &'a MediaRef>,
    field: &str,
    sha: &str,
) -> Result<&'a MediaRef, ManifestError> {
    check_sha(field, sha)?;
    media
        .get(sha)
        .copied()
        .ok_or_else(|| ManifestError::UnknownMedia {
            field: field.to_string(),
            sha256: sha.to_string(),
        })
}

impl AlertSet {
    /// Parses an alert set from JSON without validating it (use [`verify_alerts`] for anything
    /// that comes from outside).
    pub fn from_json(bytes: &[u8]) -> Result<AlertSet, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))
    }

    /// The alert set as compact JSON (the bytes that get signed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an alert set always serializes to JSON")
    }

    /// Validates the alert set, then signs its JSON as an `alert` envelope.
    pub fn sign(&self, key: &SecretKey) -> Result<Envelope, ManifestError> {
        self.validate()?;
        Ok(Envelope::sign(ALERT_TYPE, self.to_json(), key))
    }

    /// Checks the screen id, alert ids (valid, unique), texts (valid language tags, non-empty,
    /// bounded) and media; the error names the first offending field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_screen(&self.screen)?;
        check_count("alerts", self.alerts.len(), MAX_ALERTS)?;
        let mut ids = HashSet::new();
        for (i, a) in self.alerts.iter().enumerate() {
            let field = format!("alerts[{i}]");
            check_id(&format!("{field}.id"), &a.id)?;
            if !ids.insert(a.id.as_str()) {
                return Err(ManifestError::DuplicateId {
                    field: format!("{field}.id"),
                    id: a.id.clone(),
                });
            }
            if a.text.is_empty() && a.media.is_none() {
                return Err(ManifestError::EmptyAlert { field });
            }
            check_count(&format!("{field}.text"), a.text.len(), MAX_ALERT_TEXTS)?;
            let mut langs = HashSet::new();
            for (j, t) in a.text.iter().enumerate() {
                let tfield = format!("{field}.text[{j}]");
                check_lang(&format!("{tfield}.lang"), &t.lang)?;
                if !langs.insert(lang_key(&t.lang)) {
                    return Err(ManifestError::DuplicateLanguage {
                        field: format!("{tfield}.lang"),
                        lang: t.lang.clone(),
                    });
                }
                if t.text.is_empty() {
                    return Err(ManifestError::Empty {
                        field: format!("{tfield}.text"),
                    });
                }
                check_text(&format!("{tfield}.text"), &t.text, MAX_ALERT_TEXT_LEN, true)?;
            }
            if let Some(m) = &a.media {
                m.validate_at(&format!("{field}.media"))?;
            }
        }
        Ok(())
    }
}

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
fn peek_version(payload: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Peek {
        version: Option<u64>,
    }
    serde_json::from_slice::<Peek>(payload)
        .ok()
        .and_then(|p| p.version)
}

fn check_not_newer(version: u64, last: Option<u64>) -> Result<(), Rejection> {
    match last {
        Some(last) if version <= last => Err(Rejection::new(
            RejectReason::NotNewer,
            Some(version),
            format!("version {version} is not newer than the last accepted version {last}"),
        )),
        _ => Ok(()),
    }
}

fn check_own_screen(screen: &str, own_screen: &str, version: u64) -> Result<(), Rejection> {
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

/// The one entry point for a manifest from outside (DESIGN §4). In this order:
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

/// Serde for [`Timestamp`] as an RFC 3339 string (serialized in UTC with `Z`).
mod rfc3339 {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(ts)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Timestamp>().map_err(|e| {
            serde::de::Error::custom(format!("{s:?} is not an RFC 3339 timestamp: {e}"))
        })
    }
}

/// Serde for an optional [`Date`] as `YYYY-MM-DD`.
mod opt_date {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&format_args!(
                "{:04}-{:02}-{:02}",
                d.year(),
                d.month(),
                d.day()
            )),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        parse(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a date \"YYYY-MM-DD\"")))
    }

    fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r.clone()].iter().all(u8::is_ascii_digit);
        if b.len() != 10
            || b[4] != b'-'
            || b[7] != b'-'
            || !digits(0..4)
            || !digits(5..7)
            || !digits(8..10)
        {
            return None;
        }
        let y: i16 = s[0..4].parse().ok()?;
        let m: i8 = s[5..7].parse().ok()?;
        let d: i8 = s[8..10].parse().ok()?;
        Date::new(y, m, d).ok()
    }
}
