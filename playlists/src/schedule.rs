//! Schedule resolution: which playlist plays at a UTC instant, which alert overrides it, when
//! that may next change, and which language variant of an item to play.
//!
//! All functions take a manifest that passed [`Manifest::validate`] (every manifest returned by
//! [`crate::manifest::verify_manifest`] has). They are pure: `now` is a parameter.
//!
//! # Schedule semantics
//!
//! Entries are evaluated in the manifest's IANA `timezone` (jiff's bundled tz database).
//!
//! * **Occurrences.** An entry has at most one *occurrence* per local calendar day `D`, and only
//!   on days that pass its filters: `from <= D <= until` (both inclusive, each optional) and
//!   `D`'s weekday is in `weekdays` (absent = every day). An occurrence is the half-open
//!   interval of instants `[start, end)`:
//!   * no window (`start`/`end` absent): from `D 00:00` to `D+1 00:00` (the whole local day);
//!   * `start < end`: from `D start` to `D end`;
//!   * `end < start` (crosses midnight): from `D start` to `D+1 end`. The part after midnight
//!     belongs to the occurrence that started the day before: the filters (`weekdays`, `from`,
//!     `until`) are checked against the day the window **starts**. A `fri 22:00–02:00` entry
//!     therefore plays Friday 22:00 to Saturday 02:00, and an entry with `until` = `D` still
//!     plays until `D+1 end`;
//!   * `end == start`: a 24-hour window from `D start` to `D+1 start` (so `00:00`–`00:00` is
//!     the same as no window).
//! * **Local times to instants.** A local date and time is turned into an instant like this:
//!   if it exists once, that instant; if it occurs twice (clocks set back, a "fold"), its
//!   **first** occurrence; if it does not exist (clocks set forward, a "gap"), the instant of
//!   the transition, i.e. the first instant after the gap. This mapping never goes backwards,
//!   so every occurrence is a real interval. Consequences on DST days: a window is as long as
//!   the wall clock says minus or plus the DST shift (a `01:00–04:00` window lasts 2 h on a
//!   spring-forward day in Europe/Berlin and 4 h on a fall-back day); a window inside a fold
//!   plays once (during the first pass); a window entirely inside a gap does not play that day;
//!   a window starting inside a gap starts at the transition.
//! * **Active entry.** An entry is active at `now` when `now` lies in one of its occurrences.
//!   Among active entries the highest `priority` wins; among equal priorities the entry whose
//!   `id` is smallest in byte-wise (ASCII) order wins. When no entry is active the `fallback`
//!   playlist plays. So exactly one playlist is active at every instant.
//! * **Alerts** override the schedule: see [`active_alert`].
//!
//! # Language variants
//!
//! [`pick_variant`]: let `n = languages.len()` (the manifest's rotation). If `n == 0` the item's
//! own `media` plays. Otherwise the wanted language on the item's `rotation`-th play
//! (counting from 0) is `languages[rotation % n]`; the candidates are the item's own `media`
//! followed by its `variants` in order, and the first candidate whose media `lang` equals the
//! wanted language (ASCII case-insensitively) plays; if none does, the item's own `media`
//! plays. Players pass as `rotation` the number of times the playlist has been played through
//! completely since it became active (its loop counter), so pass `k` of a playlist shows every
//! item in `languages[k % n]` where such a variant exists.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

use crate::manifest::{
    parse_time_of_day, Alert, AlertSet, Manifest, MediaRef, Playlist, PlaylistItem, ScheduleEntry,
    SubtitleRef, Weekday,
};

/// The playlist that plays at an instant and the schedule entry that selected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Active<'a> {
    /// The playlist to play.
    pub playlist: &'a Playlist,
    /// The winning schedule entry; `None` when the fallback plays.
    pub entry: Option<&'a ScheduleEntry>,
}

/// The timezone of a manifest; UTC if the name is unknown (cannot happen for a validated one).
pub fn manifest_timezone(m: &Manifest) -> TimeZone {
    TimeZone::get(&m.timezone).unwrap_or(TimeZone::UTC)
}

/// The playlist active at `now` (see the module docs).
///
/// # Panics
///
/// If the manifest was not validated and its fallback is not listed.
pub fn active_playlist(m: &Manifest, now: Timestamp) -> Active<'_> {
    let tz = manifest_timezone(m);
    let winner = m
        .schedule
        .iter()
        .filter(|e| entry_active_in(e, &tz, now))
        .max_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| b.id.as_bytes().cmp(a.id.as_bytes()))
        });
    if let Some(entry) = winner {
        if let Some(playlist) = m.playlist(&entry.playlist) {
            return Active {
                playlist,
                entry: Some(entry),
            };
        }
    }
    let playlist = m
        .playlist(&m.fallback)
        .expect("validated manifest: the fallback playlist is listed");
    Active {
        playlist,
        entry: None,
    }
}

/// Whether schedule entry `entry` of manifest `m` is active at `now` (regardless of priority).
pub fn is_entry_active(m: &Manifest, entry: &ScheduleEntry, now: Timestamp) -> bool {
    entry_active_in(entry, &manifest_timezone(m), now)
}

/// The next instant after `now` at which the active playlist may change, for a timer; `None`
/// if no entry ever starts or ends after `now`.
///
/// This is the earliest instant `> now` at which some entry becomes active or inactive; the
/// active playlist may stay the same then (e.g. a lower-priority entry starts), and for an
/// entry that stays active for more than about a week the answer may be an instant about a week
/// ahead at which nothing changes. Callers simply re-evaluate [`active_playlist`] and ask again.
/// Nothing changes strictly between `now` and the returned instant.
pub fn next_change(m: &Manifest, now: Timestamp) -> Option<Timestamp> {
    let tz = manifest_timezone(m);
    m.schedule
        .iter()
        .filter_map(|e| entry_next_change(e, &tz, now))
        .min()
}

/// The alert that overrides the schedule at `now`: the unexpired alert (`now < expires_at`)
/// with the highest priority; among equal priorities the smallest `id` (byte-wise) wins.
pub fn active_alert(alerts: &AlertSet, now: Timestamp) -> Option<&Alert> {
    alerts
        .alerts
        .iter()
        .filter(|a| now < a.expires_at)
        .max_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| b.id.as_bytes().cmp(a.id.as_bytes()))
        })
}

/// The next instant after `now` at which an alert of the set expires (when [`active_alert`]
/// may change), for a timer; `None` if none expires after `now`.
pub fn next_alert_change(alerts: &AlertSet, now: Timestamp) -> Option<Timestamp> {
    alerts
        .alerts
        .iter()
        .map(|a| a.expires_at)
        .filter(|t| *t > now)
        .min()
}

/// Language variants: the media to play for `item` on its `rotation`-th play (0, 1, 2, ...),
/// following `m.languages`; the exact rule is in the module docs.
///
/// # Panics
///
/// If the manifest was not validated and the item's own media is not listed.
pub fn pick_variant<'a>(m: &'a Manifest, item: &'a PlaylistItem, rotation: u64) -> &'a MediaRef {
    let own = m
        .media_by_hash(&item.media)
        .expect("validated manifest: every playlist item refers to a listed media item");
    if m.languages.is_empty() {
        return own;
    }
    let idx = (rotation % m.languages.len() as u64) as usize;
    let want = &m.languages[idx];
    if own.lang.eq_ignore_ascii_case(want) {
        return own;
    }
    item.variants
        .iter()
        .filter_map(|v| m.media_by_hash(v))
        .find(|v| v.lang.eq_ignore_ascii_case(want))
        .unwrap_or(own)
}

/// The subtitle track to show with `media` on its `rotation`-th play (the same count as
/// [`pick_variant`]'s): the track in the language in turn of `m.languages`, if the media has
/// one (`docs/protocol.md` §21); none without a language rotation.
pub fn pick_subtitle<'a>(
    m: &Manifest,
    media: &'a MediaRef,
    rotation: u64,
) -> Option<&'a SubtitleRef> {
    if m.languages.is_empty() {
        return None;
    }
    let want = &m.languages[(rotation % m.languages.len() as u64) as usize];
    media
        .subtitles
        .iter()
        .find(|t| t.lang.eq_ignore_ascii_case(want))
}

/// Days before and after the local date of `now` whose occurrences can contain `now`.
const LOOKBACK_DAYS: i64 = 2;
/// How many days of occurrences [`next_change`] looks at per entry.
const SCAN_DAYS: i64 = 10;

fn entry_active_in(e: &ScheduleEntry, tz: &TimeZone, now: Timestamp) -> bool {
    let d0 = tz.to_datetime(now).date();
    (-LOOKBACK_DAYS..=1).any(|k| {
        add_days(d0, k)
            .and_then(|d| occurrence(e, tz, d))
            .is_some_and(|(s, t)| s <= now && now < t)
    })
}

fn entry_next_change(e: &ScheduleEntry, tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let d0 = tz.to_datetime(now).date();
    let mut day = add_days(d0, -LOOKBACK_DAYS)?;
    if let Some(from) = e.from {
        day = day.max(from);
    }
    // Merge touching occurrences so that a boundary between two back-to-back occurrences
    // (e.g. midnight for an all-day entry) does not count as a change.
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::new();
    for _ in 0..SCAN_DAYS {
        if let Some((s, t)) = occurrence(e, tz, day) {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(t),
                _ => merged.push((s, t)),
            }
        }
        day = match add_days(day, 1) {
            Some(d) => d,
            None => break,
        };
    }
    merged.iter().flat_map(|&(s, t)| [s, t]).find(|b| *b > now)
}

fn add_days(d: Date, k: i64) -> Option<Date> {
    d.checked_add(jiff::Span::new().try_days(k).ok()?).ok()
}

/// The occurrence of `e` that starts on local day `d`, if `d` passes the filters and the
/// interval is not empty.
fn occurrence(e: &ScheduleEntry, tz: &TimeZone, d: Date) -> Option<(Timestamp, Timestamp)> {
    if e.from.is_some_and(|f| d < f) || e.until.is_some_and(|u| d > u) {
        return None;
    }
    if let Some(days) = &e.weekdays {
        if !days.contains(&Weekday::of(d)) {
            return None;
        }
    }
    let next = add_days(d, 1)?;
    let (s, t) = match (
        e.start.as_deref().and_then(parse_time_of_day),
        e.end.as_deref().and_then(parse_time_of_day),
    ) {
        (Some(start), Some(end)) if start < end => (
            resolve(tz, d.to_datetime(start))?,
            resolve(tz, d.to_datetime(end))?,
        ),
        (Some(start), Some(end)) => (
            resolve(tz, d.to_datetime(start))?,
            resolve(tz, next.to_datetime(end))?,
        ),
        _ => (
            resolve(tz, d.to_datetime(Time::midnight()))?,
            resolve(tz, next.to_datetime(Time::midnight()))?,
        ),
    };
    (s < t).then_some((s, t))
}

/// Local date-time to instant: unique → it; fold → first occurrence; gap → the transition.
fn resolve(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { before, after } => {
            // dt - after < transition <= dt - before.
            let lo = after.to_timestamp(dt).ok()?;
            let hi = before.to_timestamp(dt).ok()?;
            let transition = tz.following(lo).next().map(|t| t.timestamp()).unwrap_or(hi);
            Some(transition.min(hi))
        }
    }
}
