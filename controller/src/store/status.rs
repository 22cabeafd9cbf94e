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
    /// newest [`HISTORY_CAP`] of the screen). A screen whose previous status said online but
    /// that was silent for longer than `stale_after` while the controller listened was dark
    /// since the silence began: an `offline` entry at that time is appended first
    /// ([`StatusRecord::silent_since`]; a silence across a controller restart counts from the
    /// restart). Returns the previous status.
    pub async fn put_status(
        &self,
        s: &StatusRecord,
        stale_after: std::time::Duration,
    ) -> Result<Option<StatusRecord>> {
        let prev: Option<StatusRecord> = self.status(&s.screen)?;
        let received = s.received_at.parse::<jiff::Timestamp>().ok();
        let silent = match (&prev, received) {
            (Some(p), Some(now)) => self.silent_since(p, now, stale_after)?,
            _ => None,
        };
        self.status.insert(&s.screen, encode(s))?;
        self.screen_changed(&s.screen);
        let mut was_online = prev.as_ref().map(|p| p.online);
        if let Some(since) = silent {
            self.append_transition(&s.screen, false, &since.to_string())?;
            was_online = Some(false);
        }
        if was_online != Some(s.online) {
            self.append_transition(&s.screen, s.online, &s.received_at)?;
        }
        self.flush().await?;
        Ok(prev)
    }

    /// When `status` (a screen's last status) went silent as of `now`
    /// ([`StatusRecord::silent_since`] with the start of the controller's current run).
    pub fn silent_since(
        &self,
        status: &StatusRecord,
        now: jiff::Timestamp,
        stale_after: std::time::Duration,
    ) -> Result<Option<jiff::Timestamp>> {
        // Not silent counting from its last status: not silent counting from a later restart
        // either, and the run record need not be read (the usual case, on every status).
        if status.silent_since(now, stale_after, None).is_none() {
            return Ok(None);
        }
        Ok(status.silent_since(now, stale_after, self.listening_since()?))
    }

    /// The `offline` transition no status recorded yet of a screen that is silent at `now`
    /// (its last status said online, [`Store::silent_since`]): what its history ends with as of
    /// `now`, appended in memory by the compliance report and the screens API alike.
    pub fn silence_transition(
        &self,
        screen: &str,
        now: jiff::Timestamp,
        stale_after: std::time::Duration,
    ) -> Result<Option<StatusTransition>> {
        let Some(st) = self.status(screen)? else {
            return Ok(None);
        };
        Ok(self
            .silent_since(&st, now, stale_after)?
            .map(|since| StatusTransition {
                screen: screen.to_string(),
                online: false,
                at: since.to_string(),
            }))
    }

    pub(super) fn append_transition(&self, screen: &str, online: bool, at: &str) -> Result<()> {
        let id = self.db.generate_id()?;
        let t = StatusTransition {
            screen: screen.to_string(),
            online,
            at: at.to_string(),
        };
        self.history.insert(history_key(screen, id), encode(&t))?;
        self.cap_history(screen)
    }

    /// Removes the oldest transitions of `screen` beyond [`HISTORY_CAP`]. The rows store the
    /// state itself (not a flip), so the oldest row left still says what the state was.
    fn cap_history(&self, screen: &str) -> Result<()> {
        let prefix = format!("{screen}/");
        for k in self
            .history
            .scan_prefix(prefix)
            .keys()
            .rev()
            .skip(HISTORY_CAP)
        {
            self.history.remove(k?)?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rec(online: bool, at: &str) -> StatusRecord {
        StatusRecord {
            screen: "lc-a1".into(),
            status: serde_json::json!({}),
            received_at: at.into(),
            online,
        }
    }

    #[test]
    fn a_status_older_than_the_heartbeat_age_is_silent() {
        let stale = Duration::from_secs(90);
        let now: jiff::Timestamp = "2026-01-05T08:01:31Z".parse().unwrap();
        let old = rec(true, "2026-01-05T08:00:00Z");
        assert_eq!(
            old.silent_since(now, stale, None),
            Some("2026-01-05T08:00:00Z".parse().unwrap())
        );
        assert!(!old.online_at(now, stale, None));
        let fresh = rec(true, "2026-01-05T08:00:01Z");
        assert_eq!(
            fresh.silent_since(now, stale, None),
            None,
            "exactly 90 s is not stale"
        );
        assert!(fresh.online_at(now, stale, None));
        assert_eq!(
            rec(false, "2026-01-05T08:00:00Z").silent_since(now, stale, None),
            None
        );
        assert!(!rec(false, "2026-01-05T08:00:30Z").online_at(now, stale, None));
    }

    #[tokio::test]
    async fn a_silence_between_two_statuses_is_recorded_as_offline() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let stale = Duration::from_secs(90);
        for at in [
            "2026-01-05T08:00:00Z",
            "2026-01-05T08:00:30Z",
            "2026-01-05T08:10:00Z",
        ] {
            store.put_status(&rec(true, at), stale).await.unwrap();
        }
        let h: Vec<(bool, String)> = store
            .status_history("lc-a1")
            .unwrap()
            .into_iter()
            .map(|t| (t.online, t.at))
            .collect();
        assert_eq!(
            h,
            vec![
                (true, "2026-01-05T08:00:00Z".to_string()),
                (false, "2026-01-05T08:00:30Z".to_string()),
                (true, "2026-01-05T08:10:00Z".to_string()),
            ],
            "dark from the last heartbeat before the silence until the next status"
        );
    }
}
