//! HTTP handlers of the audit queries: `GET /api/v1/receipts`, `GET /api/v1/reports/plays`
//! and `GET /api/v1/reports/compliance` (every role may read them; auditors use an `auditor`
//! token). They read the store and hand the data to the pure modules.

use std::collections::HashMap;

use jiff::Timestamp;
use playlists::envelope::{self, MANIFEST_TYPE};
use playlists::keys::PublicKey;
use playlists::manifest::Manifest;
use playlists::receipt::Receipt;
use warp::http::{header, StatusCode};
use warp::reply::Response;

use super::query::{
    self, Format, Page, ParamError, ReceiptFilter, ReceiptRow, FILTER_PARAMS, PAGE_PARAMS,
};
use super::reports::{self, ComplianceReport, GroupBy, ScreenEvidence};
use crate::api::{json_reply, ApiError, AppState, Request, READ};
use crate::store::{MediaRecord, ScreenRecord, Store, StoreError, StoredReceipt};

/// Longest period of one compliance report, in days.
pub const MAX_COMPLIANCE_DAYS: i64 = 400;

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> ApiError {
        let mut err = ApiError::bad_request("invalid_field", e.to_string());
        err.field = Some(e.param);
        err
    }
}

/// What the controller knows about screens and media, looked up once per request.
struct Lookup<'a> {
    store: &'a Store,
    screens: HashMap<String, ScreenRecord>,
    media: HashMap<String, Option<MediaRecord>>,
}

impl<'a> Lookup<'a> {
    fn new(store: &'a Store) -> Result<Lookup<'a>, StoreError> {
        Ok(Lookup {
            store,
            screens: store
                .screens()?
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect(),
            media: HashMap::new(),
        })
    }

    fn gate(&self, screen: &str) -> Option<&str> {
        self.screens.get(screen).map(|s| s.gate.as_str())
    }

    fn row(&mut self, r: &Receipt) -> Result<ReceiptRow, StoreError> {
        if !self.media.contains_key(&r.media) {
            let m = self.store.media(&r.media)?;
            self.media.insert(r.media.clone(), m);
        }
        let media = self.media.get(&r.media).and_then(Option::as_ref);
        Ok(ReceiptRow::new(r, self.screens.get(&r.screen), media))
    }
}

/// Every receipt stored when the Merkle log had `snapshot` leaves that matches `filter`, with
/// key after `cursor`, in index order, lazily (see `Store::receipts_between_upto`: a consistent
/// view, no gaps from late uploads landing behind the scan).
fn scan<'a>(
    store: &'a Store,
    filter: &'a ReceiptFilter,
    lookup: &'a Lookup<'_>,
    cursor: Option<&query::Cursor>,
    snapshot: u64,
) -> impl Iterator<Item = Result<StoredReceipt, StoreError>> + 'a {
    let mut start = filter.from.unwrap_or(Timestamp::MIN);
    if let Some(c) = cursor {
        start = start.max(c.instant());
    }
    let end = filter.to.unwrap_or(Timestamp::MAX);
    store
        .receipts_between_upto(start, end, snapshot)
        .filter(move |r| match r {
            Ok(s) => filter.matches(&s.receipt, lookup.gate(&s.receipt.screen)),
            Err(_) => true,
        })
}

fn with_type(body: Vec<u8>, content_type: &str, next: Option<&query::Cursor>) -> Response {
    let mut b = warp::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type);
    if content_type.starts_with("text/csv") {
        b = b.header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"gatecast-receipts.csv\"",
        );
    }
    if let Some(c) = next {
        b = b.header("x-next-cursor", c.encode());
    }
    b.body(body.into()).expect("valid response")
}

/// `GET /api/v1/receipts`: filters, cursor pagination, `format=json|jsonl|csv`, `bom=true`.
pub fn receipts(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    query::check_known(&req.query, &[FILTER_PARAMS, PAGE_PARAMS])?;
    let filter = ReceiptFilter::from_query(&req.query)?;
    let page = Page::from_query(&req.query)?;
    // Every page of one paging reads at the log size of its first page (carried in the cursor).
    let snapshot = match page.cursor.as_ref().and_then(|c| c.snapshot) {
        Some(n) => n,
        None => state.store.log_size()?,
    };
    let mut lookup = Lookup::new(&state.store)?;
    let mut failure: Option<StoreError> = None;
    let (page_receipts, next) = {
        let it = scan(
            &state.store,
            &filter,
            &lookup,
            page.cursor.as_ref(),
            snapshot,
        )
        .map_while(|r| match r {
            Ok(s) => Some(s.receipt),
            Err(e) => {
                failure = Some(e);
                None
            }
        });
        query::paginate(it, page.cursor.as_ref(), page.limit)
    };
    let next = next.map(|c| c.at_snapshot(snapshot));
    if let Some(e) = failure {
        return Err(e.into());
    }
    let rows = page_receipts
        .iter()
        .map(|r| lookup.row(r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match page.format {
        Format::Json => json_reply(
            StatusCode::OK,
            &serde_json::json!({
                "receipts": rows,
                "count": rows.len(),
                "next_cursor": next.as_ref().map(query::Cursor::encode),
            }),
        ),
        Format::Jsonl => with_type(
            query::to_jsonl(&rows),
            "application/x-ndjson",
            next.as_ref(),
        ),
        Format::Csv => with_type(
            query::to_csv(&rows, page.bom),
            "text/csv; charset=utf-8; header=present",
            next.as_ref(),
        ),
    })
}

/// `GET /api/v1/reports/plays?group_by=media,lang,gate,screen,day` plus the receipt filters.
pub fn plays(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    query::check_known(&req.query, &[FILTER_PARAMS, &["group_by"]])?;
    let filter = ReceiptFilter::from_query(&req.query)?;
    let mut group_by = Vec::new();
    for g in req
        .query
        .get("group_by")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        let g = GroupBy::parse(g).ok_or_else(|| {
            ApiError::field(
                "group_by",
                format!("{g:?} is not one of media, lang, gate, screen, day"),
            )
        })?;
        if !group_by.contains(&g) {
            group_by.push(g);
        }
    }
    let snapshot = state.store.log_size()?;
    let mut lookup = Lookup::new(&state.store)?;
    let receipts = scan(&state.store, &filter, &lookup, None, snapshot)
        .map(|r| r.map(|s| s.receipt))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = receipts
        .iter()
        .map(|r| lookup.row(r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = serde_json::to_value(reports::plays_report(&rows, &group_by))
        .map_err(|e| ApiError::internal("plays report", e))?;
    report["from"] = filter.from.map(query::utc_millis).into();
    report["to"] = filter.to.map(query::utc_millis).into();
    Ok(json_reply(StatusCode::OK, &report))
}

/// The verified manifests of a screen's history (those that do not verify under `key` are
/// logged and left out).
fn manifests_of(store: &Store, key: &PublicKey, screen: &str) -> Result<Vec<Manifest>, StoreError> {
    let mut out = Vec::new();
    for m in store.manifest_history(screen)? {
        let parsed = envelope::verify_with_key(m.envelope.as_bytes(), MANIFEST_TYPE, key)
            .map_err(|e| e.to_string())
            .and_then(|v| Manifest::from_json(&v.payload).map_err(|e| e.to_string()))
            .and_then(|man| man.validate().map(|_| man).map_err(|e| e.to_string()));
        match parsed {
            Ok(man) => out.push(man),
            Err(e) => tracing::warn!(
                "compliance report: stored manifest {screen}@{} does not verify, left out: {e}",
                m.version
            ),
        }
    }
    Ok(out)
}

/// Computes the compliance report from the store for `[from, min(to, now))`, for the screens
/// named in `screens` / standing at `gates` (empty: all). `controller_key` verifies the stored
/// manifests. `now` is a parameter so tests can inject the clock.
pub fn compliance_from_store(
    store: &Store,
    controller_key: &PublicKey,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    screens: &[String],
    gates: &[String],
) -> Result<ComplianceReport, StoreError> {
    let end = to.min(now).max(from);
    let mut chosen: Vec<ScreenRecord> = store
        .screens()?
        .into_iter()
        .filter(|s| screens.is_empty() || screens.contains(&s.id))
        .filter(|s| gates.is_empty() || gates.contains(&s.gate))
        .collect();
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    let mut by_screen: HashMap<String, Vec<(Receipt, Vec<u8>)>> = HashMap::new();
    for r in store.receipts_between(from, end) {
        let r = r?;
        if chosen.iter().any(|s| s.id == r.receipt.screen) {
            by_screen
                .entry(r.receipt.screen.clone())
                .or_default()
                .push((r.receipt, r.bytes));
        }
    }
    let conflicts = store.receipt_conflicts()?;
    let mut evidence = Vec::new();
    for s in chosen {
        let receipts = by_screen.remove(&s.id).unwrap_or_default();
        let first = receipts.iter().map(|(r, _)| r.seq).min();
        let before_first = match first {
            Some(seq) if seq > 1 => store.receipt(&s.id, seq - 1)?.map(|r| r.bytes),
            _ => None,
        };
        evidence.push(ScreenEvidence {
            manifests: manifests_of(store, controller_key, &s.id)?,
            history: store.status_history(&s.id)?,
            conflicts: conflicts.iter().filter(|c| c.screen == s.id).count() as u64,
            receipts,
            before_first,
            screen: s,
        });
    }
    Ok(reports::compliance_report(&evidence, from, to, now))
}

/// `GET /api/v1/reports/compliance?from&to[&screen][&gate]`.
pub fn compliance(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    query::check_known(&req.query, &[&["from", "to", "screen", "gate"]])?;
    let need = |p: &str| {
        req.query
            .get(p)
            .ok_or_else(|| {
                ApiError::field(
                    p,
                    "is required (an RFC 3339 instant such as 2026-01-05T00:00:00Z)",
                )
            })
            .and_then(|v| query::parse_time(p, v).map_err(ApiError::from))
    };
    let (from, to) = (need("from")?, need("to")?);
    if from >= to {
        return Err(ApiError::field("to", "must be later than `from`"));
    }
    if to.as_second() - from.as_second() > MAX_COMPLIANCE_DAYS * 86_400 {
        return Err(ApiError::field(
            "to",
            format!(
                "the period may span at most {MAX_COMPLIANCE_DAYS} days; ask for several reports"
            ),
        ));
    }
    let filter = ReceiptFilter::from_query(&req.query)?;
    let report = compliance_from_store(
        &state.store,
        &state.key.public(),
        from,
        to,
        Timestamp::now(),
        &filter.screens,
        &filter.gates,
    )?;
    Ok(json_reply(StatusCode::OK, &report))
}
