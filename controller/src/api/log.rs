//! HTTP endpoints of the Merkle log (the log itself: [`crate::auditlog`]).
//!
//! HTTP (any token; auditors included):
//! - `GET /api/v1/log/checkpoint` → the latest checkpoint envelope, exact bytes (JSON);
//! - `POST /api/v1/log/checkpoint` → issues one now if the log grew, returns the latest;
//! - `GET /api/v1/log/proof/inclusion?index=&size=` →
//!   `{"index","size","leaf_hash","kind","proof":[hex…]}` (`size` defaults to the latest
//!   checkpoint's size);
//! - `GET /api/v1/log/proof/consistency?from=&to=` → `{"from","to","proof":[hex…]}`
//!   (`to` defaults to the latest checkpoint's size);
//! - `GET /api/v1/receipts/rejections` → the newest rejected receipts batches of each screen
//!   (and conflicts kept as evidence) as `{"rejections":[…],"conflicts":[…],"counts":[…]}`.

use playlists::merkle;
use warp::http::{header, StatusCode};
use warp::reply::Response;

use super::{json_reply, ApiError, AppState, Request, READ};
use crate::auditlog::{consistency_proof, inclusion_proof, issue_checkpoint, LogError};

impl From<LogError> for ApiError {
    fn from(e: LogError) -> ApiError {
        match e {
            LogError::OutOfRange(m) => ApiError::bad_request("invalid_field", m),
            LogError::Store(e) => e.into(),
        }
    }
}

fn hex_list(p: &[merkle::Hash]) -> Vec<String> {
    p.iter().map(merkle::hash_to_hex).collect()
}

fn query_u64(req: &Request, name: &str) -> Result<Option<u64>, ApiError> {
    match req.query.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::field(
                name,
                format!("{name} must be a non-negative integer, got {v:?}"),
            )
        }),
    }
}

fn latest_size(state: &AppState) -> Result<u64, ApiError> {
    Ok(match state.store.latest_checkpoint()? {
        Some((s, _)) => s,
        None => state.store.log_size()?,
    })
}

/// A 200 answer of JSON bytes rendered already.
pub(super) fn raw_json(bytes: Vec<u8>) -> Response {
    warp::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(bytes.into())
        .expect("valid response")
}

/// `GET /api/v1/log/checkpoint`.
pub async fn get_checkpoint(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let env = match state.store.latest_checkpoint()? {
        Some((_, env)) => env,
        None => issue_checkpoint(&state.store, &state.key).await?.1,
    };
    Ok(raw_json(env))
}

/// `POST /api/v1/log/checkpoint`.
pub async fn post_checkpoint(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    Ok(raw_json(
        issue_checkpoint(&state.store, &state.key).await?.1,
    ))
}

/// `GET /api/v1/log/proof/inclusion?index=&size=`.
pub fn get_inclusion(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let index =
        query_u64(&req, "index")?.ok_or_else(|| ApiError::field("index", "index is required"))?;
    let size = match query_u64(&req, "size")? {
        Some(s) => s,
        None => latest_size(state)?,
    };
    let proof = inclusion_proof(&state.store, index, size)?;
    let leaf = state
        .store
        .log_leaf(index)?
        .ok_or_else(|| ApiError::not_found("log leaf", &index.to_string()))?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({
            "index": index, "size": size, "kind": leaf.kind,
            "leaf_hash": merkle::hash_to_hex(&merkle::leaf_hash(&leaf.data)),
            "proof": hex_list(&proof),
        }),
    ))
}

/// `GET /api/v1/log/proof/consistency?from=&to=`.
pub fn get_consistency(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let from =
        query_u64(&req, "from")?.ok_or_else(|| ApiError::field("from", "from is required"))?;
    let to = match query_u64(&req, "to")? {
        Some(s) => s,
        None => latest_size(state)?,
    };
    let proof = consistency_proof(&state.store, from, to)?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"from": from, "to": to, "proof": hex_list(&proof)}),
    ))
}

/// `GET /api/v1/receipts/rejections?limit=&cursor=`: rejected batches and kept conflicting
/// envelopes (each with the count of later ones for its seq, `repeats`). Both share one id
/// sequence; a page holds the next `limit` of them in id order, and `next_cursor` while more
/// follow. Only the newest rejections of each screen are kept as rows; `counts` (on every page,
/// one per screen and reason) counts all of them, with the first and last `received_at`.
pub fn get_rejections(state: &AppState, req: Request) -> Result<Response, ApiError> {
    use crate::audit::query::{check_known, IdPage, DEFAULT_LIMIT, ID_PAGE_PARAMS};
    req.authorize(state, READ)?;
    check_known(&req.query, &[ID_PAGE_PARAMS])?;
    let page = IdPage::from_query(&req.query, DEFAULT_LIMIT)?;
    // One more of each than the page holds: enough to know whether more follow.
    let mut rejections = state
        .store
        .receipt_rejections_after(page.after, page.limit + 1)?;
    let mut conflicts = state
        .store
        .receipt_conflicts_after(page.after, page.limit + 1)?;
    let mut ids: Vec<u64> = rejections
        .iter()
        .map(|r| r.id)
        .chain(conflicts.iter().map(|c| c.id))
        .collect();
    ids.sort_unstable();
    let next = (ids.len() > page.limit).then(|| ids[page.limit - 1]);
    if let Some(last) = next {
        rejections.retain(|r| r.id <= last);
        conflicts.retain(|c| c.id <= last);
    }
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({
            "rejections": rejections,
            "conflicts": conflicts,
            "counts": state.store.receipt_rejection_counts()?,
            "next_cursor": next.map(|n| n.to_string()),
        }),
    ))
}
