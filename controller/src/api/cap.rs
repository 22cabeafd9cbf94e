//! CAP 1.2 intake and the CAP inbox (`docs/protocol.md` §22): `POST /api/v1/cap` (the XML
//! body), `GET /api/v1/cap`, `GET /api/v1/cap/{id}`, `POST /api/v1/cap/{id}/confirm` and
//! `POST /api/v1/cap/{id}/dismiss`; a message is shown as an alert or a ticker text. The
//! polled feeds (`api::cap_feed`) take messages in through [`intake`].

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use warp::http::StatusCode;
use warp::reply::Response;

use super::publishing::{end_alert, make_alert};
use super::ticker::{end_ticker, make_ticker};
use super::{drain, json_reply, log_action, ApiError, AppState, BodyError, Request, CONTENT, READ};
use crate::cap::{self, area, CapError, CapMessage, Display};
use crate::store::{AlertRecord, AlertTextRecord, CapRecord, CapState, Targets, TickerRecord};
use crate::tokens::Principal;

/// Most languages an alert carries (`docs/protocol.md` §9).
const MAX_LANGS: usize = 32;

fn cap_error(e: CapError) -> ApiError {
    let status = match e {
        CapError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        CapError::Expired(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CapError::DtdRefused | CapError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
async fn read_limited(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = req.body.next().await {
        let chunk = chunk.map_err(|e| match e {
            BodyError::TooSlow(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", e.to_string())
            }
            e => ApiError::bad_request("body_error", e.to_string()),
        })?;
        if buf.len() + chunk.len() > limit {
            let size = buf.len() + chunk.len();
            drain(&mut req.body).await;
            return Err(cap_error(CapError::TooLarge { size, limit }));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// The inbox entry id of a message: `cap-` and the first 16 hex digits of the SHA-256 of
/// `sender`, a newline and `identifier` (a message delivered twice is one entry).
pub fn entry_id(sender: &str, identifier: &str) -> String {
    let h = Sha256::digest(format!("{sender}\n{identifier}").as_bytes());
    format!("cap-{}", &playlists::hex::encode(&h)[..16])
}

/// An entry as the API shows it: without the XML (`GET /api/v1/cap/{id}` adds it).
fn view(r: &CapRecord, with_xml: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if !with_xml {
        if let Some(o) = v.as_object_mut() {
            o.remove("xml");
        }
    }
    v
}

fn record(
    msg: &CapMessage,
    xml: &[u8],
    matched: Vec<area::GateMatch>,
    now: jiff::Timestamp,
) -> CapRecord {
    let first = msg.infos.first();
    CapRecord {
        id: entry_id(&msg.sender, &msg.identifier),
        identifier: msg.identifier.clone(),
        sender: msg.sender.clone(),
        sent: msg.sent.to_string(),
        status: msg.status.clone(),
        msg_type: msg.msg_type.clone(),
        event: first.map(|i| i.event.clone()).unwrap_or_default(),
        urgency: first.map(|i| i.urgency.clone()).unwrap_or_default(),
        severity: first.map(|i| i.severity.clone()).unwrap_or_default(),
        priority: msg.priority(),
        expires_at: msg.expires.to_string(),
        text: msg
            .infos
            .iter()
            .take(MAX_LANGS)
            .map(|i| AlertTextRecord {
                lang: i.lang.clone(),
                text: i.text.clone(),
            })
            .collect(),
        areas: msg.areas().map(|a| a.desc.clone()).collect(),
        matched,
        state: CapState::Pending,
        auto: false,
        alert_id: None,
        shown_as: None,
        default_as: msg.default_display(),
        decided_by: None,
        decided_at: None,
        received_at: now.to_string(),
        xml_sha256: playlists::hex::encode(&Sha256::digest(xml)),
        xml: String::from_utf8_lossy(xml).into_owned(),
    }
}

/// Ends the alerts made from the entries `refs` names (`sender,identifier,sent` triples) and
/// marks those entries dismissed when still pending; the caller holds the publish lock.
async fn end_referenced(
    state: &AppState,
    who: &Principal,
    refs: &[String],
    by: &str,
) -> Result<Vec<String>, ApiError> {
    let mut ended = Vec::new();
    for r in refs {
        let mut parts = r.splitn(3, ',');
        let (Some(sender), Some(ident)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(mut old) = state.store.cap(&entry_id(sender, ident))? else {
            continue;
        };
        if let (Some(id), Some(Display::Ticker)) = (old.alert_id.as_deref(), old.shown_as) {
            if let Some(t) = state.store.ticker(id)?.filter(|t| !t.cancelled) {
                end_ticker(state, who, t, serde_json::json!({"id": id, "cap": by})).await?;
                ended.push(id.to_string());
            }
        } else if let Some(alert) = old.alert_id.as_deref() {
            if let Some(a) = state.store.alert(alert)?.filter(|a| !a.cancelled) {
                let detail = serde_json::json!({"id": a.id, "cap": by});
                end_alert(state, who, a, detail).await?;
                ended.push(alert.to_string());
            }
        } else if old.state == CapState::Pending {
            old.state = CapState::Dismissed;
            old.decided_by = Some(format!("superseded by {by}"));
            old.decided_at = Some(jiff::Timestamp::now().to_string());
            state.store.put_cap(&old).await?;
        }
    }
    Ok(ended)
}

/// Makes the alert (or the ticker text, from `msg`'s one-line texts) of a pending entry,
/// ending what the entries it updates made; the caller holds the publish lock.
async fn show(
    state: &AppState,
    who: &Principal,
    rec: &mut CapRecord,
    msg: &CapMessage,
    display: Display,
) -> Result<(), ApiError> {
    let now = jiff::Timestamp::now();
    let expires: jiff::Timestamp = rec.expires_at.parse().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "stored CAP expiry is not a time",
        )
    })?;
    if expires <= now {
        return Err(cap_error(CapError::Expired(rec.expires_at.clone())));
    }
    let targets = Targets {
        screens: Vec::new(),
        gates: rec.matched.iter().map(|m| m.gate.clone()).collect(),
    };
    let detail = serde_json::json!({"id": rec.id, "cap": rec.identifier, "sender": rec.sender});
    match display {
        Display::Alert => {
            let alert = AlertRecord {
                id: rec.id.clone(),
                targets,
                priority: rec.priority,
                expires_at: rec.expires_at.clone(),
                text: rec.text.clone(),
                media: None,
                cancelled: false,
                created_at: now.to_string(),
            };
            make_alert(state, who, &alert, detail).await?;
        }
        Display::Ticker => {
            let ticker = TickerRecord {
                id: rec.id.clone(),
                targets,
                priority: rec.priority,
                starts_at: None,
                expires_at: rec.expires_at.clone(),
                text: msg
                    .ticker_lines()
                    .into_iter()
                    .take(MAX_LANGS)
                    .map(|(lang, text)| AlertTextRecord { lang, text })
                    .collect(),
                cancelled: false,
                created_at: now.to_string(),
            };
            // Under an approval policy an unapproved text waits and is sent once approved
            // (`docs/protocol.md` §20); the ticker list shows it as awaiting approval.
            let (_, pending) = make_ticker(state, who, &ticker, detail).await?;
            if let Some(p) = pending {
                tracing::info!(cap = %rec.id, reason = %p, "CAP ticker text waits for approval");
            }
        }
    }
    end_referenced(state, who, &msg.references, &rec.id).await?;
    rec.state = CapState::Shown;
    rec.shown_as = Some(display);
    rec.alert_id = Some(rec.id.clone());
    rec.decided_by = Some(if rec.auto {
        format!("auto_senders ({})", rec.sender)
    } else {
        who.actor()
    });
    rec.decided_at = Some(now.to_string());
    Ok(())
}

/// `POST /api/v1/cap`: a CAP 1.2 message as the body (`application/cap+xml` or any XML type).
///
/// Answers `201` with the inbox entry (`state`: `shown` when the sender is in
/// `[cap] auto_senders`, else `pending`; `no_gate`, `cancel` or `not_shown` as §22 says), or
/// `200` with the stored entry when the same sender and identifier came before.
pub async fn post_cap(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let limit = state.config.cap.max_bytes();
    let xml = read_limited(&mut req, limit).await?;
    let (status, v) = intake(state, &who, &xml).await?;
    Ok(json_reply(status, &v))
}

/// Takes one CAP message into the inbox, as `POST /api/v1/cap` does (the same checks, the
/// same `auto_senders` rule): `201` and the new entry, or `200` and the stored one when the
/// same sender and identifier came before.
pub async fn intake(
    state: &AppState,
    who: &Principal,
    xml: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let limit = state.config.cap.max_bytes();
    let now = jiff::Timestamp::now();
    let msg = cap::parse(xml, limit, now).map_err(|e| {
        tracing::warn!(error = %e, "CAP message refused");
        cap_error(e)
    })?;
    let id = entry_id(&msg.sender, &msg.identifier);
    let _guard = state.publish_lock.lock().await;
    if let Some(old) = state.store.cap(&id)? {
        let mut v = view(&old, false);
        v["duplicate"] = true.into();
        return Ok((StatusCode::OK, v));
    }
    let matched = area::match_gates(&msg, &state.config.cap.gates);
    let mut rec = record(&msg, xml, matched, now);
    rec.auto = state
        .config
        .cap
        .auto_senders
        .iter()
        .any(|s| s == &msg.sender);
    let mut auto_error = None;
    if msg.status != "Actual" || matches!(msg.msg_type.as_str(), "Ack" | "Error") {
        rec.state = CapState::NotShown;
    } else if msg.msg_type == "Cancel" {
        rec.state = CapState::Cancel;
        let ended = end_referenced(state, who, &msg.references, &rec.id).await?;
        rec.decided_by = Some(format!("cancel of {}", ended.join(", ")));
    } else if rec.matched.is_empty() {
        rec.state = CapState::NoGate;
    } else if rec.auto {
        let display = rec.default_as;
        if let Err(e) = show(state, who, &mut rec, &msg, display).await {
            tracing::warn!(id = %rec.id, error = %e.message, "CAP message from an auto sender could not be shown; it waits in the inbox");
            auto_error = Some(e);
        }
    }
    state.store.create_cap(&rec).await?;
    log_action(
        state,
        who,
        "cap.receive",
        serde_json::json!({"id": rec.id, "identifier": rec.identifier, "sender": rec.sender,
            "state": rec.state, "gates": rec.matched.iter().map(|m| &m.gate).collect::<Vec<_>>()}),
        Vec::new(),
    )
    .await?;
    tracing::info!(id = %rec.id, sender = %rec.sender, state = ?rec.state, gates = rec.matched.len(), "CAP message received");
    let mut v = view(&rec, false);
    if let Some(e) = auto_error {
        v["auto_error"] = serde_json::json!({"error": e.code, "message": e.message});
    }
    Ok((StatusCode::CREATED, v))
}

/// `GET /api/v1/cap`: `{"entries":[…]}`, newest received first, without the XML.
pub fn list_caps(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let entries: Vec<_> = state.store.caps()?.iter().map(|r| view(r, false)).collect();
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"entries": entries, "gates": state.config.cap.gates.iter().map(|g| &g.gate).collect::<Vec<_>>(),
            "feeds": *state.cap_feeds.lock().unwrap_or_else(|p| p.into_inner())}),
    ))
}

/// `GET /api/v1/cap/{id}`: one entry with the exact XML received.
pub fn get_cap(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let r = state
        .store
        .cap(id)?
        .ok_or_else(|| ApiError::not_found("CAP inbox entry", id))?;
    Ok(json_reply(StatusCode::OK, &view(&r, true)))
}

fn pending(state: &AppState, id: &str) -> Result<CapRecord, ApiError> {
    let r = state
        .store
        .cap(id)?
        .ok_or_else(|| ApiError::not_found("CAP inbox entry", id))?;
    if r.state != CapState::Pending {
        return Err(ApiError::conflict(format!(
            "CAP inbox entry {id:?} is {:?}, not pending",
            r.state
        )));
    }
    Ok(r)
}

/// `POST /api/v1/cap/{id}/confirm[?as=alert|ticker]`: the operator's one click; the alert (or
/// the ticker text) goes to the matched gates' screens, by default as `default_as` says.
/// `422 cap_expired` once the message expired.
pub async fn confirm_cap(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let chosen = match req.query.get("as").map(String::as_str) {
        None | Some("") => None,
        Some("alert") => Some(Display::Alert),
        Some("ticker") => Some(Display::Ticker),
        Some(other) => {
            return Err(ApiError::field(
                "as",
                format!("{other:?} is neither \"alert\" nor \"ticker\""),
            ))
        }
    };
    let _guard = state.publish_lock.lock().await;
    let mut rec = pending(state, id)?;
    let msg =
        cap::parse(rec.xml.as_bytes(), usize::MAX, jiff::Timestamp::now()).map_err(cap_error)?;
    let display = chosen.unwrap_or(rec.default_as);
    show(state, &who, &mut rec, &msg, display).await?;
    state.store.put_cap(&rec).await?;
    log_action(
        state,
        &who,
        "cap.confirm",
        serde_json::json!({"id": id, "as": display}),
        Vec::new(),
    )
    .await?;
    Ok(json_reply(StatusCode::OK, &view(&rec, false)))
}

/// `POST /api/v1/cap/{id}/dismiss`: not shown; kept in the inbox.
pub async fn dismiss_cap(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, CONTENT)?;
    let _guard = state.publish_lock.lock().await;
    let mut rec = pending(state, id)?;
    rec.state = CapState::Dismissed;
    rec.decided_by = Some(who.actor());
    rec.decided_at = Some(jiff::Timestamp::now().to_string());
    state.store.put_cap(&rec).await?;
    log_action(
        state,
        &who,
        "cap.dismiss",
        serde_json::json!({"id": id}),
        Vec::new(),
    )
    .await?;
    Ok(json_reply(StatusCode::OK, &view(&rec, false)))
}
