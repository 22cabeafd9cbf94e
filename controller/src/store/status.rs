//! Screen status (last report, online/offline history) and the operator action log.

use super::{decode, encode, ActionRecord, Result, StatusRecord, StatusTransition, Store};

impl Store {
    // ---- status ----

    /// Last status of a screen.
    pub fn status(&self, screen: &str) -> Result<Option<StatusRecord>> {
        Self::get(&self.status, "status", screen)
    }

    /// Stores a status; appends a history entry when online/offline changed. A screen whose
    /// previous status said online but is older than `stale_after` was silent (dark) since
    /// that status: an `offline` entry at its time is appended first
    /// ([`StatusRecord::silent_since`]). Returns the previous status.
    pub async fn put_status(
        &self,
        s: &StatusRecord,
        stale_after: std::time::Duration,
    ) -> Result<Option<StatusRecord>> {
        let prev: Option<StatusRecord> = self.status(&s.screen)?;
        let received = s.received_at.parse::<jiff::Timestamp>().ok();
        let silent = prev
            .as_ref()
            .zip(received)
            .and_then(|(p, now)| p.silent_since(now, stale_after));
        self.status.insert(&s.screen, encode(s))?;
        let mut was_online = prev.as_ref().map(|p| p.online);
        if let (Some(p), Some(_)) = (&prev, silent) {
            self.append_transition(&s.screen, false, &p.received_at)?;
            was_online = Some(false);
        }
        if was_online != Some(s.online) {
            self.append_transition(&s.screen, s.online, &s.received_at)?;
        }
        self.flush().await?;
        Ok(prev)
    }

    fn append_transition(&self, screen: &str, online: bool, at: &str) -> Result<()> {
        let id = self.db.generate_id()?;
        let t = StatusTransition {
            screen: screen.to_string(),
            online,
            at: at.to_string(),
        };
        self.history
            .insert(format!("{screen}/{id:020}"), encode(&t))?;
        Ok(())
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
            old.silent_since(now, stale),
            Some("2026-01-05T08:00:00Z".parse().unwrap())
        );
        assert!(!old.online_at(now, stale));
        let fresh = rec(true, "2026-01-05T08:00:01Z");
        assert_eq!(
            fresh.silent_since(now, stale),
            None,
            "exactly 90 s is not stale"
        );
        assert!(fresh.online_at(now, stale));
        assert_eq!(
            rec(false, "2026-01-05T08:00:00Z").silent_since(now, stale),
            None
        );
        assert!(!rec(false, "2026-01-05T08:00:30Z").online_at(now, stale));
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
