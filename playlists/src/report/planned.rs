//! What the schedule called for: the active playlist of every instant of a span from the
//! manifests that governed a screen, and the item starts that fit in it
//! (`docs/auditing.md` §10, "Planned plays"). The controller's compliance report and the period
//! report both compute planned plays here, so they cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::ComplianceRow;
use crate::manifest::{Manifest, Playlist};

/// One contiguous interval in which one schedule entry (or the fallback) was active.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Start (inclusive).
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// Version of the manifest that governed it.
    pub version: u64,
    /// The schedule entry (`None`: the fallback playlist).
    pub entry: Option<String>,
    /// The active playlist.
    pub playlist: String,
    /// Item durations of the playlist in ms (`None` if one is unknown).
    pub items_ms: Option<Vec<u64>>,
}

impl Span {
    /// Its length in milliseconds.
    pub fn len_ms(&self) -> i64 {
        self.to.as_millisecond() - self.from.as_millisecond()
    }

    /// The item starts of its playlist that fall inside it (`None`: an item has no known
    /// duration).
    pub fn planned(&self) -> Option<u64> {
        self.items_ms
            .as_ref()
            .map(|items| expected_starts(self.len_ms(), items))
    }
}

/// The duration of each item of `p`: its `duration_ms`, else its media's natural
/// `duration_ms` (`None` if one of them has neither).
pub fn item_durations(m: &Manifest, p: &Playlist) -> Option<Vec<u64>> {
    p.items
        .iter()
        .map(|i| {
            i.duration_ms
                .or_else(|| m.media_by_hash(&i.media).and_then(|r| r.duration_ms))
                .filter(|d| *d > 0)
        })
        .collect()
}

/// The active spans of `[from, to)` from a version-ordered manifest list: each manifest
/// governs from its `issued_at` until the next one's; before the first nothing is planned.
pub fn spans(manifests: &[Manifest], from: Timestamp, to: Timestamp) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        let start = m.issued_at.max(from);
        let end = manifests
            .get(i + 1)
            .map(|n| n.issued_at)
            .unwrap_or(to)
            .min(to);
        let mut t = start;
        let mut first_of_manifest = true;
        while t < end {
            let active = crate::schedule::active_playlist(m, t);
            let next = crate::schedule::next_change(m, t)
                .filter(|n| *n < end)
                .unwrap_or(end);
            let entry = active.entry.map(|e| e.id.clone());
            match out.last_mut() {
                // Same entry continues across a change point that changed nothing.
                Some(last)
                    if !first_of_manifest
                        && last.to == t
                        && last.entry == entry
                        && last.playlist == active.playlist.id =>
                {
                    last.to = next
                }
                _ => out.push(Span {
                    from: t,
                    to: next,
                    version: m.version,
                    entry,
                    playlist: active.playlist.id.clone(),
                    items_ms: item_durations(m, active.playlist),
                }),
            }
            first_of_manifest = false;
            t = next;
        }
    }
    out
}

/// Item starts that fall in an interval of `len_ms` when cycling through `items_ms` from the
/// first item: `floor(T / C) × n` plus the items whose start offset within the cycle is below
/// `T mod C`.
pub fn expected_starts(len_ms: i64, items_ms: &[u64]) -> u64 {
    let cycle: u64 = items_ms.iter().sum();
    if len_ms <= 0 || cycle == 0 {
        return 0;
    }
    let len = len_ms as u64;
    let full = len / cycle;
    let rem = len % cycle;
    let mut offset = 0u64;
    let mut partial = 0u64;
    for d in items_ms {
        if offset < rem {
            partial += 1;
        }
        offset += d;
    }
    full * items_ms.len() as u64 + partial
}

/// Titles of media and names of playlists, from the manifests (the newest manifest naming one
/// wins; empty titles are skipped).
#[derive(Debug, Default)]
pub struct Titles {
    /// Media title by SHA-256.
    pub media: BTreeMap<String, String>,
    /// Playlist name by id.
    pub playlists: BTreeMap<String, String>,
}

impl Titles {
    /// The titles of `manifests` (any order).
    pub fn of<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Titles {
        let mut all: Vec<&Manifest> = manifests.into_iter().collect();
        all.sort_by_key(|m| (m.issued_at, m.version));
        let mut t = Titles::default();
        for m in all {
            for r in m.media.iter().filter(|r| !r.title.is_empty()) {
                t.media.insert(r.sha256.clone(), r.title.clone());
            }
            for p in m.playlists.iter().filter(|p| !p.name.is_empty()) {
                t.playlists.insert(p.id.clone(), p.name.clone());
            }
        }
        t
    }
}

/// Planned versus recorded plays per campaign and gate (`super` module docs, "Planned plays"):
/// `screens` gives each reported screen's gate, id and counted span; `manifests` the bundle's
/// manifests per screen; `recorded` the shown plays per (campaign, gate).
pub fn compliance<'a>(
    screens: impl IntoIterator<Item = (&'a str, &'a str, Timestamp, Timestamp)>,
    manifests: &BTreeMap<String, Vec<Manifest>>,
    recorded: &BTreeMap<(String, String), u64>,
    titles: &Titles,
) -> Vec<ComplianceRow> {
    // (campaign, gate) -> (planned, planned_ms)
    let mut planned: BTreeMap<(String, String), (Option<u64>, u64)> = BTreeMap::new();
    let mut gates_with_manifests = BTreeSet::new();
    for (gate, screen, from, to) in screens {
        let Some(list) = manifests.get(screen) else {
            continue;
        };
        gates_with_manifests.insert(gate.to_string());
        let mut list: Vec<Manifest> = list.clone();
        list.sort_by_key(|m| m.version);
        for s in spans(&list, from, to) {
            let e = planned
                .entry((s.playlist.clone(), gate.to_string()))
                .or_insert((Some(0), 0));
            e.0 = e.0.zip(s.planned()).map(|(a, b)| a + b);
            e.1 += u64::try_from(s.len_ms()).unwrap_or(0);
        }
    }
    let keys: BTreeSet<&(String, String)> = planned.keys().chain(recorded.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let (campaign, gate) = key;
            let (p, planned_ms) = planned
                .get(key)
                .copied()
                .unwrap_or((gates_with_manifests.contains(gate).then_some(0), 0));
            let recorded = recorded.get(key).copied().unwrap_or(0);
            ComplianceRow {
                campaign: campaign.clone(),
                title: titles.playlists.get(campaign).cloned().unwrap_or_default(),
                gate: gate.clone(),
                planned: p,
                planned_ms,
                recorded,
                compliance_bp: p.filter(|p| *p > 0).map(|p| recorded.min(p) * 10_000 / p),
            }
        })
        .collect()
}
