//! The poll loops of the CAP feeds (`[[cap.feeds]]`, `docs/protocol.md` §22): each feed is
//! fetched every `every_secs` ([`crate::cap::feed::Fetcher`]) and each CAP message found goes
//! through [`super::cap::intake`], as if posted to `POST /api/v1/cap`. A failure is logged with
//! the feed named, kept as the feed's state for the CAP inbox, and retried with a growing
//! wait; it never ends the loop.

use std::sync::Arc;
use std::time::Duration;

use gatecast_support::backoff::Backoff;
use warp::http::StatusCode;

use super::AppState;
use crate::cap::feed::{FeedErrorView, FeedSettings, FeedStatus, Fetcher};
use crate::store::Role;
use crate::tokens::Principal;

/// Starts one poll loop per configured feed, with its state in `state.cap_feeds`.
pub fn spawn(state: Arc<AppState>) -> Vec<tokio::task::JoinHandle<()>> {
    let feeds = state.config.cap.feeds.clone();
    {
        let mut states = state.cap_feeds.lock().unwrap_or_else(|p| p.into_inner());
        *states = feeds
            .iter()
            .map(|f| FeedStatus {
                url: f.url.clone(),
                ..FeedStatus::default()
            })
            .collect();
    }
    feeds
        .into_iter()
        .enumerate()
        .map(|(n, f)| tokio::spawn(run(state.clone(), n, f)))
        .collect()
}

fn update(state: &AppState, n: usize, f: impl FnOnce(&mut FeedStatus)) {
    let mut states = state.cap_feeds.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = states.get_mut(n) {
        f(s);
    }
}

/// What one poll brought: new entries, and the last error (if any).
async fn poll_once(
    state: &AppState,
    who: &Principal,
    fetcher: &mut Fetcher,
) -> (u64, Option<FeedErrorView>) {
    let feed = fetcher.url().to_string();
    let mut error = None;
    let mut taken = 0;
    let poll = match fetcher.poll(state.config.cap.max_bytes()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(feed = %feed, code = e.code(), "CAP feed could not be read: {e}");
            return (
                0,
                Some(FeedErrorView {
                    code: e.code().into(),
                    message: e.to_string(),
                }),
            );
        }
    };
    if !poll.errors.is_empty() {
        fetcher.refetch();
    }
    for e in poll.errors {
        tracing::warn!(feed = %feed, code = e.code(), "CAP feed entry could not be read: {e}");
        error = Some(FeedErrorView {
            code: e.code().into(),
            message: e.to_string(),
        });
    }
    for doc in poll.docs {
        match super::cap::intake(state, who, &doc.bytes).await {
            Ok((status, v)) => {
                if status == StatusCode::CREATED {
                    taken += 1;
                    tracing::info!(feed = %feed, url = %doc.url, id = %v["id"], "CAP feed: message taken into the inbox");
                }
                fetcher.taken(&doc.url);
            }
            Err(e) => {
                tracing::warn!(feed = %feed, url = %doc.url, code = e.code, "CAP message from the feed refused: {}", e.message);
                if e.code == "cap_expired" {
                    fetcher.taken(&doc.url);
                } else {
                    fetcher.refetch();
                }
                error = Some(FeedErrorView {
                    code: e.code.to_string(),
                    message: format!("{}: {}", doc.url, e.message),
                });
            }
        }
    }
    (taken, error)
}

/// Polls one feed until the task is aborted.
async fn run(state: Arc<AppState>, n: usize, settings: FeedSettings) {
    let every = settings.every();
    let mut fetcher = match Fetcher::new(settings) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(feed = n, "CAP feed not polled: {e}");
            update(&state, n, |s| {
                s.error = Some(FeedErrorView {
                    code: "feed_bad_url".into(),
                    message: e,
                })
            });
            return;
        }
    };
    let who = Principal {
        token_id: format!("cap feed {}", fetcher.url()),
        role: Role::Operator,
        user: None,
    };
    let mut backoff = Backoff::new(every, every.saturating_mul(8).max(Duration::from_secs(1)));
    loop {
        let (taken, error) = poll_once(&state, &who, &mut fetcher).await;
        let now = jiff::Timestamp::now().to_string();
        let failed = error.is_some();
        update(&state, n, |s| {
            s.last_fetched = Some(now.clone());
            s.taken += taken;
            if failed {
                s.failures += 1;
            } else {
                s.failures = 0;
                s.last_ok = Some(now);
            }
            s.error = error;
        });
        let wait = if failed {
            backoff.next_delay()
        } else {
            backoff.reset();
            every
        };
        tokio::time::sleep(wait).await;
    }
}
