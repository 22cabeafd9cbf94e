//! Screen status (last report, online/offline history) and the operator action log.

use super::{decode, encode, ActionRecord, Result, StatusRecord, StatusTransition, Store};

impl Store {
    // ---- status ----

    /// Last status of a screen.
    pub fn status(&self, screen: &str) -> Result<Option<StatusRecord>> {
        Self::get(&self.status, "status", screen)
    }

    /// Stores a status; appends a history entry when online/offline changed. Returns the
    /// previous status.
    pub async fn put_status(&self, s: &StatusRecord) -> Result<Option<StatusRecord>> {
        let prev: Option<StatusRecord> = self.status(&s.screen)?;
        self.status.insert(&s.screen, encode(s))?;
        if prev.as_ref().map(|p| p.online) != Some(s.online) {
            let id = self.db.generate_id()?;
            let key = format!("{}/{:020}", s.screen, id);
            let t = StatusTransition {
                screen: s.screen.clone(),
                online: s.online,
                at: s.received_at.clone(),
            };
            self.history.insert(key, encode(&t))?;
        }
        self.flush().await?;
        Ok(prev)
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
