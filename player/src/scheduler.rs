//! The playback loop: what to play now, from local state only.
//!
//! The scheduler reads the active program (verified manifest plus verified alert set) from a
//! watch channel that the agent updates, resolves what plays now with `playlists::schedule`
//! in the manifest's timezone (an active alert overrides everything), picks the language
//! variant, looks the media up in the local cache and hands it to the backend. It never
//! touches the network (playback never waits on a download): a missing file is skipped with a `failed` play.
//!
//! An active alert plays whatever it carries, also when no manifest is active: its text, one
//! language at a time for the alert-text duration each ([`alert_texts`] gives the order), with
//! its image media (kind `slide`) drawn above the text; a video or clip media (or a slide of an
//! alert without text) plays as its own turn, repeated until the alert ends. Every alert play
//! is recorded with the playlist [`alert_label`] (`alert:<id>`); a text play has `media` =
//! SHA-256 of the exact UTF-8 bytes of the text shown and `lang` = its language (the image shown
//! with it gets no receipt of its own, `docs/protocol.md` §13), and `manifest_version` is 0
//! while no manifest is active.
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
use playlists::manifest::{Alert, AlertSet, AlertText, Manifest, MediaKind, MediaRef, SubtitleRef};
use playlists::schedule;
use tokio::sync::watch;

use crate::backend::{Backend, Interrupt, ItemKind, PlayItem, PlayOutcome, TextImage, TextItem};

/// How long each language of an alert text is shown by default.
pub const DEFAULT_ALERT_TEXT_DURATION: Duration = Duration::from_secs(8);

/// Longest receipt `playlist` label, in bytes.
const MAX_LABEL_LEN: usize = 128;

/// What the screen must play: the active manifest (if any) and the current alert set.
#[derive(Debug, Clone)]
pub struct Program {
    /// The active (verified, fully cached) manifest, if one is active.
    pub manifest: Option<Arc<Manifest>>,
    /// The current verified alert set, if any.
    pub alerts: Option<Arc<AlertSet>>,
}

/// One finished play, ready to become a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// Version of the manifest that was active (0 if none was).
    pub manifest_version: u64,
    /// Playlist id, or [`alert_label`] for an alert.
    pub playlist: String,
    /// Media sha256, or for an alert text the SHA-256 of its exact UTF-8 bytes.
    pub media: String,
    /// Media (or alert text) language.
    pub lang: String,
    /// The language of the subtitle track shown with it (`docs/protocol.md` §21), if any.
    pub subtitle_lang: Option<String>,
    /// What happened.
    pub outcome: PlayOutcome,
}

/// Finds the verified cache file of a media sha256 (local lookup only).
pub type Lookup = Arc<dyn Fn(&str) -> Option<PathBuf> + Send + Sync>;

/// Receives each finished play (called before the next item starts).
pub type PlaySink = Box<dyn FnMut(Play) + Send>;

/// The receipt `playlist` of an alert play: `alert:<id>`, cut to 128 bytes.
pub fn alert_label(id: &str) -> String {
    let mut label = format!("alert:{id}");
    while label.len() > MAX_LABEL_LEN {
        label.pop();
    }
    label
}

/// The order in which an alert's texts are shown: first the texts in `languages` (the active
/// manifest's `languages`, matched ASCII case-insensitively) in that order, then the alert's
/// other texts in their own order. So with no manifest (or no `languages`) the alert's order.
pub fn alert_texts<'a>(alert: &'a Alert, languages: &[String]) -> Vec<&'a AlertText> {
    let mut out: Vec<&AlertText> = Vec::with_capacity(alert.text.len());
    let wanted = languages
        .iter()
        .filter_map(|l| alert.text.iter().find(|t| t.lang.eq_ignore_ascii_case(l)));
    for t in wanted.chain(alert.text.iter()) {
        if !out.iter().any(|o| std::ptr::eq(*o, t)) {
            out.push(t);
        }
    }
    out
}

// One short-lived value per play: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum What {
    Media {
        media: MediaRef,
        item_duration: Option<u64>,
        /// The subtitle track in the language in turn (`docs/protocol.md` §21).
        subtitle: Option<SubtitleRef>,
        next: Option<(MediaRef, Option<u64>, Option<SubtitleRef>)>,
    },
    Text {
        text: String,
        lang: String,
        /// The alert's image media, drawn above the text.
        image: Option<MediaRef>,
    },
}

struct Choice {
    label: String,
    what: What,
    /// The active alert this play shows, if any.
    alert: Option<Alert>,
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
    /// How often each alert's text was shown (for the language rotation).
    text_turns: HashMap<String, u64>,
    alert_text_duration: Duration,
}

impl<B: Backend> std::fmt::Debug for Scheduler<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("positions", &self.positions)
            .finish()
    }
}

fn play_item(
    media: &MediaRef,
    item_duration: Option<u64>,
    path: PathBuf,
    subtitle: Option<PathBuf>,
) -> PlayItem {
    PlayItem {
        subtitle,
        path,
        sha256: media.sha256.clone(),
        kind: match media.kind {
            MediaKind::Slide => ItemKind::Slide,
            MediaKind::Clip if media.mime.starts_with("audio/") => ItemKind::Audio,
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
            text_turns: HashMap::new(),
            alert_text_duration: DEFAULT_ALERT_TEXT_DURATION,
        }
    }

    /// Shows each language of an alert text for `d` (default [`DEFAULT_ALERT_TEXT_DURATION`]).
    pub fn with_alert_text_duration(mut self, d: Duration) -> Scheduler<B> {
        self.alert_text_duration = d;
        self
    }

    /// What plays now, or `None` if nothing does (no manifest and no active alert).
    fn choose(&self, p: &Program, now: Timestamp) -> Option<Choice> {
        if let Some(alerts) = &p.alerts {
            let deadline = schedule::next_alert_change(alerts, now);
            if let Some(alert) = schedule::active_alert(alerts, now) {
                let image = alert
                    .media
                    .as_ref()
                    .filter(|m| m.kind == MediaKind::Slide && !alert.text.is_empty());
                let what = match &alert.media {
                    Some(media) if image.is_none() => What::Media {
                        media: media.clone(),
                        item_duration: None,
                        subtitle: None,
                        next: Some((media.clone(), None, None)),
                    },
                    _ => {
                        let languages = p.manifest.as_ref().map_or(&[][..], |m| &m.languages);
                        let texts = alert_texts(alert, languages);
                        // Validated alert sets have a text or media; be safe anyway.
                        let n = texts.len().max(1) as u64;
                        let turn = self.text_turns.get(&alert.id).copied().unwrap_or(0);
                        let t = texts.get((turn % n) as usize)?;
                        What::Text {
                            text: t.text.clone(),
                            lang: t.lang.clone(),
                            image: image.cloned(),
                        }
                    }
                };
                return Some(Choice {
                    label: alert_label(&alert.id),
                    what,
                    alert: Some(alert.clone()),
                    alert_deadline: deadline,
                    advance: None,
                });
            }
        }
        let m = p.manifest.as_ref()?;
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
        let subtitle = schedule::pick_subtitle(m, &media, rot).cloned();
        let npos = (pos + 1) % n;
        let nitem = &pl.items[npos];
        let nrot = self
            .rotations
            .get(&(pl.id.clone(), npos))
            .copied()
            .unwrap_or(0)
            + u64::from(npos == pos);
        let next = schedule::pick_variant(m, nitem, nrot).clone();
        let next_subtitle = schedule::pick_subtitle(m, &next, nrot).cloned();
        Some(Choice {
            label: pl.id.clone(),
            what: What::Media {
                media,
                item_duration: item.duration_ms,
                subtitle,
                next: Some((next, nitem.duration_ms, next_subtitle)),
            },
            alert: None,
            alert_deadline: None,
            advance: Some((pl.id.clone(), pos)),
        })
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
            let now = Timestamp::now();
            let choice = program.as_ref().and_then(|p| self.choose(p, now));
            let (Some(program), Some(choice)) = (program, choice) else {
                // Nothing to show (no manifest, no active alert): clear the screen and wait.
                self.current.send_replace(None);
                self.backend.idle().await;
                tokio::select! {
                    r = self.program.changed() => if r.is_err() { break },
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            let version = program.manifest.as_ref().map(|m| m.version);
            let selection_len = match (&choice.advance, &program.manifest) {
                (Some((id, _)), Some(m)) => m.playlist(id).map_or(1, |p| p.items.len()),
                _ => 1,
            };

            let mut interrupt = self.interrupt_for(&choice, version, &shutdown);
            let (media, lang, subtitle_lang, outcome) = match &choice.what {
                What::Text { text, lang, image } => {
                    let image = image.as_ref().and_then(|m| self.text_image(m));
                    let item =
                        TextItem::new(text, lang, self.alert_text_duration).with_image(image);
                    self.current.send_replace(Some(item.sha256.clone()));
                    let outcome = self.backend.show_text(&item, &mut interrupt).await;
                    (item.sha256, lang.clone(), None, outcome)
                }
                What::Media {
                    media,
                    item_duration,
                    subtitle,
                    next,
                } => {
                    // A subtitle file not (yet) in the cache: the video plays without it.
                    let sub_file = |s: &Option<SubtitleRef>| {
                        s.as_ref()
                            .and_then(|s| (self.lookup)(&s.sha256).map(|p| (p, s.lang.clone())))
                    };
                    let shown = sub_file(subtitle);
                    let cached = (self.lookup)(&media.sha256);
                    let shown = shown.filter(|_| cached.is_some());
                    let outcome = match cached {
                        None => PlayOutcome::failed_now(format!(
                            "media {} is not in the cache",
                            media.sha256
                        )),
                        Some(path) => {
                            let sub = shown.as_ref().map(|(p, _)| p.clone());
                            let item = play_item(media, *item_duration, path, sub);
                            let next = next.as_ref().and_then(|(m, d, s)| {
                                let sub = sub_file(s).map(|(p, _)| p);
                                (self.lookup)(&m.sha256).map(|p| play_item(m, *d, p, sub))
                            });
                            self.current.send_replace(Some(media.sha256.clone()));
                            self.backend
                                .play(&item, next.as_ref(), &mut interrupt)
                                .await
                        }
                    };
                    let subtitle_lang = shown.map(|(_, l)| l);
                    (
                        media.sha256.clone(),
                        media.lang.clone(),
                        subtitle_lang,
                        outcome,
                    )
                }
            };
            let failed = matches!(outcome.ended, crate::backend::Ended::Failed(_));
            if let crate::backend::Ended::Failed(why) = &outcome.ended {
                tracing::warn!(media = %media, playlist = %choice.label, reason = %why, "play failed; skipped");
            }
            (self.sink)(Play {
                manifest_version: version.unwrap_or(0),
                playlist: choice.label.clone(),
                media,
                lang,
                subtitle_lang,
                outcome,
            });
            if let Some((id, pos)) = choice.advance {
                *self.rotations.entry((id.clone(), pos)).or_insert(0) += 1;
                self.positions.insert(id, pos + 1);
            }
            if let (Some(alert), What::Text { .. }) = (&choice.alert, &choice.what) {
                *self.text_turns.entry(alert.id.clone()).or_insert(0) += 1;
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

    /// The cache file of an alert's image media, or `None` (the text is shown alone) when it
    /// is not cached.
    fn text_image(&self, media: &MediaRef) -> Option<TextImage> {
        match (self.lookup)(&media.sha256) {
            Some(path) => Some(TextImage {
                sha256: media.sha256.clone(),
                path,
            }),
            None => {
                tracing::warn!(media = %media.sha256, "the alert's image is not in the cache; showing its text alone");
                None
            }
        }
    }

    /// An interrupt that fires when the manifest version or the active alert changes, when an
    /// alert expires, or at shutdown.
    fn interrupt_for(
        &self,
        choice: &Choice,
        version: Option<u64>,
        shutdown: &watch::Receiver<bool>,
    ) -> Interrupt {
        let mut program = self.program.clone();
        let mut shutdown = shutdown.clone();
        let alert = choice.alert.clone();
        let deadline = choice.alert_deadline;
        Interrupt::new(async move {
            let program_changed = async {
                loop {
                    if program.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    let p = program.borrow_and_update().clone();
                    let Some(p) = p else { return };
                    if p.manifest.as_ref().map(|m| m.version) != version {
                        return;
                    }
                    let now = Timestamp::now();
                    let active = p
                        .alerts
                        .as_ref()
                        .and_then(|a| schedule::active_alert(a, now));
                    if active != alert.as_ref() {
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

    #[test]
    fn audio_clips_are_sound_only_items() {
        let mut m = media(1, MediaKind::Clip, "vi");
        m.mime = "audio/ogg".into();
        assert_eq!(play_item(&m, None, "a".into(), None).kind, ItemKind::Audio);
        m.mime = "video/webm".into();
        assert_eq!(play_item(&m, None, "a".into(), None).kind, ItemKind::Video);
        let s = media(2, MediaKind::Slide, "vi");
        assert_eq!(play_item(&s, None, "s".into(), None).kind, ItemKind::Slide);
    }

    fn media(n: u8, kind: MediaKind, lang: &str) -> MediaRef {
        MediaRef {
            sha256: format!("{n:02x}").repeat(32),
            bytes: 1,
            mime: "image/png".into(),
            kind,
            lang: lang.into(),
            title: String::new(),
            duration_ms: Some(1000),
            subtitles: Vec::new(),
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
            layout: None,
        }
    }

    struct Rig {
        program: watch::Sender<Option<Program>>,
        current_rx: watch::Receiver<Option<String>>,
        plays: Arc<Mutex<Vec<Play>>>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
        _dir: tempfile::TempDir,
    }

    /// Starts a scheduler with the null backend at speed 1000 over files for `present`.
    fn rig(present: &[&MediaRef]) -> Rig {
        rig_with(present, Duration::from_secs(8))
    }

    /// As [`rig`], with alert texts shown for `text` each (before the speed-up).
    fn rig_with(present: &[&MediaRef], text: Duration) -> Rig {
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
        let (current, current_rx) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let s = Scheduler::new(
            NullBackend::with_speed(1000.0),
            program_rx,
            lookup,
            sink,
            current,
        )
        .with_alert_text_duration(text);
        let task = tokio::spawn(s.run(stop_rx));
        Rig {
            program,
            current_rx,
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
            manifest: Some(Arc::new(m)),
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
    async fn the_subtitle_track_follows_the_language_in_turn() {
        // A vi video with vi and hmn tracks at a gate of vi, en, hmn: the vi turn shows the vi
        // track, the en turn none, the hmn turn the hmn track; the plays name them.
        let mut v = media(1, MediaKind::Video, "vi");
        let track = |n: u8, lang: &str| SubtitleRef {
            sha256: format!("{n:02x}").repeat(32),
            bytes: 10,
            lang: lang.into(),
            format: playlists::subtitle::SubtitleFormat::Vtt,
        };
        v.subtitles = vec![track(0xa1, "vi"), track(0xa2, "hmn")];
        let vi_file = media(0xa1, MediaKind::Slide, "vi");
        let hmn_file = media(0xa2, MediaKind::Slide, "hmn");
        let r = rig(&[&v, &vi_file, &hmn_file]);
        let mut m = manifest(vec![v.clone()], 3);
        m.languages = vec!["vi".into(), "en".into(), "hmn".into()];
        r.program.send_replace(Some(Program {
            manifest: Some(Arc::new(m)),
            alerts: None,
        }));
        let plays = wait_plays(&r, 3).await;
        let subs: Vec<Option<&str>> = plays[..3]
            .iter()
            .map(|p| p.subtitle_lang.as_deref())
            .collect();
        assert_eq!(subs, [Some("vi"), None, Some("hmn")]);
        assert!(plays[..3]
            .iter()
            .all(|p| p.media == v.sha256 && p.lang == "vi"));
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }

    #[tokio::test]
    async fn alert_image_is_drawn_with_its_text_not_played_as_a_turn() {
        let a = media(1, MediaKind::Slide, "vi");
        let img = media(9, MediaKind::Slide, "vi");
        let r = rig(&[&a, &img]);
        let mut alert = text_alert("flood", 5, Timestamp::MAX, &FLOOD[..2]);
        alert.media = Some(img.clone());
        r.program.send_replace(Some(Program {
            manifest: Some(Arc::new(manifest(vec![a.clone()], 1))),
            alerts: Some(alert_set(1, vec![alert])),
        }));
        let plays = wait_plays(&r, 4).await;
        assert!(
            plays.iter().all(|p| p.media != img.sha256),
            "the alert's image played as its own turn: {plays:?}"
        );
        let texts: Vec<(&str, &str)> = plays
            .iter()
            .map(|p| (p.media.as_str(), p.lang.as_str()))
            .collect();
        let want: Vec<String> = FLOOD[..2]
            .iter()
            .map(|(_, t)| crate::backend::text_sha256(t))
            .collect();
        for (i, (media, lang)) in texts.iter().take(4).enumerate() {
            assert_eq!(*media, want[i % 2], "play {i}");
            assert_eq!(*lang, FLOOD[i % 2].0, "play {i}");
        }
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }

    #[tokio::test]
    async fn alert_with_media_overrides_and_then_resumes() {
        // A video media plays as its own turn (an image is drawn with the text instead).
        let mut al = media(9, MediaKind::Video, "en");
        al.mime = "video/webm".into();
        let a = media(1, MediaKind::Slide, "vi");
        let r = rig(&[&a, &al]);
        let m = Arc::new(manifest(vec![a.clone()], 1));
        r.program.send_replace(Some(Program {
            manifest: Some(m.clone()),
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
            manifest: Some(m.clone()),
            alerts: Some(Arc::new(alerts)),
        }));
        let n = r.plays.lock().unwrap().len();
        let plays = wait_plays(&r, n + 4).await;
        let after: Vec<&Play> = plays[n..].iter().filter(|p| p.media == al.sha256).collect();
        assert!(!after.is_empty(), "alert never played");
        assert!(after.iter().all(|p| p.playlist == "alert:fire"));
        // Cancel: a new alert set without the alert; the schedule resumes.
        let empty = AlertSet {
            screen: "s1".into(),
            version: 2,
            issued_at: Timestamp::UNIX_EPOCH,
            alerts: vec![],
        };
        r.program.send_replace(Some(Program {
            manifest: Some(m),
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

    fn text_alert(id: &str, priority: i32, expires_at: Timestamp, texts: &[(&str, &str)]) -> Alert {
        Alert {
            id: id.into(),
            priority,
            expires_at,
            text: texts
                .iter()
                .map(|(lang, text)| AlertText {
                    lang: (*lang).into(),
                    text: (*text).into(),
                })
                .collect(),
            media: None,
        }
    }

    fn alert_set(version: u64, alerts: Vec<Alert>) -> Arc<AlertSet> {
        Arc::new(AlertSet {
            screen: "s1".into(),
            version,
            issued_at: Timestamp::UNIX_EPOCH,
            alerts,
        })
    }

    const FLOOD: [(&str, &str); 3] = [
        ("en", "Border crossing suspended due to flooding."),
        ("vi", "Cửa khẩu tạm dừng thông quan do lũ."),
        ("zh-Hans", "口岸因洪水暂停通关。"),
    ];

    #[tokio::test]
    async fn text_alert_overrides_schedule_in_manifest_language_order_then_resumes() {
        let a = media(1, MediaKind::Slide, "vi");
        let r = rig(&[&a]);
        let mut m = manifest(vec![a.clone()], 4);
        m.languages = vec!["vi".into(), "en".into()];
        let m = Arc::new(m);
        r.program.send_replace(Some(Program {
            manifest: Some(m.clone()),
            alerts: None,
        }));
        wait_plays(&r, 1).await;
        r.program.send_replace(Some(Program {
            manifest: Some(m.clone()),
            alerts: Some(alert_set(
                1,
                vec![text_alert("flood", 5, Timestamp::MAX, &FLOOD)],
            )),
        }));
        let n = r.plays.lock().unwrap().len();
        let plays = wait_plays(&r, n + 7).await;
        // The play running when the alert arrived may end interrupted; all later ones are
        // the alert's texts: vi, en (the manifest's languages), then zh-Hans, in turn.
        let texts: Vec<&Play> = plays[n..]
            .iter()
            .filter(|p| p.playlist == "alert:flood")
            .collect();
        assert!(texts.len() >= 6, "alert text not shown: {:?}", &plays[n..]);
        assert!(plays[n + 1..].iter().all(|p| p.playlist == "alert:flood"));
        let langs: Vec<&str> = texts.iter().map(|p| p.lang.as_str()).collect();
        assert_eq!(&langs[..6], &["vi", "en", "zh-Hans", "vi", "en", "zh-Hans"]);
        for p in &texts {
            let text = FLOOD.iter().find(|(l, _)| *l == p.lang).unwrap().1;
            assert_eq!(p.media, crate::backend::text_sha256(text));
            assert_eq!(p.manifest_version, 4);
            assert!(matches!(
                p.outcome.ended,
                Ended::Completed | Ended::Interrupted
            ));
        }
        assert!(texts[..5]
            .iter()
            .all(|p| p.outcome.ended == Ended::Completed));

        // Cancelled (a new set without it): the schedule resumes.
        r.program.send_replace(Some(Program {
            manifest: Some(m),
            alerts: Some(alert_set(2, vec![])),
        }));
        let n = r.plays.lock().unwrap().len();
        let plays = wait_plays(&r, n + 3).await;
        assert!(
            plays[n + 1..]
                .iter()
                .all(|p| p.media == a.sha256 && p.playlist == "main"),
            "schedule did not resume: {:?}",
            &plays[n..]
        );
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }

    #[tokio::test]
    async fn text_alert_plays_without_a_manifest_and_stops_when_it_expires() {
        let r = rig_with(&[], Duration::from_millis(500));
        let expires = Timestamp::now() + jiff::SignedDuration::from_secs(3);
        r.program.send_replace(Some(Program {
            manifest: None,
            alerts: Some(alert_set(
                1,
                vec![text_alert("flood", 5, expires, &FLOOD[..2])],
            )),
        }));
        let plays = wait_plays(&r, 4).await;
        assert!(plays.iter().all(|p| p.playlist == "alert:flood"
            && p.manifest_version == 0
            && !matches!(p.outcome.ended, Ended::Failed(_))));
        // Alert order without a manifest: en, vi, en, vi.
        let langs: Vec<&str> = plays[..4].iter().map(|p| p.lang.as_str()).collect();
        assert_eq!(langs, ["en", "vi", "en", "vi"]);
        // After the expiry nothing plays any more (no manifest): the count stops growing
        // and the screen is cleared.
        let mut current = r.current_rx.clone();
        tokio::time::timeout(Duration::from_secs(20), current.wait_for(Option::is_none))
            .await
            .expect("screen cleared after the alert expired")
            .unwrap();
        assert!(Timestamp::now() >= expires);
        let n = r.plays.lock().unwrap().len();
        r.program.send_replace(Some(Program {
            manifest: None,
            alerts: Some(alert_set(2, vec![])),
        }));
        r.stop.send_replace(true);
        r.task.await.unwrap();
        assert_eq!(
            r.plays.lock().unwrap().len(),
            n,
            "played after the alert expired"
        );
    }

    #[tokio::test]
    async fn higher_text_alert_beats_lower_media_alert() {
        let (a, al) = (
            media(1, MediaKind::Slide, "vi"),
            media(9, MediaKind::Slide, "en"),
        );
        let r = rig(&[&a, &al]);
        let mut low = text_alert("low", 1, Timestamp::MAX, &FLOOD[..1]);
        low.media = Some(al.clone());
        let high = text_alert("high", 9, Timestamp::MAX, &FLOOD[1..2]);
        r.program.send_replace(Some(Program {
            manifest: Some(Arc::new(manifest(vec![a.clone()], 1))),
            alerts: Some(alert_set(1, vec![low, high])),
        }));
        let plays = wait_plays(&r, 3).await;
        assert!(plays.iter().all(|p| p.playlist == "alert:high"
            && p.lang == "vi"
            && p.media == crate::backend::text_sha256(FLOOD[1].1)));
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }

    #[test]
    fn alert_labels_fit_a_receipt() {
        assert_eq!(alert_label("flood-1"), "alert:flood-1");
        let long = "a".repeat(128);
        let l = alert_label(&long);
        assert_eq!(l.len(), 128);
        assert!(l.starts_with("alert:aaa"));
    }
}
