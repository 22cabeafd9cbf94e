//! `GET /api/v1/audit/export`: streams the audit bundle built by [`crate::export`].

use std::collections::BTreeSet;

use jiff::Timestamp;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::Reply as _;

use super::{ApiError, AppState, Request, READ};
use crate::export::{prepare, ExportError, ExportRequest};

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        match e {
            ExportError::Invalid { field, message } => ApiError::field(field, message),
            ExportError::Store(e) => e.into(),
            ExportError::Io(e) => ApiError::internal("audit export", e),
        }
    }
}

/// Sends what is written in 64 KiB chunks over a bounded channel (the HTTP body).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

struct ChannelBody(tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>);

impl futures_util::Stream for ChannelBody {
    type Item = Result<bytes::Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

fn parse_ts(req: &Request, field: &'static str) -> Result<Option<Timestamp>, ApiError> {
    match req.query.get(field) {
        None => Ok(None),
        Some(v) => v.parse::<Timestamp>().map(Some).map_err(|e| {
            ApiError::field(
                field,
                format!("{field} must be an RFC 3339 timestamp such as 2026-01-05T00:00:00Z: {e}"),
            )
        }),
    }
}

/// `GET /api/v1/audit/export`.
pub async fn get_export(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let from = parse_ts(&req, "from")?.unwrap_or(Timestamp::UNIX_EPOCH);
    let to = parse_ts(&req, "to")?.unwrap_or_else(Timestamp::now);
    let screens = match req.query.get("screens") {
        None => None,
        Some(list) => {
            let set: BTreeSet<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(bad) = set
                .iter()
                .find(|s| !playlists::manifest::is_valid_screen_id(s))
            {
                return Err(ApiError::field(
                    "screens",
                    format!("{bad:?} is not a valid screen id"),
                ));
            }
            Some(set)
        }
    };
    let since_size = match req.query.get("since_size") {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            ApiError::field("since_size", "since_size must be a non-negative integer")
        })?),
    };
    let prepared = prepare(
        &state.store,
        &state.key,
        &ExportRequest {
            from,
            to,
            screens,
            since_size,
        },
    )
    .await?;
    let name = prepared.file_name();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        if let Err(e) = prepared.write(&store, &mut w) {
            tracing::warn!("audit export stopped: {e}");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let mut resp = warp::reply::stream(ChannelBody(rx)).into_response();
    let built = warp::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .body(())
        .expect("valid response");
    *resp.headers_mut() = built.headers().clone();
    Ok(resp)
}
