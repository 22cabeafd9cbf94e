//! Playback: the backend, the scheduler task, and what happens to each finished play (a
//! receipt in the journal, the cache's last-play mark, the status' playback error).

use std::sync::Arc;
use std::time::Duration;

use playlists::receipt::{Backend as ReceiptBackend, Outcome};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{warn_once, BackendChoice};
use crate::backend::mpv::regions::{self, RegionsSetup};
use crate::backend::mpv::{MpvBackend, MpvConfig, ScreenRenderer};
use crate::backend::null::NullBackend;
use crate::backend::{AnyBackend, Backend, BackendKind, Ended};
use crate::cache::Cache;
use crate::clock::ClockProbe;
use crate::journal::{Journal, ReceiptDraft, Recorded};
use crate::scheduler::{Lookup, Play, PlaySink, Program, Scheduler};
use playlists::manifest::TickerSet;

/// The running scheduler and what it reports.
pub(super) struct Playback {
    /// The scheduler task (ends once `stop` says so; its last receipt is journaled).
    pub task: JoinHandle<()>,
    /// What plays now (for the status' `current`).
    pub current: watch::Receiver<Option<String>>,
    /// The last playback failure, for `last_error` in the status; cleared by a good play.
    pub error: watch::Receiver<Option<String>>,
    /// What the screen lacks to show alerts in every language (fonts), found at start; it
    /// stays in the status' `last_error` until the player is restarted with the fonts.
    pub display_problem: Option<String>,
    /// The layout's ticker and clock regions (mpv only; ends once `stop` says so).
    pub regions: Option<JoinHandle<()>>,
}

/// Everything the scheduler needs besides its program.
pub(super) struct PlaybackSetup<'a> {
    /// Which backend.
    pub choice: &'a BackendChoice,
    /// The data directory (mpv's socket lives there).
    pub data_dir: &'a std::path::Path,
    /// How long an alert without media shows its text.
    pub alert_text: Duration,
    /// The media cache (files to play, last-play marks).
    pub cache: &'a Arc<Cache>,
    /// Where receipts go.
    pub journal: &'a Journal,
    /// Where `clock_synced` comes from.
    pub clock: &'a ClockProbe,
}

/// The backend, and what the screen lacks to show alerts (mpv only: the fonts are checked
/// once here, with one warning naming the Debian packages).
fn backend(
    choice: &BackendChoice,
    data_dir: &std::path::Path,
) -> (AnyBackend, Option<String>, Option<ScreenRenderer>) {
    match choice {
        BackendChoice::Null { speed } => (
            AnyBackend::Null(NullBackend::with_speed(*speed)),
            None,
            None,
        ),
        BackendChoice::Mpv { extra_args } => {
            let mut cfg = MpvConfig::new(data_dir.join("mpv.sock"));
            cfg.extra_args = extra_args.clone();
            let screens = ScreenRenderer::load();
            let coverage = screens.coverage();
            let problem = coverage.warning();
            match &problem {
                Some(w) => tracing::warn!("{w}"),
                None => tracing::info!("fonts for every alert language are installed"),
            }
            if !coverage.pahawh_hmong() {
                tracing::info!("no font has Pahawh Hmong (optional: fonts-noto-core has one)");
            }
            let b = MpvBackend::new(cfg).with_screens(screens.clone());
            (AnyBackend::Mpv(Box::new(b)), problem, Some(screens))
        }
    }
}

/// Starts the scheduler on `program` (and, on mpv, the layout's regions with `ticker`) until
/// `stop` turns true.
pub(super) fn spawn(
    setup: PlaybackSetup<'_>,
    program: watch::Receiver<Option<Program>>,
    ticker: watch::Receiver<Option<Arc<TickerSet>>>,
    stop: watch::Receiver<bool>,
) -> Playback {
    let (backend, display_problem, screens) = backend(setup.choice, setup.data_dir);
    let lookup: Lookup = {
        let cache = setup.cache.clone();
        Arc::new(move |sha: &str| cache.path(sha))
    };
    let regions = screens.map(|screens| {
        let r = RegionsSetup {
            socket: setup.data_dir.join("mpv.sock"),
            screens,
            journal: setup.journal.clone(),
            clock: setup.clock.clone(),
            lookup: lookup.clone(),
        };
        tokio::spawn(regions::run(r, program.clone(), ticker, stop.clone()))
    });
    let (error_tx, error) = watch::channel(None::<String>);
    let sink = play_sink(&setup, backend.kind(), error_tx);
    let (current_tx, current) = watch::channel(None::<String>);
    let scheduler = Scheduler::new(backend, program, lookup, sink, current_tx)
        .with_alert_text_duration(setup.alert_text);
    Playback {
        task: tokio::spawn(scheduler.run(stop)),
        current,
        error,
        display_problem,
        regions,
    }
}

/// What happens to each finished play: the playback error is set or cleared, the cache
/// records the play (eviction order), and the receipt is journaled (or queued in memory
/// while the journal cannot be written).
fn play_sink(
    setup: &PlaybackSetup<'_>,
    backend: BackendKind,
    play_error: watch::Sender<Option<String>>,
) -> PlaySink {
    let journal = setup.journal.clone();
    let cache = setup.cache.clone();
    let clock = setup.clock.clone();
    let mut mark_error: Option<String> = None;
    let mut journal_error: Option<String> = None;
    Box::new(move |play: Play| {
        match &play.outcome.ended {
            Ended::Failed(why) => {
                let msg = format!("playback of {} failed: {why}", play.media);
                play_error.send_if_modified(|e| {
                    let changed = e.as_deref() != Some(msg.as_str());
                    *e = Some(msg);
                    changed
                });
            }
            _ => {
                play_error.send_if_modified(|e| e.take().is_some());
                // Alert texts are not cache files: nothing to record for them.
                if cache.path(&play.media).is_some() {
                    match cache.mark_played(&play.media) {
                        Ok(()) => mark_error = None,
                        Err(e) => warn_once(
                            &mut mark_error,
                            "could not record last play (eviction order only)",
                            e.to_string(),
                        ),
                    }
                }
            }
        }
        match journal.append_or_queue(receipt_draft(&play, backend, clock.synced())) {
            Recorded::Journaled(r) => {
                journal_error = None;
                tracing::debug!(seq = r.seq, media = %r.media, "receipt journaled");
            }
            Recorded::Queued(e) => warn_once(
                &mut journal_error,
                "journal cannot be written; play kept in memory and journaled later",
                e.to_string(),
            ),
            Recorded::Lost(e) => {
                tracing::error!(error = %e, "RECEIPT NOT WRITTEN: journal failing and the in-memory queue is full")
            }
            Recorded::Invalid(e) => tracing::error!(error = %e, "RECEIPT NOT WRITTEN: invalid"),
        }
    })
}

fn receipt_draft(play: &Play, backend: BackendKind, clock_synced: bool) -> ReceiptDraft {
    ReceiptDraft {
        manifest_version: play.manifest_version,
        playlist: play.playlist.clone(),
        media: play.media.clone(),
        lang: play.lang.clone(),
        subtitle_lang: play.subtitle_lang.clone(),
        started_at: play.outcome.started_at,
        ended_at: play.outcome.ended_at,
        outcome: match play.outcome.ended {
            Ended::Completed => Outcome::Completed,
            Ended::Interrupted => Outcome::Interrupted,
            Ended::Failed(_) => Outcome::Failed,
        },
        backend: match backend {
            BackendKind::Mpv => ReceiptBackend::Mpv,
            BackendKind::Null => ReceiptBackend::Null,
        },
        clock_synced,
    }
}
