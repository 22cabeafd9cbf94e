//! `POST|GET /api/v1/ticker`, `DELETE /api/v1/ticker/{id}` (ticker texts), and the screens'
//! layouts: `GET /api/v1/layouts` (the templates), `PUT /api/v1/screens/{id}/layout`
//! (`docs/protocol.md` §20).

use std::sync::atomic::Ordering;

use playlists::manifest::{Layout, Orientation, Region, RegionName, TEMPLATES};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::content::validate_targets;
use super::publishing::publish_error;
use super::{check_id, json_reply, log_action, ApiError, AppState, Request, CONTENT, READ};
use crate::approvals::{pending_texts, Approvals};
use crate::publish::PublishError;
use crate::store::{AlertTextRecord, ScreenVersion, Targets, TickerRecord};
use crate::ticker::{check_ticker, publish_tickers};

/// The body of `POST /api/v1/ticker`: the alert body's shape, with an optional start.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TickerBody {
    #[serde(default)]
    id: Option<String>,
    targets: Targets,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    starts_at: Option<String>,
    expires_at: String,
    text: Vec<AlertTextRecord>,
}

fn time(field: &str, v: &str) -> Result<jiff::Timestamp, ApiError> {
    v.parse()
        .map_err(|_| ApiError::field(field, format!("{v:?} is not an RFC 3339 time")))
}

/// Sends the new ticker set to every screen `targets` names.
async fn send_ticker(state: &AppState, targets: &Targets) -> Result<Vec<ScreenVersion>, ApiError> {
    let all = state.store.screens()?;
    let targeted: Vec<&crate::store::ScreenRecord> =
        all.iter().filter(|s| targets.matches(s)).collect();
    send_to(state, &targeted).await
}

/// Sends the new ticker set to each of `targeted`.
pub(super) async fn send_to(
    state: &AppState,
    targeted: &[&crate::store::ScreenRecord],
) -> Result<Vec<ScreenVersion>, ApiError> {
    let now = jiff::Timestamp::now();
    let published = publish_tickers(
        &state.store,
        &state.key,
        state.outbox.as_ref(),
        targeted,
        now,
    )
    .await
    .map_err(publish_error)?;
    let mut out = Vec::with_capacity(published.len());
    for p in published {
        if !p.delivered {
            state
                .metrics
                .publish_failures
                .fetch_add(1, Ordering::Relaxed);
        }
        out.push(ScreenVersion {
            screen: p.screen,
            version: p.version,
        });
    }
    Ok(out)
}

/// `POST /api/v1/ticker`: creates a ticker text and sends the new ticker set to every target
/// screen at once (no manifest change). Under an approval policy a text that lacks approvals
/// is kept as pending and the answer is `409 not_approved` naming it (`docs/protocol.md` §20).
pub async fn create(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let b: TickerBody = req.json().await?;
    let id = match b.id {
        Some(id) => {
            check_id("id", &id)?;
            id
        }
        None => format!(
            "ticker-{}",
            playlists::hex::encode(&crate::secrets::random_bytes::<6>())
        ),
    };
    validate_targets(&state.store, &b.targets)?;
    let now = jiff::Timestamp::now();
    let expires = time("expires_at", &b.expires_at)?;
    if expires <= now {
        return Err(ApiError::field("expires_at", "is in the past"));
    }
    let starts = match &b.starts_at {
        Some(s) => Some(time("starts_at", s)?),
        None => None,
    };
    if starts.is_some_and(|s| s >= expires) {
        return Err(ApiError::field("starts_at", "must be before expires_at"));
    }
    if b.text.is_empty() {
        return Err(ApiError::field(
            "text",
            "a ticker text needs at least one language",
        ));
    }
    let rec = TickerRecord {
        id,
        targets: b.targets,
        priority: b.priority,
        starts_at: starts.map(|s| s.to_string()),
        expires_at: expires.to_string(),
        text: b.text,
        cancelled: false,
        created_at: now.to_string(),
    };
    let _guard = state.publish_lock.lock().await;
    let (versions, pending) =
        make_ticker(state, &who, &rec, serde_json::json!({"id": rec.id})).await?;
    if let Some(PublishError::NotApproved { screen, message }) = pending {
        // Kept, and sent once approved (`docs/protocol.md` §20).
        return Err(publish_error(PublishError::NotApproved {
            screen,
            message: format!(
                "{message}; ticker text {:?} is kept as pending (GET /api/v1/approvals/pending) and is sent once approved, or remove it with DELETE /api/v1/ticker/{}",
                rec.id, rec.id
            ),
        }));
    }
    let mut v = serde_json::to_value(&rec).unwrap_or_default();
    v["published"] = serde_json::to_value(&versions).unwrap_or_default();
    Ok(json_reply(StatusCode::CREATED, &v))
}

/// Checks and stores a new ticker text and sends the new ticker set to every screen it
/// targets, logging `ticker.create` with `detail`; the caller holds the publish lock (also the
/// CAP inbox's way to show a message as a ticker text, `docs/protocol.md` §22). Under an
/// approval policy a text that lacks approvals is stored but not yet sent: the second value
/// names what it lacks (it is sent once approved, `docs/protocol.md` §20).
pub(super) async fn make_ticker(
    state: &AppState,
    who: &crate::tokens::Principal,
    rec: &TickerRecord,
    detail: serde_json::Value,
) -> Result<(Vec<ScreenVersion>, Option<PublishError>), ApiError> {
    let now = jiff::Timestamp::now();
    let pending = check_ticker(&state.store, rec, now).map_err(publish_error)?;
    state.store.create_ticker(rec).await?;
    let versions = send_ticker(state, &rec.targets).await?;
    log_action(state, who, "ticker.create", detail, versions.clone()).await?;
    Ok((versions, pending))
}

/// Removes a ticker text and sends the new ticker sets, logging `ticker.delete` with
/// `detail`; the caller holds the publish lock.
pub(super) async fn end_ticker(
    state: &AppState,
    who: &crate::tokens::Principal,
    mut rec: TickerRecord,
    detail: serde_json::Value,
) -> Result<Vec<ScreenVersion>, ApiError> {
    rec.cancelled = true;
    state.store.put_ticker(&rec).await?;
    let versions = send_ticker(state, &rec.targets).await?;
    log_action(state, who, "ticker.delete", detail, versions.clone()).await?;
    Ok(versions)
}

/// `GET /api/v1/ticker`: every ticker text, removed ones included (`cancelled`); under an
/// approval policy a live text that lacks approvals has `"awaiting_approval": true`
/// (`docs/protocol.md` §20).
pub fn list(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let now = jiff::Timestamp::now();
    let waiting: std::collections::BTreeSet<String> = match Approvals::load(&state.store)? {
        Some(a) => pending_texts(&state.store, &a, now)?
            .into_iter()
            .map(|p| p.id)
            .collect(),
        None => Default::default(),
    };
    let list: Vec<serde_json::Value> = state
        .store
        .tickers()?
        .into_iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r).unwrap_or_default();
            if waiting.contains(&r.id) {
                v["awaiting_approval"] = true.into();
            }
            v
        })
        .collect();
    Ok(json_reply(StatusCode::OK, &list))
}

/// `DELETE /api/v1/ticker/{id}`: removes the text and sends the new ticker sets.
pub async fn delete(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let _guard = state.publish_lock.lock().await;
    let rec = state
        .store
        .ticker(id)?
        .ok_or_else(|| ApiError::not_found("ticker text", id))?;
    let versions = end_ticker(state, &who, rec, serde_json::json!({"id": id})).await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"cancelled": id, "published": versions}),
    ))
}

/// `GET /api/v1/layouts`: the layout templates, with their regions (for the console's picker
/// and its preview).
pub fn templates(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let all: Vec<Layout> = TEMPLATES
        .iter()
        .filter_map(|(id, _, _)| Layout::template(id))
        .collect();
    Ok(json_reply(StatusCode::OK, &all))
}

/// The body of `PUT /api/v1/screens/{id}/layout`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutBody {
    /// A template id; `full` removes the layout.
    template: String,
    /// Overrides the template's orientation.
    #[serde(default)]
    orientation: Option<Orientation>,
    /// Ticker speed in px/s.
    #[serde(default)]
    ticker_speed: Option<u32>,
    /// Slide images of the library for the `side` region, shown in turn.
    #[serde(default)]
    side_media: Vec<String>,
    /// Seconds each side image stays (default 10).
    #[serde(default)]
    side_every_secs: Option<u32>,
    /// A slide image of the library for the logo (at most one); adds a `logo` region in the
    /// top-left corner of `main`.
    #[serde(default)]
    logo_media: Vec<String>,
}

/// Share of the canvas the logo region added over `main`'s top-left corner takes.
const LOGO_SIZE: (f64, f64) = (0.12, 0.1);

/// Checks that each of `shas` is a slide in the library (not deleted); the error names `field`.
fn check_region_media(state: &AppState, field: &str, shas: &[String]) -> Result<(), ApiError> {
    for sha in shas {
        match state.store.media(sha)? {
            Some(m) if !m.deleted && m.kind == "slide" => {}
            Some(m) if !m.deleted => {
                return Err(ApiError::field(
                    field,
                    format!(
                        "media {sha} is a {}; a region shows slide images only",
                        m.kind
                    ),
                ))
            }
            _ => {
                return Err(ApiError::field(
                    field,
                    format!("media {sha} is not in the library"),
                ))
            }
        }
    }
    Ok(())
}

/// `GET /api/v1/screens/{id}/layout`: the screen's saved layout (what its next manifest
/// carries), or the `full` template when it has none.
pub fn get_layout(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    state
        .store
        .screen(id)?
        .ok_or_else(|| ApiError::not_found("screen", id))?;
    let layout = match state.store.screen_layout(id)? {
        Some(l) => l,
        None => Layout::template("full")
            .ok_or_else(|| ApiError::field("template", "no full template"))?,
    };
    Ok(json_reply(StatusCode::OK, &layout))
}

/// `PUT /api/v1/screens/{id}/layout` `{"template": "main_ticker", "ticker_speed": 120}`: the
/// screen's layout, taking effect with its next publish.
pub async fn put_layout(
    state: &AppState,
    mut req: Request,
    id: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let b: LayoutBody = req.json().await?;
    state
        .store
        .screen(id)?
        .ok_or_else(|| ApiError::not_found("screen", id))?;
    let mut layout = Layout::template(&b.template).ok_or_else(|| {
        let ids: Vec<&str> = TEMPLATES.iter().map(|(t, _, _)| *t).collect();
        ApiError::field(
            "template",
            format!(
                "unknown template {:?}; one of {}",
                b.template,
                ids.join(", ")
            ),
        )
    })?;
    if let Some(o) = b.orientation {
        layout.orientation = o;
    }
    layout.ticker_speed = b.ticker_speed;
    if !b.side_media.is_empty() || b.side_every_secs.is_some() {
        check_region_media(state, "side_media", &b.side_media)?;
        let side = layout
            .regions
            .iter_mut()
            .find(|r| r.name == RegionName::Side)
            .ok_or_else(|| {
                ApiError::field(
                    "side_media",
                    format!("template {:?} has no side region", b.template),
                )
            })?;
        side.media = b.side_media.clone();
        side.every_secs = b.side_every_secs;
    }
    if !b.logo_media.is_empty() {
        if b.logo_media.len() > 1 {
            return Err(ApiError::field("logo_media", "a logo is one image"));
        }
        check_region_media(state, "logo_media", &b.logo_media)?;
        let main = layout
            .region(RegionName::Main)
            .cloned()
            .ok_or_else(|| ApiError::field("template", "no main region"))?;
        layout.regions.push(Region {
            name: RegionName::Logo,
            x: main.x,
            y: main.y,
            w: LOGO_SIZE.0.min(main.w),
            h: LOGO_SIZE.1.min(main.h),
            media: b.logo_media.clone(),
            every_secs: None,
        });
    }
    layout
        .validate("layout")
        .map_err(|e| ApiError::field("layout", e))?;
    let stored = (b.template != "full"
        || b.orientation == Some(Orientation::Portrait)
        || layout.media().next().is_some())
    .then_some(&layout);
    state.store.put_screen_layout(id, stored).await?;
    log_action(
        state,
        &who,
        "screen.layout",
        serde_json::json!({"id": id, "template": b.template,
            "side_media": b.side_media, "logo_media": b.logo_media}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::OK, &layout))
}
