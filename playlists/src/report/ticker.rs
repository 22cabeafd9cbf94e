//! Ticker corrections in the period report (`docs/auditing.md` §10, "Ticker corrections").
//!
//! A ticker turn's receipt looks like a playlist play (`docs/protocol.md` §20: `playlist` = the
//! text's id, `media` = SHA-256 of the exact text shown), so a receipt alone cannot be told
//! apart from a campaign's. The bundle's `tickers` (controller-signed ticker sets, covered by
//! its signed scope) can: a receipt of screen S is a ticker turn when a ticker set of S in the
//! bundle has an item with the receipt's `playlist` as id and a text whose SHA-256 is the
//! receipt's `media`. Since the `tickers` may come after the log in the bundle, receipts that
//! are not alerts are kept per (screen, playlist, media) — a few counters each, never the
//! receipts — and sorted into campaigns or ticker texts at the end.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{ts, Tally};
use crate::manifest::TickerSet;
use crate::receipt::Receipt;

/// One text of a ticker item, as signed in the ticker set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickerText {
    /// Its language.
    pub lang: String,
    /// The exact text.
    pub text: String,
}

/// A ticker text (correction) shown in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickerRow {
    /// The text's id (the receipts' `playlist`).
    pub id: String,
    /// Its texts in the newest ticker set of the bundle that holds it.
    pub text: Vec<TickerText>,
    /// Gates of the screens that showed it.
    pub gates: Vec<String>,
    /// Languages in which it was shown.
    pub languages: Vec<String>,
    /// First shown turn's start.
    pub first_shown: Option<String>,
    /// Last shown turn's end.
    pub last_shown: Option<String>,
    /// Its receipts; `shown` is the turns shown, `shown_ms` the time on screen (sum over
    /// screens and turns).
    #[serde(flatten)]
    pub tally: Tally,
}

/// Counters of the receipts of one (screen, playlist, media).
#[derive(Default)]
pub(super) struct Cand {
    pub(super) tally: Tally,
    langs: BTreeSet<String>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Cand {
    pub(super) fn add(&mut self, r: &Receipt, shown: bool) {
        self.tally.add(r);
        if !self.langs.contains(&r.lang) {
            self.langs.insert(r.lang.clone());
        }
        if shown {
            self.first = Some(self.first.map_or(r.started_at, |f| f.min(r.started_at)));
            self.last = Some(self.last.map_or(r.ended_at, |l| l.max(r.ended_at)));
        }
    }
}

/// The ticker texts of the bundle: per screen, per text id, the SHA-256 of each text.
#[derive(Default)]
pub(super) struct TickerIndex {
    /// screen -> id -> text sha256s.
    hashes: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// id -> (set issued_at, texts) of the newest set holding it.
    texts: BTreeMap<String, (Timestamp, Vec<TickerText>)>,
}

impl TickerIndex {
    /// Learns the texts of one ticker set.
    pub(super) fn add(&mut self, set: &TickerSet) {
        let screen = self.hashes.entry(set.screen.clone()).or_default();
        for item in &set.items {
            let hashes = screen.entry(item.id.clone()).or_default();
            for t in &item.text {
                hashes.insert(crate::hex::sha256_hex(t.text.as_bytes()));
            }
            let texts = item
                .text
                .iter()
                .map(|t| TickerText {
                    lang: t.lang.clone(),
                    text: t.text.clone(),
                })
                .collect();
            match self.texts.get(&item.id) {
                Some((at, _)) if *at > set.issued_at => {}
                _ => {
                    self.texts.insert(item.id.clone(), (set.issued_at, texts));
                }
            }
        }
    }

    /// Each ticker text's SHA-256 with `[lang] text` (for the media table).
    pub(super) fn media_titles(&self) -> Vec<(String, String)> {
        self.texts
            .values()
            .flat_map(|(_, texts)| texts)
            .map(|t| {
                (
                    crate::hex::sha256_hex(t.text.as_bytes()),
                    format!("[{}] {}", t.lang, t.text),
                )
            })
            .collect()
    }

    /// Whether `media` is a text of ticker item `id` on `screen`.
    pub(super) fn is_ticker(&self, screen: &str, id: &str, media: &str) -> bool {
        self.hashes
            .get(screen)
            .and_then(|s| s.get(id))
            .is_some_and(|h| h.contains(media))
    }
}

/// Non-alert receipts per screen, playlist and media, until they are sorted.
pub(super) type Cands = BTreeMap<String, BTreeMap<String, BTreeMap<String, Cand>>>;

/// The accumulator of `(screen, playlist, media)`, created on first use (no key allocation
/// per receipt once it exists).
pub(super) fn cand<'a>(c: &'a mut Cands, r: &Receipt) -> &'a mut Cand {
    fn slot<'m, V: Default>(m: &'m mut BTreeMap<String, V>, k: &str) -> &'m mut V {
        if !m.contains_key(k) {
            m.insert(k.to_string(), V::default());
        }
        m.get_mut(k).expect("inserted above")
    }
    let by_playlist = slot(c, &r.screen);
    let by_media = slot(by_playlist, &r.playlist);
    slot(by_media, &r.media)
}

/// Campaign tallies and shown plays per (campaign, gate), and the ticker rows, from the
/// accumulated receipts; `gate_of` gives a screen's gate.
pub(super) struct Sorted {
    pub(super) campaigns: BTreeMap<String, Tally>,
    pub(super) recorded: BTreeMap<(String, String), u64>,
    pub(super) tickers: Vec<TickerRow>,
}

#[derive(Default)]
struct TickerAcc {
    tally: Tally,
    gates: BTreeSet<String>,
    langs: BTreeSet<String>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// Sorts the accumulated receipts into campaigns and ticker texts.
pub(super) fn sort(cands: Cands, index: &TickerIndex, gate_of: impl Fn(&str) -> String) -> Sorted {
    let mut campaigns: BTreeMap<String, Tally> = BTreeMap::new();
    let mut recorded = BTreeMap::new();
    let mut tickers: BTreeMap<String, TickerAcc> = BTreeMap::new();
    for (screen, by_playlist) in cands {
        let gate = gate_of(&screen);
        for (playlist, by_media) in by_playlist {
            for (media, c) in by_media {
                if index.is_ticker(&screen, &playlist, &media) {
                    let t = tickers.entry(playlist.clone()).or_default();
                    t.tally.merge(&c.tally);
                    t.gates.insert(gate.clone());
                    t.langs.extend(c.langs);
                    t.first = t.first.into_iter().chain(c.first).min();
                    t.last = t.last.into_iter().chain(c.last).max();
                } else {
                    campaigns
                        .entry(playlist.clone())
                        .or_default()
                        .merge(&c.tally);
                    if c.tally.shown > 0 {
                        *recorded
                            .entry((playlist.clone(), gate.clone()))
                            .or_default() += c.tally.shown;
                    }
                }
            }
        }
    }
    let tickers = tickers
        .into_iter()
        .map(|(id, t)| TickerRow {
            text: index
                .texts
                .get(&id)
                .map(|(_, t)| t.clone())
                .unwrap_or_default(),
            id,
            gates: t.gates.into_iter().collect(),
            languages: t.langs.into_iter().collect(),
            first_shown: t.first.map(ts),
            last_shown: t.last.map(ts),
            tally: t.tally,
        })
        .collect();
    Sorted {
        campaigns,
        recorded,
        tickers,
    }
}

impl Tally {
    /// Adds the counters of `o`.
    pub(super) fn merge(&mut self, o: &Tally) {
        self.plays += o.plays;
        self.shown += o.shown;
        self.completed += o.completed;
        self.failed += o.failed;
        self.null_backend += o.null_backend;
        self.shown_ms += o.shown_ms;
    }
}
