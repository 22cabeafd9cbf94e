//! Media upload, listing, deletion and the public `GET /media/{sha256}` download.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::Reply as _;

use super::{json_reply, log_action, ApiError, AppState, Request, CONTENT, READ};
use crate::blobs::{parse_range, RangeReq};
use crate::mediainfo::{self, MediaInfo};
use crate::store::MediaRecord;

const KINDS: [&str; 3] = ["video", "slide", "clip"];

/// `POST /api/v1/media?kind=&lang=&title=[&duration_ms=]`, raw body.
pub async fn upload(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let q = &req.query;
    let kind = q
        .get("kind")
        .ok_or_else(|| ApiError::field("kind", "is required (video, slide or clip)"))?
        .clone();
    if !KINDS.contains(&kind.as_str()) {
        return Err(ApiError::field(
            "kind",
            format!("{kind:?} is not video, slide or clip"),
        ));
    }
    let lang = q
        .get("lang")
        .ok_or_else(|| ApiError::field("lang", "is required (a BCP 47 tag such as vi or en)"))?
        .clone();
    if !playlists::manifest::is_valid_lang_tag(&lang) {
        return Err(ApiError::field(
            "lang",
            format!("{lang:?} is not a BCP 47 language tag"),
        ));
    }
    let title = q.get("title").cloned().unwrap_or_default();
    if title.chars().count() > 200 {
        return Err(ApiError::field("title", "is longer than 200 characters"));
    }
    let duration_ms = match q.get("duration_ms") {
        Some(d) => Some(d.parse::<u64>().map_err(|_| {
            ApiError::field(
                "duration_ms",
                format!("{d:?} is not a whole number of milliseconds"),
            )
        })?),
        None => None,
    };
    let mime = req
        .header("content-type")
        .map(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .ok_or_else(|| ApiError::field("Content-Type", "header is required (e.g. video/mp4)"))?;
    let kind_ok = match kind.as_str() {
        "video" => mime.starts_with("video/"),
        "slide" => mime.starts_with("image/"),
        _ => mime.starts_with("video/") || mime.starts_with("audio/"),
    };
    if crate::blobs::family_of(&mime).is_some() && !kind_ok {
        return Err(ApiError::field(
            "kind",
            format!("{kind} does not fit Content-Type {mime} (video: video/*, slide: image/*, clip: video/* or audio/*)"),
        ));
    }
    let limit = state.config.upload_limit_bytes;
    if let Some(len) = req
        .header("content-length")
        .and_then(|l| l.parse::<u64>().ok())
    {
        if len > limit {
            return Err(crate::blobs::BlobError::TooLarge { limit }.into());
        }
    }
    let stored = state.blobs.store(req.body, &mime, limit).await?;
    let prev = state.store.media(&stored.sha256)?;
    if let Some(p) = prev.as_ref().filter(|p| !p.deleted && stored.existed) {
        return Ok(json_reply(StatusCode::OK, &media_json(p)));
    }
    let title = if title.trim().is_empty() {
        format!("{kind} {}", &stored.sha256[..12])
    } else {
        title
    };
    let info = read_metadata(state, &stored.sha256, &mime).await;
    let poster = if mime.starts_with("video/") {
        draw_poster(state, &stored.sha256).await
    } else {
        false
    };
    let rec = MediaRecord {
        width: info.width,
        height: info.height,
        poster,
        sha256: stored.sha256.clone(),
        bytes: stored.bytes,
        mime,
        kind,
        lang,
        title,
        duration_ms: duration_ms.or(info.duration_ms),
        uploaded_at: jiff::Timestamp::now().to_string(),
        deleted: false,
    };
    state.store.put_media(&rec).await?;
    log_action(
        state,
        &who,
        "media.upload",
        serde_json::json!({"sha256": rec.sha256, "bytes": rec.bytes, "title": rec.title}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::CREATED, &media_json(&rec)))
}

/// How long the metadata reader may take for one upload.
const PROBE_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// Duration and size of a stored upload (docs/protocol.md: media). A file the reader cannot
/// read is kept with its duration unknown; the reason is logged, never fatal.
async fn read_metadata(state: &AppState, sha: &str, mime: &str) -> MediaInfo {
    let (Some(path), true) = (state.blobs.path(sha), mediainfo::readable(mime)) else {
        return MediaInfo::default();
    };
    match mediainfo::probe(path, mime, PROBE_BUDGET).await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(sha256 = sha, mime, error = %e, "media metadata unknown");
            MediaInfo::default()
        }
    }
}

/// Draws the poster thumbnail of a stored video with ffmpeg when it is installed.
async fn draw_poster(state: &AppState, sha: &str) -> bool {
    let (Some(src), Some(dest)) = (state.blobs.path(sha), state.blobs.poster_path(sha)) else {
        return false;
    };
    match mediainfo::poster(&src, &dest, PROBE_BUDGET).await {
        Ok(drawn) => drawn,
        Err(e) => {
            tracing::warn!(sha256 = sha, error = %e, "no poster thumbnail");
            false
        }
    }
}

pub(super) fn media_json(m: &MediaRecord) -> serde_json::Value {
    serde_json::json!({
        "sha256": m.sha256, "bytes": m.bytes, "mime": m.mime, "kind": m.kind,
        "lang": m.lang, "title": m.title, "duration_ms": m.duration_ms,
        "uploaded_at": m.uploaded_at, "width": m.width, "height": m.height,
        "poster": m.poster.then(|| format!("/media/{}/poster", m.sha256)),
    })
}

/// `GET /media/{sha256}/poster` (no token, like the media itself): the video's poster JPEG.
pub async fn poster(state: &AppState, sha: &str) -> Result<Response, ApiError> {
    check_sha(sha)?;
    let path = state
        .blobs
        .poster_path(sha)
        .ok_or_else(|| ApiError::not_found("poster", sha))?;
    let body = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("poster", sha))
        }
        Err(e) => return Err(ApiError::internal("reading a poster", e)),
    };
    Ok(warp::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "image/jpeg")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(body.into())
        .expect("valid response"))
}

/// `GET /api/v1/media`.
pub fn list(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let list: Vec<_> = state.store.media_list()?.iter().map(media_json).collect();
    Ok(json_reply(StatusCode::OK, &list))
}

fn check_sha(sha: &str) -> Result<(), ApiError> {
    if playlists::manifest::is_valid_sha256_hex(sha) {
        Ok(())
    } else {
        Err(ApiError::field(
            "sha256",
            format!("{sha:?} is not 64 lowercase hex characters"),
        ))
    }
}

/// `GET /api/v1/media/{sha256}`.
pub fn get(state: &AppState, req: Request, sha: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    check_sha(sha)?;
    match state.store.media(sha)? {
        Some(m) if !m.deleted => Ok(json_reply(StatusCode::OK, &media_json(&m))),
        _ => Err(ApiError::not_found("media", sha)),
    }
}

/// `DELETE /api/v1/media/{sha256}`: 409 while a published manifest or alert, or a playlist,
/// refers to it. The metadata is kept (receipts may name the hash); the file is removed.
pub async fn delete(state: &AppState, req: Request, sha: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    check_sha(sha)?;
    let mut rec = match state.store.media(sha)? {
        Some(m) if !m.deleted => m,
        _ => return Err(ApiError::not_found("media", sha)),
    };
    let _guard = state.publish_lock.lock().await;
    let mut users: Vec<String> = state
        .store
        .manifests()?
        .into_iter()
        .filter(|m| m.media.iter().any(|h| h == sha))
        .map(|m| {
            format!(
                "the manifest of screen {} (version {})",
                m.screen, m.version
            )
        })
        .collect();
    users.extend(
        state
            .store
            .alert_sets()?
            .into_iter()
            .filter(|a| a.media.iter().any(|h| h == sha))
            .map(|a| format!("the alerts of screen {}", a.screen)),
    );
    users.extend(
        state
            .store
            .playlists()?
            .into_iter()
            .filter(|p| {
                p.items
                    .iter()
                    .any(|i| i.media == sha || i.variants.iter().any(|v| v == sha))
            })
            .map(|p| format!("playlist {}", p.id)),
    );
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "media {sha} is still used by {}; remove it from there and publish first",
            users.join(", ")
        )));
    }
    state
        .blobs
        .remove(sha)
        .map_err(|e| ApiError::internal("removing the media file", e))?;
    rec.deleted = true;
    state.store.put_media(&rec).await?;
    log_action(
        state,
        &who,
        "media.delete",
        serde_json::json!({"sha256": sha}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"deleted": sha}),
    ))
}

/// A file body streamed from a reader task through a small bounded channel.
struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Stream for ChannelBody {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// `GET /media/{sha256}` (no token: the hash is the identity). Range (206/416), strong ETag,
/// immutable caching.
pub async fn download(state: &AppState, req: Request, sha: &str) -> Result<Response, ApiError> {
    check_sha(sha)?;
    let path = state
        .blobs
        .path(sha)
        .ok_or_else(|| ApiError::not_found("media", sha))?;
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found("media", sha))
        }
        Err(e) => return Err(ApiError::internal("opening a media file", e)),
    };
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal("reading media metadata", e))?
        .len();
    let etag = format!("\"{sha}\"");
    let mime = state
        .store
        .media(sha)?
        .map(|m| m.mime)
        .unwrap_or_else(|| "application/octet-stream".into());
    let common = |b: warp::http::response::Builder| {
        b.header(header::ETAG, &etag)
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .header(header::ACCEPT_RANGES, "bytes")
    };
    if let Some(inm) = req.header("if-none-match") {
        if inm.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
            return Ok(
                common(warp::http::Response::builder().status(StatusCode::NOT_MODIFIED))
                    .body(Vec::new().into())
                    .expect("valid response"),
            );
        }
    }
    // If-Range with another validator means: send the whole file.
    let range_header = match req.header("if-range") {
        Some(v) if v.trim() != etag => None,
        _ => req.header("range"),
    };
    let (status, start, end) = match parse_range(range_header, len) {
        RangeReq::Full => (StatusCode::OK, 0, len.saturating_sub(1)),
        RangeReq::Partial(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
        RangeReq::Unsatisfiable => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the file has {len} bytes"),
            )
            .into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                format!("bytes */{len}").parse().expect("valid header"),
            );
            return Ok(r);
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut b = common(warp::http::Response::builder().status(status))
        .header(header::CONTENT_TYPE, mime)
        .header(header::CONTENT_LENGTH, count);
    if status == StatusCode::PARTIAL_CONTENT {
        b = b.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    if req.method == warp::http::Method::HEAD {
        return Ok(b.body(Vec::new().into()).expect("valid response"));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
            let _ = tx.send(Err(e)).await;
            return;
        }
        let mut left = count;
        while left > 0 {
            let mut buf = vec![0u8; (64 * 1024).min(left as usize)];
            match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                        return; // client went away
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    let mut resp = warp::reply::stream(ChannelBody(rx)).into_response();
    let built = b.body(()).expect("valid response");
    *resp.status_mut() = built.status();
    *resp.headers_mut() = built.headers().clone();
    Ok(resp)
}
