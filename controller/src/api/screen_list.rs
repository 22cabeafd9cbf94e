//! `GET /api/v1/screens`, answered from an in-memory cache of each screen's stored members.
//!
//! Each screen's [`StoredView`] is kept rendered (JSON bytes) with the change number of the
//! screen it was read at ([`Store::screen_generation`]). A request walks the screen ids, reuses
//! every piece whose number is still current, re-reads only the screens written since, and adds
//! per screen the members that depend on the moment ([`live_members`]: `online`,
//! `silent_since`, `showing`). The answer is the same as rendering every screen afresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use warp::reply::Response;

use super::screens::{live_members, showing, stored_view, AlertIndex};
use super::{ApiError, AppState, Request, READ};
use crate::store::{StatusRecord, Store};

/// One screen's cached piece of the list.
struct Piece {
    /// The screen's change number when its records were read.
    generation: u64,
    /// The stored members as a JSON object without its closing brace.
    open_object: Vec<u8>,
    /// Its last status (without the status JSON), for `online` and `silent_since`.
    status: Option<StatusRecord>,
    /// The hash its last status reported as `current`, for `showing`.
    current: Option<String>,
}

/// The cache of the screens list (one per controller, in [`AppState`]).
#[derive(Default)]
pub struct ScreenViews {
    pieces: Mutex<HashMap<String, Arc<Piece>>>,
}

impl ScreenViews {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Piece>>> {
        // Pieces are replaced whole: a panicking holder left the map consistent.
        self.pieces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The piece of screen `id` as of now, read afresh when the screen changed since it was
    /// cached; `None` when the screen is gone.
    fn piece(&self, store: &Store, id: &str) -> Result<Option<Arc<Piece>>, ApiError> {
        // The number first, then the records (see `Store::screen_generation`).
        let generation = store.screen_generation(id);
        if let Some(p) = self.lock().get(id) {
            if p.generation == generation {
                return Ok(Some(p.clone()));
            }
        }
        let Some(rec) = store.screen(id)? else {
            return Ok(None);
        };
        let v = stored_view(store, &rec)?;
        let mut open_object = serde_json::to_vec(&v.members)
            .map_err(|e| ApiError::internal("rendering a screen", e))?;
        open_object.pop(); // the closing brace
        let p = Arc::new(Piece {
            generation,
            open_object,
            status: v.status,
            current: v.current,
        });
        self.lock().insert(id.to_string(), p.clone());
        Ok(Some(p))
    }

    /// The list as of `now`, as a JSON array.
    fn render(
        &self,
        store: &Store,
        alerts: &AlertIndex,
        now: jiff::Timestamp,
        stale: std::time::Duration,
    ) -> Result<Vec<u8>, ApiError> {
        let ids = store.screen_ids()?;
        let mut out = Vec::with_capacity(ids.len() * 512 + 2);
        out.push(b'[');
        // Read once per request, and only when some screen's silence depends on it.
        let mut listening: Option<Option<jiff::Timestamp>> = None;
        let mut shown: HashMap<String, serde_json::Value> = HashMap::new();
        let mut first = true;
        for id in &ids {
            let Some(p) = self.piece(store, id)? else {
                continue;
            };
            let silent = match &p.status {
                Some(st) if st.silent_since(now, stale, None).is_some() => {
                    let l = match listening {
                        Some(l) => l,
                        None => *listening.insert(store.listening_since()?),
                    };
                    st.silent_since(now, stale, l)
                }
                _ => None,
            };
            let showing = match &p.current {
                Some(c) => Some(match shown.get(c) {
                    Some(v) => v.clone(),
                    None => {
                        let v = showing(store, c, alerts)?;
                        shown.insert(c.clone(), v.clone());
                        v
                    }
                }),
                None => None,
            };
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&p.open_object);
            for (k, v) in live_members(p.status.as_ref(), silent, showing) {
                out.push(b',');
                serde_json::to_writer(&mut out, k)
                    .and_then(|()| {
                        out.push(b':');
                        serde_json::to_writer(&mut out, &v)
                    })
                    .map_err(|e| ApiError::internal("rendering a screen", e))?;
            }
            out.push(b'}');
        }
        out.push(b']');
        self.forget_others(&ids);
        Ok(out)
    }

    /// Drops the pieces of deleted screens.
    fn forget_others(&self, ids: &[String]) {
        let mut pieces = self.lock();
        if pieces.len() > ids.len() {
            let keep: HashSet<&str> = ids.iter().map(String::as_str).collect();
            pieces.retain(|id, _| keep.contains(id.as_str()));
        }
    }
}

/// `GET /api/v1/screens`: every screen with its last status and whether it is online, in id
/// order. Rendered on a blocking thread, so 10,000 screens do not hold up the runtime.
pub async fn list(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let now = jiff::Timestamp::now();
    let alerts = AlertIndex::live(state, now)?;
    let (store, views) = (state.store.clone(), state.screen_views.clone());
    let stale = state.config.status_stale_after;
    let body = tokio::task::spawn_blocking(move || views.render(&store, &alerts, now, stale))
        .await
        .map_err(|e| ApiError::internal("screens list", e))??;
    Ok(super::log::raw_json(body))
}
