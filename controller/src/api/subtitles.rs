//! Subtitle tracks of a video (`docs/protocol.md` §21): `POST /api/v1/media/{sha256}/subtitles
//! ?lang=` (the SRT or WebVTT file as the body), `GET /api/v1/media/{sha256}/subtitles`,
//! `DELETE /api/v1/media/{sha256}/subtitles/{lang}`.

use futures_util::StreamExt;
use playlists::subtitle::{self, SubtitleError, MAX_SUBTITLE_BYTES};
use warp::http::StatusCode;
use warp::reply::Response;

use super::{drain, json_reply, log_action, ApiError, AppState, BodyError, Request, CONTENT, READ};
use crate::store::SubtitleRecord;

fn subtitle_error(e: SubtitleError) -> ApiError {
    let status = match e {
        SubtitleError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let line = match &e {
        SubtitleError::Invalid { line, .. } => Some(line.to_string()),
        _ => None,
    };
    let err = ApiError::new(status, e.code(), e.to_string());
    match line {
        Some(line) => err.with("line", line),
        None => err,
    }
}

/// The video a track belongs to: stored, not deleted, kind `video` or `clip`.
fn video(state: &AppState, sha: &str) -> Result<crate::store::MediaRecord, ApiError> {
    let m = state
        .store
        .media(sha)?
        .filter(|m| !m.deleted)
        .ok_or_else(|| ApiError::not_found("media", sha))?;
    if m.kind != "video" && m.kind != "clip" {
        return Err(ApiError::field(
            "sha256",
            format!(
                "{} is a {}; only a video or clip has subtitles",
                m.title, m.kind
            ),
        ));
    }
    Ok(m)
}

/// `POST /api/v1/media/{sha256}/subtitles?lang=`: checks the file (UTF-8, at most 1 MiB, SRT or
/// WebVTT cues), stores it by its SHA-256 and makes it the video's track in `lang` (replacing
/// an earlier one). The next publish lists it in the manifest.
pub async fn upload(state: &AppState, mut req: Request, sha: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let v = video(state, sha)?;
    let lang =
        req.query.get("lang").cloned().ok_or_else(|| {
            ApiError::field("lang", "is required (a BCP 47 tag such as vi or hmn)")
        })?;
    if !playlists::manifest::is_valid_lang_tag(&lang) {
        return Err(ApiError::field(
            "lang",
            format!("{lang:?} is not a BCP 47 language tag"),
        ));
    }
    let mut buf = Vec::new();
    while let Some(chunk) = req.body.next().await {
        let chunk = chunk.map_err(|e| match e {
            BodyError::TooSlow(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", e.to_string())
            }
            e => ApiError::bad_request("body_error", e.to_string()),
        })?;
        if buf.len() + chunk.len() > MAX_SUBTITLE_BYTES {
            let size = buf.len() + chunk.len();
            drain(&mut req.body).await;
            return Err(subtitle_error(SubtitleError::TooLarge(size)));
        }
        buf.extend_from_slice(&chunk);
    }
    let parsed = subtitle::parse(&buf).map_err(subtitle_error)?;
    let stored = state.blobs.store_bytes(buf).await?;
    let rec = SubtitleRecord {
        video: v.sha256.clone(),
        lang,
        sha256: stored.sha256,
        bytes: stored.bytes,
        format: parsed.format,
        cues: parsed.cues.len(),
        uploaded_at: jiff::Timestamp::now().to_string(),
    };
    state.store.put_subtitle(&rec).await?;
    log_action(
        state,
        &who,
        "subtitle.upload",
        serde_json::json!({"video": rec.video, "lang": rec.lang, "sha256": rec.sha256}),
        vec![],
    )
    .await?;
    Ok(json_reply(StatusCode::CREATED, &rec))
}

/// `GET /api/v1/media/{sha256}/subtitles`: `{"video","subtitles":[…]}`.
pub fn list(state: &AppState, req: Request, sha: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let v = video(state, sha)?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"video": v.sha256, "subtitles": state.store.subtitles(&v.sha256)?}),
    ))
}

/// `DELETE /api/v1/media/{sha256}/subtitles/{lang}`: the video has no track in `lang` any
/// more (from the next publish); the file is removed unless another track uses it.
pub async fn delete(
    state: &AppState,
    req: Request,
    sha: &str,
    lang: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let v = video(state, sha)?;
    let Some(rec) = state
        .store
        .subtitles(&v.sha256)?
        .into_iter()
        .find(|r| r.lang == lang)
    else {
        return Err(ApiError::not_found(
            "subtitle track",
            &format!("{sha}/{lang}"),
        ));
    };
    state.store.delete_subtitle(&v.sha256, lang).await?;
    if !state.store.subtitle_file_used(&rec.sha256)? && state.store.media(&rec.sha256)?.is_none() {
        state
            .blobs
            .remove(&rec.sha256)
            .map_err(|e| ApiError::internal("removing a subtitle file", e))?;
    }
    log_action(
        state,
        &who,
        "subtitle.delete",
        serde_json::json!({"video": v.sha256, "lang": lang}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"deleted": rec}),
    ))
}
