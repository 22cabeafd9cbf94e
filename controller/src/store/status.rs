//! Screen status (last report, online/offline history) and the operator action log.

use super::{decode, encode, ActionRecord, Result, StatusRecord, StatusTransition, Store};

/// Online/offline transitions kept per screen: the newest this many (older ones are removed
/// when a new one is added; `docs/security.md` §3 row 49).
pub const HISTORY_CAP: usize = 1_000;

/// One page of a screen's history ([`Store::status_history_page`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// Transitions, oldest first.
    pub rows: Vec<StatusTransition>,
    /// The row id to pass as `after` for the next page, when more follow.
    pub next: Option<u64>,
}

fn history_key(screen: &str, id: u64) -> String {
    format!("{screen}/{id:020}")
}

fn history_id(key: &[u8]) -> Option<u64> {
    let slash = key.iter().rposition(|b| *b == b'/')?;
    std::str::from_utf8(&key[slash + 1..]).ok()?.parse().ok()
}

impl Store {
    // ---- status ----

    /// Last status of a screen.
    pub fn status(&self, screen: &str) -> Result<Option<StatusRecord>> {
        Self::get(&self.status, "status", screen)
    }

    /// Stores a status; appends a history entry when online/offline changed (keeping the
    /// newest [`HISTORY_CAP`] of the screen). Returns the previous status.
    pub async fn put_status(&self, s: &StatusRecord) -> Result<Option<StatusRecord>> {
        let prev: Option<StatusRecord> = self.status(&s.screen)?;
        self.status.insert(&s.screen, encode(s))?;
        if prev.as_ref().map(|p| p.online) != Some(s.online) {
            let id = self.db.generate_id()?;
            let t = StatusTransition {
                screen: s.screen.clone(),
                online: s.online,
                at: s.received_at.clone(),
            };
            self.history
                .insert(history_key(&s.screen, id), encode(&t))?;
            self.cap_history(&s.screen)?;
        }
        self.flush().await?;
        Ok(prev)
    }

    /// Removes the oldest transitions of `screen` beyond [`HISTORY_CAP`]. The rows store the
    /// state itself (not a flip), so the oldest row left still says what the state was.
    fn cap_history(&self, screen: &str) -> Result<()> {
        let keys = self
            .history
            .scan_prefix(format!("{screen}/"))
            .keys()
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if keys.len() > HISTORY_CAP {
            for k in &keys[..keys.len() - HISTORY_CAP] {
                self.history.remove(k)?;
            }
        }
        Ok(())
    }

    /// Up to `limit` transitions of `screen` after row id `after` (from the oldest without it),
    /// oldest first.
    pub fn status_history_page(
        &self,
        screen: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage> {
        let start = match after {
            Some(id) => history_key(screen, id.saturating_add(1)),
            None => format!("{screen}/"),
        };
        // `0` follows `/` in byte order: the end of the `screen/` prefix.
        let mut rows = Vec::new();
        let mut last = None;
        for kv in self
            .history
            .range(start.into_bytes()..format!("{screen}0").into_bytes())
        {
            let (k, v) = kv?;
            if rows.len() == limit {
                return Ok(HistoryPage { rows, next: last });
            }
            rows.push(decode("status history", &v)?);
            last = history_id(&k);
        }
        Ok(HistoryPage { rows, next: None })
    }

    /// The newest `n` transitions of `screen`, oldest first, and whether older ones exist.
    pub fn status_history_newest(
        &self,
        screen: &str,
        n: usize,
    ) -> Result<(Vec<StatusTransition>, bool)> {
        let mut it = self
            .history
            .scan_prefix(format!("{screen}/"))
            .values()
            .rev();
        let mut rows = Vec::new();
        for v in it.by_ref().take(n) {
            rows.push(decode("status history", &v?)?);
        }
        rows.reverse();
        Ok((rows, it.next().is_some()))
    }

    /// Online/offline history of a screen, oldest first.
    pub fn status_history(&self, screen: &str) -> Result<Vec<StatusTransition>> {
        self.history
            .scan_prefix(format!("{screen}/"))
            .values()
            .map(|v| decode("status history", &v?))
            .collect()
    }

    // ---- action log ----

    /// Appends to the action log (seq is assigned here).
    /// The record's exact stored JSON bytes are also appended to the Merkle log as an
    /// `action` leaf, in the same transaction.
    pub async fn log_action(&self, mut a: ActionRecord) -> Result<ActionRecord> {
        a.seq = self.db.generate_id()? + 1;
        self.append_action_leaf(&a)?;
        self.flush().await?;
        Ok(a)
    }

    /// The action log, oldest first.
    pub fn actions(&self) -> Result<Vec<ActionRecord>> {
        Self::all(&self.actions, "action")
    }
}
