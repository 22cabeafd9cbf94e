//! The manifest model (`docs/protocol.md` §8), its validation and the acceptance rules.
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

use std::fmt;

use jiff::civil::Date;
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
/// Subtitle tracks of one media item at most.
pub const MAX_SUBTITLE_TRACKS: usize = 32;

/// Everything one screen plays (`docs/protocol.md` §8). Field names are fixed by the wire contract.
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
    /// The screen's regions (`docs/protocol.md` §20); absent = the whole screen is `main`
    /// (manifests without it keep their exact bytes and meaning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
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
    /// Subtitle tracks of a video or clip, one per language (`docs/protocol.md` §21); absent
    /// in manifests without subtitles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtitles: Vec<SubtitleRef>,
}

/// A subtitle file of a video (`docs/protocol.md` §21): fetched and verified like media, shown
/// by the player in the gate's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtitleRef {
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// Size in bytes, 1..=[`crate::subtitle::MAX_SUBTITLE_BYTES`].
    pub bytes: u64,
    /// BCP 47 language of the track.
    pub lang: String,
    /// `srt` or `vtt`.
    pub format: crate::subtitle::SubtitleFormat,
}

/// The kind of a media item (`video`, `slide` or `clip` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// A layout or ticker field breaks a rule of `docs/protocol.md` §20.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field path.
        field: String,
        /// What is wrong, in words.
        problem: String,
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
    /// A screen with a pinned policy root: an item lacks approvals, or the policy carried
    /// with it does not verify (`docs/protocol.md` §19).
    NotApproved,
}

impl RejectReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RejectReason; 9] = [
        RejectReason::BadEnvelope,
        RejectReason::UnknownKey,
        RejectReason::BadSignature,
        RejectReason::WrongType,
        RejectReason::WrongScreen,
        RejectReason::NotNewer,
        RejectReason::Expired,
        RejectReason::InvalidContent,
        RejectReason::NotApproved,
    ];

    /// The wire name: `bad_envelope`, `unknown_key`, `bad_signature`, `wrong_type`,
    /// `wrong_screen`, `not_newer`, `expired`, `invalid_content`, `not_approved`.
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
            RejectReason::NotApproved => "not_approved",
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
    pub(crate) fn new(
        reason: RejectReason,
        version: Option<u64>,
        detail: impl Into<String>,
    ) -> Rejection {
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

mod layout;
mod ticker;
mod validate;
mod verify;

pub use layout::{
    Layout, Orientation, Rect, Region, RegionName, DEFAULT_SIDE_SECS, MAX_REGION_MEDIA, SIDE_SECS,
    TEMPLATES,
};
pub use ticker::{
    active_ticker, next_ticker_change, ticker_turns, verify_ticker, TickerItem, TickerSet,
    TickerTurn, MAX_TICKER_ITEMS, MAX_TICKER_TEXT_LEN,
};

pub use validate::{
    is_valid_id, is_valid_lang_tag, is_valid_screen_id, is_valid_sha256_hex, is_valid_timezone,
    parse_time_of_day,
};
pub use verify::{verify_alerts, verify_manifest};

/// A schedule date as the manifest spells it (`YYYY-MM-DD`), or `None`.
pub fn parse_date(s: &str) -> Option<Date> {
    opt_date::parse(s)
}

/// Serde for [`Timestamp`] as an RFC 3339 string (serialized in UTC with `Z`).
pub(crate) mod rfc3339 {
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

    pub(super) fn parse(s: &str) -> Option<Date> {
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
