//! Edits of what people name: a media item's title and language, an API token's label, a
//! gate's display name. Each is recorded in the operator action log with the value before.

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{json_reply, log_action, ApiError, AppState, Request, ADMIN, CONTENT};

/// The longest title, label or display name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Checks a title, label or display name: 1-[`MAX_NAME_CHARS`] characters, not only spaces.
pub fn check_name(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::field_reason(
            field,
            "text_length",
            format!("must be 1-{MAX_NAME_CHARS} characters"),
        )
        .with("max", MAX_NAME_CHARS.to_string()));
    }
    Ok(())
}

/// Checks a language tag (BCP 47, e.g. `vi`, `zh-Hans`).
pub fn check_lang(field: &str, v: &str) -> Result<(), ApiError> {
    if playlists::manifest::is_valid_lang_tag(v) {
        Ok(())
    } else {
        Err(ApiError::field_reason(
            field,
            "invalid_language",
            format!("{v:?} is not a BCP 47 language tag (e.g. vi, en, zh-Hans)"),
        )
        .with("value", v))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaEdit {
    title: Option<String>,
    lang: Option<String>,
}

/// `PATCH /api/v1/media/{sha256} {"title"?, "lang"?}`: renames a media item or corrects its
/// language. The bytes (and so the hash the manifests name) never change.
pub async fn edit_media(
    state: &AppState,
    mut req: Request,
    sha: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let b: MediaEdit = req.json().await?;
    let mut rec = match state.store.media(sha)? {
        Some(m) if !m.deleted => m,
        _ => return Err(ApiError::not_found("media", sha)),
    };
    let before = serde_json::json!({"title": rec.title, "lang": rec.lang});
    if let Some(t) = b.title {
        check_name("title", &t)?;
        rec.title = t.trim().to_string();
    }
    if let Some(l) = b.lang {
        check_lang("lang", &l)?;
        rec.lang = l;
    }
    state.store.put_media(&rec).await?;
    log_action(
        state,
        &who,
        "media.update",
        serde_json::json!({"sha256": sha, "title": rec.title, "lang": rec.lang, "before": before}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::OK, &super::media::media_json(&rec)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEdit {
    label: String,
}

/// Whether a token that is not revoked already carries `label` (labels name tokens in the
/// console and the action log, so two live tokens never share one).
pub fn label_taken(state: &AppState, label: &str, except: &str) -> Result<bool, ApiError> {
    Ok(state
        .store
        .tokens()?
        .iter()
        .any(|t| !t.revoked && t.id != except && t.label.as_deref() == Some(label)))
}

/// `PATCH /api/v1/tokens/{id} {"label"}` (admin): renames a token; 409 `id_exists` when
/// another live token has that label.
pub async fn edit_token(
    state: &AppState,
    mut req: Request,
    id: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let b: TokenEdit = req.json().await?;
    let label = b.label.trim().to_string();
    check_name("label", &label)?;
    let mut rec = state
        .store
        .token(id)?
        .ok_or_else(|| ApiError::not_found("token", id))?;
    if label_taken(state, &label, id)? {
        let mut e = ApiError::id_exists("token", &label);
        e.field = Some("label".into());
        return Err(e);
    }
    let before = rec.label.replace(label.clone());
    state.store.put_token(&rec).await?;
    log_action(
        state,
        &who,
        "token.update",
        serde_json::json!({"id": id, "label": label, "before": before}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"id": rec.id, "role": rec.role, "label": rec.label, "revoked": rec.revoked}),
    ))
}

/// The metadata key of a gate's display name.
fn gate_key(gate: &str) -> String {
    crate::store::gate_name_key(gate)
}

/// The display name of `gate` (the gate's own name when none was set).
pub fn gate_name(state: &AppState, gate: &str) -> Result<String, ApiError> {
    Ok(state
        .store
        .meta_get(&gate_key(gate))?
        .unwrap_or_else(|| gate.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GateEdit {
    name: String,
}

/// `PUT /api/v1/gates/{gate} {"name"}` (admin): the gate's display name in the console. The
/// gate itself (what screens and schedules name) stays; the path segment is percent-decoded.
pub async fn put_gate(
    state: &AppState,
    mut req: Request,
    gate: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let gate = super::parse_query(&format!("g={gate}"))
        .remove("g")
        .unwrap_or_default();
    let b: GateEdit = req.json().await?;
    let name = b.name.trim().to_string();
    check_name("name", &name)?;
    if !state.store.screens()?.iter().any(|s| s.gate == gate) {
        return Err(ApiError::not_found("gate", &gate));
    }
    let before = gate_name(state, &gate)?;
    state.store.meta_put(&gate_key(&gate), &name).await?;
    log_action(
        state,
        &who,
        "gate.update",
        serde_json::json!({"gate": gate, "name": name, "before": before}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"gate": gate, "name": name}),
    ))
}
