//! Playback backends behind one trait.
//!
//! A backend plays one item at a time and reports what really happened: when the item
//! started and ended on the wall clock (for the receipt), how long it ran on the monotonic
//! clock (durations never come from wall-clock differences, which jump when the clock is set), and whether it
//! completed, was interrupted, or failed. Two backends exist:
//!
//! - [`mpv::MpvBackend`]: one long-lived mpv process driven over its JSON IPC socket.
//! - [`null::NullBackend`]: timing only, for tests, the demo and headless boxes. Its plays
//!   never count as proof that something was shown (receipts say `"backend": "null"`).
//!
//! Besides media files a backend shows text screens ([`TextItem`]): the text of an emergency
//! alert, full screen on black, one language at a time, with the alert's image media (if it
//! carries one) drawn above the text.

pub mod mpv;
pub mod null;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// How long a slide without its own duration is shown.
pub const DEFAULT_SLIDE_DURATION: Duration = Duration::from_secs(10);

/// Which backend produced a play (goes into the receipt's `backend` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Real playback through mpv.
    Mpv,
    /// Timing only; nothing was shown.
    Null,
}

impl BackendKind {
    /// The wire name: `mpv` or `null`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Mpv => "mpv",
            BackendKind::Null => "null",
        }
    }
}

/// What sort of media an item is, as far as playback cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// Video or clip: plays until its natural end.
    Video,
    /// Still image: shown for [`PlayItem::duration`] (or [`DEFAULT_SLIDE_DURATION`]).
    Slide,
    /// Sound only (a clip whose type is `audio/*`): plays until its natural end; a screen
    /// without an audio output skips it at once.
    Audio,
}

/// One item to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayItem {
    /// Verified file in the local cache.
    pub path: PathBuf,
    /// Media sha256 (identity; used for logs and to recognise a queued item).
    pub sha256: String,
    /// Video or slide.
    pub kind: ItemKind,
    /// How long to show it: required for slides (default 10 s); for videos the null backend
    /// uses it as the play time (default 10 s) and mpv ignores it (videos end on their own).
    pub duration: Option<Duration>,
    /// A verified subtitle file shown over a video (`docs/protocol.md` §21): mpv renders it.
    pub subtitle: Option<PathBuf>,
}

impl PlayItem {
    /// The time a slide is shown, or the null backend's play time for any item.
    pub fn nominal_duration(&self) -> Duration {
        self.duration.unwrap_or(DEFAULT_SLIDE_DURATION)
    }
}

/// One text screen to show: an alert's text in one language, full screen on black.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextItem {
    /// The exact text (newlines allowed).
    pub text: String,
    /// Its language (BCP 47 tag).
    pub lang: String,
    /// Lowercase hex SHA-256 of the text's exact UTF-8 bytes (the receipt's `media`).
    pub sha256: String,
    /// How long it is shown before the next language.
    pub duration: Duration,
    /// The alert's image media, drawn above the text (`docs/protocol.md` §9), if it has one.
    pub image: Option<TextImage>,
}

/// An alert's image media shown with its text: the verified cache file and its sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextImage {
    /// Media sha256 (identity: a backend decodes each image once).
    pub sha256: String,
    /// Verified file in the local cache.
    pub path: PathBuf,
}

impl TextItem {
    /// A text screen for `text` in `lang`, shown for `duration`.
    pub fn new(text: &str, lang: &str, duration: Duration) -> TextItem {
        TextItem {
            text: text.to_owned(),
            lang: lang.to_owned(),
            sha256: text_sha256(text),
            duration,
            image: None,
        }
    }

    /// The same screen with `image` drawn above the text.
    pub fn with_image(mut self, image: Option<TextImage>) -> TextItem {
        self.image = image;
        self
    }
}

/// Lowercase hex SHA-256 of `text`'s exact UTF-8 bytes: the `media` of a text receipt.
pub fn text_sha256(text: &str) -> String {
    playlists::hex::sha256_hex(text.as_bytes())
}

/// How a play ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Played to its end.
    Completed,
    /// Stopped early because the schedule, an alert or shutdown changed what must play.
    Interrupted,
    /// Could not be played (missing file, decoder error, player crash); the reason says which.
    Failed(String),
}

/// What really happened when an item was played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayOutcome {
    /// Wall-clock time the item appeared (or the attempt started, for a failure).
    pub started_at: jiff::Timestamp,
    /// Wall-clock time it ended: `started_at` plus the monotonic duration, so an NTP step
    /// during the play can never make `ended_at` earlier than `started_at`.
    pub ended_at: jiff::Timestamp,
    /// Monotonic play time.
    pub duration: Duration,
    /// Completed, interrupted or failed.
    pub ended: Ended,
}

impl PlayOutcome {
    /// Builds an outcome from a wall-clock start and a monotonic duration.
    pub fn new(started_at: jiff::Timestamp, duration: Duration, ended: Ended) -> PlayOutcome {
        let ended_at = jiff::SignedDuration::try_from(duration)
            .ok()
            .and_then(|d| started_at.checked_add(d).ok())
            .unwrap_or(started_at);
        PlayOutcome {
            started_at,
            ended_at,
            duration,
            ended,
        }
    }

    /// An immediate failure (nothing was shown).
    pub fn failed_now(reason: impl Into<String>) -> PlayOutcome {
        PlayOutcome::new(
            jiff::Timestamp::now(),
            Duration::ZERO,
            Ended::Failed(reason.into()),
        )
    }
}

/// A one-shot signal that tells a backend to stop the current item early.
///
/// Built from any future; once it has fired it stays fired (polling it again returns at once).
pub struct Interrupt {
    fut: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Interrupt {
    /// An interrupt that fires when `fut` completes.
    pub fn new(fut: impl Future<Output = ()> + Send + 'static) -> Interrupt {
        Interrupt {
            fut: Some(Box::pin(fut)),
        }
    }

    /// An interrupt that never fires.
    pub fn never() -> Interrupt {
        Interrupt::new(std::future::pending())
    }

    /// Waits until the interrupt fires (returns at once if it already has).
    pub async fn fired(&mut self) {
        if let Some(fut) = self.fut.as_mut() {
            fut.await;
            self.fut = None;
        }
    }

    /// Whether the interrupt has already been seen to fire.
    pub fn has_fired(&self) -> bool {
        self.fut.is_none()
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("fired", &self.has_fired())
            .finish()
    }
}

/// A playback backend.
pub trait Backend: Send {
    /// Which backend this is (for receipts).
    fn kind(&self) -> BackendKind;

    /// Plays `item` until it ends, fails, or `interrupt` fires.
    ///
    /// `next` is the item the scheduler expects to play afterwards: a backend may queue it so
    /// that there is no black gap between items. It is only a hint: the next call
    /// may ask for something else, and the backend then drops what it queued.
    fn play(
        &mut self,
        item: &PlayItem,
        next: Option<&PlayItem>,
        interrupt: &mut Interrupt,
    ) -> impl Future<Output = PlayOutcome> + Send;

    /// Shows `item` (an alert's text) full screen until its duration has passed or
    /// `interrupt` fires. A text that completes stays on screen until the next call (so the
    /// next language replaces it without a gap); an interrupted one is removed.
    fn show_text(
        &mut self,
        item: &TextItem,
        interrupt: &mut Interrupt,
    ) -> impl Future<Output = PlayOutcome> + Send;

    /// Nothing is to be played for now: clear the screen (e.g. remove an alert text that has
    /// ended). The next play call starts normally.
    fn idle(&mut self) -> impl Future<Output = ()> + Send;

    /// Releases what the backend holds (e.g. stops mpv). Called once at shutdown.
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send;
}

/// A backend chosen at run time (`--backend mpv|null`).
#[derive(Debug)]
pub enum AnyBackend {
    /// mpv.
    Mpv(Box<mpv::MpvBackend>),
    /// Timing only.
    Null(null::NullBackend),
}

impl Backend for AnyBackend {
    fn kind(&self) -> BackendKind {
        match self {
            AnyBackend::Mpv(b) => b.kind(),
            AnyBackend::Null(b) => b.kind(),
        }
    }

    async fn play(
        &mut self,
        item: &PlayItem,
        next: Option<&PlayItem>,
        interrupt: &mut Interrupt,
    ) -> PlayOutcome {
        match self {
            AnyBackend::Mpv(b) => b.play(item, next, interrupt).await,
            AnyBackend::Null(b) => b.play(item, next, interrupt).await,
        }
    }

    async fn show_text(&mut self, item: &TextItem, interrupt: &mut Interrupt) -> PlayOutcome {
        match self {
            AnyBackend::Mpv(b) => b.show_text(item, interrupt).await,
            AnyBackend::Null(b) => b.show_text(item, interrupt).await,
        }
    }

    async fn idle(&mut self) {
        match self {
            AnyBackend::Mpv(b) => b.idle().await,
            AnyBackend::Null(b) => b.idle().await,
        }
    }

    async fn shutdown(&mut self) {
        match self {
            AnyBackend::Mpv(b) => b.shutdown().await,
            AnyBackend::Null(b) => b.shutdown().await,
        }
    }
}
