//! Health, metrics, keys, the action log and API tokens.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use warp::http::{header, StatusCode};
use warp::reply::Response;

use super::{json_reply, log_action, ApiError, AppState, Request, ADMIN, READ};
use crate::store::Role;

/// `GET /healthz`.
pub fn healthz(state: &AppState) -> Response {
    let (_, connected) = (state.mqtt_status)();
    json_reply(
        StatusCode::OK,
        &serde_json::json!({"status": "ok", "mqtt_connected": connected}),
    )
}

/// `GET /api/v1/keys` (public): the signing key and every key rotation statement (base64 of
/// the exact envelope bytes, oldest first; `docs/protocol.md` §4).
pub fn keys(state: &AppState) -> Response {
    use base64::Engine as _;
    let pk = state.key.public();
    let rotations: Vec<String> = crate::rotation::statements(&state.store)
        .unwrap_or_default()
        .iter()
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
        .collect();
    json_reply(
        StatusCode::OK,
        &serde_json::json!({"controller_key": pk.to_base64(), "controller_key_id": pk.key_id(),
                            "rotations": rotations}),
    )
}

/// `GET /metrics` (Prometheus text format).
pub fn metrics(state: &AppState) -> Result<Response, ApiError> {
    let screens = state.store.screens()?;
    let mut online = 0u64;
    for s in &screens {
        if state.store.status(&s.id)?.is_some_and(|st| st.online) {
            online += 1;
        }
    }
    let m = &state.metrics;
    let (reconnects, connected) = (state.mqtt_status)();
    let mut out = String::new();
    let mut put = |name: &str, kind: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    put(
        "gatecast_screens",
        "gauge",
        "Registered screens.",
        screens.len() as u64,
    );
    put(
        "gatecast_screens_online",
        "gauge",
        "Screens whose last status says they are online.",
        online,
    );
    put(
        "gatecast_publishes_total",
        "counter",
        "Manifests published (new versions).",
        m.publishes.load(Ordering::Relaxed),
    );
    put(
        "gatecast_alert_publishes_total",
        "counter",
        "Alert sets published.",
        m.alert_publishes.load(Ordering::Relaxed),
    );
    put(
        "gatecast_publish_failures_total",
        "counter",
        "Signed messages the MQTT client did not accept.",
        m.publish_failures.load(Ordering::Relaxed),
    );
    put(
        "gatecast_manifests_rejected_total",
        "counter",
        "Manifest rejections reported by players in their status.",
        m.manifests_rejected.load(Ordering::Relaxed),
    );
    put(
        "gatecast_mqtt_password_checks_total",
        "counter",
        "Screen logins to the embedded broker checked against their stored password verifier.",
        m.mqtt_password_checks.load(Ordering::Relaxed),
    );
    put(
        "gatecast_http_errors_total",
        "counter",
        "HTTP answers with status 400 or above.",
        m.http_errors.load(Ordering::Relaxed),
    );
    put(
        "gatecast_mqtt_reconnects_total",
        "counter",
        "Reconnects of the controller's MQTT client.",
        reconnects,
    );
    put(
        "gatecast_mqtt_connected",
        "gauge",
        "1 while the controller's MQTT client is connected.",
        connected as u64,
    );
    m.ingest.render(&mut out);
    m.status.render(&mut out);
    m.inbound.render(&mut out);
    Ok(warp::http::Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(out.into())
        .expect("valid response"))
}

/// `GET /api/v1/actions`: the operator action log (every role may read it).
pub fn actions(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    Ok(json_reply(StatusCode::OK, &state.store.actions()?))
}

/// `GET /api/v1/whoami`: the role and token id of the presented token (any valid token; 401
/// otherwise). Lets the console show what a role may do without probing other endpoints.
pub fn whoami(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, READ)?;
    let mut v = serde_json::json!({"role": who.role, "token_id": who.token_id});
    if let Some(user) = &who.user {
        v["user"] = serde_json::json!(user);
    }
    Ok(json_reply(StatusCode::OK, &v))
}

#[derive(Deserialize)]
struct TokenBody {
    role: String,
    /// What the token is for (optional; unique among live tokens).
    #[serde(default)]
    label: Option<String>,
}

/// `POST /api/v1/tokens {"role", "label"?}` (admin; 409 `id_exists` for a label a live token has): the token text is returned once.
pub async fn create_token(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let b: TokenBody = req.json().await?;
    let role: Role = b
        .role
        .parse()
        .map_err(|e: String| ApiError::field("role", e))?;
    let label = b.label.map(|l| l.trim().to_string());
    if let Some(l) = &label {
        super::edits::check_name("label", l)?;
        if super::edits::label_taken(state, l, "")? {
            let mut e = ApiError::id_exists("token", l);
            e.field = Some("label".into());
            return Err(e);
        }
    }
    let (mut rec, token) = crate::tokens::create_token(&state.store, role).await?;
    // A token made by a signed-in user belongs to them (named in the action log with it).
    if who.user.is_some() || label.is_some() {
        rec.owner = who.user.clone();
        rec.label = label;
        state.store.put_token(&rec).await?;
    }
    log_action(
        state,
        &who,
        "token.create",
        serde_json::json!({"id": rec.id, "role": role, "label": rec.label}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::CREATED,
        &serde_json::json!({"id": rec.id, "role": role, "label": rec.label, "token": token}),
    ))
}

/// `GET /api/v1/tokens` (admin): ids and roles, never secrets.
pub fn list_tokens(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, ADMIN)?;
    let v: Vec<_> = state
        .store
        .tokens()?
        .into_iter()
        .map(|t| serde_json::json!({"id": t.id, "role": t.role, "created_at": t.created_at, "revoked": t.revoked, "owner": t.owner, "label": t.label}))
        .collect();
    Ok(json_reply(StatusCode::OK, &v))
}

/// `DELETE /api/v1/tokens/{id}` (admin).
pub async fn revoke_token(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    if !crate::tokens::revoke_token(&state.store, id).await? {
        return Err(ApiError::not_found("token", id));
    }
    log_action(
        state,
        &who,
        "token.revoke",
        serde_json::json!({"id": id}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"revoked": id}),
    ))
}
