//! The approval policy and approvals (`docs/protocol.md` §17, §19): `PUT`/`GET
//! /api/v1/policy`, `GET /api/v1/approvals/pending`, `POST /api/v1/approvals`.

use warp::http::StatusCode;
use warp::reply::Response;

use super::{json_reply, log_action, ApiError, AppState, Request, ADMIN, READ};
use crate::approvals::{
    accept_approval, accept_policy, canonical_envelope, pending, pending_texts, ApprovalError,
};
use crate::ticker::newly_approved;

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> ApiError {
        match e {
            ApprovalError::Store(s) => s.into(),
            ApprovalError::NoPolicy => {
                ApiError::new(StatusCode::CONFLICT, "no_policy", e.to_string())
            }
            ApprovalError::Policy(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "policy_refused",
                e.to_string(),
            ),
            ApprovalError::Approval(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "approval_refused",
                e.to_string(),
            ),
        }
    }
}

async fn envelope_body(req: &mut Request) -> Result<playlists::envelope::Envelope, ApiError> {
    let body: serde_json::Value = req.json().await?;
    canonical_envelope(&body).map_err(|m| ApiError::bad_request("invalid_envelope", m))
}

/// `PUT /api/v1/policy` (admin): the policy envelope as the body; refused unless it verifies
/// under the root threshold (of the current policy, or of its own roots for the first) and is
/// newer. The controller cannot make one: it holds no root key.
pub async fn put_policy(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let env = envelope_body(&mut req).await?;
    let policy = accept_policy(&state.store, &env, jiff::Timestamp::now()).await?;
    // Every screen reads the chain from the retained policy topic (docs/protocol.md §19), so a
    // rotation takes effect before the next manifest; it is also republished on connect.
    let chain = state.store.policy_chain()?;
    if let Err(e) = state
        .outbox
        .send(
            playlists::topics::POLICY_TOPIC.to_owned(),
            serde_json::to_vec(&chain).expect("a list of strings serializes"),
        )
        .await
    {
        tracing::warn!(
            version = policy.version,
            "sending the policy chain failed (it is republished on the next connect): {e}"
        );
    }
    log_action(
        state,
        &who,
        "policy.put",
        serde_json::json!({"version": policy.version, "root_keys": policy.root_ids(), "approvers": policy.approvers.iter().map(|a| &a.key_id).collect::<Vec<_>>()}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"version": policy.version, "policy": policy}),
    ))
}

/// `GET /api/v1/policy` (any token): `{"policy": <newest, parsed> | null, "chain": [envelope…]}`.
pub fn get_policy(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let chain = state.store.policy_chain()?;
    let policy = crate::approvals::Approvals::load(&state.store)?.map(|a| a.policy);
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"policy": policy, "chain": chain}),
    ))
}

/// `GET /api/v1/approvals/pending` (any token): the media and the ticker texts that lack
/// approvals, with who has approved each so far.
pub fn get_pending(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let now = jiff::Timestamp::now();
    let (a, media) = pending(&state.store, now)?;
    let texts = match &a {
        Some(a) => pending_texts(&state.store, a, now)?,
        None => Vec::new(),
    };
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({
            "policy_version": a.as_ref().map(|a| a.policy.version),
            "media_threshold": a.as_ref().map_or(0, |a| a.policy.media_threshold),
            "alert_threshold": a.as_ref().map_or(0, |a| a.policy.alert_threshold),
            "approvers": a.as_ref().map(|a| a.policy.approvers.iter().map(|x| serde_json::json!({"key_id": x.key_id, "name": x.name})).collect::<Vec<_>>()).unwrap_or_default(),
            "media": media,
            "texts": texts,
        }),
    ))
}

/// `POST /api/v1/approvals` (any token): one approval envelope signed on the approver's own
/// computer; kept if an approver of the current policy signed it.
pub async fn post_approval(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, READ)?;
    let env = envelope_body(&mut req).await?;
    let (signers, approval, new) = accept_approval(&state.store, &env).await?;
    if new {
        // A pending ticker text this approval completes is sent now (`docs/protocol.md` §20).
        let mut versions = Vec::new();
        if !approval.texts.is_empty() {
            let _guard = state.publish_lock.lock().await;
            let screens = newly_approved(&state.store, jiff::Timestamp::now())
                .map_err(super::publishing::publish_error)?;
            let refs: Vec<_> = screens.iter().collect();
            if !refs.is_empty() {
                versions = super::ticker::send_to(state, &refs).await?;
            }
        }
        log_action(
            state,
            &who,
            "approval.add",
            serde_json::json!({"approvers": signers, "media": approval.media.iter().map(|m| &m.sha256).collect::<Vec<_>>(), "texts": approval.texts.len()}),
            versions,
        )
        .await?;
    }
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"approvers": signers, "media": approval.media.len(), "texts": approval.texts.len(), "new": new}),
    ))
}
