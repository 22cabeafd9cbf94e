//! `GET /api/v1/alert-templates`, `PUT` and `DELETE /api/v1/alert-templates/{id}`: the
//! ready-made alert texts of the console's alert form (see [`crate::alert_templates`]).

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{check_id, json_reply, log_action, ApiError, AppState, Request, ADMIN, READ};
use crate::alert_templates::{defaults, AlertTemplate, MAX_TEMPLATES};
use crate::store::AlertTextRecord;

#[derive(Deserialize)]
struct TemplateBody {
    name_vi: String,
    name_en: String,
    text: Vec<AlertTextRecord>,
    hours: u32,
}

/// The stored templates, else the built-in set.
fn current(state: &AppState) -> Result<Vec<AlertTemplate>, ApiError> {
    Ok(state.store.alert_templates()?.unwrap_or_else(defaults))
}

/// `GET /api/v1/alert-templates`: every template, in their stored order.
pub fn list(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    Ok(json_reply(StatusCode::OK, &current(state)?))
}

fn check_name(field: &str, s: &str) -> Result<(), ApiError> {
    if s.trim().is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must be 1-200 characters without control characters",
        ));
    }
    Ok(())
}

fn check(b: &TemplateBody) -> Result<(), ApiError> {
    check_name("name_vi", &b.name_vi)?;
    check_name("name_en", &b.name_en)?;
    if !(1..=720).contains(&b.hours) {
        return Err(ApiError::field("hours", "must be 1-720 (up to 30 days)"));
    }
    if b.text.is_empty() || b.text.len() > 32 {
        return Err(ApiError::field("text", "must hold 1-32 languages"));
    }
    for (i, t) in b.text.iter().enumerate() {
        if !playlists::manifest::is_valid_lang_tag(&t.lang) {
            return Err(ApiError::field(
                &format!("text[{i}].lang"),
                format!("{:?} is not a language tag such as vi, en, zh-Hans", t.lang),
            ));
        }
        if b.text[..i]
            .iter()
            .any(|o| o.lang.eq_ignore_ascii_case(&t.lang))
        {
            return Err(ApiError::field(
                &format!("text[{i}].lang"),
                format!("{:?} appears twice", t.lang),
            ));
        }
        if t.text.trim().is_empty() || t.text.chars().count() > 4096 {
            return Err(ApiError::field(
                &format!("text[{i}].text"),
                "must be 1-4096 characters",
            ));
        }
    }
    Ok(())
}

/// `PUT /api/v1/alert-templates/{id}` (admin): replaces the template, or adds it at the end.
pub async fn put(state: &AppState, mut req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    check_id("id", id)?;
    let b: TemplateBody = req.json().await?;
    check(&b)?;
    let rec = AlertTemplate {
        id: id.to_string(),
        name_vi: b.name_vi.trim().to_string(),
        name_en: b.name_en.trim().to_string(),
        text: b
            .text
            .into_iter()
            .map(|t| AlertTextRecord {
                lang: t.lang,
                text: t.text.trim().to_string(),
            })
            .collect(),
        hours: b.hours,
    };
    // The list is read, changed and written whole: one writer at a time.
    let _guard = state.publish_lock.lock().await;
    let mut all = current(state)?;
    let created = match all.iter_mut().find(|t| t.id == id) {
        Some(t) => {
            *t = rec.clone();
            false
        }
        None => {
            if all.len() >= MAX_TEMPLATES {
                return Err(ApiError::conflict(format!(
                    "there are already {MAX_TEMPLATES} alert templates; delete one first"
                )));
            }
            all.push(rec.clone());
            true
        }
    };
    state.store.put_alert_templates(&all).await?;
    log_action(
        state,
        &who,
        "alert_template.put",
        serde_json::json!({"id": id, "created": created}),
        vec![],
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_reply(status, &rec))
}

/// `DELETE /api/v1/alert-templates/{id}` (admin).
pub async fn delete(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let _guard = state.publish_lock.lock().await;
    let mut all = current(state)?;
    let before = all.len();
    all.retain(|t| t.id != id);
    if all.len() == before {
        return Err(ApiError::not_found("alert template", id));
    }
    state.store.put_alert_templates(&all).await?;
    log_action(
        state,
        &who,
        "alert_template.delete",
        serde_json::json!({"id": id}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"deleted": id}),
    ))
}
