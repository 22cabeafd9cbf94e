//! `POST /api/v1/publish` and alerts.

use std::sync::atomic::Ordering;

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::content::validate_targets;
use super::{check_id, json_reply, log_action, ApiError, AppState, Request, CONTENT, READ};
use crate::publish::{check_alert, publish_alerts, publish_manifests, ContentIndex, PublishError};
use crate::store::{AlertRecord, AlertTextRecord, ScreenRecord, ScreenVersion, Targets};

#[derive(Deserialize)]
struct PublishBody {
    #[serde(default)]
    screens: Option<Vec<String>>,
    #[serde(default)]
    gates: Option<Vec<String>>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    dry_run: bool,
}

pub(super) fn publish_error(e: PublishError) -> ApiError {
    match e {
        PublishError::NothingScheduled { .. } => {
            ApiError::new(StatusCode::CONFLICT, "nothing_scheduled", e.to_string())
        }
        PublishError::Invalid { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_content",
            e.to_string(),
        ),
        PublishError::AlertRefused { ref field, .. }
        | PublishError::TickerRefused { ref field, .. } => {
            let field = field.clone();
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_content",
                e.to_string(),
            );
            err.field = field;
            err
        }
        PublishError::NotApproved { .. } => {
            ApiError::new(StatusCode::CONFLICT, "not_approved", e.to_string())
        }
        PublishError::Store(s) => s.into(),
    }
}

/// `POST /api/v1/publish` `{"screens":[..]} | {"gates":[..]} | {"all":true}`, optionally with
/// `"dry_run": true`.
///
/// Named screens must all be publishable or nothing is published. With `gates` or `all`,
/// screens without any schedule and disabled screens are listed under `skipped`.
///
/// A dry run answers `{"plan": [PlanEntry..], "skipped": [..]}`: per target screen what a
/// publish would change (see [`crate::publish::plan_manifest`]), with nothing signed, stored,
/// sent or logged.
pub async fn publish(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let b: PublishBody = req.json().await?;
    let chosen = [b.screens.is_some(), b.gates.is_some(), b.all]
        .iter()
        .filter(|x| **x)
        .count();
    if chosen != 1 {
        return Err(ApiError::field(
            "screens",
            "send exactly one of \"screens\", \"gates\" or \"all\": true",
        ));
    }
    let started = std::time::Instant::now();
    let all = state.store.screens()?;
    let listed = started.elapsed();
    let mut targets: Vec<ScreenRecord> = Vec::new();
    let mut skipped = Vec::new();
    let explicit = b.screens.is_some();
    if let Some(ids) = &b.screens {
        if ids.is_empty() {
            return Err(ApiError::field("screens", "must name at least one screen"));
        }
        for (i, id) in ids.iter().enumerate() {
            let s = all.iter().find(|s| s.id == *id).ok_or_else(|| {
                ApiError::field(
                    &format!("screens[{i}]"),
                    format!("screen {id:?} is not registered"),
                )
            })?;
            if s.disabled {
                return Err(ApiError::field(
                    &format!("screens[{i}]"),
                    format!("screen {id:?} is disabled"),
                ));
            }
            if !targets.iter().any(|t| t.id == s.id) {
                targets.push(s.clone());
            }
        }
    } else {
        let gates = b.gates.clone().unwrap_or_default();
        if b.gates.is_some() && gates.is_empty() {
            return Err(ApiError::field("gates", "must name at least one gate"));
        }
        for (i, g) in gates.iter().enumerate() {
            if !all.iter().any(|s| s.gate == *g) {
                return Err(ApiError::field(
                    &format!("gates[{i}]"),
                    format!("no screen stands at gate {g:?}"),
                ));
            }
        }
        for s in &all {
            if b.all || gates.contains(&s.gate) {
                if s.disabled {
                    skipped.push(serde_json::json!({"screen": s.id, "reason": "disabled"}));
                } else {
                    targets.push(s.clone());
                }
            }
        }
    }
    if b.dry_run {
        let now = jiff::Timestamp::now();
        let mut plan = Vec::new();
        for s in &targets {
            match crate::publish::plan_manifest(&state.store, s, now) {
                Ok(p) => plan.push(p),
                Err(e @ PublishError::NothingScheduled { .. }) if !explicit => {
                    skipped.push(serde_json::json!({"screen": s.id, "reason": e.to_string()}));
                }
                Err(e) => return Err(publish_error(e)),
            }
        }
        return Ok(json_reply(
            StatusCode::OK,
            &serde_json::json!({"plan": plan, "skipped": skipped}),
        ));
    }
    let _guard = state.publish_lock.lock().await;
    let locked = started.elapsed();
    // One read of the schedules, playlists and media for the whole publish.
    let index = ContentIndex::load(&state.store).map_err(publish_error)?;
    let indexed = started.elapsed();
    // Check everything first so an invalid screen publishes nothing.
    let mut ready = Vec::new();
    let checks = crate::publish::check_all_publishable(&index, &targets).await;
    for (s, check) in targets.into_iter().zip(checks) {
        match check {
            Ok(()) => ready.push(s),
            Err(e @ PublishError::NothingScheduled { .. }) if !explicit => {
                skipped.push(serde_json::json!({"screen": s.id, "reason": e.to_string()}));
            }
            Err(e) => return Err(publish_error(e)),
        }
    }
    let checked = started.elapsed();
    let now = jiff::Timestamp::now();
    // Stores every manifest, flushes once, then sends them all.
    let published = publish_manifests(
        &state.store,
        &index,
        &state.key,
        state.outbox.as_ref(),
        &ready,
        state.config.manifest_lifetime,
        now,
    )
    .await
    .map_err(publish_error)?;
    let sent = started.elapsed();
    for p in &published {
        if p.changed {
            state.metrics.publishes.fetch_add(1, Ordering::Relaxed);
        }
        if !p.delivered {
            state
                .metrics
                .publish_failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }
    let versions = published
        .iter()
        .filter(|p| p.changed)
        .map(|p| ScreenVersion {
            screen: p.screen.clone(),
            version: p.version,
        })
        .collect();
    log_action(
        state,
        &who,
        "publish",
        serde_json::json!({"screens": b.screens, "gates": b.gates, "all": b.all}),
        versions,
    )
    .await?;
    let reply = json_reply(
        StatusCode::OK,
        &serde_json::json!({"published": published, "skipped": skipped}),
    );
    tracing::debug!(
        screens = published.len(),
        ?listed,
        ?locked,
        ?indexed,
        ?checked,
        ?sent,
        done = ?started.elapsed(),
        "publish call (times since it started)"
    );
    Ok(reply)
}

#[derive(Deserialize)]
struct AlertBody {
    #[serde(default)]
    id: Option<String>,
    targets: Targets,
    #[serde(default)]
    priority: i32,
    expires_at: String,
    #[serde(default)]
    text: Vec<AlertTextRecord>,
    #[serde(default)]
    media: Option<String>,
}

async fn send_alerts(state: &AppState, targets: &Targets) -> Result<Vec<ScreenVersion>, ApiError> {
    let now = jiff::Timestamp::now();
    let mut out = Vec::new();
    for s in state.store.screens()?.iter().filter(|s| targets.matches(s)) {
        let p = publish_alerts(&state.store, &state.key, state.outbox.as_ref(), s, now)
            .await
            .map_err(publish_error)?;
        state
            .metrics
            .alert_publishes
            .fetch_add(1, Ordering::Relaxed);
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

/// `POST /api/v1/alerts`: creates an alert and sends the new alert set to every target screen.
pub async fn create_alert(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let b: AlertBody = req.json().await?;
    let id = match b.id {
        Some(id) => {
            check_id("id", &id)?;
            id
        }
        None => format!(
            "alert-{}",
            playlists::hex::encode(&crate::secrets::random_bytes::<6>())
        ),
    };
    validate_targets(&state.store, &b.targets)?;
    let expires: jiff::Timestamp = b.expires_at.parse().map_err(|_| {
        ApiError::field(
            "expires_at",
            format!("{:?} is not an RFC 3339 time", b.expires_at),
        )
    })?;
    if expires <= jiff::Timestamp::now() {
        return Err(ApiError::field("expires_at", "is in the past"));
    }
    if b.text.is_empty() && b.media.is_none() {
        return Err(ApiError::field("text", "an alert needs text and/or media"));
    }
    for (i, t) in b.text.iter().enumerate() {
        if !playlists::manifest::is_valid_lang_tag(&t.lang) {
            return Err(ApiError::field(
                &format!("text[{i}].lang"),
                format!("{:?} is not a BCP 47 language tag", t.lang),
            ));
        }
        if t.text.trim().is_empty() || t.text.chars().count() > 4096 {
            return Err(ApiError::field(
                &format!("text[{i}].text"),
                "must be 1-4096 characters",
            ));
        }
    }
    if let Some(sha) = &b.media {
        match state.store.media(sha)? {
            Some(m) if !m.deleted && playlists::manifest::is_valid_sha256_hex(sha) => {}
            _ => {
                return Err(ApiError::field(
                    "media",
                    format!("unknown media {sha:?}; upload it first"),
                ))
            }
        }
    }
    let rec = AlertRecord {
        id,
        targets: b.targets,
        priority: b.priority,
        expires_at: expires.to_string(),
        text: b.text,
        media: b.media,
        cancelled: false,
        created_at: jiff::Timestamp::now().to_string(),
    };
    let _guard = state.publish_lock.lock().await;
    let versions = make_alert(state, &who, &rec, serde_json::json!({"id": rec.id})).await?;
    let mut v = serde_json::to_value(&rec).unwrap_or_default();
    v["published"] = serde_json::to_value(&versions).unwrap_or_default();
    Ok(json_reply(StatusCode::CREATED, &v))
}

/// Checks, stores and sends a new alert, and logs `alert.create` with `detail`; the caller
/// holds the publish lock. Used by `POST /api/v1/alerts` and the CAP intake.
pub(super) async fn make_alert(
    state: &AppState,
    who: &crate::tokens::Principal,
    rec: &AlertRecord,
    detail: serde_json::Value,
) -> Result<Vec<ScreenVersion>, ApiError> {
    check_alert(&state.store, rec, jiff::Timestamp::now()).map_err(publish_error)?;
    state.store.create_alert(rec).await?;
    let versions = send_alerts(state, &rec.targets).await?;
    log_action(state, who, "alert.create", detail, versions.clone()).await?;
    Ok(versions)
}

/// Cancels a stored alert and sends the new alert sets, logging `alert.cancel` with `detail`;
/// the caller holds the publish lock. Used by `DELETE /api/v1/alerts/{id}` and the CAP intake.
pub(super) async fn end_alert(
    state: &AppState,
    who: &crate::tokens::Principal,
    mut rec: AlertRecord,
    detail: serde_json::Value,
) -> Result<Vec<ScreenVersion>, ApiError> {
    rec.cancelled = true;
    state.store.put_alert(&rec).await?;
    let versions = send_alerts(state, &rec.targets).await?;
    log_action(state, who, "alert.cancel", detail, versions.clone()).await?;
    Ok(versions)
}

/// `GET /api/v1/alerts`.
pub fn list_alerts(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    Ok(json_reply(StatusCode::OK, &state.store.alerts()?))
}

/// `DELETE /api/v1/alerts/{id}`: cancels the alert and sends the new alert sets.
pub async fn cancel_alert(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let _guard = state.publish_lock.lock().await;
    let rec = state
        .store
        .alert(id)?
        .ok_or_else(|| ApiError::not_found("alert", id))?;
    let versions = end_alert(state, &who, rec, serde_json::json!({"id": id})).await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"cancelled": id, "published": versions}),
    ))
}
