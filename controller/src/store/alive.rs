//! The controller's durable "alive" mark (`docs/protocol.md` §12): when the running controller
//! started listening and the last time it was known to be up (a tick every [`ALIVE_TICK`] and
//! one at a clean shutdown). A screen's silence is only evidence that it was dark while the
//! controller was listening: a silence that spans a controller outage counts from the restart.

use serde::{Deserialize, Serialize};

use super::{encode, Result, StatusRecord, Store};

/// How often the running controller records that it is up.
pub const ALIVE_TICK: std::time::Duration = std::time::Duration::from_secs(30);

/// `meta` key of the [`ControllerRun`] record.
const ALIVE_KEY: &str = "controller_alive";

/// One run of the controller: when it started listening and when it was last known up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControllerRun {
    /// When the run started (RFC 3339).
    pub started: String,
    /// The last alive mark of the run (RFC 3339).
    pub tick: String,
}

impl Store {
    /// The current (or, before [`Store::mark_started`], the last) controller run.
    pub fn controller_run(&self) -> Result<Option<ControllerRun>> {
        Self::get(&self.meta, "controller run", ALIVE_KEY)
    }

    /// Since when the controller has been listening for statuses without a break: the start of
    /// the current run (`None` before any run was recorded, e.g. in unit tests).
    pub fn listening_since(&self) -> Result<Option<jiff::Timestamp>> {
        Ok(self
            .controller_run()?
            .and_then(|r| r.started.parse::<jiff::Timestamp>().ok()))
    }

    /// Records that a controller run starts at `now`. The silences the previous run saw for
    /// longer than `stale_after` before it stopped are recorded first
    /// ([`Store::close_silences`]). Returns the previous run.
    pub async fn mark_started(
        &self,
        now: jiff::Timestamp,
        stale_after: std::time::Duration,
    ) -> Result<Option<ControllerRun>> {
        let prev = self.controller_run()?;
        if let Some(p) = &prev {
            self.close_silences(p, stale_after)?;
        }
        let run = ControllerRun {
            started: now.to_string(),
            tick: now.to_string(),
        };
        self.meta.insert(ALIVE_KEY, encode(&run))?;
        self.flush().await?;
        Ok(prev)
    }

    /// Records that the current run is still up at `now`.
    pub async fn tick_alive(&self, now: jiff::Timestamp) -> Result<()> {
        if let Some(mut run) = self.controller_run()? {
            run.tick = now.to_string();
            self.put(&self.meta, ALIVE_KEY, &run).await?;
        }
        Ok(())
    }

    /// Every screen whose last status said online but that was silent for longer than
    /// `stale_after` while the run `prev` listened (from the later of its last status and the
    /// run's start, until the run's last alive mark) was dark from that point: the `offline`
    /// transition is appended and its status marked offline, so the next run does not count
    /// that silence from its own start only.
    fn close_silences(&self, prev: &ControllerRun, stale_after: std::time::Duration) -> Result<()> {
        let (Ok(started), Ok(tick)) = (
            prev.started.parse::<jiff::Timestamp>(),
            prev.tick.parse::<jiff::Timestamp>(),
        ) else {
            return Ok(());
        };
        let statuses: Vec<StatusRecord> = Self::all(&self.status, "status")?;
        for mut st in statuses {
            if let Some(since) = st.silent_since(tick, stale_after, Some(started)) {
                self.append_transition(&st.screen, false, &since.to_string())?;
                st.online = false;
                self.status.insert(st.screen.as_bytes(), encode(&st))?;
                self.screen_changed(&st.screen);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const STALE: Duration = Duration::from_secs(90);

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn rec(online: bool, at: &str) -> StatusRecord {
        StatusRecord {
            screen: "lc-a1".into(),
            status: serde_json::json!({}),
            received_at: at.into(),
            online,
        }
    }

    fn history(store: &Store) -> Vec<(bool, String)> {
        store
            .status_history("lc-a1")
            .unwrap()
            .into_iter()
            .map(|t| (t.online, t.at))
            .collect()
    }

    /// A store whose controller ran from 07:00, heard the screen online at 08:00, ticked alive
    /// last at `last_tick` and started again at `restart`.
    async fn outage(last_tick: &str, restart: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        store
            .mark_started(ts("2026-01-05T07:00:00Z"), STALE)
            .await
            .unwrap();
        store
            .put_status(&rec(true, "2026-01-05T08:00:00Z"), STALE)
            .await
            .unwrap();
        store.tick_alive(ts(last_tick)).await.unwrap();
        store.mark_started(ts(restart), STALE).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn attack_controller_outage_is_not_screen_dark_time() {
        // The controller stops 10 s after the screen's status and is back 10 minutes after; the
        // screen reports 20 s after the restart.
        let (_dir, store) = outage("2026-01-05T08:00:10Z", "2026-01-05T08:10:00Z").await;
        let st = store.status("lc-a1").unwrap().unwrap();
        assert_eq!(
            store
                .silent_since(&st, ts("2026-01-05T08:11:00Z"), STALE)
                .unwrap(),
            None,
            "60 s after the restart the screen is not silent yet"
        );
        store
            .put_status(&rec(true, "2026-01-05T08:10:20Z"), STALE)
            .await
            .unwrap();
        assert_eq!(
            history(&store),
            vec![(true, "2026-01-05T08:00:00Z".to_string())],
            "the outage is no dark time"
        );
    }

    #[tokio::test]
    async fn a_screen_silent_after_the_restart_is_dark_from_the_restart() {
        let (_dir, store) = outage("2026-01-05T08:00:10Z", "2026-01-05T08:10:00Z").await;
        let now = ts("2026-01-05T08:12:00Z");
        assert_eq!(
            store.silence_transition("lc-a1", now, STALE).unwrap(),
            Some(crate::store::StatusTransition {
                screen: "lc-a1".into(),
                online: false,
                at: "2026-01-05T08:10:00Z".into(),
            })
        );
        store
            .put_status(&rec(true, "2026-01-05T08:20:00Z"), STALE)
            .await
            .unwrap();
        assert_eq!(
            history(&store),
            vec![
                (true, "2026-01-05T08:00:00Z".to_string()),
                (false, "2026-01-05T08:10:00Z".to_string()),
                (true, "2026-01-05T08:20:00Z".to_string()),
            ],
            "dark from the restart until it reported again"
        );
    }

    #[tokio::test]
    async fn a_silence_seen_before_the_outage_is_dark_from_its_last_status() {
        // The controller listened for 30 minutes of silence, then went down.
        let (_dir, store) = outage("2026-01-05T08:30:00Z", "2026-01-05T09:00:00Z").await;
        let st = store.status("lc-a1").unwrap().unwrap();
        assert!(!st.online, "the restart recorded it offline");
        assert_eq!(st.received_at, "2026-01-05T08:00:00Z", "its status is kept");
        store
            .put_status(&rec(true, "2026-01-05T09:00:05Z"), STALE)
            .await
            .unwrap();
        assert_eq!(
            history(&store),
            vec![
                (true, "2026-01-05T08:00:00Z".to_string()),
                (false, "2026-01-05T08:00:00Z".to_string()),
                (true, "2026-01-05T09:00:05Z".to_string()),
            ],
            "dark from its last status (seen silent while listening) until it reported"
        );
    }
}
