//! The `null` backend: timing only.
//!
//! It "plays" an item by waiting for its nominal duration (the playlist item's or media's
//! `duration_ms`, else 10 s), divided by an optional speed-up factor so that tests and the
//! demo can run many plays quickly. A missing file fails the play, exactly like mpv would.
//! Alert texts are "shown" for their duration the same way.
//! Receipts from this backend carry `"backend": "null"` and never prove that anything was shown.

use std::time::{Duration, Instant};

use super::{Backend, BackendKind, Ended, Interrupt, PlayItem, PlayOutcome, TextItem};

/// Timing-only backend.
#[derive(Debug, Clone)]
pub struct NullBackend {
    speed: f64,
}

impl NullBackend {
    /// A null backend that waits each item's real duration.
    pub fn new() -> NullBackend {
        NullBackend { speed: 1.0 }
    }

    /// A null backend that waits `duration / speed` (speed > 1 is faster; values that are not
    /// finite and positive are treated as 1).
    pub fn with_speed(speed: f64) -> NullBackend {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        NullBackend { speed }
    }

    /// The speed-up factor in use.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// "Plays" for `nominal / speed`, or until `interrupt` fires.
    async fn wait(&self, nominal: Duration, interrupt: &mut Interrupt) -> PlayOutcome {
        let wait = Duration::from_secs_f64(nominal.as_secs_f64() / self.speed);
        let started_at = jiff::Timestamp::now();
        let t0 = Instant::now();
        let ended = tokio::select! {
            _ = tokio::time::sleep(wait) => Ended::Completed,
            _ = interrupt.fired() => Ended::Interrupted,
        };
        PlayOutcome::new(started_at, t0.elapsed(), ended)
    }
}

impl Default for NullBackend {
    fn default() -> Self {
        NullBackend::new()
    }
}

impl Backend for NullBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Null
    }

    async fn play(
        &mut self,
        item: &PlayItem,
        _next: Option<&PlayItem>,
        interrupt: &mut Interrupt,
    ) -> PlayOutcome {
        if let Err(e) = tokio::fs::metadata(&item.path).await {
            return PlayOutcome::failed_now(format!("cannot open {}: {e}", item.path.display()));
        }
        self.wait(item.nominal_duration(), interrupt).await
    }

    async fn show_text(&mut self, item: &TextItem, interrupt: &mut Interrupt) -> PlayOutcome {
        self.wait(item.duration, interrupt).await
    }

    async fn idle(&mut self) {}

    async fn shutdown(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ItemKind;

    fn item(path: std::path::PathBuf, ms: u64) -> PlayItem {
        PlayItem {
            path,
            sha256: "00".repeat(32),
            kind: ItemKind::Slide,
            duration: Some(Duration::from_millis(ms)),
            subtitle: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn completes_after_duration() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"x").unwrap();
        let mut b = NullBackend::with_speed(2.0);
        let out = b.play(&item(p, 4000), None, &mut Interrupt::never()).await;
        assert_eq!(out.ended, Ended::Completed);
        assert!(out.ended_at >= out.started_at);
    }

    #[tokio::test(start_paused = true)]
    async fn interrupt_stops_play() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"x").unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut intr = Interrupt::new(async move {
            let _ = rx.await;
        });
        tx.send(()).unwrap();
        let out = NullBackend::new()
            .play(&item(p, 3_600_000), None, &mut intr)
            .await;
        assert_eq!(out.ended, Ended::Interrupted);
        assert!(intr.has_fired());
    }

    #[tokio::test]
    async fn missing_file_fails() {
        let out = NullBackend::new()
            .play(
                &item("/nonexistent/gatecast".into(), 10),
                None,
                &mut Interrupt::never(),
            )
            .await;
        assert!(matches!(out.ended, Ended::Failed(ref r) if r.contains("/nonexistent/gatecast")));
    }

    #[tokio::test(start_paused = true)]
    async fn text_completes_after_its_duration() {
        let t = TextItem::new("Cửa khẩu tạm dừng", "vi", Duration::from_secs(8));
        assert_eq!(t.sha256, crate::backend::text_sha256("Cửa khẩu tạm dừng"));
        assert_eq!(t.sha256.len(), 64);
        let t0 = tokio::time::Instant::now();
        let out = NullBackend::with_speed(2.0)
            .show_text(&t, &mut Interrupt::never())
            .await;
        assert_eq!(out.ended, Ended::Completed);
        assert_eq!(t0.elapsed(), Duration::from_secs(4));
    }

    #[test]
    fn bad_speed_is_one() {
        assert_eq!(NullBackend::with_speed(0.0).speed(), 1.0);
        assert_eq!(NullBackend::with_speed(f64::NAN).speed(), 1.0);
        assert_eq!(NullBackend::with_speed(5.0).speed(), 5.0);
    }
}
