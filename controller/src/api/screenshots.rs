//! Screenshots (`docs/protocol.md` §18): the device-signed upload, the request that sends a
//! signed command to the screen, and the reads the console's screen wall uses.
//!
//! An upload is `POST /api/v1/screens/{id}/screenshots` with the image as the body
//! (`Content-Type: image/jpeg`) and the record's DSSE envelope, base64 of its exact bytes, in
//! the `X-Gatecast-Screenshot` header. No bearer token: the device key's signature is the
//! authentication. The record is verified (under the screen's current device key) before a
//! byte of the body is read.

use futures_util::StreamExt;
use playlists::screenshot::{self, ScreenshotError, ScreenshotRequest, MAX_IMAGE_BYTES};
use playlists::topics::{self, Kind};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply as _;

use super::{json_reply, log_action, ApiError, AppState, BodyError, Request, CONTENT, READ};
use crate::store::{ScreenRecord, StoredScreenshot};

/// Header carrying the record envelope of an upload (base64 of its exact bytes).
pub const RECORD_HEADER: &str = "x-gatecast-screenshot";

/// How long a screenshot command is valid: a minute (a screen that is offline longer does not
/// get it; non-retained, it is not delivered later anyway).
pub const REQUEST_LIFETIME_S: i64 = 60;

/// Most entries `GET …/screenshots` returns at once.
const LIST_MAX: usize = 1000;

fn screen(state: &AppState, id: &str) -> Result<ScreenRecord, ApiError> {
    state
        .store
        .screen(id)?
        .ok_or_else(|| ApiError::not_found("screen", id))
}

fn refused(e: ScreenshotError) -> ApiError {
    let (status, code) = match &e {
        ScreenshotError::ImageTooLarge { .. } | ScreenshotError::EnvelopeTooLarge { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, "screenshot_too_large")
        }
        ScreenshotError::Envelope(_) => (StatusCode::FORBIDDEN, "screenshot_signature"),
        ScreenshotError::HashMismatch { .. } | ScreenshotError::LengthMismatch { .. } => {
            (StatusCode::BAD_REQUEST, "screenshot_hash_mismatch")
        }
        ScreenshotError::WrongScreen { .. } => (StatusCode::FORBIDDEN, "screenshot_wrong_screen"),
        ScreenshotError::FromTheFuture { .. } | ScreenshotError::TooOld { .. } => {
            (StatusCode::BAD_REQUEST, "screenshot_time")
        }
        _ => (StatusCode::BAD_REQUEST, "screenshot_invalid"),
    };
    ApiError::new(status, code, format!("screenshot refused: {e}"))
}

/// Reads the body, refusing it as soon as it passes `max` bytes.
async fn read_image(req: &mut Request, max: u64) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = req.body.next().await {
        let chunk = chunk.map_err(|e| match e {
            BodyError::TooSlow(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", e.to_string())
            }
            e => ApiError::bad_request("body_error", e.to_string()),
        })?;
        if (buf.len() + chunk.len()) as u64 > max {
            return Err(refused(ScreenshotError::ImageTooLarge {
                size: (buf.len() + chunk.len()) as u64,
            }));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// `POST /api/v1/screens/{id}/screenshots` (device-signed upload).
pub async fn upload(state: &AppState, mut req: Request, id: &str) -> Result<Response, ApiError> {
    let s = screen(state, id)?;
    if s.disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "screen_disabled",
            format!("screen {id:?} is disabled; enable it to accept its screenshots"),
        ));
    }
    let key = s
        .device_key
        .as_deref()
        .map(playlists::keys::PublicKey::from_base64)
        .transpose()
        .map_err(|e| ApiError::conflict(format!("screen {id:?} has a corrupt device key: {e}")))?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "screen {id:?} is not enrolled: it has no device key to verify a screenshot with"
            ))
        })?;
    let header = req.header(RECORD_HEADER).ok_or_else(|| {
        ApiError::bad_request(
            "screenshot_record_missing",
            format!("the signed record must be in the `{RECORD_HEADER}` header (base64 of the DSSE envelope)"),
        )
    })?;
    use base64::Engine as _;
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|e| {
            ApiError::bad_request(
                "screenshot_record_malformed",
                format!("the `{RECORD_HEADER}` header is not base64: {e}"),
            )
        })?;
    let now = jiff::Timestamp::now();
    let checked = screenshot::verify_record_envelope(&envelope, &key, id)
        .and_then(|r| screenshot::check_time(&r, now).map(|()| r));
    let record = match checked {
        Ok(r) => r,
        Err(e) => {
            // Read (a bounded part of) the body so the client gets the answer, not a reset.
            super::drain(&mut req.body).await;
            return Err(refused(e));
        }
    };
    let image = read_image(&mut req, MAX_IMAGE_BYTES).await?;
    screenshot::check_image(&record, &image, now).map_err(refused)?;
    let envelope = String::from_utf8(envelope).map_err(|_| {
        ApiError::bad_request("screenshot_record_malformed", "the envelope is not UTF-8")
    })?;
    let stored = state
        .store
        .put_screenshot(
            StoredScreenshot {
                seq: 0,
                screen: id.to_string(),
                received_at: now.to_string(),
                record,
                envelope,
                key_id: key.key_id(),
            },
            &image,
            state.config.screenshots_kept,
        )
        .await?;
    tracing::info!(screen = id, seq = stored.seq, bytes = image.len(), request = ?stored.record.request, "screenshot stored");
    Ok(json_reply(StatusCode::CREATED, &summary(&stored)))
}

fn summary(s: &StoredScreenshot) -> serde_json::Value {
    serde_json::json!({
        "seq": s.seq,
        "screen": s.screen,
        "received_at": s.received_at,
        "taken_at": s.record.taken_at.to_string(),
        "sha256": s.record.sha256,
        "width": s.record.width,
        "height": s.record.height,
        "bytes": s.record.bytes,
        "format": s.record.format,
        "request": s.record.request,
        "key_id": s.key_id,
    })
}

/// `POST /api/v1/screens/{id}/screenshots/request` (write role): signs a command and sends it
/// on the screen's non-retained `screenshot` topic; `202` with its id.
pub async fn request(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let s = screen(state, id)?;
    if s.device_key.is_none() {
        return Err(ApiError::conflict(format!(
            "screen {id:?} is not enrolled yet; it cannot take a screenshot"
        )));
    }
    let now = jiff::Timestamp::now();
    let cmd = ScreenshotRequest {
        screen: id.to_string(),
        id: format!("shot-{}", crate::secrets::random_code(10)),
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_secs(REQUEST_LIFETIME_S),
    };
    let env = cmd
        .sign(&state.key)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    state
        .outbox
        .send_unretained(topics::topic(id, Kind::Screenshot), env.to_json())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "mqtt_unavailable",
                format!("the screenshot command could not be sent to the broker: {e}"),
            )
        })?;
    log_action(
        state,
        &who,
        "screenshot.request",
        serde_json::json!({"screen": id, "request": cmd.id}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::ACCEPTED,
        &serde_json::json!({
            "request": cmd.id,
            "screen": id,
            "expires_at": cmd.expires_at.to_string(),
        }),
    ))
}

fn latest(state: &AppState, req: &Request, id: &str) -> Result<StoredScreenshot, ApiError> {
    req.authorize(state, READ)?;
    screen(state, id)?;
    state.store.latest_screenshot(id)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_screenshot",
            format!("screen {id:?} has not uploaded a screenshot yet"),
        )
    })
}

/// `GET /api/v1/screens/{id}/screenshots/latest`: the newest image itself.
pub fn latest_image(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let s = latest(state, &req, id)?;
    let image = state
        .store
        .screenshot_image(id, s.seq)?
        .ok_or_else(|| ApiError::not_found("screenshot image of screen", id))?;
    let mut resp = warp::reply::with_status(image, StatusCode::OK).into_response();
    let h = resp.headers_mut();
    use warp::http::header::{self, HeaderValue};
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(s.record.format.mime()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&s.seq.to_string()) {
        h.insert("x-gatecast-screenshot-seq", v);
    }
    Ok(resp)
}

/// `GET /api/v1/screens/{id}/screenshots/latest.json`: the newest signed record and metadata.
pub fn latest_json(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let s = latest(state, &req, id)?;
    let mut v = summary(&s);
    v["envelope"] = serde_json::from_str(&s.envelope).unwrap_or(serde_json::Value::Null);
    Ok(json_reply(StatusCode::OK, &v))
}

/// `GET /api/v1/screens/{id}/screenshots?limit=`: the stored screenshots, newest first.
pub fn list(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    screen(state, id)?;
    let limit = match req.query.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LIST_MAX).contains(n))
            .ok_or_else(|| ApiError::field("limit", format!("must be 1..={LIST_MAX}")))?,
        None => LIST_MAX,
    };
    let rows: Vec<_> = state
        .store
        .screenshots(id, limit)?
        .iter()
        .map(summary)
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"screen": id, "kept": state.config.screenshots_kept, "screenshots": rows}),
    ))
}
