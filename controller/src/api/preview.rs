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

/// Largest image media drawn in a preview, in bytes.
pub const MAX_PREVIEW_MEDIA_BYTES: u64 = 16 * 1024 * 1024;

/// The alert's texts and media, as in `POST /api/v1/alerts` (other fields are ignored).
#[derive(Deserialize)]
struct PreviewBody {
    text: Vec<AlertTextRecord>,
    /// The sha256 of a stored image media (kind `slide`), drawn above the text.
    #[serde(default)]
    media: Option<String>,
}

/// The bytes of the stored image media `sha` for a preview: a named 400 error when it is not
/// a sha256, unknown or deleted, not an image (kind `slide`, PNG or JPEG) or too large.
async fn preview_media(state: &AppState, sha: &str) -> Result<Vec<u8>, ApiError> {
    if !playlists::manifest::is_valid_sha256_hex(sha) {
        return Err(ApiError::field(
            "media",
            format!("{sha:?} is not 64 lowercase hex characters"),
        ));
    }
    let rec = state
        .store
        .media(sha)?
        .filter(|r| !r.deleted)
        .ok_or_else(|| ApiError::field("media", format!("no stored media {sha}")))?;
    if rec.kind != "slide" || !["image/png", "image/jpeg"].contains(&rec.mime.as_str()) {
        return Err(ApiError::field(
            "media",
            format!(
                "media {sha} is a {} ({}); only an image (slide, PNG or JPEG) is drawn with the text",
                rec.kind, rec.mime
            ),
        ));
    }
    if rec.bytes > MAX_PREVIEW_MEDIA_BYTES {
        return Err(ApiError::field(
            "media",
            format!(
                "media {sha} is {} bytes; a preview draws images up to {MAX_PREVIEW_MEDIA_BYTES} bytes",
                rec.bytes
            ),
        ));
    }
    let path = state
        .blobs
        .path(sha)
        .ok_or_else(|| ApiError::field("media", format!("no stored media {sha}")))?;
    match tokio::fs::read(&path).await {
        Ok(b) if b.len() as u64 <= MAX_PREVIEW_MEDIA_BYTES => Ok(b),
        Ok(_) => Err(ApiError::field(
            "media",
            format!("media {sha} is larger than {MAX_PREVIEW_MEDIA_BYTES} bytes"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::field(
            "media",
            format!("the file of media {sha} is missing"),
        )),
        Err(e) => Err(ApiError::internal("reading a media file", e)),
    }
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
/// first text without `lang`) drawn as the screen shows it, with the body's image `media`
/// (a stored media's sha256) above it. Operator or admin.
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
    let media = match &body.media {
        Some(sha) => Some(preview_media(state, sha).await?),
        None => None,
    };
    let png = state
        .previews
        .png(&text.lang, &text.text, media, width, height)
        .await
        .map_err(|e| match e {
            PreviewError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
            }
            PreviewError::Media(e) => ApiError::field("media", e.to_string()),
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
