//! `POST /api/v1/alerts/preview`: the alert screen a player would show, as PNG, for the
//! console's alert form (`docs/protocol.md` §17).

use serde::Deserialize;
use warp::http::{header, StatusCode};

use warp::reply::Response;

use super::{ApiError, AppState, Request, CONTENT};
use crate::preview::PreviewError;
use crate::store::AlertTextRecord;

/// Default preview size (the console shows it scaled).
const DEFAULT_SIZE: (u32, u32) = (1280, 720);
/// Largest preview: a full-HD screen.
const MAX_SIZE: (u32, u32) = (1920, 1080);
/// Smallest preview.
const MIN_SIZE: (u32, u32) = (320, 180);

/// The alert's texts, as in `POST /api/v1/alerts` (other fields are ignored).
#[derive(Deserialize)]
struct PreviewBody {
    text: Vec<AlertTextRecord>,
}

fn size_param(req: &Request, name: &str, default: u32, range: (u32, u32)) -> Result<u32, ApiError> {
    match req.query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (range.0..=range.1).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    name,
                    format!(
                        "must be a whole number of pixels from {} to {}",
                        range.0, range.1
                    ),
                )
            }),
    }
}

/// `POST /api/v1/alerts/preview?lang=vi&width=1280&height=720`: the text of `lang` (the
/// first text without `lang`) drawn as the screen shows it. Operator or admin.
pub async fn alert_preview(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    req.authorize(state, CONTENT)?;
    if let Some(unknown) = req
        .query
        .keys()
        .find(|k| !["lang", "width", "height"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            unknown,
            "unknown parameter; use lang, width, height",
        ));
    }
    let width = size_param(&req, "width", DEFAULT_SIZE.0, (MIN_SIZE.0, MAX_SIZE.0))?;
    let height = size_param(&req, "height", DEFAULT_SIZE.1, (MIN_SIZE.1, MAX_SIZE.1))?;
    let lang = req.query.get("lang").cloned();
    let body: PreviewBody = req.json().await?;
    let text =
        match &lang {
            Some(l) => body.text.iter().find(|t| &t.lang == l).ok_or_else(|| {
                ApiError::field("lang", format!("the alert has no text in {l:?}"))
            })?,
            None => body
                .text
                .first()
                .ok_or_else(|| ApiError::field("text", "the alert has no text to preview"))?,
        };
    if !playlists::manifest::is_valid_lang_tag(&text.lang) {
        return Err(ApiError::field(
            "lang",
            format!("{:?} is not a BCP 47 language tag", text.lang),
        ));
    }
    if text.text.trim().is_empty() || text.text.len() > playlists::manifest::MAX_ALERT_TEXT_LEN {
        return Err(ApiError::field(
            "text",
            format!(
                "must be 1-{} bytes of UTF-8, as an alert's text",
                playlists::manifest::MAX_ALERT_TEXT_LEN
            ),
        ));
    }
    let png = state
        .previews
        .png(&text.lang, &text.text, width, height)
        .await
        .map_err(|e| match e {
            PreviewError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
            }
            e => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "preview_failed",
                e.to_string(),
            ),
        })?;
    Ok(warp::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "image/png")
        .header(header::CACHE_CONTROL, "no-store")
        .body(png.into())
        .expect("valid response"))
}
