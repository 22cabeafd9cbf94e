//! Reports for auditors, computed from stored data for an explicit period (no clock is read
//! here: `now` is a parameter, so tests inject it).
//!
//! # Plays report
//!
//! [`plays_report`] counts receipts grouped by any combination of media, lang, gate, screen and
//! day (the local calendar day of `started_at` in the screen's timezone). For each group:
//! `plays` (every receipt), `shown` (backend `mpv` and outcome `completed` or `interrupted`),
//! `completed` (`mpv` and `completed`), `interrupted`, `failed`, `null_backend` (receipts of
//! the null backend: nothing was on screen, so they are never counted as shown) and
//! `duration_s` (total duration of the shown plays).
//!
//! # Compliance report
//!
//! [`compliance_report`] compares, per screen and schedule entry, the plays the schedule called
//! for with the plays recorded, over the period `[from, min(to, now))`:
//!
//! * **Which manifest governs when.** Each published manifest version governs from its
//!   `issued_at` until the next version's `issued_at` (a player may switch a little later, once
//!   its media are cached; plays missed meanwhile show up as shortfall). Before the first
//!   manifest nothing is expected.
//! * **Active windows.** Within a manifest's time, [`playlists::schedule::active_playlist`]
//!   decides which entry (or the fallback) is active at every instant, exactly as players do.
//!   Alerts are not modelled: time under an alert counts as scheduled time.
//! * **Expected plays.** A playlist starts from its first item whenever it becomes active and
//!   cycles while it stays active. An item's duration is its `duration_ms`, else its media's
//!   natural `duration_ms`; the cycle duration `C` is their sum over the `n` items. For one
//!   contiguous active interval of length `T`: `expected = floor(T / C) × n + (number of items
//!   whose start offset within the cycle is < T mod C)`, i.e. every item start that falls inside
//!   the interval. If an item has no known duration, `expected` is `null` for that entry.
//! * **Recorded plays.** Receipts with `started_at` in the period, attributed to the entry
//!   active at their `started_at` when their `playlist` is that entry's playlist (others are
//!   counted as `unscheduled`: alerts, or plays under a manifest the player had not yet
//!   switched to). `recorded` counts outcome `completed` with backend `mpv` only; `null`-backend
//!   plays never count as shown. `shortfall = max(0, expected − recorded)`.
//! * **Dark periods.** From the online/offline history (status messages and Last Will): every
//!   interval of the period in which the screen was offline (`reason: "offline"`), or for which
//!   no status had been received yet (`reason: "no_status"`). A screen is counted only from its
//!   registration (`created_at`): the time before it existed is never dark.
//! * **Chain.** The screen's receipts of the period, in seq order, must have contiguous seqs and
//!   each `prev` must be the SHA-256 of the previous receipt's exact bytes (the first one is
//!   checked against the stored receipt before it, when there is one).

use std::collections::BTreeMap;

use jiff::Timestamp;
use playlists::manifest::Manifest;
use playlists::receipt::{receipt_hash, Backend, Outcome, Receipt};
pub use playlists::report::planned::expected_starts;
use playlists::report::planned::spans;
use serde::Serialize;

use super::query::{utc_millis, ReceiptRow};
use crate::store::{ScreenRecord, StatusTransition};

// ---------------------------------------------------------------- plays

/// A dimension of the plays report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupBy {
    /// Media sha256 (with its title).
    Media,
    /// Language played.
    Lang,
    /// Gate of the screen.
    Gate,
    /// Screen id.
    Screen,
    /// Local calendar day (`YYYY-MM-DD`) of `started_at` in the screen's timezone.
    Day,
    /// Playlist the item was played from (empty for alerts).
    Playlist,
}

impl GroupBy {
    /// Parses `media|lang|gate|screen|day`.
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "media" => GroupBy::Media,
            "lang" => GroupBy::Lang,
            "gate" => GroupBy::Gate,
            "screen" => GroupBy::Screen,
            "day" => GroupBy::Day,
            "playlist" => GroupBy::Playlist,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            GroupBy::Media => "media",
            GroupBy::Lang => "lang",
            GroupBy::Gate => "gate",
            GroupBy::Screen => "screen",
            GroupBy::Day => "day",
            GroupBy::Playlist => "playlist",
        }
    }
}

/// Counts of one group (see the module docs for each field).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlayCounts {
    /// Every receipt.
    pub plays: u64,
    /// `mpv` and completed or interrupted.
    pub shown: u64,
    /// `mpv` and completed.
    pub completed: u64,
    /// Outcome interrupted (any backend).
    pub interrupted: u64,
    /// Outcome failed (any backend).
    pub failed: u64,
    /// Backend `null`.
    pub null_backend: u64,
    /// Total duration of the shown plays, in seconds.
    pub duration_s: f64,
}

impl PlayCounts {
    fn add(&mut self, r: &ReceiptRow) {
        self.plays += 1;
        let mpv = r.backend == "mpv";
        match r.outcome {
            "completed" if mpv => {
                self.completed += 1;
                self.shown += 1;
                self.duration_s += r.duration_s;
            }
            "interrupted" => {
                self.interrupted += 1;
                if mpv {
                    self.shown += 1;
                    self.duration_s += r.duration_s;
                }
            }
            "failed" => self.failed += 1,
            _ => {}
        }
        if !mpv {
            self.null_backend += 1;
        }
    }

    fn round(&mut self) {
        self.duration_s = (self.duration_s * 1000.0).round() / 1000.0;
    }
}

/// One group of the plays report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlayGroup {
    /// The group's values, by dimension name (`media` also adds `media_title`).
    pub key: BTreeMap<String, String>,
    /// Its counts.
    #[serde(flatten)]
    pub counts: PlayCounts,
}

/// The plays report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaysReport {
    /// The dimensions, in the order asked.
    pub group_by: Vec<&'static str>,
    /// One entry per distinct key, sorted by key.
    pub groups: Vec<PlayGroup>,
    /// Counts over all rows.
    pub total: PlayCounts,
}

/// Groups `rows` by `group_by` (empty: only the total).
pub fn plays_report<'a>(
    rows: impl IntoIterator<Item = &'a ReceiptRow>,
    group_by: &[GroupBy],
) -> PlaysReport {
    let mut groups: BTreeMap<Vec<String>, (BTreeMap<String, String>, PlayCounts)> = BTreeMap::new();
    let mut total = PlayCounts::default();
    for r in rows {
        total.add(r);
        let mut key = BTreeMap::new();
        let mut sort_key = Vec::new();
        for g in group_by {
            let v = match g {
                GroupBy::Media => {
                    key.insert("media_title".to_string(), r.media_title.clone());
                    r.media_sha256.clone()
                }
                GroupBy::Lang => r.lang.clone(),
                GroupBy::Gate => r.gate.clone(),
                GroupBy::Screen => r.screen.clone(),
                GroupBy::Day => r.started_at_local.get(..10).unwrap_or_default().to_string(),
                GroupBy::Playlist => r.playlist.clone(),
            };
            key.insert(g.name().to_string(), v.clone());
            sort_key.push(v);
        }
        groups
            .entry(sort_key)
            .or_insert_with(|| (key, PlayCounts::default()))
            .1
            .add(r);
    }
    total.round();
    PlaysReport {
        group_by: group_by.iter().map(|g| g.name()).collect(),
        groups: groups
            .into_values()
            .map(|(key, mut counts)| {
                counts.round();
                PlayGroup { key, counts }
            })
            .collect(),
        total,
    }
}

// ---------------------------------------------------------------- compliance

/// What is known about one screen for the compliance report.
#[derive(Debug, Clone)]
pub struct ScreenEvidence {
    /// The screen as registered.
    pub screen: ScreenRecord,
    /// Every manifest published to it (verified, any order).
    pub manifests: Vec<Manifest>,
    /// Online/offline transitions, oldest first (may start before the period).
    pub history: Vec<StatusTransition>,
    /// Its receipts with `started_at` in the period, one chain per enrolment epoch (oldest
    /// epoch first; docs/protocol.md §13).
    pub chains: Vec<EpochEvidence>,
    /// Conflicting receipts kept as evidence for this screen (reported as is).
    pub conflicts: u64,
}

/// The receipts of one enrolment epoch of a screen in the period.
#[derive(Debug, Clone)]
pub struct EpochEvidence {
    /// The epoch.
    pub epoch: u64,
    /// Its receipts with `started_at` in the period, with their exact bytes.
    pub receipts: Vec<(Receipt, Vec<u8>)>,
    /// The exact bytes of the stored receipt just before the first one of the period (by seq),
    /// if stored; its hash must be the first receipt's `prev`.
    pub before_first: Option<Vec<u8>>,
}

/// Expected versus recorded plays of one schedule entry (or the fallback) on one screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryCompliance {
    /// Schedule entry id; `null` for the fallback playlist.
    pub entry: Option<String>,
    /// Its playlist.
    pub playlist: String,
    /// Manifest versions under which it was active in the period.
    pub manifest_versions: Vec<u64>,
    /// Seconds it was the active entry.
    pub active_s: f64,
    /// Plays the schedule called for (`null`: an item has no known duration).
    pub expected: Option<u64>,
    /// Completed plays with backend `mpv`.
    pub recorded: u64,
    /// `max(0, expected - recorded)` (`null` when `expected` is).
    pub shortfall: Option<u64>,
    /// Interrupted plays (not counted as recorded).
    pub interrupted: u64,
    /// Failed plays.
    pub failed: u64,
    /// Plays with backend `null` (never shown).
    pub null_backend: u64,
}

/// An interval in which a screen was dark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DarkPeriod {
    /// Start (UTC).
    pub from: String,
    /// End (UTC).
    pub to: String,
    /// Length in seconds.
    pub seconds: i64,
    /// `offline` (status or Last Will said so) or `no_status` (nothing received yet).
    pub reason: &'static str,
}

/// The result of re-checking a screen's stored chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    /// True when every link holds.
    pub intact: bool,
    /// Receipts checked.
    pub receipts: u64,
    /// First seq checked.
    pub first_seq: Option<u64>,
    /// Last seq checked.
    pub last_seq: Option<u64>,
    /// Conflicting receipts kept as evidence (a player sent two different receipts for a seq).
    pub conflicts: u64,
    /// Each problem, naming the seq.
    pub problems: Vec<String>,
}

/// The compliance of one screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScreenCompliance {
    /// Screen id.
    pub screen: String,
    /// Its name.
    pub name: String,
    /// Its gate.
    pub gate: String,
    /// Its timezone.
    pub timezone: String,
    /// Per schedule entry.
    pub entries: Vec<EntryCompliance>,
    /// Sum of `expected` over entries with a known value.
    pub expected: u64,
    /// Sum of `recorded`.
    pub recorded: u64,
    /// Sum of `shortfall`.
    pub shortfall: u64,
    /// Plays whose playlist was not the active entry's (alerts, manifest switch-over).
    pub unscheduled: u64,
    /// Dark intervals.
    pub dark_periods: Vec<DarkPeriod>,
    /// Total dark seconds.
    pub dark_s: i64,
    /// Chain check of the period's receipts.
    pub chain: ChainCheck,
    /// Remarks (e.g. no manifest in the period, entries without durations).
    pub notes: Vec<String>,
}

/// The compliance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    /// Period start (UTC).
    pub from: String,
    /// Period end as asked (UTC).
    pub to: String,
    /// End actually evaluated: `min(to, generated_at)`.
    pub evaluated_to: String,
    /// When the report was computed.
    pub generated_at: String,
    /// Per screen.
    pub screens: Vec<ScreenCompliance>,
}

/// Dark intervals of `[from, to)` from the transitions (oldest first).
pub fn dark_periods(
    history: &[StatusTransition],
    from: Timestamp,
    to: Timestamp,
) -> Vec<DarkPeriod> {
    let mut events: Vec<(Timestamp, bool)> = history
        .iter()
        .filter_map(|t| t.at.parse::<Timestamp>().ok().map(|at| (at, t.online)))
        .collect();
    events.sort_by_key(|e| e.0);
    // State at `from`: the last transition at or before it.
    let mut state: Option<bool> = events.iter().rev().find(|e| e.0 <= from).map(|e| e.1);
    let mut out = Vec::new();
    let mut t = from;
    let push = |out: &mut Vec<DarkPeriod>, a: Timestamp, b: Timestamp, state: Option<bool>| {
        if b <= a || state == Some(true) {
            return;
        }
        out.push(DarkPeriod {
            from: utc_millis(a),
            to: utc_millis(b),
            seconds: (b.as_millisecond() - a.as_millisecond()) / 1000,
            reason: if state.is_none() {
                "no_status"
            } else {
                "offline"
            },
        });
    };
    for &(at, online) in events.iter().filter(|e| e.0 > from && e.0 < to) {
        if state != Some(online) {
            push(&mut out, t, at, state);
            t = at;
            state = Some(online);
        }
    }
    push(&mut out, t, to, state);
    out
}

/// Re-checks the chain of `receipts` (any order; sorted by seq here).
pub fn check_chain(
    receipts: &[(Receipt, Vec<u8>)],
    before_first: Option<&[u8]>,
    conflicts: u64,
) -> ChainCheck {
    let mut sorted: Vec<&(Receipt, Vec<u8>)> = receipts.iter().collect();
    sorted.sort_by_key(|(r, _)| r.seq);
    let mut problems = Vec::new();
    if let Some((first, _)) = sorted.first() {
        if let Some(b) = before_first {
            if receipt_hash(b) != first.prev {
                problems.push(format!(
                    "seq {}: prev does not match the hash of the stored receipt seq {}",
                    first.seq,
                    first.seq - 1
                ));
            }
        }
    }
    for w in sorted.windows(2) {
        let ((a, ab), (b, _)) = (w[0], w[1]);
        if b.seq == a.seq {
            problems.push(format!("seq {}: stored twice", b.seq));
        } else if b.seq != a.seq + 1 {
            problems.push(format!(
                "seqs {}..={} are missing between seq {} and seq {}",
                a.seq + 1,
                b.seq - 1,
                a.seq,
                b.seq
            ));
        } else if receipt_hash(ab) != b.prev {
            problems.push(format!(
                "seq {}: prev does not match the hash of seq {}",
                b.seq, a.seq
            ));
        }
    }
    if conflicts > 0 {
        problems.push(format!(
            "{conflicts} conflicting receipt(s) kept as evidence (a seq was sent with different content)"
        ));
    }
    ChainCheck {
        intact: problems.is_empty(),
        receipts: sorted.len() as u64,
        first_seq: sorted.first().map(|(r, _)| r.seq),
        last_seq: sorted.last().map(|(r, _)| r.seq),
        conflicts,
        problems,
    }
}

/// [`check_chain`] for each enrolment epoch: the receipts of all of them, first and last seq
/// of the oldest and newest, each problem naming its epoch when there are several.
pub fn check_chains(chains: &[EpochEvidence], conflicts: u64) -> ChainCheck {
    if chains.len() <= 1 {
        let c = chains.first();
        return check_chain(
            c.map_or(&[][..], |c| &c.receipts),
            c.and_then(|c| c.before_first.as_deref()),
            conflicts,
        );
    }
    let checks: Vec<(u64, ChainCheck)> = chains
        .iter()
        .map(|c| {
            (
                c.epoch,
                check_chain(&c.receipts, c.before_first.as_deref(), 0),
            )
        })
        .collect();
    let mut problems: Vec<String> = checks
        .iter()
        .flat_map(|(e, c)| {
            c.problems
                .iter()
                .map(move |p| format!("enrolment epoch {e}: {p}"))
        })
        .collect();
    problems.extend(check_chain(&[], None, conflicts).problems);
    ChainCheck {
        intact: problems.is_empty(),
        receipts: checks.iter().map(|(_, c)| c.receipts).sum(),
        first_seq: checks.iter().find_map(|(_, c)| c.first_seq),
        last_seq: checks.iter().rev().find_map(|(_, c)| c.last_seq),
        conflicts,
        problems,
    }
}

fn screen_compliance(ev: &ScreenEvidence, from: Timestamp, end: Timestamp) -> ScreenCompliance {
    let mut manifests: Vec<&Manifest> = ev.manifests.iter().collect();
    manifests.sort_by_key(|m| m.version);
    let manifests: Vec<Manifest> = manifests.into_iter().cloned().collect();
    let spans = spans(&manifests, from, end);
    let mut notes = Vec::new();
    if manifests.is_empty() {
        notes.push("no manifest was ever published to this screen: nothing was scheduled".into());
    } else if spans.is_empty() {
        notes.push("no manifest governed this screen during the period".into());
    }

    // Per (entry, playlist), in order of first appearance.
    let mut order: Vec<(Option<String>, String)> = Vec::new();
    let mut rows: BTreeMap<(Option<String>, String), EntryCompliance> = BTreeMap::new();
    for s in &spans {
        let k = (s.entry.clone(), s.playlist.clone());
        let row = rows.entry(k.clone()).or_insert_with(|| {
            order.push(k.clone());
            EntryCompliance {
                entry: s.entry.clone(),
                playlist: s.playlist.clone(),
                manifest_versions: Vec::new(),
                active_s: 0.0,
                expected: Some(0),
                recorded: 0,
                shortfall: None,
                interrupted: 0,
                failed: 0,
                null_backend: 0,
            }
        });
        if !row.manifest_versions.contains(&s.version) {
            row.manifest_versions.push(s.version);
        }
        row.active_s += s.len_ms() as f64 / 1000.0;
        row.expected = match (s.planned(), row.expected) {
            (Some(p), Some(e)) => Some(e + p),
            _ => None,
        };
    }

    let mut unscheduled = 0;
    for (r, _) in ev.chains.iter().flat_map(|c| &c.receipts) {
        if r.started_at < from || r.started_at >= end {
            continue;
        }
        let span = spans
            .partition_point(|s| s.to <= r.started_at)
            .min(spans.len());
        let row = spans
            .get(span)
            .filter(|s| s.from <= r.started_at && s.playlist == r.playlist)
            .and_then(|s| rows.get_mut(&(s.entry.clone(), s.playlist.clone())));
        let Some(row) = row else {
            unscheduled += 1;
            continue;
        };
        match (r.outcome, r.backend) {
            (Outcome::Completed, Backend::Mpv) => row.recorded += 1,
            (Outcome::Interrupted, _) => row.interrupted += 1,
            (Outcome::Failed, _) => row.failed += 1,
            (Outcome::Completed, Backend::Null) => {}
        }
        if r.backend == Backend::Null {
            row.null_backend += 1;
        }
    }

    let mut entries: Vec<EntryCompliance> =
        order.into_iter().filter_map(|k| rows.remove(&k)).collect();
    for e in &mut entries {
        e.shortfall = e.expected.map(|x| x.saturating_sub(e.recorded));
        e.active_s = (e.active_s * 1000.0).round() / 1000.0;
        if e.expected.is_none() {
            notes.push(format!(
                "playlist {:?} has an item without a known duration: its expected plays cannot be computed",
                e.playlist
            ));
        }
    }
    // Time before the screen was registered is not dark: it did not exist yet.
    let registered = ev
        .screen
        .created_at
        .parse::<Timestamp>()
        .ok()
        .map_or(from, |c| c.clamp(from, end));
    let dark = dark_periods(&ev.history, registered, end);
    ScreenCompliance {
        screen: ev.screen.id.clone(),
        name: ev.screen.name.clone(),
        gate: ev.screen.gate.clone(),
        timezone: ev.screen.timezone.clone(),
        expected: entries.iter().filter_map(|e| e.expected).sum(),
        recorded: entries.iter().map(|e| e.recorded).sum(),
        shortfall: entries.iter().filter_map(|e| e.shortfall).sum(),
        unscheduled,
        dark_s: dark.iter().map(|d| d.seconds).sum(),
        dark_periods: dark,
        chain: check_chains(&ev.chains, ev.conflicts),
        entries,
        notes,
    }
}

/// The compliance report of `screens` for `[from, min(to, now))` (see the module docs).
pub fn compliance_report(
    screens: &[ScreenEvidence],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> ComplianceReport {
    let end = to.min(now).max(from);
    ComplianceReport {
        from: utc_millis(from),
        to: utc_millis(to),
        evaluated_to: utc_millis(end),
        generated_at: utc_millis(now),
        screens: screens
            .iter()
            .map(|ev| screen_compliance(ev, from, end))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use playlists::receipt::GENESIS_PREV;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn transition(online: bool, at: &str) -> StatusTransition {
        StatusTransition {
            screen: "lc-a1".into(),
            online,
            at: at.into(),
        }
    }

    #[test]
    fn expected_starts_counts_item_starts_inside_the_interval() {
        assert_eq!(expected_starts(60_000, &[10_000]), 6);
        assert_eq!(expected_starts(60_001, &[10_000]), 7);
        assert_eq!(expected_starts(0, &[10_000]), 0);
        // cycle 30 s (10 + 20): 65 s = 2 cycles (4 starts) + 5 s (item 1 starts) = 5.
        assert_eq!(expected_starts(65_000, &[10_000, 20_000]), 5);
        assert_eq!(expected_starts(71_000, &[10_000, 20_000]), 6);
    }

    #[test]
    fn dark_periods_from_transitions() {
        let h = [
            transition(true, "2026-01-05T07:00:00Z"),
            transition(false, "2026-01-05T09:00:00Z"),
            transition(true, "2026-01-05T10:00:00Z"),
            transition(false, "2026-01-05T11:30:00Z"),
        ];
        let d = dark_periods(&h, ts("2026-01-05T08:00:00Z"), ts("2026-01-05T12:00:00Z"));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].from, "2026-01-05T09:00:00.000Z");
        assert_eq!(d[0].seconds, 3600);
        assert_eq!(d[0].reason, "offline");
        assert_eq!(d[1].to, "2026-01-05T12:00:00.000Z");
        assert_eq!(d[1].seconds, 1800);
        // Nothing before the first status: dark with reason no_status.
        let d = dark_periods(&h, ts("2026-01-05T06:00:00Z"), ts("2026-01-05T08:00:00Z"));
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].reason, d[0].seconds), ("no_status", 3600));
        assert!(
            dark_periods(&[], ts("2026-01-05T06:00:00Z"), ts("2026-01-05T06:00:01Z"))
                .iter()
                .all(|p| p.reason == "no_status")
        );
    }

    fn chain(n: u64) -> Vec<(Receipt, Vec<u8>)> {
        let mut prev = GENESIS_PREV.to_string();
        let mut out = Vec::new();
        for seq in 1..=n {
            let t = ts("2026-01-05T08:00:00Z") + jiff::SignedDuration::from_secs(seq as i64 * 10);
            let r = Receipt {
                seq,
                screen: "lc-a1".into(),
                manifest_version: 1,
                playlist: "p".into(),
                media: "b".repeat(64),
                lang: "vi".into(),
                started_at: t,
                ended_at: t + jiff::SignedDuration::from_secs(10),
                outcome: Outcome::Completed,
                backend: Backend::Mpv,
                clock_synced: true,
                prev: prev.clone(),
                subtitle_lang: None,
            };
            let bytes = r.to_bytes();
            prev = receipt_hash(&bytes);
            out.push((r, bytes));
        }
        out
    }

    #[test]
    fn chain_check_names_gaps_and_broken_links() {
        let c = chain(5);
        assert!(check_chain(&c, None, 0).intact);
        let gap: Vec<_> = c.iter().filter(|(r, _)| r.seq != 3).cloned().collect();
        let g = check_chain(&gap, None, 0);
        assert!(!g.intact);
        assert!(g.problems[0].contains("3..=3"), "{:?}", g.problems);
        let mut bad = c.clone();
        bad[3].1.push(b' '); // seq 4's bytes no longer hash to seq 5's prev
        let b = check_chain(&bad, None, 0);
        assert_eq!(
            b.problems,
            vec!["seq 5: prev does not match the hash of seq 4"]
        );
        let tail = &c[2..];
        assert!(check_chain(tail, Some(&c[1].1), 0).intact);
        assert!(!check_chain(tail, Some(&c[0].1), 0).intact);
        assert!(
            !check_chain(&c, None, 1).intact,
            "conflicts make it not intact"
        );
    }

    #[test]
    fn plays_report_groups_and_never_counts_null_backend_as_shown() {
        let c = chain(3);
        let mut rows: Vec<ReceiptRow> = c
            .iter()
            .map(|(r, _)| ReceiptRow::new(r, None, None))
            .collect();
        rows[2].backend = "null";
        rows[1].lang = "en".into();
        let rep = plays_report(&rows, &[GroupBy::Lang, GroupBy::Day]);
        assert_eq!(rep.total.plays, 3);
        assert_eq!(rep.total.shown, 2);
        assert_eq!(rep.total.null_backend, 1);
        assert_eq!(rep.total.duration_s, 20.0);
        assert_eq!(rep.groups.len(), 2);
        assert_eq!(rep.groups[0].key["lang"], "en");
        assert_eq!(rep.groups[0].key["day"], "2026-01-05");
        assert_eq!(rep.groups[1].counts.plays, 2);
        assert_eq!(rep.groups[1].counts.shown, 1);
    }

    #[test]
    fn chains_of_a_reenrolled_screen_are_checked_per_epoch() {
        let epoch = |epoch, n| EpochEvidence {
            epoch,
            receipts: chain(n),
            before_first: None,
        };
        // Two boxes, each from seq 1: one intact chain per epoch, not "stored twice".
        let c = check_chains(&[epoch(1, 4), epoch(2, 3)], 0);
        assert!(c.intact, "{:?}", c.problems);
        assert_eq!((c.receipts, c.first_seq, c.last_seq), (7, Some(1), Some(3)));
        // A gap in the second epoch names that epoch.
        let mut gap = epoch(2, 3);
        gap.receipts.remove(1);
        let c = check_chains(&[epoch(1, 4), gap], 0);
        assert!(!c.intact);
        assert!(
            c.problems[0].starts_with("enrolment epoch 2: "),
            "{:?}",
            c.problems
        );
    }

    #[test]
    fn a_screen_is_never_dark_before_its_registration() {
        let screen = ScreenRecord {
            name: "A1".into(),
            created_at: "2026-01-05T11:50:00Z".into(),
            ..ScreenRecord::for_test("lc-a1")
        };
        let ev = ScreenEvidence {
            screen,
            manifests: vec![],
            history: vec![transition(true, "2026-01-05T11:55:00Z")],
            chains: vec![],
            conflicts: 0,
        };
        let r = compliance_report(
            &[ev],
            ts("2025-12-29T00:00:00Z"),
            ts("2026-01-06T00:00:00Z"),
            ts("2026-01-05T12:00:00Z"),
        );
        let sc = &r.screens[0];
        // Only the 5 minutes between registration and the first status, not 8 days.
        assert_eq!(sc.dark_s, 300, "{:?}", sc.dark_periods);
        assert_eq!(sc.dark_periods[0].from, "2026-01-05T11:50:00.000Z");
    }
}
