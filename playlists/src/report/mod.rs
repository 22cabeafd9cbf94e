//! The period report: what was shown, where, in which languages, and how available the screens
//! were, for a run of **gate days** and a set of gates (`docs/auditing.md`, "The period report").
//!
//! The model is pure and streaming: a [`ReportBuilder`] is told the screens
//! ([`ReportBuilder::screen`]), then fed receipts, operator actions and conflict evidence one at
//! a time, in log order, and keeps only per-group counters, never the receipts. The controller
//! and the offline tool (`gatecast-audit report`) both feed it from the same export bundle
//! ([`read_bundle`]), so they compute the same [`Figures`].
//!
//! Rules (each figure of the JSON is defined here):
//!
//! * **Gate days.** A receipt belongs to the report when the calendar date of its `started_at`
//!   in its screen's timezone is in `[from, to]` (both inclusive). A screen's window is
//!   `[from 00:00, to + 1 day 00:00)` in its timezone.
//! * **Counted once.** A receipt is identified by (screen, epoch, seq); a batch resent with
//!   receipts already seen (`docs/protocol.md` §13) does not count them twice.
//! * **Shown.** A play is *shown* when its `backend` is `mpv` and its outcome `completed` or
//!   `interrupted`. Plays of the `null` backend (`docs/protocol.md` §13) are counted in
//!   `null_backend` and never as shown. `shown_ms` is the sum of `ended_at − started_at` of the
//!   shown plays.
//! * **Campaigns** are playlists (the receipt's `playlist`); alert plays (`alert:<id>`) are not
//!   a campaign: they are in `alerts`; ticker turns are not either: they are in `tickers`.
//! * **Ticker corrections** (`tickers`): a receipt is a ticker turn when a ticker set of its
//!   screen in the bundle (`tickers`, covered by its signed scope) has an item with the
//!   receipt's `playlist` as id and a text whose SHA-256 is its `media` ([`ticker`]). Per text:
//!   its gates, languages, turns shown (`shown`), time on screen (`shown_ms`, the sum over
//!   turns and screens) and the first and last shown instants. Like alert plays, ticker turns
//!   are plays of the screen: they count in `totals`, `gates`, `languages`, `media`, `months`
//!   and the screens' availability.
//! * **Gate names** are those of the screen statements (`gate_name`, signed by the
//!   controller); a statement without one (older bundles) leaves the gate's id alone.
//! * **Language shares** are in basis points of the shown plays: `shown × 10000 / total shown`,
//!   rounded down.
//! * **Availability** is measured from the receipts (signed by the screens), since the online
//!   status history is not in the signed bundle: a screen is counted from its registration
//!   (the first enrolment) or the window start, whichever is later, to the window end or the
//!   bundle's `generated_at`, whichever is earlier (`counted_ms`). `playing_ms` is the time
//!   covered by shown plays inside that span; a *dark period* is a gap of at least
//!   [`DARK_MIN_MS`] without a shown play (from the span start to the first play, between plays,
//!   from the last play to the span end). `availability_bp = (counted − dark) × 10000 / counted`.
//! * **Alerts** are the `alert.create` actions of the period (when, which screens got the new
//!   alert set), with their `alert.cancel` and their shown plays (`alert:<id>` receipts).
//! * **Rejections** are the conflicting batches kept as evidence, per screen.
//! * **Planned plays** (compliance) come from the controller-signed manifests of the bundle
//!   (`manifests`, covered by its signed scope): over each screen's counted span, the manifest
//!   issued last before an instant governs it, its schedule gives the active playlist
//!   ([`planned::spans`]), and every item start of that playlist that fits is one planned play
//!   ([`planned::expected_starts`]). Per campaign and gate, `recorded` is the campaign's shown
//!   plays there and `compliance_bp = min(recorded, planned) × 10000 / planned`. Time under an
//!   alert counts as scheduled time. `planned` is `null` when a playlist item has no known
//!   duration, or when no screen of the gate has a manifest in the bundle.
//! * **Titles** of media and campaigns are those of the manifests (the newest one naming them);
//!   a ticker text's media (the SHA-256 of the text) has the text as its title.
//! * **The controller's record** (`controller_record`) is not computed from the bundle: the
//!   controller adds the online time it saw from status heartbeats (`docs/protocol.md` §12),
//!   which no screen signs; `gatecast-audit report` cannot recompute it and `--check` leaves it
//!   out.

mod bundle;
pub mod planned;
mod ticker;

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::receipt::{Backend, Outcome, Receipt};

pub use bundle::{read_bundle, BundleError};
pub use ticker::{TickerRow, TickerText};

/// The `format` of a report's figures.
pub const REPORT_FORMAT: &str = "gatecast-period-report/v1";
/// The shortest gap without a shown play that counts as a dark period: one hour.
pub const DARK_MIN_MS: i64 = 3_600_000;

/// What to report on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// First gate day (inclusive).
    pub from: Date,
    /// Last gate day (inclusive).
    pub to: Date,
    /// The gates to report on (`None`: every gate).
    pub gates: Option<BTreeSet<String>>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A date is not `YYYY-MM-DD`.
    #[error("{field}: {value:?} is not a date YYYY-MM-DD")]
    BadDate {
        /// `from` or `to`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// `to` is before `from`.
    #[error("to ({to}) is before from ({from})")]
    Reversed {
        /// First day.
        from: Date,
        /// Last day.
        to: Date,
    },
    /// A gate name is empty.
    #[error("gates: an empty gate name in {0:?}")]
    EmptyGate(String),
}

impl ReportRequest {
    /// Parse `from`/`to` (`YYYY-MM-DD`) and `gates` (comma separated, `None` or empty: all).
    pub fn parse(from: &str, to: &str, gates: Option<&str>) -> Result<ReportRequest, RequestError> {
        let date = |field: &'static str, v: &str| {
            v.trim().parse::<Date>().map_err(|_| RequestError::BadDate {
                field,
                value: v.to_string(),
            })
        };
        let (from, to) = (date("from", from)?, date("to", to)?);
        if to < from {
            return Err(RequestError::Reversed { from, to });
        }
        let gates = match gates.map(str::trim).filter(|g| !g.is_empty()) {
            None => None,
            Some(list) => {
                let mut set = BTreeSet::new();
                for g in list.split(',') {
                    let g = g.trim();
                    if g.is_empty() {
                        return Err(RequestError::EmptyGate(list.to_string()));
                    }
                    set.insert(g.to_string());
                }
                Some(set)
            }
        };
        Ok(ReportRequest { from, to, gates })
    }

    /// The UTC span that holds every gate day of the request in any timezone (UTC−12 to
    /// UTC+14): what to export for it.
    pub fn utc_span(&self) -> (Timestamp, Timestamp) {
        let start = day_start(self.from, &TimeZone::UTC) - 14.hours();
        let end = day_start(self.to.tomorrow().unwrap_or(self.to), &TimeZone::UTC) + 12.hours();
        (start, end)
    }
}

/// Counters of one group of plays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Every receipt.
    pub plays: u64,
    /// Shown plays (`mpv`, `completed` or `interrupted`).
    pub shown: u64,
    /// Shown plays that completed.
    pub completed: u64,
    /// Receipts with outcome `failed`.
    pub failed: u64,
    /// Receipts of the `null` backend (never shown).
    pub null_backend: u64,
    /// Total duration of the shown plays, in milliseconds.
    pub shown_ms: u64,
}

impl Tally {
    fn add(&mut self, r: &Receipt) {
        self.plays += 1;
        match (r.backend, r.outcome) {
            (Backend::Null, _) => self.null_backend += 1,
            (Backend::Mpv, Outcome::Failed) => self.failed += 1,
            (Backend::Mpv, o) => {
                self.shown += 1;
                if o == Outcome::Completed {
                    self.completed += 1;
                }
                self.shown_ms += duration_ms(r);
            }
        }
        if r.backend == Backend::Null && r.outcome == Outcome::Failed {
            self.failed += 1;
        }
    }
}

/// A tally under a key (a playlist, a gate, a media).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The key: playlist id, gate or media sha256.
    pub key: String,
    /// The media's title or the playlist's name, from the manifests (absent if unknown).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Its counters.
    #[serde(flatten)]
    pub tally: Tally,
}

/// A language's tally and share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LangRow {
    /// The language tag.
    pub lang: String,
    /// Its counters.
    #[serde(flatten)]
    pub tally: Tally,
    /// Share of the shown plays, in basis points (1/10000), rounded down.
    pub share_bp: u64,
}

/// Shown plays of a gate in a calendar month (gate time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRow {
    /// The gate.
    pub gate: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Shown plays.
    pub shown: u64,
}

/// A gap without a shown play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DarkPeriod {
    /// Start (RFC 3339 UTC).
    pub from: String,
    /// End (RFC 3339 UTC).
    pub to: String,
    /// Length in milliseconds.
    pub ms: u64,
}

/// Availability of one screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenRow {
    /// Screen id.
    pub screen: String,
    /// Its display name.
    pub name: String,
    /// Its gate.
    pub gate: String,
    /// The gate's display name (absent when the bundle names none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gate_name: String,
    /// Its timezone (gate days).
    pub timezone: String,
    /// When it was registered (first enrolment).
    pub registered_at: String,
    /// Start of the counted span: the later of the window start and the registration.
    pub counted_from: String,
    /// End of the counted span: the earlier of the window end and the bundle's `generated_at`.
    pub counted_to: String,
    /// Counted time, milliseconds.
    pub counted_ms: u64,
    /// Time covered by shown plays, milliseconds.
    pub playing_ms: u64,
    /// Total dark time, milliseconds.
    pub dark_ms: u64,
    /// `(counted − dark) × 10000 / counted`, rounded down (10000 when nothing is counted).
    pub availability_bp: u64,
    /// The dark periods.
    pub dark: Vec<DarkPeriod>,
    /// Every receipt of the screen in the report.
    #[serde(flatten)]
    pub tally: Tally,
}

/// An alert sent in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRow {
    /// Alert id.
    pub id: String,
    /// When it was created (the action's `at`), if the action is in the bundle.
    pub sent_at: Option<String>,
    /// When it was cancelled, if it was in the period.
    pub cancelled_at: Option<String>,
    /// Gates of the screens that got it or showed it.
    pub gates: Vec<String>,
    /// Shown plays.
    pub shown: u64,
    /// How long it was on screen, milliseconds (sum over screens).
    pub shown_ms: u64,
    /// First shown play start.
    pub first_shown: Option<String>,
    /// Last shown play end.
    pub last_shown: Option<String>,
}

/// Planned versus recorded plays of a campaign at a gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceRow {
    /// The campaign (playlist id).
    pub campaign: String,
    /// Its name in the manifests (empty if unknown).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The gate.
    pub gate: String,
    /// Item starts the schedule called for (`null`: unknown, see the module docs).
    pub planned: Option<u64>,
    /// Time the schedule made it the active playlist, milliseconds.
    pub planned_ms: u64,
    /// Its shown plays at the gate.
    pub recorded: u64,
    /// `min(recorded, planned) × 10000 / planned` (`null` when planned is unknown or 0).
    pub compliance_bp: Option<u64>,
}

/// Online time of one screen as the controller saw it (status heartbeats and Last Will,
/// `docs/protocol.md` §12): not signed by the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineRow {
    /// Screen id.
    pub screen: String,
    /// Its display name.
    pub name: String,
    /// Its gate.
    pub gate: String,
    /// The counted span (as in `screens`), milliseconds.
    pub counted_ms: u64,
    /// Time the controller saw it online.
    pub online_ms: u64,
    /// Time it was offline (its status or Last Will said so, or it fell silent).
    pub offline_ms: u64,
    /// Time before any status was received.
    pub no_status_ms: u64,
    /// Offline or unknown intervals.
    pub dark: Vec<DarkPeriod>,
}

/// What the controller recorded itself (not signed by the screens, not in the bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRecord {
    /// Where the figures come from, in words.
    pub source: String,
    /// Per screen.
    pub screens: Vec<OnlineRow>,
}

/// Rejected (conflicting) batches of a screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionRow {
    /// Screen id.
    pub screen: String,
    /// Conflicting envelopes kept (plus their counted repeats).
    pub conflicts: u64,
    /// When the first was received.
    pub first_at: String,
}

/// What the figures were computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// SHA-256 (hex) of the exact bytes of the export bundle.
    pub bundle_sha256: String,
    /// The bundle's `generated_at`.
    pub generated_at: String,
    /// The signed checkpoint's tree size.
    pub checkpoint_size: u64,
    /// The signed checkpoint's root hash (hex).
    pub checkpoint_root: String,
    /// The export period (UTC) of the bundle.
    pub export_from: String,
    /// End of the export period.
    pub export_to: String,
}

/// Every figure of a period report (the JSON of `GET /api/v1/reports/period?format=json`
/// and of `gatecast-audit report`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    /// First gate day.
    pub from: String,
    /// Last gate day (inclusive).
    pub to: String,
    /// The gates asked for (empty: all).
    pub gates_requested: Vec<String>,
    /// The bundle the figures come from.
    pub evidence: Evidence,
    /// All receipts of the report.
    pub totals: Tally,
    /// Per playlist (alerts excluded).
    pub campaigns: Vec<Row>,
    /// Planned versus recorded plays per campaign and gate.
    #[serde(default)]
    pub compliance: Vec<ComplianceRow>,
    /// Per gate.
    pub gates: Vec<Row>,
    /// Per language.
    pub languages: Vec<LangRow>,
    /// Per media sha256.
    pub media: Vec<Row>,
    /// Shown plays per gate and month.
    pub months: Vec<MonthRow>,
    /// Availability per screen.
    pub screens: Vec<ScreenRow>,
    /// Alerts.
    pub alerts: Vec<AlertRow>,
    /// Ticker corrections (texts shown in the ticker region).
    #[serde(default)]
    pub tickers: Vec<TickerRow>,
    /// Rejections.
    pub rejections: Vec<RejectionRow>,
    /// The controller's own record (online time), absent from `gatecast-audit report`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_record: Option<ControllerRecord>,
}

/// A screen as the bundle states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenInfo {
    /// Screen id.
    pub screen: String,
    /// Display name.
    pub name: String,
    /// Gate.
    pub gate: String,
    /// The gate's display name, if the bundle states one.
    pub gate_name: Option<String>,
    /// IANA timezone (UTC when unknown).
    pub timezone: String,
    /// Registration (first enrolment).
    pub registered_at: Timestamp,
}

struct ScreenAcc {
    info: ScreenInfo,
    tz: TimeZone,
    start: Timestamp,
    end: Timestamp,
    /// Highest seq counted per epoch.
    seen: BTreeMap<u64, u64>,
    /// End of the covered time so far (starts at the span start).
    covered_to: Timestamp,
    playing_ms: u64,
    dark: Vec<DarkPeriod>,
    tally: Tally,
}

#[derive(Default)]
struct AlertAcc {
    sent_at: Option<String>,
    cancelled_at: Option<String>,
    gates: BTreeSet<String>,
    shown: u64,
    shown_ms: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// Accumulates the figures of a report, one record at a time.
pub struct ReportBuilder {
    req: ReportRequest,
    screens: BTreeMap<String, ScreenAcc>,
    totals: Tally,
    /// Non-alert receipts, sorted into campaigns and ticker texts at the end.
    cands: ticker::Cands,
    tickers: ticker::TickerIndex,
    gates: BTreeMap<String, Tally>,
    langs: BTreeMap<String, Tally>,
    media: BTreeMap<String, Tally>,
    months: BTreeMap<(String, String), u64>,
    alerts: BTreeMap<String, AlertAcc>,
    rejections: BTreeMap<String, (u64, String)>,
    evidence: Evidence,
    /// The manifests of the bundle, per screen.
    manifests: BTreeMap<String, Vec<Manifest>>,
}

/// The tally of `key`, created on first use (no key allocation per receipt).
fn tally_in<'a>(map: &'a mut BTreeMap<String, Tally>, key: &str) -> &'a mut Tally {
    if !map.contains_key(key) {
        map.insert(key.to_string(), Tally::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl ScreenAcc {
    /// The counted span: from the later of the window start and the registration to the
    /// earlier of the window end and `as_of`.
    fn counted(&self, as_of: Timestamp) -> (Timestamp, Timestamp) {
        (self.start.max(self.info.registered_at), self.end.min(as_of))
    }
}

fn duration_ms(r: &Receipt) -> u64 {
    u64::try_from(r.ended_at.duration_since(r.started_at).as_millis()).unwrap_or(0)
}

fn ms_between(a: Timestamp, b: Timestamp) -> u64 {
    u64::try_from(b.duration_since(a).as_millis()).unwrap_or(0)
}

fn day_start(d: Date, tz: &TimeZone) -> Timestamp {
    tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn ts(t: Timestamp) -> String {
    format!("{t:.3}")
}

impl ReportBuilder {
    /// A builder for `req`.
    pub fn new(req: ReportRequest) -> ReportBuilder {
        ReportBuilder {
            req,
            screens: BTreeMap::new(),
            totals: Tally::default(),
            cands: BTreeMap::new(),
            tickers: ticker::TickerIndex::default(),
            gates: BTreeMap::new(),
            langs: BTreeMap::new(),
            media: BTreeMap::new(),
            months: BTreeMap::new(),
            alerts: BTreeMap::new(),
            rejections: BTreeMap::new(),
            evidence: Evidence::default(),
            manifests: BTreeMap::new(),
        }
    }

    /// Feed one manifest of the bundle (any order; those of screens not reported are unused).
    pub fn manifest(&mut self, m: Manifest) {
        self.manifests.entry(m.screen.clone()).or_default().push(m);
    }

    /// Feed one ticker set of the bundle (any order, before [`ReportBuilder::finish`]).
    pub fn ticker_set(&mut self, set: &crate::manifest::TickerSet) {
        self.tickers.add(set);
    }

    /// Declare a screen (before its receipts). Screens of gates not asked for are ignored.
    pub fn screen(&mut self, info: ScreenInfo) {
        if self
            .req
            .gates
            .as_ref()
            .is_some_and(|g| !g.contains(&info.gate))
        {
            return;
        }
        let tz = TimeZone::get(&info.timezone).unwrap_or(TimeZone::UTC);
        let start = day_start(self.req.from, &tz);
        let end = day_start(self.req.to.tomorrow().unwrap_or(self.req.to), &tz);
        let counted_from = start.max(info.registered_at);
        self.screens.insert(
            info.screen.clone(),
            ScreenAcc {
                info,
                tz,
                start,
                end,
                seen: BTreeMap::new(),
                covered_to: counted_from,
                playing_ms: 0,
                dark: Vec::new(),
                tally: Tally::default(),
            },
        );
    }

    /// Set what the figures are computed from.
    pub fn evidence(&mut self, evidence: Evidence) {
        self.evidence = evidence;
    }

    /// Feed one receipt of the chain `epoch` (in log order). Receipts of screens not
    /// declared, outside the gate days or already counted are skipped.
    pub fn receipt(&mut self, epoch: u64, r: &Receipt) {
        let Some(s) = self.screens.get_mut(&r.screen) else {
            return;
        };
        let last = s.seen.entry(epoch).or_insert(0);
        if r.seq <= *last {
            return;
        }
        *last = r.seq;
        let local = s.tz.to_datetime(r.started_at).date();
        if local < self.req.from || local > self.req.to {
            return;
        }
        s.tally.add(r);
        let shown = r.backend == Backend::Mpv && r.outcome != Outcome::Failed;
        if shown {
            // Clip to the counted span, then extend the covered time.
            let a = r.started_at.max(s.covered_to);
            let b = r.ended_at.min(s.end);
            if r.started_at.duration_since(s.covered_to).as_millis() >= i128::from(DARK_MIN_MS) {
                s.dark.push(DarkPeriod {
                    from: ts(s.covered_to),
                    to: ts(r.started_at),
                    ms: ms_between(s.covered_to, r.started_at),
                });
            }
            if b > a {
                s.playing_ms += ms_between(a, b);
                s.covered_to = b;
            }
            let month = format!("{:04}-{:02}", local.year(), local.month());
            *self.months.entry((s.info.gate.clone(), month)).or_insert(0) += 1;
        }
        self.totals.add(r);
        tally_in(&mut self.gates, &s.info.gate).add(r);
        tally_in(&mut self.langs, &r.lang).add(r);
        tally_in(&mut self.media, &r.media).add(r);
        match r.playlist.strip_prefix("alert:") {
            Some(id) => {
                let a = self.alerts.entry(id.to_string()).or_default();
                a.gates.insert(s.info.gate.clone());
                if shown {
                    a.shown += 1;
                    a.shown_ms += duration_ms(r);
                    a.first = Some(a.first.map_or(r.started_at, |f| f.min(r.started_at)));
                    a.last = Some(a.last.map_or(r.ended_at, |l| l.max(r.ended_at)));
                }
            }
            None => ticker::cand(&mut self.cands, r).add(r, shown),
        }
    }

    /// Feed one operator action record (exact JSON as stored): `alert.create` and
    /// `alert.cancel` are kept when `at` is in the window of a reported screen.
    pub fn action(&mut self, record: &serde_json::Value) {
        let action = record.get("action").and_then(|v| v.as_str()).unwrap_or("");
        if action != "alert.create" && action != "alert.cancel" {
            return;
        }
        let Some(id) = record.pointer("/detail/id").and_then(|v| v.as_str()) else {
            return;
        };
        let Some(at) = record
            .get("at")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<Timestamp>().ok())
        else {
            return;
        };
        let targets: Vec<&str> = record
            .get("versions")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.get("screen").and_then(|s| s.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let gates: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| self.screens.get(*t))
            .filter(|s| at >= s.start && at < s.end)
            .map(|s| s.info.gate.clone())
            .collect();
        if gates.is_empty() {
            return;
        }
        let a = self.alerts.entry(id.to_string()).or_default();
        a.gates.extend(gates);
        if action == "alert.create" {
            a.sent_at = Some(ts(at));
        } else {
            a.cancelled_at = Some(ts(at));
        }
    }

    /// Feed one conflicting envelope kept as evidence.
    pub fn conflict(&mut self, screen: &str, received_at: &str, repeats: u64) {
        if !self.screens.contains_key(screen) {
            return;
        }
        let e = self
            .rejections
            .entry(screen.to_string())
            .or_insert((0, received_at.to_string()));
        e.0 += 1 + repeats;
        if received_at < e.1.as_str() {
            e.1 = received_at.to_string();
        }
    }

    /// The figures; `as_of` ends every screen's counted span (the bundle's `generated_at`).
    pub fn finish(self, as_of: Timestamp) -> Figures {
        let total_shown = self.totals.shown;
        let sorted = ticker::sort(self.cands, &self.tickers, |screen| {
            self.screens
                .get(screen)
                .map(|s| s.info.gate.clone())
                .unwrap_or_default()
        });
        let mut titles = planned::Titles::of(self.manifests.values().flatten());
        // A ticker text's media is the SHA-256 of the text: the text is its title.
        for (sha, text) in self.tickers.media_titles() {
            titles.media.entry(sha).or_insert(text);
        }
        let compliance = planned::compliance(
            self.screens.values().map(|s| {
                let (from, to) = s.counted(as_of);
                (s.info.gate.as_str(), s.info.screen.as_str(), from, to)
            }),
            &self.manifests,
            &sorted.recorded,
            &titles,
        );
        let rows = |m: BTreeMap<String, Tally>, names: &BTreeMap<String, String>| {
            m.into_iter()
                .map(|(key, tally)| Row {
                    title: names.get(&key).cloned().unwrap_or_default(),
                    key,
                    tally,
                })
                .collect::<Vec<_>>()
        };
        let gate_names: BTreeMap<String, String> = self
            .screens
            .values()
            .filter_map(|s| Some((s.info.gate.clone(), s.info.gate_name.clone()?)))
            .collect();
        let screens = self
            .screens
            .into_values()
            .map(|mut s| {
                let (from, end) = s.counted(as_of);
                let counted_ms = if end > from { ms_between(from, end) } else { 0 };
                if end > s.covered_to && ms_between(s.covered_to, end) >= DARK_MIN_MS as u64 {
                    s.dark.push(DarkPeriod {
                        from: ts(s.covered_to),
                        to: ts(end),
                        ms: ms_between(s.covered_to, end),
                    });
                }
                let dark_ms: u64 = s.dark.iter().map(|d| d.ms).sum::<u64>().min(counted_ms);
                ScreenRow {
                    screen: s.info.screen,
                    name: s.info.name,
                    gate: s.info.gate,
                    gate_name: s.info.gate_name.unwrap_or_default(),
                    timezone: s.info.timezone,
                    registered_at: ts(s.info.registered_at),
                    counted_from: ts(from),
                    counted_to: ts(end.max(from)),
                    counted_ms,
                    playing_ms: s.playing_ms,
                    dark_ms,
                    availability_bp: ((counted_ms - dark_ms) * 10_000)
                        .checked_div(counted_ms)
                        .unwrap_or(10_000),
                    dark: s.dark,
                    tally: s.tally,
                }
            })
            .collect();
        Figures {
            format: REPORT_FORMAT.to_string(),
            from: self.req.from.to_string(),
            to: self.req.to.to_string(),
            gates_requested: self.req.gates.into_iter().flatten().collect(),
            evidence: self.evidence,
            totals: self.totals,
            campaigns: rows(sorted.campaigns, &titles.playlists),
            compliance,
            gates: rows(self.gates, &gate_names),
            languages: self
                .langs
                .into_iter()
                .map(|(lang, tally)| LangRow {
                    share_bp: (tally.shown * 10_000).checked_div(total_shown).unwrap_or(0),
                    lang,
                    tally,
                })
                .collect(),
            media: rows(self.media, &titles.media),
            months: self
                .months
                .into_iter()
                .map(|((gate, month), shown)| MonthRow { gate, month, shown })
                .collect(),
            screens,
            alerts: self
                .alerts
                .into_iter()
                .map(|(id, a)| AlertRow {
                    id,
                    sent_at: a.sent_at,
                    cancelled_at: a.cancelled_at,
                    gates: a.gates.into_iter().collect(),
                    shown: a.shown,
                    shown_ms: a.shown_ms,
                    first_shown: a.first.map(ts),
                    last_shown: a.last.map(ts),
                })
                .collect(),
            tickers: sorted.tickers,
            rejections: self
                .rejections
                .into_iter()
                .map(|(screen, (conflicts, first_at))| RejectionRow {
                    screen,
                    conflicts,
                    first_at,
                })
                .collect(),
            controller_record: None,
        }
    }
}

impl Figures {
    /// How documents name `gate`: "display name (id)" when a screen statement of the bundle
    /// names it, else the id.
    pub fn gate_label(&self, gate: &str) -> String {
        match self
            .screens
            .iter()
            .find(|s| s.gate == gate && !s.gate_name.is_empty())
        {
            Some(s) if s.gate_name != gate => format!("{} ({gate})", s.gate_name),
            _ => gate.to_string(),
        }
    }

    /// The names of the top-level sections in which `self` and `other` differ (empty: equal).
    pub fn differences(&self, other: &Figures) -> Vec<&'static str> {
        let a = serde_json::to_value(self).unwrap_or_default();
        let b = serde_json::to_value(other).unwrap_or_default();
        const SECTIONS: [&str; 16] = [
            "format",
            "from",
            "to",
            "gates_requested",
            "evidence",
            "totals",
            "campaigns",
            "compliance",
            "gates",
            "languages",
            "media",
            "months",
            "screens",
            "alerts",
            "tickers",
            "rejections",
        ];
        SECTIONS
            .into_iter()
            .filter(|k| a.get(k) != b.get(k))
            .collect()
    }
}

#[cfg(test)]
mod tests;
