//! HTTP handlers of the audit queries: `GET /api/v1/receipts`, `GET /api/v1/reports/plays`
//! and `GET /api/v1/reports/compliance` (every role may read them; auditors use an `auditor`
//! token). They read the store through [`crate::audit::evidence`] and hand the data to the pure
//! modules of [`crate::audit`].

use jiff::Timestamp;
use warp::http::{header, StatusCode};
use warp::reply::Response;

use super::{json_reply, ApiError, AppState, Request, READ};
use crate::audit::evidence::{compliance_from_store, scan, Lookup, ReportClock};
use crate::audit::query::{
    self, Format, Page, ParamError, ReceiptFilter, FILTER_PARAMS, PAGE_PARAMS,
};
use crate::audit::reports::{self, GroupBy};
use crate::store::StoreError;

/// Longest period of one compliance report, in days.
pub const MAX_COMPLIANCE_DAYS: i64 = 400;

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> ApiError {
        let mut err = ApiError::bad_request("invalid_field", e.to_string());
        err.field = Some(e.param);
        err
    }
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

/// `GET /api/v1/receipts`: filters, cursor pagination, `format=json|jsonl|csv`, `bom=true`,
/// `order=asc|desc` (oldest or newest first; the cursor pages on in the same order).
pub fn receipts(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    query::check_known(&req.query, &[FILTER_PARAMS, PAGE_PARAMS, &["order"]])?;
    let filter = ReceiptFilter::from_query(&req.query)?;
    let page = Page::from_query(&req.query)?;
    let newest_first = match req.query.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiError::field(
                "order",
                format!("{o:?} is not asc (oldest first) or desc (newest first)"),
            ))
        }
    };
    // Every page of one paging reads at the log size of its first page (carried in the cursor).
    let snapshot = match page.cursor.as_ref().and_then(|c| c.snapshot) {
        Some(n) => n,
        None => state.store.log_size()?,
    };
    let mut lookup = Lookup::new(&state.store)?;
    let mut failure: Option<StoreError> = None;
    let (page_receipts, next) = {
        // Newest first reads from the period's start: its cursor is an upper bound.
        let from_cursor = page.cursor.as_ref().filter(|_| !newest_first);
        let it =
            scan(&state.store, &filter, &lookup, from_cursor, snapshot).map_while(|r| match r {
                Ok(s) => Some(s),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            });
        if newest_first {
            newest_page(it, page.cursor.as_ref(), page.limit)
        } else {
            query::paginate(it, page.cursor.as_ref(), page.limit)
        }
    };
    let next = next.map(|c| c.at_snapshot(snapshot));
    if let Some(e) = failure {
        return Err(e.into());
    }
    let rows = page_receipts
        .iter()
        .map(|s| {
            lookup.row(&s.receipt).map(|mut row| {
                row.epoch = s.epoch;
                row
            })
        })
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

/// The page of at most `limit` receipts just before `cursor` (or the newest), newest first,
/// and the cursor of the next (older) page. Reads forward keeping only the last `limit + 1`
/// rows, so memory stays bounded whatever the period holds.
fn newest_page(
    receipts: impl Iterator<Item = crate::store::StoredReceipt>,
    cursor: Option<&query::Cursor>,
    limit: usize,
) -> (Vec<crate::store::StoredReceipt>, Option<query::Cursor>) {
    let mut last = std::collections::VecDeque::with_capacity(limit + 1);
    for r in receipts {
        if cursor.is_some_and(|c| query::Cursor::of(&r.receipt, r.epoch) >= *c) {
            break; // rows come in cursor order: the rest are at or after it
        }
        if last.len() == limit + 1 {
            last.pop_front();
        }
        last.push_back(r);
    }
    let more = last.len() > limit;
    if more {
        last.pop_front();
    }
    let page: Vec<_> = last.into_iter().rev().collect();
    let next = more
        .then(|| page.last().map(|r| query::Cursor::of(&r.receipt, r.epoch)))
        .flatten();
    (page, next)
}

/// `GET /api/v1/reports/plays?group_by=media,lang,gate,screen,day,playlist` plus the receipt filters.
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
                format!("{g:?} is not one of media, lang, gate, screen, day, playlist"),
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
        ReportClock {
            now: Timestamp::now(),
            status_stale_after: state.config.status_stale_after,
        },
        &filter.screens,
        &filter.gates,
    )?;
    Ok(json_reply(StatusCode::OK, &report))
}
