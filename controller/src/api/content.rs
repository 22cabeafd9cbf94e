//! Playlists and schedules.

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{check_id, json_reply, log_action, ApiError, AppState, Request, CONTENT, READ};
use crate::store::{PlaylistItemRecord, PlaylistRecord, ScheduleRecord, Store, Targets};

#[derive(Deserialize)]
struct PlaylistBody {
    id: String,
    name: String,
    items: Vec<PlaylistItemRecord>,
}

fn validate_playlist(store: &Store, p: &PlaylistBody) -> Result<(), ApiError> {
    check_id("id", &p.id)?;
    if p.name.trim().is_empty() || p.name.chars().count() > 200 {
        return Err(
            ApiError::field_reason("name", "text_length", "must be 1-200 characters")
                .with("max", "200"),
        );
    }
    if p.items.is_empty() {
        return Err(ApiError::field("items", "must list at least one item"));
    }
    if p.items.len() > 1000 {
        return Err(ApiError::field("items", "may list at most 1000 items"));
    }
    for (i, item) in p.items.iter().enumerate() {
        for (field, sha) in std::iter::once((format!("items[{i}].media"), &item.media)).chain(
            item.variants
                .iter()
                .enumerate()
                .map(|(j, v)| (format!("items[{i}].variants[{j}]"), v)),
        ) {
            if !playlists::manifest::is_valid_sha256_hex(sha) {
                return Err(ApiError::field(
                    &field,
                    format!("{sha:?} is not a sha256 (64 lowercase hex)"),
                ));
            }
            match store.media(sha)? {
                Some(m) if !m.deleted => {
                    if field.ends_with(".media")
                        && m.kind == "slide"
                        && item.duration_ms.is_none()
                        && m.duration_ms.is_none()
                    {
                        return Err(ApiError::field(
                            &format!("items[{i}].duration_ms"),
                            "is required for a slide (it has no duration of its own)",
                        ));
                    }
                }
                _ => {
                    return Err(ApiError::field_reason(
                        &field,
                        "unknown_media",
                        format!("unknown media {sha}; upload it first"),
                    ))
                }
            }
        }
        if item.duration_ms == Some(0) {
            return Err(ApiError::field(
                &format!("items[{i}].duration_ms"),
                "must be positive",
            ));
        }
    }
    Ok(())
}

/// `POST /api/v1/playlists`.
pub async fn create_playlist(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let body: PlaylistBody = req.json().await?;
    validate_playlist(&state.store, &body)?;
    let rec = PlaylistRecord {
        id: body.id,
        name: body.name,
        items: body.items,
    };
    state.store.create_playlist(&rec).await?;
    log_action(
        state,
        &who,
        "playlist.create",
        serde_json::json!({"id": rec.id}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::CREATED, &rec))
}

/// `PUT /api/v1/playlists/{id}`: edits a playlist (or creates it under that id, for scripts;
/// the console creates with `POST`, which never overwrites).
pub async fn put_playlist(
    state: &AppState,
    mut req: Request,
    id: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let body: PlaylistBody = req.json().await?;
    if body.id != id {
        return Err(ApiError::field(
            "id",
            format!("{:?} differs from the path id {id:?}", body.id),
        ));
    }
    validate_playlist(&state.store, &body)?;
    let rec = PlaylistRecord {
        id: body.id,
        name: body.name,
        items: body.items,
    };
    state.store.put_playlist(&rec).await?;
    log_action(
        state,
        &who,
        "playlist.update",
        serde_json::json!({"id": rec.id}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::OK, &rec))
}

/// `GET /api/v1/playlists`.
pub fn list_playlists(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    Ok(json_reply(StatusCode::OK, &state.store.playlists()?))
}

/// `GET /api/v1/playlists/{id}`.
pub fn get_playlist(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let p = state
        .store
        .playlist(id)?
        .ok_or_else(|| ApiError::not_found("playlist", id))?;
    Ok(json_reply(StatusCode::OK, &p))
}

/// `DELETE /api/v1/playlists/{id}`: 409 while a schedule uses it.
pub async fn delete_playlist(
    state: &AppState,
    req: Request,
    id: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let users: Vec<String> = state
        .store
        .schedules()?
        .into_iter()
        .filter(|s| s.playlist == id)
        .map(|s| s.id)
        .collect();
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "playlist {id:?} is used by schedule(s) {}; delete those first",
            users.join(", ")
        )));
    }
    if !state.store.delete_playlist(id).await? {
        return Err(ApiError::not_found("playlist", id));
    }
    log_action(
        state,
        &who,
        "playlist.delete",
        serde_json::json!({"id": id}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"deleted": id}),
    ))
}

#[derive(Deserialize)]
struct ScheduleBody {
    id: String,
    playlist: String,
    #[serde(default)]
    targets: Targets,
    #[serde(default)]
    priority: i32,
    from: Option<String>,
    until: Option<String>,
    weekdays: Option<Vec<String>>,
    start: Option<String>,
    end: Option<String>,
    /// Must be true for a daily window that crosses midnight (`end` before `start`).
    #[serde(default)]
    overnight: bool,
}

/// Parses `HH:MM` into minutes after midnight.
fn parse_hhmm(field: &str, s: &str) -> Result<u32, ApiError> {
    let bad = || {
        ApiError::field_reason(
            field,
            "invalid_time",
            format!("{s:?} is not a time HH:MM (00:00-23:59)"),
        )
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Checks targets: at least one; screen ids valid and registered; gate names non-empty.
pub fn validate_targets(store: &Store, t: &Targets) -> Result<(), ApiError> {
    if t.screens.is_empty() && t.gates.is_empty() {
        return Err(ApiError::field_reason(
            "targets",
            "no_targets",
            "must name at least one screen or gate",
        ));
    }
    for (i, s) in t.screens.iter().enumerate() {
        let f = format!("targets.screens[{i}]");
        if !playlists::manifest::is_valid_screen_id(s) {
            return Err(ApiError::field(
                &f,
                format!("{s:?} is not a valid screen id"),
            ));
        }
        if store.screen(s)?.is_none() {
            return Err(ApiError::field_reason(
                &f,
                "unknown_screen",
                format!("screen {s:?} is not registered"),
            )
            .with("value", s.as_str()));
        }
    }
    for (i, g) in t.gates.iter().enumerate() {
        if g.trim().is_empty() || g.chars().count() > 100 {
            return Err(ApiError::field(
                &format!("targets.gates[{i}]"),
                "must be 1-100 characters",
            ));
        }
    }
    Ok(())
}

/// Checks a schedule body and builds its record (the rules of `POST` and `PUT`).
fn schedule_record(state: &AppState, b: ScheduleBody) -> Result<ScheduleRecord, ApiError> {
    check_id("id", &b.id)?;
    if state.store.playlist(&b.playlist)?.is_none() {
        return Err(ApiError::field_reason(
            "playlist",
            "unknown_playlist",
            format!("unknown playlist {:?}", b.playlist),
        )
        .with("value", b.playlist.as_str()));
    }
    validate_targets(&state.store, &b.targets)?;
    let date = |field: &str, v: &Option<String>| -> Result<Option<jiff::civil::Date>, ApiError> {
        v.as_deref()
            .map(|s| {
                s.parse::<jiff::civil::Date>().map_err(|_| {
                    ApiError::field_reason(
                        field,
                        "invalid_date",
                        format!("{s:?} is not a date YYYY-MM-DD"),
                    )
                })
            })
            .transpose()
    };
    let from = date("from", &b.from)?;
    let until = date("until", &b.until)?;
    if let (Some(f), Some(u)) = (from, until) {
        if u < f {
            return Err(ApiError::field_reason(
                "until",
                "date_order",
                format!("{u} is before from ({f})"),
            )
            .with("from", f.to_string())
            .with("until", u.to_string()));
        }
    }
    if let Some(w) = &b.weekdays {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        if w.is_empty() {
            return Err(ApiError::field(
                "weekdays",
                "must not be empty (leave it out for every day)",
            ));
        }
        for (i, d) in w.iter().enumerate() {
            if !DAYS.contains(&d.as_str()) {
                return Err(ApiError::field(
                    &format!("weekdays[{i}]"),
                    format!("{d:?} is not one of mon, tue, wed, thu, fri, sat, sun"),
                ));
            }
        }
    }
    match (&b.start, &b.end) {
        (Some(s), Some(e)) => {
            let (s_min, e_min) = (parse_hhmm("start", s)?, parse_hhmm("end", e)?);
            if e_min == s_min {
                return Err(ApiError::field_reason(
                    "end",
                    "time_order",
                    "equals start: the window would be empty",
                ));
            }
            if e_min < s_min && !b.overnight {
                return Err(ApiError::field_reason(
                    "end",
                    "time_order",
                    format!("{e} is before start ({s}); for a window across midnight also send \"overnight\": true"),
                ));
            }
        }
        (None, None) => {}
        (Some(_), None) => return Err(ApiError::field("end", "is required when start is given")),
        (None, Some(_)) => return Err(ApiError::field("start", "is required when end is given")),
    }
    Ok(ScheduleRecord {
        id: b.id,
        playlist: b.playlist,
        targets: b.targets,
        priority: b.priority,
        from: b.from,
        until: b.until,
        weekdays: b.weekdays,
        start: b.start,
        end: b.end,
    })
}

/// `POST /api/v1/schedules`: creates an entry; 409 `id_exists` if the id is taken.
pub async fn create_schedule(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let b: ScheduleBody = req.json().await?;
    let rec = schedule_record(state, b)?;
    state.store.create_schedule(&rec).await?;
    log_action(
        state,
        &who,
        "schedule.create",
        serde_json::json!({"id": rec.id}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::CREATED, &rec))
}

/// `PUT /api/v1/schedules/{id}`: edits an existing entry (404 if there is none; the id in the
/// body must be the path's: an edit never renames nor creates).
pub async fn put_schedule(
    state: &AppState,
    mut req: Request,
    id: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let b: ScheduleBody = req.json().await?;
    if b.id != id {
        return Err(ApiError::field(
            "id",
            format!("{:?} differs from the path id {id:?}", b.id),
        ));
    }
    let old = state
        .store
        .schedule(id)?
        .ok_or_else(|| ApiError::not_found("schedule", id))?;
    let rec = schedule_record(state, b)?;
    state.store.put_schedule(&rec).await?;
    log_action(
        state,
        &who,
        "schedule.update",
        serde_json::json!({"id": rec.id, "before": old}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::OK, &rec))
}

/// `GET /api/v1/schedules`.
pub fn list_schedules(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    Ok(json_reply(StatusCode::OK, &state.store.schedules()?))
}

/// `GET /api/v1/schedules/{id}`.
pub fn get_schedule(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let s = state
        .store
        .schedule(id)?
        .ok_or_else(|| ApiError::not_found("schedule", id))?;
    Ok(json_reply(StatusCode::OK, &s))
}

/// `DELETE /api/v1/schedules/{id}` (takes effect at the next publish).
pub async fn delete_schedule(
    state: &AppState,
    req: Request,
    id: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    if !state.store.delete_schedule(id).await? {
        return Err(ApiError::not_found("schedule", id));
    }
    log_action(
        state,
        &who,
        "schedule.delete",
        serde_json::json!({"id": id}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"deleted": id}),
    ))
}
