//! `GET /api/v1/reports/period?from=YYYY-MM-DD&to=YYYY-MM-DD&gates=a,b&format=pdf|xlsx|html|json[&bundle=SHA256]`
//! (the province's period report, `docs/auditing.md`; with `bundle`, from the bundle of an
//! earlier report instead of a new export) and `GET /api/v1/reports/bundles/{sha256}`
//! (the export bundle a report was computed from, for `gatecast-audit report`).

use playlists::report::{ReportRequest, RequestError};
use warp::http::{header, StatusCode};
use warp::reply::Response;

use super::{ApiError, AppState, Request, READ};
use crate::report::{self, ReportError};

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> ApiError {
        match e {
            ReportError::Export(e) => e.into(),
            other => ApiError::internal("period report", other),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        let field = match e {
            RequestError::BadDate { field, .. } => field,
            RequestError::Reversed { .. } => "to",
            RequestError::EmptyGate(_) => "gates",
        };
        ApiError::field(field, e)
    }
}

fn file_reply(bytes: Vec<u8>, mime: &str, name: &str, attachment: bool) -> Response {
    let disposition = if attachment { "attachment" } else { "inline" };
    let mut resp = warp::reply::Response::new(bytes.into());
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    if let Ok(v) = mime.parse() {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = format!("{disposition}; filename=\"{name}\"").parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /api/v1/reports/period`.
pub async fn period(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let q = |k: &str| req.query.get(k).map(String::as_str);
    let format = q("format").unwrap_or("json");
    if !matches!(format, "pdf" | "xlsx" | "html" | "json") {
        return Err(ApiError::field(
            "format",
            format!("{format:?} is not one of pdf, xlsx, html, json"),
        ));
    }
    let from = q("from").ok_or_else(|| ApiError::field("from", "from (YYYY-MM-DD) is required"))?;
    let to = q("to").ok_or_else(|| ApiError::field("to", "to (YYYY-MM-DD) is required"))?;
    let rr = ReportRequest::parse(from, to, q("gates"))?;
    let mut figures = match q("bundle") {
        None => report::build(&state.store, &state.key, &state.config.data_dir, &rr).await?,
        Some(sha) => report::from_bundle(&state.config.data_dir, sha, &rr)
            .await?
            .ok_or_else(|| ApiError::field("bundle", format!("no report bundle {sha:?}")))?,
    };
    // Online time as the controller saw it, labelled as such (not from the signed bundle).
    figures.controller_record = Some(
        report::record::of(
            &state.store,
            &figures,
            jiff::Timestamp::now(),
            state.config.status_stale_after,
        )
        .map_err(|e| ApiError::internal("period report", e))?,
    );
    let settings = state.config.report.clone();
    let name = format!("bao-cao-{}-{}", figures.from, figures.to);
    let fmt = format.to_string();
    let resp = tokio::task::spawn_blocking(move || -> Result<Response, ApiError> {
        Ok(match fmt.as_str() {
            "json" => super::json_reply(StatusCode::OK, &figures),
            "html" => file_reply(
                report::html::render(&figures, &settings).into_bytes(),
                "text/html; charset=utf-8",
                &format!("{name}.html"),
                false,
            ),
            "xlsx" => file_reply(
                report::xlsx::render(&figures)?,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &format!("{name}.xlsx"),
                true,
            ),
            _ => file_reply(
                report::pdf::render(&figures, &settings)?,
                "application/pdf",
                &format!("{name}.pdf"),
                true,
            ),
        })
    })
    .await
    .map_err(|e| ApiError::internal("period report", e))??;
    Ok(resp)
}

/// `GET /api/v1/reports/bundles/{sha256}`.
pub async fn bundle(state: &AppState, req: Request, sha: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let path = report::bundle_path(&state.config.data_dir, sha)
        .ok_or_else(|| ApiError::field("sha256", "not 64 lowercase hex digits"))?;
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(file_reply(
            bytes,
            "application/json",
            &format!("gatecast-audit-{sha}.json"),
            true,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::not_found("report bundle", sha))
        }
        Err(e) => Err(ApiError::internal("report bundle", e)),
    }
}
