//! The playback loop: what to play now, from local state only.
//!
//! The scheduler reads the active program (verified manifest plus verified alert set) from a
//! watch channel that the agent updates, resolves what plays now with `playlists::schedule`
//! in the manifest's timezone (an active alert with media overrides everything), picks the
//! language variant, looks the media up in the local cache and hands it to the backend. It
//! never touches the network (LESSONS #2): a missing file is skipped with a `failed` play.
//!
//! Each finished play is handed to a sink (the agent journals it as a receipt) before the
//! next item starts. Plays are interrupted when the active alert appears, changes or ends,
//! when a new manifest becomes active, and at shutdown; a schedule boundary lets the current
//! item finish. If every item of the current selection fails in a row, the loop waits
//! (1 s, doubling up to 30 s, or until the program changes) so that broken media cannot flood
//! the journal with receipts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use playlists::manifest::{AlertSet, Manifest, MediaKind, MediaRef};
use playlists::schedule;
use tokio::sync::watch;

use crate::backend::{Backend, Interrupt, ItemKind, PlayItem, PlayOutcome};

/// What the screen must play: the active manifest and the current alert set.
#[derive(Debug, Clone)]
pub struct Program {
    /// The active (verified, fully cached) manifest.
    pub manifest: Arc<Manifest>,
    /// The current verified alert set, if any.
    pub alerts: Option<Arc<AlertSet>>,
}

/// One finished play, ready to become a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// Version of the manifest that was active.
    pub manifest_version: u64,
    /// Playlist id, or the alert id for an alert.
    pub playlist: String,
    /// Media sha256.
    pub media: String,
    /// Media language.
    pub lang: String,
    /// What happened.
    pub outcome: PlayOutcome,
}

/// Finds the verified cache file of a media sha256 (local lookup only).
pub type Lookup = Arc<dyn Fn(&str) -> Option<PathBuf> + Send + Sync>;

/// Receives each finished play (called before the next item starts).
pub type PlaySink = Box<dyn FnMut(Play) + Send>;

struct Choice {
    label: String,
    media: MediaRef,
    item_duration: Option<u64>,
    next: Option<(MediaRef, Option<u64>)>,
    alert_id: Option<String>,
    /// When the alert set may change by itself (an alert expires).
    alert_deadline: Option<Timestamp>,
    /// Position to advance after the play: (playlist id, index).
    advance: Option<(String, usize)>,
}

/// The playback loop.
pub struct Scheduler<B: Backend> {
    backend: B,
    program: watch::Receiver<Option<Program>>,
    lookup: Lookup,
    sink: PlaySink,
    current: watch::Sender<Option<String>>,
    positions: HashMap<String, usize>,
    rotations: HashMap<(String, usize), u64>,
}

impl<B: Backend> std::fmt::Debug for Scheduler<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("positions", &self.positions)
            .finish()
    }
}

fn play_item(media: &MediaRef, item_duration: Option<u64>, path: PathBuf) -> PlayItem {
    PlayItem {
        path,
        sha256: media.sha256.clone(),
        kind: match media.kind {
            MediaKind::Slide => ItemKind::Slide,
            MediaKind::Video | MediaKind::Clip => ItemKind::Video,
        },
        duration: item_duration
            .or(media.duration_ms)
            .map(Duration::from_millis),
    }
}

impl<B: Backend> Scheduler<B> {
    /// A scheduler over `backend`, following `program`, resolving files with `lookup`, giving
    /// plays to `sink` and the media on screen to `current`.
    pub fn new(
        backend: B,
        program: watch::Receiver<Option<Program>>,
        lookup: Lookup,
        sink: PlaySink,
        current: watch::Sender<Option<String>>,
    ) -> Scheduler<B> {
        Scheduler {
            backend,
            program,
            lookup,
            sink,
            current,
            positions: HashMap::new(),
            rotations: HashMap::new(),
        }
    }

    fn choose(&self, p: &Program, now: Timestamp) -> Choice {
        let m = &p.manifest;
        if let Some(alerts) = &p.alerts {
            let deadline = schedule::next_alert_change(alerts, now);
            if let Some(alert) = schedule::active_alert(alerts, now) {
                if let Some(media) = &alert.media {
                    return Choice {
                        label: alert.id.clone(),
                        media: media.clone(),
                        item_duration: None,
                        next: Some((media.clone(), None)),
                        alert_id: Some(alert.id.clone()),
                        alert_deadline: deadline,
                        advance: None,
                    };
                }
                // A text-only alert cannot be rendered by the backends yet; the schedule
                // keeps playing (logged once per play).
                tracing::debug!(alert = %alert.id, "text-only alert: not rendered by this backend");
            }
        }
        let active = schedule::active_playlist(m, now);
        let pl = active.playlist;
        let n = pl.items.len().max(1);
        let pos = self.positions.get(&pl.id).copied().unwrap_or(0) % n;
        let item = &pl.items[pos];
        let rot = self
            .rotations
            .get(&(pl.id.clone(), pos))
            .copied()
            .unwrap_or(0);
        let media = schedule::pick_variant(m, item, rot).clone();
        let npos = (pos + 1) % n;
        let nitem = &pl.items[npos];
        let nrot = self
            .rotations
            .get(&(pl.id.clone(), npos))
            .copied()
            .unwrap_or(0)
            + u64::from(npos == pos);
        let next = schedule::pick_variant(m, nitem, nrot).clone();
        Choice {
            label: pl.id.clone(),
            media,
            item_duration: item.duration_ms,
            next: Some((next, nitem.duration_ms)),
            alert_id: None,
            alert_deadline: None,
            advance: Some((pl.id.clone(), pos)),
        }
    }

    /// Runs until `shutdown` becomes true; then stops the backend.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut failures_in_row = 0usize;
        let mut pause = Duration::from_secs(1);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let program = self.program.borrow_and_update().clone();
            let Some(program) = program else {
                self.current.send_replace(None);
                tokio::select! {
                    r = self.program.changed() => if r.is_err() { break },
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            let now = Timestamp::now();
            let choice = self.choose(&program, now);
            let version = program.manifest.version;
            let selection_len = match &choice.advance {
                Some((id, _)) => program.manifest.playlist(id).map_or(1, |p| p.items.len()),
                None => 1,
            };

            let outcome = match (self.lookup)(&choice.media.sha256) {
                None => PlayOutcome::failed_now(format!(
                    "media {} is not in the cache",
                    choice.media.sha256
                )),
                Some(path) => {
                    let item = play_item(&choice.media, choice.item_duration, path);
                    let next = choice
                        .next
                        .as_ref()
                        .and_then(|(m, d)| (self.lookup)(&m.sha256).map(|p| play_item(m, *d, p)));
                    let mut interrupt = self.interrupt_for(&choice, version, &shutdown);
                    self.current.send_replace(Some(choice.media.sha256.clone()));
                    self.backend
                        .play(&item, next.as_ref(), &mut interrupt)
                        .await
                }
            };
            let failed = matches!(outcome.ended, crate::backend::Ended::Failed(_));
            if let crate::backend::Ended::Failed(why) = &outcome.ended {
                tracing::warn!(media = %choice.media.sha256, reason = %why, "play failed; skipped");
            }
            (self.sink)(Play {
                manifest_version: version,
                playlist: choice.label.clone(),
                media: choice.media.sha256.clone(),
                lang: choice.media.lang.clone(),
                outcome,
            });
            if let Some((id, pos)) = choice.advance {
                *self.rotations.entry((id.clone(), pos)).or_insert(0) += 1;
                self.positions.insert(id, pos + 1);
            }
            if failed {
                failures_in_row += 1;
                if failures_in_row >= selection_len {
                    failures_in_row = 0;
                    self.current.send_replace(None);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        r = self.program.changed() => if r.is_err() { break },
                        _ = shutdown.changed() => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            } else {
                failures_in_row = 0;
                pause = Duration::from_secs(1);
            }
        }
        self.current.send_replace(None);
        self.backend.shutdown().await;
    }

    /// An interrupt that fires when the manifest version or the active alert changes, when an
    /// alert expires, or at shutdown.
    fn interrupt_for(
        &self,
        choice: &Choice,
        version: u64,
        shutdown: &watch::Receiver<bool>,
    ) -> Interrupt {
        let mut program = self.program.clone();
        let mut shutdown = shutdown.clone();
        let alert_id = choice.alert_id.clone();
        let deadline = choice.alert_deadline;
        Interrupt::new(async move {
            let program_changed = async {
                loop {
                    if program.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    let p = program.borrow_and_update().clone();
                    let Some(p) = p else { return };
                    if p.manifest.version != version {
                        return;
                    }
                    let now = Timestamp::now();
                    let active = p.alerts.as_ref().and_then(|a| {
                        schedule::active_alert(a, now)
                            .filter(|al| al.media.is_some())
                            .map(|al| al.id.clone())
                    });
                    if active != alert_id {
                        return;
                    }
                }
            };
            let expiry = async {
                match deadline.and_then(|d| {
                    let left = d.duration_since(Timestamp::now());
                    Duration::try_from(left).ok()
                }) {
                    Some(left) => tokio::time::sleep(left).await,
                    None => std::future::pending().await,
                }
            };
            let stopping = async {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            tokio::select! {
                _ = program_changed => {}
                _ = expiry => {}
                _ = stopping => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::null::NullBackend;
    use crate::backend::Ended;
    use playlists::manifest::{Alert, AlertText, Playlist, PlaylistItem};
    use std::sync::Mutex;

    fn media(n: u8, kind: MediaKind, lang: &str) -> MediaRef {
        MediaRef {
            sha256: format!("{n:02x}").repeat(32),
            bytes: 1,
            mime: "image/png".into(),
            kind,
            lang: lang.into(),
            title: String::new(),
            duration_ms: Some(1000),
        }
    }

    fn manifest(media: Vec<MediaRef>, version: u64) -> Manifest {
        let items = media
            .iter()
            .map(|m| PlaylistItem {
                media: m.sha256.clone(),
                duration_ms: None,
                variants: vec![],
            })
            .collect();
        Manifest {
            screen: "s1".into(),
            version,
            issued_at: Timestamp::UNIX_EPOCH,
            expires_at: Timestamp::MAX,
            timezone: "Asia/Ho_Chi_Minh".into(),
            languages: vec![],
            media,
            playlists: vec![Playlist {
                id: "main".into(),
                name: String::new(),
                items,
            }],
            schedule: vec![],
            fallback: "main".into(),
        }
    }

    struct Rig {
        program: watch::Sender<Option<Program>>,
        plays: Arc<Mutex<Vec<Play>>>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
        _dir: tempfile::TempDir,
    }

    /// Starts a scheduler with the null backend at speed 1000 over files for `present`.
    fn rig(present: &[&MediaRef]) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut files = HashMap::new();
        for m in present {
            let p = dir.path().join(&m.sha256);
            std::fs::write(&p, b"x").unwrap();
            files.insert(m.sha256.clone(), p);
        }
        let lookup: Lookup = Arc::new(move |sha: &str| files.get(sha).cloned());
        let plays = Arc::new(Mutex::new(Vec::new()));
        let sink_plays = plays.clone();
        let sink: PlaySink = Box::new(move |p| sink_plays.lock().unwrap().push(p));
        let (program, program_rx) = watch::channel(None);
        let (current, _) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let s = Scheduler::new(
            NullBackend::with_speed(1000.0),
            program_rx,
            lookup,
            sink,
            current,
        );
        let task = tokio::spawn(s.run(stop_rx));
        Rig {
            program,
            plays,
            stop,
            task,
            _dir: dir,
        }
    }

    async fn wait_plays(r: &Rig, n: usize) -> Vec<Play> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            {
                let p = r.plays.lock().unwrap();
                if p.len() >= n {
                    return p.clone();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {} plays",
                r.plays.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn plays_in_order_and_skips_missing_with_failed() {
        let (a, b, c) = (
            media(1, MediaKind::Slide, "vi"),
            media(2, MediaKind::Video, "en"),
            media(3, MediaKind::Slide, "vi"),
        );
        let r = rig(&[&a, &c]);
        let m = manifest(vec![a.clone(), b.clone(), c.clone()], 7);
        r.program.send_replace(Some(Program {
            manifest: Arc::new(m),
            alerts: None,
        }));
        let plays = wait_plays(&r, 6).await;
        let order: Vec<&str> = plays.iter().map(|p| p.media.as_str()).collect();
        assert_eq!(
            &order[..6],
            &[&a.sha256, &b.sha256, &c.sha256, &a.sha256, &b.sha256, &c.sha256]
        );
        assert_eq!(plays[0].outcome.ended, Ended::Completed);
        assert!(
            matches!(plays[1].outcome.ended, Ended::Failed(ref w) if w.contains("not in the cache"))
        );
        assert!(plays
            .iter()
            .all(|p| p.manifest_version == 7 && p.playlist == "main"));
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }

    #[tokio::test]
    async fn alert_with_media_overrides_and_then_resumes() {
        let (a, al) = (
            media(1, MediaKind::Slide, "vi"),
            media(9, MediaKind::Slide, "en"),
        );
        let r = rig(&[&a, &al]);
        let m = Arc::new(manifest(vec![a.clone()], 1));
        r.program.send_replace(Some(Program {
            manifest: m.clone(),
            alerts: None,
        }));
        wait_plays(&r, 1).await;
        let alerts = AlertSet {
            screen: "s1".into(),
            version: 1,
            issued_at: Timestamp::UNIX_EPOCH,
            alerts: vec![Alert {
                id: "fire".into(),
                priority: 10,
                expires_at: Timestamp::MAX,
                text: vec![AlertText {
                    lang: "en".into(),
                    text: "Leave the hall".into(),
                }],
                media: Some(al.clone()),
            }],
        };
        r.program.send_replace(Some(Program {
            manifest: m.clone(),
            alerts: Some(Arc::new(alerts)),
        }));
        let n = r.plays.lock().unwrap().len();
        let plays = wait_plays(&r, n + 4).await;
        let after: Vec<&Play> = plays[n..].iter().filter(|p| p.media == al.sha256).collect();
        assert!(!after.is_empty(), "alert never played");
        assert!(after.iter().all(|p| p.playlist == "fire"));
        // Cancel: a new alert set without the alert; the schedule resumes.
        let empty = AlertSet {
            screen: "s1".into(),
            version: 2,
            issued_at: Timestamp::UNIX_EPOCH,
            alerts: vec![],
        };
        r.program.send_replace(Some(Program {
            manifest: m,
            alerts: Some(Arc::new(empty)),
        }));
        let n = r.plays.lock().unwrap().len();
        let plays = wait_plays(&r, n + 3).await;
        assert!(
            plays[n + 1..].iter().all(|p| p.media == a.sha256),
            "schedule did not resume"
        );
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }
}
