//! Receipt queries: the filters of `GET /api/v1/receipts`, the rows auditors read (JSON, JSONL,
//! CSV) and cursor pagination. Pure: the HTTP layer feeds it receipts from the store.
//!
//! # Filters
//!
//! Every filter is optional; a value may list several alternatives separated by commas
//! (`screen=lc-a1,lc-a2`). A receipt matches when it matches every given filter:
//! `screen`, `gate` (the screen's gate as registered now), `media` (sha256), `lang` (ASCII
//! case-insensitive), `playlist`, `outcome` (`completed|interrupted|failed`), `backend`
//! (`mpv|null`), and the time range `from <= started_at < to` (RFC 3339).
//!
//! # Order and pagination
//!
//! Rows are ordered by `(started_at, screen, seq)`. A page holds at most `limit` rows; when more
//! follow, the answer carries `next_cursor`, to pass back as `cursor` for the next page. The
//! cursor names the last row returned and the size of the Merkle log when the first page was
//! read (`<started_at unix ms>.<screen>.<seq>.<log size>`): every page reads the receipts stored
//! at that point ([`crate::store::Store::receipts_between_upto`]), so pages never repeat or skip
//! a row even while new receipts arrive — also those of a screen uploading its backlog late,
//! whose rows land before the cursor — and each screen's rows are its chain `1..=tip` as it
//! stood then, without gaps. Receipts stored later show up in the next query.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use playlists::receipt::{Backend, Outcome, Receipt};
use serde::Serialize;

use crate::store::{MediaRecord, ScreenRecord};

/// A query parameter is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{param}`: {message}")]
pub struct ParamError {
    /// The parameter at fault.
    pub param: String,
    /// What is wrong and what to use instead.
    pub message: String,
}

fn param_err(param: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        param: param.to_string(),
        message: message.into(),
    }
}

/// Filter parameter names shared by the receipts query and the reports.
pub const FILTER_PARAMS: &[&str] = &[
    "screen", "gate", "media", "lang", "playlist", "outcome", "backend", "from", "to",
];

/// Which receipts a query selects (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptFilter {
    /// Screen ids (any of).
    pub screens: Vec<String>,
    /// Gates (any of).
    pub gates: Vec<String>,
    /// Media sha256 (any of).
    pub media: Vec<String>,
    /// Language tags (any of, ASCII case-insensitive).
    pub langs: Vec<String>,
    /// Playlist or alert ids (any of).
    pub playlists: Vec<String>,
    /// Outcomes (any of).
    pub outcomes: Vec<Outcome>,
    /// Backends (any of).
    pub backends: Vec<Backend>,
    /// Inclusive lower bound on `started_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `started_at`.
    pub to: Option<Timestamp>,
}

/// Parses an RFC 3339 instant given as a query parameter.
pub fn parse_time(param: &str, v: &str) -> Result<Timestamp, ParamError> {
    v.parse::<Timestamp>().map_err(|e| {
        param_err(
            param,
            format!("{v:?} is not an RFC 3339 instant such as 2026-01-05T00:00:00Z ({e})"),
        )
    })
}

/// Checks that `q` holds only parameters named in `allowed` (catches typos such as `screens=`).
pub fn check_known(q: &HashMap<String, String>, allowed: &[&[&str]]) -> Result<(), ParamError> {
    let mut unknown: Vec<&String> = q
        .keys()
        .filter(|k| !allowed.iter().any(|set| set.contains(&k.as_str())))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(k) => {
            let mut all: Vec<&str> = allowed.iter().flat_map(|s| s.iter().copied()).collect();
            all.sort_unstable();
            Err(param_err(
                k,
                format!("unknown parameter; known ones: {}", all.join(", ")),
            ))
        }
    }
}

fn list(q: &HashMap<String, String>, name: &str) -> Vec<String> {
    q.get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl ReceiptFilter {
    /// Reads the filter parameters of `q` (others are ignored here), validating each value.
    pub fn from_query(q: &HashMap<String, String>) -> Result<ReceiptFilter, ParamError> {
        let screens = list(q, "screen");
        if let Some(s) = screens
            .iter()
            .find(|s| !playlists::manifest::is_valid_screen_id(s))
        {
            return Err(param_err(
                "screen",
                format!("{s:?} is not a screen id (a-z, 0-9 and '-', 1-63 characters)"),
            ));
        }
        let media = list(q, "media");
        if let Some(m) = media
            .iter()
            .find(|m| !playlists::manifest::is_valid_sha256_hex(m))
        {
            return Err(param_err(
                "media",
                format!("{m:?} is not a sha256 (64 lowercase hex characters)"),
            ));
        }
        let outcomes = list(q, "outcome")
            .iter()
            .map(|o| match o.as_str() {
                "completed" => Ok(Outcome::Completed),
                "interrupted" => Ok(Outcome::Interrupted),
                "failed" => Ok(Outcome::Failed),
                _ => Err(param_err(
                    "outcome",
                    format!("{o:?} is not one of completed, interrupted, failed"),
                )),
            })
            .collect::<Result<_, _>>()?;
        let backends = list(q, "backend")
            .iter()
            .map(|b| match b.as_str() {
                "mpv" => Ok(Backend::Mpv),
                "null" => Ok(Backend::Null),
                _ => Err(param_err(
                    "backend",
                    format!("{b:?} is not one of mpv, null"),
                )),
            })
            .collect::<Result<_, _>>()?;
        let from = q.get("from").map(|v| parse_time("from", v)).transpose()?;
        let to = q.get("to").map(|v| parse_time("to", v)).transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(param_err("to", "must be later than `from`"));
            }
        }
        Ok(ReceiptFilter {
            screens,
            gates: list(q, "gate"),
            media,
            langs: list(q, "lang"),
            playlists: list(q, "playlist"),
            outcomes,
            backends,
            from,
            to,
        })
    }

    /// Whether the time range admits `started_at`.
    pub fn in_range(&self, started_at: Timestamp) -> bool {
        self.from.is_none_or(|f| started_at >= f) && self.to.is_none_or(|t| started_at < t)
    }

    /// Whether receipt `r`, of a screen standing at `gate` (None: screen unknown), matches.
    pub fn matches(&self, r: &Receipt, gate: Option<&str>) -> bool {
        fn any<T: PartialEq>(set: &[T], v: &T) -> bool {
            set.is_empty() || set.contains(v)
        }
        self.in_range(r.started_at)
            && any(&self.screens, &r.screen)
            && (self.gates.is_empty() || gate.is_some_and(|g| self.gates.iter().any(|x| x == g)))
            && any(&self.media, &r.media)
            && (self.langs.is_empty() || self.langs.iter().any(|l| l.eq_ignore_ascii_case(&r.lang)))
            && any(&self.playlists, &r.playlist)
            && any(&self.outcomes, &r.outcome)
            && any(&self.backends, &r.backend)
    }
}

/// Output format of `GET /api/v1/receipts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"receipts":[…],"next_cursor":…}`.
    Json,
    /// One row object per line (`application/x-ndjson`).
    Jsonl,
    /// RFC 4180 CSV with a header line ([`CSV_COLUMNS`]).
    Csv,
}

/// Default page size.
pub const DEFAULT_LIMIT: usize = 1000;
/// Largest page size.
pub const MAX_LIMIT: usize = 100_000;

/// Where a page starts: after the row with this key. Ordered like the store's time index:
/// by `started_at`, then the bytes of the receipt's chain key (`crate::store::chain_key`: the
/// screen id, with `@<epoch>` after epoch 1) followed by `/`, then seq (the snapshot takes no
/// part in the order or in equality).
#[derive(Debug, Clone)]
pub struct Cursor {
    /// `started_at` in unix milliseconds.
    pub started_ms: i64,
    /// Screen id.
    pub screen: String,
    /// Enrolment epoch of the receipt's chain (docs/protocol.md §13).
    pub epoch: u64,
    /// Seq.
    pub seq: u64,
    /// The Merkle log size the first page was read at (`None` in cursors without it: the
    /// next page then reads at the current size).
    pub snapshot: Option<u64>,
}

impl Cursor {
    fn sort_key(&self) -> (i64, Vec<u8>, u64) {
        let mut s = crate::store::chain_key(&self.screen, self.epoch).into_bytes();
        s.push(b'/');
        (self.started_ms, s, self.seq)
    }

    /// The order key of a receipt of the chain of enrolment `epoch`.
    pub fn of(r: &Receipt, epoch: u64) -> Cursor {
        Cursor {
            started_ms: r.started_at.as_millisecond(),
            screen: r.screen.clone(),
            epoch,
            seq: r.seq,
            snapshot: None,
        }
    }

    /// The order key of a paged row.
    fn of_row<T: Paged>(r: &T) -> Cursor {
        Cursor::of(r.receipt(), r.epoch())
    }

    /// The same cursor reading at Merkle log size `size`.
    pub fn at_snapshot(self, size: u64) -> Cursor {
        Cursor {
            snapshot: Some(size),
            ..self
        }
    }

    /// The text form `<ms>.<chain key>.<seq>[.<log size>]`, the chain key being the screen id
    /// for epoch 1 and `<screen>@<epoch>` after (cursors from before epochs read as epoch 1).
    pub fn encode(&self) -> String {
        let chain = crate::store::chain_key(&self.screen, self.epoch);
        let mut s = format!("{}.{chain}.{}", self.started_ms, self.seq);
        if let Some(n) = self.snapshot {
            s.push_str(&format!(".{n}"));
        }
        s
    }

    /// Parses the text form.
    pub fn decode(s: &str) -> Result<Cursor, ParamError> {
        let bad = || param_err("cursor", "not a cursor returned by this API (next_cursor)");
        let mut it = s.splitn(4, '.');
        let (a, b, c, d) = (it.next(), it.next(), it.next(), it.next());
        let (Some(a), Some(b), Some(c)) = (a, b, c) else {
            return Err(bad());
        };
        let (screen, epoch) = match b.split_once('@') {
            None => (b, playlists::receipt::FIRST_EPOCH),
            Some((screen, epoch)) => match epoch.parse::<u64>() {
                Ok(e) if e > playlists::receipt::FIRST_EPOCH && !epoch.starts_with('0') => {
                    (screen, e)
                }
                _ => return Err(bad()),
            },
        };
        if !playlists::manifest::is_valid_screen_id(screen) {
            return Err(bad());
        }
        Ok(Cursor {
            started_ms: a.parse().map_err(|_| bad())?,
            screen: screen.to_string(),
            epoch,
            seq: c.parse().map_err(|_| bad())?,
            snapshot: d.map(|d| d.parse().map_err(|_| bad())).transpose()?,
        })
    }

    /// The instant of the cursor (to start a time-index scan there).
    pub fn instant(&self) -> Timestamp {
        Timestamp::from_millisecond(self.started_ms).unwrap_or(Timestamp::MIN)
    }
}

impl PartialEq for Cursor {
    fn eq(&self, other: &Self) -> bool {
        self.sort_key() == other.sort_key()
    }
}

impl Eq for Cursor {}

impl PartialOrd for Cursor {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cursor {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

/// The non-filter parameters of `GET /api/v1/receipts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Output format (`format=json|jsonl|csv`, default json).
    pub format: Format,
    /// Prefix CSV with U+FEFF (`bom=true`).
    pub bom: bool,
    /// At most this many rows (`limit`, 1..=[`MAX_LIMIT`], default [`DEFAULT_LIMIT`]).
    pub limit: usize,
    /// Start after this row (`cursor`).
    pub cursor: Option<Cursor>,
}

/// Parameter names of [`Page`].
pub const PAGE_PARAMS: &[&str] = &["format", "bom", "limit", "cursor"];

impl Page {
    /// Reads `format`, `bom`, `limit` and `cursor`.
    pub fn from_query(q: &HashMap<String, String>) -> Result<Page, ParamError> {
        let format = match q.get("format").map(String::as_str) {
            None | Some("json") => Format::Json,
            Some("jsonl") | Some("ndjson") => Format::Jsonl,
            Some("csv") => Format::Csv,
            Some(f) => {
                return Err(param_err(
                    "format",
                    format!("{f:?} is not one of json, jsonl, csv"),
                ))
            }
        };
        let bom = match q.get("bom").map(String::as_str) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(b) => return Err(param_err("bom", format!("{b:?} is not true or false"))),
        };
        let limit = parse_limit(q, DEFAULT_LIMIT)?;
        let cursor = q.get("cursor").map(|c| Cursor::decode(c)).transpose()?;
        Ok(Page {
            format,
            bom,
            limit,
            cursor,
        })
    }
}

/// `limit` (1..=[`MAX_LIMIT`], `default` when absent).
fn parse_limit(q: &HashMap<String, String>, default: usize) -> Result<usize, ParamError> {
    match q.get("limit") {
        None => Ok(default),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(param_err(
                "limit",
                format!("{l:?} is not a number from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// Parameter names of [`IdPage`].
pub const ID_PAGE_PARAMS: &[&str] = &["limit", "cursor"];

/// A page of a list kept in id order (a screen's status history, receipt rejections and
/// conflicts): at most `limit` rows after the row named by `cursor` (the `next_cursor` of the
/// page before), in the style of [`Page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPage {
    /// At most this many rows (`limit`, 1..=[`MAX_LIMIT`]).
    pub limit: usize,
    /// Start after this row id (`cursor`).
    pub after: Option<u64>,
}

impl IdPage {
    /// Reads `limit` (default `default_limit`) and `cursor`.
    pub fn from_query(
        q: &HashMap<String, String>,
        default_limit: usize,
    ) -> Result<IdPage, ParamError> {
        let limit = parse_limit(q, default_limit)?;
        let after = q
            .get("cursor")
            .map(|c| {
                c.parse::<u64>().map_err(|_| {
                    param_err("cursor", "not a cursor returned by this API (next_cursor)")
                })
            })
            .transpose()?;
        Ok(IdPage { limit, after })
    }
}

/// Takes one page from `receipts` (which must be in [`Cursor`] order and already filtered):
/// the rows after `cursor`, at most `limit`, and the cursor of the next page if more follow.
pub fn paginate<T, I>(
    receipts: I,
    cursor: Option<&Cursor>,
    limit: usize,
) -> (Vec<T>, Option<Cursor>)
where
    T: Paged,
    I: IntoIterator<Item = T>,
{
    let mut out: Vec<T> = Vec::new();
    for r in receipts {
        if cursor.is_some_and(|c| Cursor::of_row(&r) <= *c) {
            continue;
        }
        if out.len() == limit {
            let next = out.last().map(Cursor::of_row);
            return (out, next);
        }
        out.push(r);
    }
    (out, None)
}

/// What [`paginate`] pages: a receipt, bare or as stored.
pub trait Paged {
    /// The receipt.
    fn receipt(&self) -> &Receipt;
    /// The enrolment epoch of its chain (part of the page order).
    fn epoch(&self) -> u64;
}

impl Paged for Receipt {
    fn receipt(&self) -> &Receipt {
        self
    }

    /// A bare receipt does not know its chain: epoch 1.
    fn epoch(&self) -> u64 {
        playlists::receipt::FIRST_EPOCH
    }
}

impl Paged for crate::store::StoredReceipt {
    fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// The CSV header; [`ReceiptRow::csv_fields`] follows this order.
pub const CSV_COLUMNS: &[&str] = &[
    "screen",
    "gate",
    "started_at_utc",
    "ended_at_utc",
    "started_at_local",
    "ended_at_local",
    "timezone",
    "duration_s",
    "media_title",
    "media_sha256",
    "kind",
    "lang",
    "playlist",
    "outcome",
    "backend",
    "manifest_version",
    "seq",
    "clock_synced",
];

/// One receipt as auditors read it: the receipt's fields plus the screen's gate and timezone and
/// the media's title and kind (from the controller's records; empty when unknown).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceiptRow {
    /// Screen id.
    pub screen: String,
    /// Gate of the screen (empty if the screen is unknown).
    pub gate: String,
    /// Start, UTC, RFC 3339 with milliseconds.
    pub started_at_utc: String,
    /// End, UTC.
    pub ended_at_utc: String,
    /// Start in the screen's timezone, RFC 3339 with offset.
    pub started_at_local: String,
    /// End in the screen's timezone.
    pub ended_at_local: String,
    /// The screen's IANA timezone (UTC when the screen is unknown).
    pub timezone: String,
    /// `ended_at - started_at` in seconds (millisecond precision).
    pub duration_s: f64,
    /// Media title (empty if unknown).
    pub media_title: String,
    /// Media sha256.
    pub media_sha256: String,
    /// Media kind (`video`, `slide`, `clip`; empty if unknown).
    pub kind: String,
    /// Language played.
    pub lang: String,
    /// Playlist (or alert) id.
    pub playlist: String,
    /// `completed`, `interrupted` or `failed`.
    pub outcome: &'static str,
    /// `mpv` or `null` (`null`: nothing was shown).
    pub backend: &'static str,
    /// Manifest version active during the play.
    pub manifest_version: u64,
    /// Seq in the screen's chain of its enrolment epoch.
    pub seq: u64,
    /// The enrolment epoch whose chain holds it (docs/protocol.md §13; not a CSV column).
    pub epoch: u64,
    /// Whether the player's clock was known synchronised.
    pub clock_synced: bool,
}

/// `outcome` as its wire string.
pub fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Completed => "completed",
        Outcome::Interrupted => "interrupted",
        Outcome::Failed => "failed",
    }
}

/// `backend` as its wire string.
pub fn backend_str(b: Backend) -> &'static str {
    match b {
        Backend::Mpv => "mpv",
        Backend::Null => "null",
    }
}

/// RFC 3339 UTC with exactly three fractional digits.
pub fn utc_millis(t: Timestamp) -> String {
    format!("{t:.3}")
}

/// RFC 3339 local time with offset and three fractional digits, in `tz`.
pub fn local_millis(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

impl ReceiptRow {
    /// Builds the row of `r` with what the controller knows about its screen and media.
    pub fn new(
        r: &Receipt,
        screen: Option<&ScreenRecord>,
        media: Option<&MediaRecord>,
    ) -> ReceiptRow {
        let (tz_name, tz) = screen
            .and_then(|s| {
                TimeZone::get(&s.timezone)
                    .ok()
                    .map(|tz| (s.timezone.clone(), tz))
            })
            .unwrap_or_else(|| ("UTC".to_string(), TimeZone::UTC));
        let ms = r.ended_at.as_millisecond() - r.started_at.as_millisecond();
        ReceiptRow {
            screen: r.screen.clone(),
            gate: screen.map(|s| s.gate.clone()).unwrap_or_default(),
            started_at_utc: utc_millis(r.started_at),
            ended_at_utc: utc_millis(r.ended_at),
            started_at_local: local_millis(r.started_at, &tz),
            ended_at_local: local_millis(r.ended_at, &tz),
            timezone: tz_name,
            duration_s: ms as f64 / 1000.0,
            media_title: media.map(|m| m.title.clone()).unwrap_or_default(),
            media_sha256: r.media.clone(),
            kind: media.map(|m| m.kind.clone()).unwrap_or_default(),
            lang: r.lang.clone(),
            playlist: r.playlist.clone(),
            outcome: outcome_str(r.outcome),
            backend: backend_str(r.backend),
            manifest_version: r.manifest_version,
            seq: r.seq,
            epoch: playlists::receipt::FIRST_EPOCH,
            clock_synced: r.clock_synced,
        }
    }

    /// The CSV fields in [`CSV_COLUMNS`] order.
    pub fn csv_fields(&self) -> Vec<String> {
        vec![
            self.screen.clone(),
            self.gate.clone(),
            self.started_at_utc.clone(),
            self.ended_at_utc.clone(),
            self.started_at_local.clone(),
            self.ended_at_local.clone(),
            self.timezone.clone(),
            format!("{:.3}", self.duration_s),
            self.media_title.clone(),
            self.media_sha256.clone(),
            self.kind.clone(),
            self.lang.clone(),
            self.playlist.clone(),
            self.outcome.to_string(),
            self.backend.to_string(),
            self.manifest_version.to_string(),
            self.seq.to_string(),
            self.clock_synced.to_string(),
        ]
    }
}

/// Renders rows as CSV (header first).
pub fn to_csv(rows: &[ReceiptRow], bom: bool) -> Vec<u8> {
    let mut w = super::csv::CsvWriter::new(bom);
    w.record(CSV_COLUMNS.iter());
    for r in rows {
        w.record(r.csv_fields());
    }
    w.into_bytes()
}

/// Renders rows as JSON lines (one compact object per line, LF).
pub fn to_jsonl(rows: &[ReceiptRow]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r).expect("rows serialize");
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use playlists::receipt::GENESIS_PREV;

    fn receipt(screen: &str, seq: u64, at: &str) -> Receipt {
        let started_at: Timestamp = at.parse().unwrap();
        Receipt {
            seq,
            screen: screen.into(),
            manifest_version: 3,
            playlist: "welcome".into(),
            media: "a".repeat(64),
            lang: "vi".into(),
            started_at,
            ended_at: started_at + jiff::SignedDuration::from_millis(8004),
            outcome: Outcome::Completed,
            backend: Backend::Mpv,
            clock_synced: true,
            prev: GENESIS_PREV.into(),
            subtitle_lang: None,
        }
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filter_parses_lists_and_matches_every_field() {
        let f = ReceiptFilter::from_query(&q(&[
            ("screen", "lc-a1,lc-a2"),
            ("gate", "lao-cai"),
            ("lang", "VI"),
            ("outcome", "completed"),
            ("backend", "mpv"),
            ("from", "2026-01-05T00:00:00Z"),
            ("to", "2026-01-06T00:00:00Z"),
        ]))
        .unwrap();
        let r = receipt("lc-a2", 1, "2026-01-05T08:00:00Z");
        assert!(f.matches(&r, Some("lao-cai")));
        assert!(!f.matches(&r, Some("kim-thanh")), "gate filter");
        assert!(!f.matches(&r, None), "unknown screen has no gate");
        assert!(!f.matches(
            &receipt("lc-b1", 1, "2026-01-05T08:00:00Z"),
            Some("lao-cai")
        ));
        assert!(
            !f.matches(
                &receipt("lc-a1", 1, "2026-01-06T00:00:00Z"),
                Some("lao-cai")
            ),
            "to is exclusive"
        );
        assert!(
            f.matches(
                &receipt("lc-a1", 1, "2026-01-05T00:00:00Z"),
                Some("lao-cai")
            ),
            "from is inclusive"
        );
        let mut null = r.clone();
        null.backend = Backend::Null;
        assert!(!f.matches(&null, Some("lao-cai")));
        assert!(ReceiptFilter::default().matches(&null, None));
    }

    #[test]
    fn bad_filter_values_name_the_parameter() {
        for (k, v) in [
            ("screen", "Bad_Id"),
            ("media", "ABC"),
            ("outcome", "done"),
            ("backend", "vlc"),
            ("from", "yesterday"),
        ] {
            let e = ReceiptFilter::from_query(&q(&[(k, v)])).unwrap_err();
            assert_eq!(e.param, k, "{e}");
        }
        let e = ReceiptFilter::from_query(&q(&[
            ("from", "2026-01-02T00:00:00Z"),
            ("to", "2026-01-01T00:00:00Z"),
        ]))
        .unwrap_err();
        assert_eq!(e.param, "to");
        let e = check_known(&q(&[("screens", "x")]), &[FILTER_PARAMS, PAGE_PARAMS]).unwrap_err();
        assert_eq!(e.param, "screens");
        assert!(e.message.contains("screen"), "{e}");
    }

    #[test]
    fn page_parameters() {
        let p =
            Page::from_query(&q(&[("format", "csv"), ("bom", "true"), ("limit", "5")])).unwrap();
        assert_eq!((p.format, p.bom, p.limit), (Format::Csv, true, 5));
        let d = Page::from_query(&q(&[])).unwrap();
        assert_eq!(
            (d.format, d.bom, d.limit),
            (Format::Json, false, DEFAULT_LIMIT)
        );
        assert_eq!(
            Page::from_query(&q(&[("limit", "0")])).unwrap_err().param,
            "limit"
        );
        assert_eq!(
            Page::from_query(&q(&[("format", "xml")]))
                .unwrap_err()
                .param,
            "format"
        );
        assert_eq!(
            Page::from_query(&q(&[("cursor", "x.y")]))
                .unwrap_err()
                .param,
            "cursor"
        );
    }

    #[test]
    fn pagination_neither_repeats_nor_skips() {
        let all: Vec<Receipt> = (1..=7)
            .map(|i| receipt("lc-a1", i, &format!("2026-01-05T08:00:0{i}Z")))
            .collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = paginate(all.clone(), cursor.as_ref(), 3);
            seen.extend(page.iter().map(|r| r.seq));
            match next {
                Some(c) => cursor = Some(Cursor::decode(&c.encode()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn cursor_order_matches_the_store_index_for_prefix_screen_ids() {
        // The index orders `lc-a-b/` before `lc-a/` ('-' < '/').
        let t = "2026-01-05T08:00:00Z";
        let a = Cursor::of(&receipt("lc-a-b", 9, t), 1);
        let b = Cursor::of(&receipt("lc-a", 1, t), 1);
        assert!(a < b);
        // `lc-a@2/` after `lc-a/` ('/' < '@'), as the store's chain keys.
        let e2 = Cursor::of(&receipt("lc-a", 1, t), 2);
        assert!(b < e2);
        let back = Cursor::decode(&e2.encode()).unwrap();
        assert_eq!((back.screen.as_str(), back.epoch), ("lc-a", 2));
        assert_eq!(e2.encode(), "1767600000000.lc-a@2.1");
        for bad in [
            "1.lc-a@1.1",
            "1.lc-a@0.1",
            "1.lc-a@02.1",
            "1.lc-a@x.1",
            "1.@2.1",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursor_carries_the_log_snapshot() {
        let c = Cursor::of(&receipt("lc-a1", 4, "2026-01-05T08:00:00Z"), 1).at_snapshot(42);
        assert_eq!(c.encode(), "1767600000000.lc-a1.4.42");
        assert_eq!(Cursor::decode(&c.encode()).unwrap().snapshot, Some(42));
        // Cursors without a snapshot still read (at the current log size).
        assert_eq!(
            Cursor::decode("1767600000000.lc-a1.4").unwrap().snapshot,
            None
        );
        assert!(Cursor::decode("1767600000000.lc-a1.4.x").is_err());
        assert!(Cursor::decode("1767600000000.lc-a1.4.1.2").is_err());
    }

    #[test]
    fn row_has_utc_and_local_times_and_csv_columns() {
        let r = receipt("lc-a1", 4, "2026-01-05T08:00:00Z");
        let screen = crate::store::ScreenRecord {
            name: "A1".into(),
            gate: "Cửa khẩu Lào Cai".into(),
            ..crate::store::ScreenRecord::for_test("lc-a1")
        };
        let row = ReceiptRow::new(&r, Some(&screen), None);
        assert_eq!(row.started_at_utc, "2026-01-05T08:00:00.000Z");
        assert_eq!(row.started_at_local, "2026-01-05T15:00:00.000+07:00");
        assert_eq!(row.ended_at_local, "2026-01-05T15:00:08.004+07:00");
        assert_eq!(row.duration_s, 8.004);
        let fields = row.csv_fields();
        assert_eq!(fields.len(), CSV_COLUMNS.len());
        assert_eq!(fields[7], "8.004");
        let csv = String::from_utf8(to_csv(std::slice::from_ref(&row), false)).unwrap();
        assert!(csv.starts_with("screen,gate,started_at_utc,"));
        assert!(csv.contains("Cửa khẩu Lào Cai"));
        let unknown = ReceiptRow::new(&r, None, None);
        assert_eq!(
            (unknown.timezone.as_str(), unknown.gate.as_str()),
            ("UTC", "")
        );
        let line = String::from_utf8(to_jsonl(&[row])).unwrap();
        assert_eq!(line.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["seq"], 4);
    }
}
