//! The controller's own record of a report's screens (`docs/auditing.md` §10, "The controller's
//! record"): online time from the status heartbeats and Last Will it received
//! (`docs/protocol.md` §12), with the same dark-period rules as the compliance report
//! ([`crate::audit::reports::dark_periods`]). No screen signs these, and they are not in the
//! export bundle: the documents label them as the controller's record, and
//! `gatecast-audit report` neither prints nor checks them.

use std::time::Duration;

use jiff::Timestamp;
use playlists::report::{ControllerRecord, DarkPeriod, Figures, OnlineRow};

use crate::audit::reports::dark_periods;
use crate::store::{Store, StoreError};

/// What [`ControllerRecord::source`] says.
pub const SOURCE: &str = "controller record: status heartbeats and Last Will received by the \
     controller (docs/protocol.md §12); not signed by the screens, not in the export bundle";

/// The controller's record for the screens of `figures`, over each screen's counted span.
/// `now` and `stale_after` decide whether a silent screen counts as offline.
pub fn of(
    store: &Store,
    figures: &Figures,
    now: Timestamp,
    stale_after: Duration,
) -> Result<ControllerRecord, StoreError> {
    let mut screens = Vec::new();
    for s in &figures.screens {
        let (Ok(from), Ok(to)) = (
            s.counted_from.parse::<Timestamp>(),
            s.counted_to.parse::<Timestamp>(),
        ) else {
            continue;
        };
        let mut history = store.status_history(&s.screen)?;
        history.extend(store.silence_transition(&s.screen, now, stale_after)?);
        let dark = if to > from {
            dark_periods(&history, from, to)
        } else {
            Vec::new()
        };
        let sum = |reason: &str| -> u64 {
            dark.iter()
                .filter(|d| d.reason == reason)
                .map(|d| ms_between(&d.from, &d.to))
                .sum()
        };
        let (offline_ms, no_status_ms) = (sum("offline"), sum("no_status"));
        screens.push(OnlineRow {
            screen: s.screen.clone(),
            name: s.name.clone(),
            gate: s.gate.clone(),
            counted_ms: s.counted_ms,
            online_ms: s.counted_ms.saturating_sub(offline_ms + no_status_ms),
            offline_ms,
            no_status_ms,
            dark: dark
                .iter()
                .map(|d| DarkPeriod {
                    from: d.from.clone(),
                    to: d.to.clone(),
                    ms: ms_between(&d.from, &d.to),
                })
                .collect(),
        });
    }
    Ok(ControllerRecord {
        source: SOURCE.to_string(),
        screens,
    })
}

fn ms_between(a: &str, b: &str) -> u64 {
    match (a.parse::<Timestamp>(), b.parse::<Timestamp>()) {
        (Ok(a), Ok(b)) => u64::try_from(b.duration_since(a).as_millis()).unwrap_or(0),
        _ => 0,
    }
}
