//! The store-backed evidence of the audit queries: receipts read through the time index with
//! the screens and media they name, and the compliance report computed from the store. The
//! HTTP handlers that call these live in `api::audit`.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use playlists::envelope::{self, MANIFEST_TYPE};
use playlists::keys::PublicKey;
use playlists::manifest::Manifest;
use playlists::receipt::Receipt;

use super::query::{self, ReceiptFilter, ReceiptRow};
use super::reports::{self, ComplianceReport, EpochEvidence, ScreenEvidence};
use crate::store::{
    chain_key, AlertRecord, MediaRecord, ScreenRecord, Store, StoreError, StoredReceipt,
};

/// What the controller knows about screens and media, looked up once per request.
pub struct Lookup<'a> {
    store: &'a Store,
    /// Screens by id, read as receipts name them (`None`: not registered). Interior
    /// mutability because the scan's filter asks for gates through a shared borrow.
    screens: std::cell::RefCell<HashMap<String, Option<ScreenRecord>>>,
    media: HashMap<String, Option<MediaRecord>>,
    /// Alerts by id, read on the first alert play (`alert:<id>` receipts).
    alerts: Option<HashMap<String, AlertRecord>>,
}

impl<'a> Lookup<'a> {
    /// A lookup that reads each screen and medium once, when a receipt first names it (a page
    /// of receipts names a few screens of a fleet of thousands).
    pub fn new(store: &'a Store) -> Result<Lookup<'a>, StoreError> {
        Ok(Lookup {
            store,
            screens: Default::default(),
            media: HashMap::new(),
            alerts: None,
        })
    }

    /// Calls `f` with the record of `screen` (read on first use; `None` if unknown).
    fn with_screen<T>(
        &self,
        screen: &str,
        f: impl FnOnce(Option<&ScreenRecord>) -> T,
    ) -> Result<T, StoreError> {
        let mut screens = self.screens.borrow_mut();
        if !screens.contains_key(screen) {
            let record = self.store.screen(screen)?;
            screens.insert(screen.to_owned(), record);
        }
        Ok(f(screens.get(screen).and_then(Option::as_ref)))
    }

    /// The gate `screen` stands at, if the screen is known.
    pub fn gate(&self, screen: &str) -> Result<Option<String>, StoreError> {
        self.with_screen(screen, |s| s.map(|s| s.gate.clone()))
    }

    /// The output row of a receipt, with its screen's and media's details.
    pub fn row(&mut self, r: &Receipt) -> Result<ReceiptRow, StoreError> {
        if !self.media.contains_key(&r.media) {
            let m = self.store.media(&r.media)?;
            self.media.insert(r.media.clone(), m);
        }
        let media = self.media.get(&r.media).and_then(Option::as_ref);
        let mut row = self.with_screen(&r.screen, |s| ReceiptRow::new(r, s, media))?;
        // An alert's text is no library item: the row names the alert by its title (its first
        // line in the language played) and says it was an alert.
        if let (None, Some(id)) = (media, r.playlist.strip_prefix("alert:")) {
            if self.alerts.is_none() {
                let all = self.store.alerts()?;
                self.alerts = Some(all.into_iter().map(|a| (a.id.clone(), a)).collect());
            }
            if let Some(a) = self.alerts.as_ref().and_then(|m| m.get(id)) {
                row.media_title = a.title(Some(&r.lang));
                row.kind = "alert".to_string();
            }
        }
        Ok(row)
    }
}

/// Every receipt stored when the Merkle log had `snapshot` leaves that matches `filter`, with
/// key after `cursor`, in index order, lazily (see `Store::receipts_between_upto`: a consistent
/// view, no gaps from late uploads landing behind the scan).
pub fn scan<'a>(
    store: &'a Store,
    filter: &'a ReceiptFilter,
    lookup: &'a Lookup<'_>,
    cursor: Option<&query::Cursor>,
    snapshot: u64,
) -> impl Iterator<Item = Result<StoredReceipt, StoreError>> + 'a {
    let mut start = filter.from.unwrap_or(Timestamp::MIN);
    if let Some(c) = cursor {
        start = start.max(c.instant());
    }
    let end = filter.to.unwrap_or(Timestamp::MAX);
    store
        .receipts_between_upto(start, end, snapshot)
        .filter_map(move |r| {
            let s = match r {
                Ok(s) => s,
                Err(e) => return Some(Err(e)),
            };
            // The gate is read only when the filter names gates.
            let gate = if filter.gates.is_empty() {
                None
            } else {
                match lookup.gate(&s.receipt.screen) {
                    Ok(g) => g,
                    Err(e) => return Some(Err(e)),
                }
            };
            filter.matches(&s.receipt, gate.as_deref()).then_some(Ok(s))
        })
}

/// The verified manifests of a screen's history (those that do not verify under `key` are
/// logged and left out).
fn manifests_of(store: &Store, key: &PublicKey, screen: &str) -> Result<Vec<Manifest>, StoreError> {
    let mut out = Vec::new();
    for m in store.manifest_history(screen)? {
        let parsed = envelope::verify_with_key(m.envelope.as_bytes(), MANIFEST_TYPE, key)
            .map_err(|e| e.to_string())
            .and_then(|v| Manifest::from_json(&v.payload).map_err(|e| e.to_string()))
            .and_then(|man| man.validate().map(|_| man).map_err(|e| e.to_string()));
        match parsed {
            Ok(man) => out.push(man),
            Err(e) => tracing::warn!(
                "compliance report: stored manifest {screen}@{} does not verify, left out: {e}",
                m.version
            ),
        }
    }
    Ok(out)
}

/// When a compliance report is made, and how old a screen's last status may be before the
/// screen counts as offline (the controller's `status_stale_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportClock {
    /// Now: the report covers nothing after it. A parameter so tests can inject the clock.
    pub now: Timestamp,
    /// A screen whose last status said online but that was silent for longer than this at
    /// `now` while the controller listened is counted dark from the start of that silence
    /// ([`crate::store::Store::silence_transition`]).
    pub status_stale_after: std::time::Duration,
}

/// A receipt with its exact bytes.
type ExactReceipt = (Receipt, Vec<u8>);

/// Computes the compliance report from the store for `[from, min(to, now))`, for the screens
/// named in `screens` / standing at `gates` (empty: all). `controller_key` verifies the stored
/// manifests.
pub fn compliance_from_store(
    store: &Store,
    controller_key: &PublicKey,
    from: Timestamp,
    to: Timestamp,
    clock: ReportClock,
    screens: &[String],
    gates: &[String],
) -> Result<ComplianceReport, StoreError> {
    let now = clock.now;
    let end = to.min(now).max(from);
    let mut chosen: Vec<ScreenRecord> = store
        .screens()?
        .into_iter()
        .filter(|s| screens.is_empty() || screens.contains(&s.id))
        .filter(|s| gates.is_empty() || gates.contains(&s.gate))
        .collect();
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    let mut by_screen: HashMap<String, BTreeMap<u64, Vec<ExactReceipt>>> = HashMap::new();
    for r in store.receipts_between(from, end) {
        let r = r?;
        if chosen.iter().any(|s| s.id == r.receipt.screen) {
            by_screen
                .entry(r.receipt.screen.clone())
                .or_default()
                .entry(r.epoch)
                .or_default()
                .push((r.receipt, r.bytes));
        }
    }
    let conflicts = store.receipt_conflicts()?;
    let mut evidence = Vec::new();
    for s in chosen {
        let mut chains = Vec::new();
        for (epoch, receipts) in by_screen.remove(&s.id).unwrap_or_default() {
            let first = receipts.iter().map(|(r, _)| r.seq).min();
            let before_first = match first {
                Some(seq) if seq > 1 => store
                    .receipt(&chain_key(&s.id, epoch), seq - 1)?
                    .map(|r| r.bytes),
                _ => None,
            };
            chains.push(EpochEvidence {
                epoch,
                receipts,
                before_first,
            });
        }
        let mut history = store.status_history(&s.id)?;
        // Silent since its last status or the controller's restart (died unheard, e.g. while
        // the controller was down): dark from then on, although no status said so.
        history.extend(store.silence_transition(&s.id, now, clock.status_stale_after)?);
        evidence.push(ScreenEvidence {
            manifests: manifests_of(store, controller_key, &s.id)?,
            history,
            // Every conflicting batch received: the kept ones and those only counted.
            conflicts: conflicts
                .iter()
                .filter(|c| c.screen == s.id)
                .map(|c| 1 + c.repeats)
                .sum(),
            chains,
            screen: s,
        });
    }
    Ok(reports::compliance_report(&evidence, from, to, now))
}
