//! The HTTP API (paths in docs/protocol.md §17) on warp 0.4.
//!
//! One warp filter extracts method, path, query, headers and the (unread) body stream and hands
//! them to [`dispatch`], which routes on the path segments. Keeping routing in one `match`
//! makes every path of the API visible in one place, gives JSON errors for unknown paths and
//! wrong methods, and keeps compile times down on small build machines.

mod approvals;
mod audit;
mod cap;
mod cap_feed;
pub mod connections;
mod content;
mod edits;
mod error;
mod export;
mod log;
mod media;
mod preview;
mod publishing;
mod report;
pub mod screen_list;
mod screens;
mod screenshots;
mod session;
mod subtitles;
mod system;
mod templates;
mod ticker;

pub use cap_feed::spawn as spawn_cap_feeds;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply as _};

pub use error::{ApiError, ERROR_CODES};

pub use crate::metrics::Metrics;

use crate::blobs::Blobs;
use crate::config::{Config, JSON_BODY_LIMIT};
use crate::publish::Outbox;
use crate::store::{ActionRecord, Role, ScreenVersion, Store};
use crate::tokens::Principal;

/// URLs handed to players at enrolment.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// `mqtts://host:port` or `mqtt://host:port`.
    pub broker: String,
    /// `https://host:port` or `http://host:port`.
    pub media_base: String,
    /// Set when players are sent to the embedded broker's `mqtts://` listener: the pin of its
    /// certificate, handed out as `tls_pin_sha256` in the enrolment answer
    /// (`docs/protocol.md` §7).
    pub tls_pin: Option<TlsPinSource>,
}

/// Reads the pin (hex SHA-256 of the SubjectPublicKeyInfo) of the certificate in force, at
/// each enrolment: a reloaded certificate's pin is the one handed out.
#[derive(Clone)]
pub struct TlsPinSource(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for TlsPinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsPinSource")
    }
}

/// Everything a request handler needs.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Media files.
    pub blobs: Blobs,
    /// The controller's signing key.
    pub key: Arc<playlists::keys::SecretKey>,
    /// Effective configuration.
    pub config: Config,
    /// URLs for players.
    pub public: PublicUrls,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Where signed messages go (the MQTT client).
    pub outbox: Arc<dyn Outbox>,
    /// Serialises publishing so versions are assigned and sent in order.
    pub publish_lock: tokio::sync::Mutex<()>,
    /// MQTT client state for metrics: (reconnects so far, connected now).
    pub mqtt_status: Arc<dyn Fn() -> (u64, bool) + Send + Sync>,
    /// Failed bearer tokens and enrolment codes per source IP (brute-force lockout).
    pub auth_throttle: gatecast_broker::throttle::FailureThrottle,
    /// The embedded broker, to evict a disabled screen's live session (`None` with an
    /// external broker: see `docs/operations.md`, "External broker: mosquitto").
    pub broker: Option<gatecast_broker::BrokerHandle>,
    /// Draws alert previews (`POST /api/v1/alerts/preview`).
    pub previews: crate::preview::AlertPreviews,
    /// The polled CAP feeds' states (`[[cap.feeds]]`, shown in the CAP inbox).
    pub cap_feeds: crate::cap::feed::FeedStates,
    /// The screens list's cache (`GET /api/v1/screens`).
    pub screen_views: Arc<screen_list::ScreenViews>,
}

/// The request body, not yet read.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed while the body was read.
    #[error("reading the request body failed: {0}")]
    Read(#[from] warp::Error),
    /// No byte arrived for [`BODY_IDLE_TIMEOUT`].
    #[error("the request body stalled: no data for {} s", BODY_IDLE_TIMEOUT.as_secs())]
    Stalled,
    /// The whole body did not arrive within the configured body deadline.
    #[error("the request body took longer than {} s to arrive (http_body_deadline_secs)", .0.as_secs())]
    TooSlow(std::time::Duration),
}

/// One HTTP request as the handlers see it.
pub struct Request {
    /// Method.
    pub method: Method,
    /// Path segments (percent-decoding is not applied: ids are validated as ASCII).
    pub segments: Vec<String>,
    /// Decoded query parameters.
    pub query: HashMap<String, String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: BodyStream,
    /// The client's IP address (`None` when the server did not record it).
    pub client: Option<std::net::IpAddr>,
}

impl Request {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The key the brute-force throttle counts this request's failures under.
    pub fn source(&self) -> String {
        self.client
            .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
    }

    /// Reads the whole body (at most [`JSON_BODY_LIMIT`] bytes) and parses it as JSON. Serde's
    /// message names the missing or mistyped field.
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let mut buf = Vec::new();
        while let Some(chunk) = self.body.next().await {
            let chunk = chunk.map_err(|e| match e {
                BodyError::TooSlow(_) => {
                    ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", e.to_string())
                }
                e => ApiError::bad_request("body_error", e.to_string()),
            })?;
            if (buf.len() + chunk.len()) as u64 > JSON_BODY_LIMIT {
                drain(&mut self.body).await;
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("JSON bodies are limited to {JSON_BODY_LIMIT} bytes"),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&buf).map_err(|e| {
            let msg = e.to_string();
            let field = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.contains("field `"))
                .map(str::to_string);
            let mut err = ApiError::bad_request("invalid_json", format!("request body: {msg}"));
            err.field = field;
            err
        })
    }

    /// The value of cookie `name`, if the request carries it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
    }

    /// Authenticates the bearer token, or else the console session cookie, and checks the
    /// role: 401 without or with a bad credential, 403 for a role not in `allowed` and for a
    /// state-changing session request without its CSRF token or from another origin.
    pub fn authorize(&self, state: &AppState, allowed: &[Role]) -> Result<Principal, ApiError> {
        if self.header("authorization").is_none() {
            if let Some(cookie) = self.cookie(crate::accounts::SESSION_COOKIE) {
                return session::authorize_session(self, state, allowed, cookie);
            }
        }
        let unauthorized =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m.to_string());
        let h = self
            .header("authorization")
            .ok_or_else(|| unauthorized("an `Authorization: Bearer <token>` header is required"))?;
        let token = h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        // Brute-force lockout per source address. While locked, every request with a token is
        // refused with 429; a wrong token still counts (and lengthens the lock), a right one
        // does not. A success never resets the count, so guesses cannot be laundered through
        // a token the attacker holds.
        let source = self.source();
        let locked = state.auth_throttle.check(&source);
        let Some(p) = crate::tokens::authenticate(&state.store, token.trim())? else {
            let lock = state.auth_throttle.failure(&source);
            if let Some(lock) = lock {
                tracing::warn!(%source, lock_secs = lock.as_secs(), "too many bad API tokens from this address; locked out");
                if locked.is_err() {
                    return Err(too_many_attempts(lock));
                }
            }
            return Err(unauthorized("the token is unknown, revoked or malformed"));
        };
        if let Err(wait) = locked {
            return Err(too_many_attempts(wait));
        }
        if !allowed.contains(&p.role) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("the {} role may not do this", p.role.as_str()),
            ));
        }
        Ok(p)
    }
}

/// 429 while a source is locked out after too many failed credentials.
pub fn too_many_attempts(wait: std::time::Duration) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!(
            "too many failed credentials from this address; try again in {} s",
            wait.as_secs().max(1)
        ),
    )
}

/// Roles that may change content, publish and send alerts.
pub const CONTENT: &[Role] = &[Role::Admin, Role::Operator];
/// Roles that may read.
pub const READ: &[Role] = &[Role::Admin, Role::Operator, Role::Auditor];
/// Admin only.
pub const ADMIN: &[Role] = &[Role::Admin];

/// Appends to the operator action log.
pub async fn log_action(
    state: &AppState,
    who: &Principal,
    action: &str,
    detail: serde_json::Value,
    versions: Vec<ScreenVersion>,
) -> Result<(), ApiError> {
    state
        .store
        .log_action(ActionRecord {
            seq: 0,
            at: jiff::Timestamp::now().to_string(),
            actor: who.actor(),
            role: Some(who.role),
            action: action.to_string(),
            detail,
            versions,
        })
        .await?;
    Ok(())
}

/// A JSON answer.
pub fn json_reply<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    warp::reply::with_status(warp::reply::json(v), status).into_response()
}

fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hexval = |c: u8| (c as char).to_digit(16);
                match (hexval(b[i + 1]), hexval(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string (`a=1&b=x%20y`).
pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// The client's address, put into each request's extensions by the controller's HTTP server
/// ([`crate::serve`]); read by [`routes`] for the brute-force throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// How long a request body may stall (no bytes at all) before the request fails: a client
/// that opens an upload and then sends nothing, or a byte a minute, does not hold a
/// connection and a handler forever.
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Headers added to every HTTP answer that does not set them itself (the console sets its own
/// Content-Security-Policy): no MIME sniffing (an uploaded file is never run as a script or
/// page), no referrer, no framing, and for everything but the console a CSP that allows
/// nothing and sandboxes the document, so a media file opened in a browser cannot run code.
pub fn add_security_headers(mut resp: Response) -> Response {
    use warp::http::header::{self, HeaderValue};
    let h = resp.headers_mut();
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; sandbox",
        ));
    resp
}

/// Whether a request with this method and path streams a large body (a media upload); every
/// other request body is limited to [`JSON_BODY_LIMIT`].
fn is_upload(method: &Method, segments: &[String]) -> bool {
    method == Method::POST && segments.len() == 3 && segments[..] == ["api", "v1", "media"]
}

/// The warp filter serving the whole API.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::addr::remote())
        .then(
            move |method,
                  path: warp::path::FullPath,
                  query: String,
                  headers,
                  body,
                  client: Option<ClientAddr>,
                  remote: Option<std::net::SocketAddr>| {
                let state = state.clone();
                let segments: Vec<String> = path
                    .as_str()
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                let deadline = (!is_upload(&method, &segments))
                    .then_some(state.config.http_limits.body_deadline);
                let body: BodyStream = Box::pin(body_bytes(body, deadline));
                let req = Request {
                    method,
                    segments,
                    query: parse_query(&query),
                    headers,
                    body,
                    client: client.map(|c| c.0).or(remote).map(|a| a.ip()),
                };
                async move {
                    let mut resp = match guarded_dispatch(&state, req).await {
                        Ok(r) => r,
                        Err(e) => e.into_response(),
                    };
                    if resp.status().as_u16() >= 400 {
                        state.metrics.http_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if resp.status() == StatusCode::REQUEST_TIMEOUT {
                        // The rest of a too-slow body is never read: the connection ends here.
                        resp.headers_mut().insert(
                            warp::http::header::CONNECTION,
                            warp::http::HeaderValue::from_static("close"),
                        );
                    }
                    resp
                }
            },
        )
        .recover(|rej: warp::Rejection| async move {
            // Only reached if extracting the body fails before dispatch.
            Ok::<_, std::convert::Infallible>(
                ApiError::bad_request("bad_request", format!("{rej:?}")).into_response(),
            )
        })
        .unify()
}

/// The body as `Bytes` chunks; a stall longer than [`BODY_IDLE_TIMEOUT`], or a whole body
/// taking longer than `deadline`, ends the stream with an error (so a slow client's request
/// fails instead of waiting forever, also one that trickles a byte now and then).
fn body_bytes(
    s: impl Stream<Item = Result<impl Buf, warp::Error>> + Send + 'static,
    deadline: Option<std::time::Duration>,
) -> impl Stream<Item = Result<Bytes, BodyError>> + Send + 'static {
    let end = deadline.map(|d| (tokio::time::Instant::now() + d, d));
    let s = Box::pin(s.map(|r| {
        r.map(|mut b| b.copy_to_bytes(b.remaining()))
            .map_err(BodyError::from)
    }));
    futures_util::stream::unfold(Some(s), move |st| async move {
        let mut s = st?;
        let total = async {
            match end {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            item = s.next() => item.map(|item| (item, Some(s))),
            () = tokio::time::sleep(BODY_IDLE_TIMEOUT) => {
                tracing::warn!(
                    "request body stalled for {} s; request aborted",
                    BODY_IDLE_TIMEOUT.as_secs()
                );
                // One error item, then the end: the handler fails the request.
                Some((Err(BodyError::Stalled), None))
            }
            () = total => {
                let d = end.map(|(_, d)| d).unwrap_or_default();
                tracing::warn!("request body not complete after {} s; request aborted", d.as_secs());
                Some((Err(BodyError::TooSlow(d)), None))
            }
        }
    })
}

/// How much of a refused (too large) body is still read and discarded before the 413 goes out.
///
/// A client that is still sending when the server answers and closes may see a reset
/// connection instead of the answer; reading a modest remainder lets ordinary clients get the
/// JSON error. Anything larger is cut off at once (the client then sees the connection close).
pub const DRAIN_LIMIT: u64 = 8 * JSON_BODY_LIMIT;

/// Reads and discards the rest of a refused body, at most [`DRAIN_LIMIT`] bytes; stops at the
/// first error (a stalled body ends through the idle timeout of the body stream).
async fn drain(body: &mut BodyStream) {
    let mut seen = 0u64;
    while let Some(Ok(chunk)) = body.next().await {
        seen += chunk.len() as u64;
        if seen > DRAIN_LIMIT {
            break;
        }
    }
}

/// Checks done for every request before routing: body size by `Content-Length`, brute-force
/// lockout on enrolment; after routing: failed enrolments counted, `Retry-After` on 429.
async fn guarded_dispatch(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let declared = req
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if !is_upload(&req.method, &req.segments) && declared.is_some_and(|n| n > JSON_BODY_LIMIT) {
        if declared.is_some_and(|n| n <= DRAIN_LIMIT) {
            drain(&mut req.body).await;
        }
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "request bodies are limited to {JSON_BODY_LIMIT} bytes (media uploads excepted)"
            ),
        ));
    }
    let enroll = req.method == Method::POST
        && req.segments.len() == 3
        && req.segments[..] == ["api", "v1", "enroll"];
    let source = req.source();
    if enroll && state.auth_throttle.check(&source).is_err() {
        // Not even looked at (a right code would be consumed); the attempt counts, so
        // hammering during the lock lengthens it.
        let wait = state
            .auth_throttle
            .failure(&source)
            .unwrap_or(std::time::Duration::from_secs(1));
        return Err(too_many_attempts(wait));
    }
    let result = dispatch(state, req).await;
    let status = match &result {
        Ok(r) => r.status(),
        Err(e) => e.status,
    };
    if enroll && status == StatusCode::FORBIDDEN {
        if let Some(lock) = state.auth_throttle.failure(&source) {
            tracing::warn!(%source, lock_secs = lock.as_secs(), "too many refused enrolments from this address; locked out");
        }
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        if let Err(wait) = state.auth_throttle.check(&source) {
            let mut resp = match result {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
            resp.headers_mut().insert(
                warp::http::header::RETRY_AFTER,
                warp::http::HeaderValue::from(wait.as_secs().max(1)),
            );
            return Ok(resp);
        }
    }
    result
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this path",
    )
}

/// Routes a request to its handler.
pub async fn dispatch(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let m = req.method.clone();
    match (segs.as_slice(), m) {
        (["healthz"], Method::GET) => Ok(system::healthz(state)),
        (["metrics"], Method::GET) => system::metrics(state),
        (["media", sha], Method::GET | Method::HEAD) => {
            let sha = sha.to_string();
            media::download(state, req, &sha).await
        }
        (["media", sha, "poster"], Method::GET | Method::HEAD) => {
            let sha = sha.to_string();
            media::poster(state, &sha).await
        }
        (["api", "v1", rest @ ..], method) => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            api_v1(state, req, &rest, method).await
        }
        (["media", _] | ["media", _, "poster"] | ["healthz"] | ["metrics"], _) => {
            Err(method_not_allowed())
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such path; the API lives under /api/v1",
        )),
    }
}

async fn api_v1(
    state: &AppState,
    req: Request,
    rest: &[&str],
    method: Method,
) -> Result<Response, ApiError> {
    use Method as M;
    match (rest, method) {
        (["keys"], M::GET) => Ok(system::keys(state)),
        (["whoami"], M::GET) => system::whoami(state, req),
        (["media"], M::POST) => media::upload(state, req).await,
        (["media"], M::GET) => media::list(state, req),
        (["media", sha], M::GET) => media::get(state, req, sha),
        (["media", sha], M::DELETE) => media::delete(state, req, sha).await,
        (["media", sha], M::PATCH) => edits::edit_media(state, req, sha).await,
        (["media", sha, "subtitles"], M::POST) => subtitles::upload(state, req, sha).await,
        (["media", sha, "subtitles"], M::GET) => subtitles::list(state, req, sha),
        (["media", sha, "subtitles", lang], M::DELETE) => {
            subtitles::delete(state, req, sha, lang).await
        }
        (["playlists"], M::POST) => content::create_playlist(state, req).await,
        (["playlists"], M::GET) => content::list_playlists(state, req),
        (["playlists", id], M::GET) => content::get_playlist(state, req, id),
        (["playlists", id], M::PUT) => content::put_playlist(state, req, id).await,
        (["playlists", id], M::DELETE) => content::delete_playlist(state, req, id).await,
        (["schedules"], M::POST) => content::create_schedule(state, req).await,
        (["schedules"], M::GET) => content::list_schedules(state, req),
        (["schedules", id], M::GET) => content::get_schedule(state, req, id),
        (["schedules", id], M::PUT) => content::put_schedule(state, req, id).await,
        (["schedules", id], M::DELETE) => content::delete_schedule(state, req, id).await,
        (["screens"], M::POST) => screens::register(state, req).await,
        (["screens"], M::GET) => screen_list::list(state, req).await,
        (["screens", id], M::GET) => screens::get(state, req, id),
        (["screens", id], M::PATCH) => screens::edit(state, req, id).await,
        (["screens", id], M::DELETE) => screens::delete(state, req, id).await,
        (["screens", id, "history"], M::GET) => screens::history(state, req, id),
        (["screens", id, "disable"], M::POST) => screens::set_disabled(state, req, id, true).await,
        (["screens", id, "enable"], M::POST) => screens::set_disabled(state, req, id, false).await,
        (["screens", id, "enrollment-code"], M::POST) => screens::new_code(state, req, id).await,
        (["screens", id, "screenshots"], M::POST) => screenshots::upload(state, req, id).await,
        (["screens", id, "screenshots"], M::GET) => screenshots::list(state, req, id),
        (["screens", id, "screenshots", "request"], M::POST) => {
            screenshots::request(state, req, id).await
        }
        (["screens", id, "screenshots", "latest"], M::GET) => {
            screenshots::latest_image(state, req, id)
        }
        (["screens", id, "screenshots", "latest.json"], M::GET) => {
            screenshots::latest_json(state, req, id)
        }
        (["gates"], M::GET) => screens::gates(state, req),
        (["gates", gate], M::PUT) => edits::put_gate(state, req, gate).await,
        (["enroll"], M::POST) => screens::enroll(state, req).await,
        (["publish"], M::POST) => publishing::publish(state, req).await,
        (["alerts"], M::POST) => publishing::create_alert(state, req).await,
        (["alerts"], M::GET) => publishing::list_alerts(state, req),
        (["alerts", "preview"], M::POST) => preview::alert_preview(state, req).await,
        (["alerts", id], M::DELETE) => publishing::cancel_alert(state, req, id).await,
        (["alert-templates"], M::GET) => templates::list(state, req),
        (["alert-templates", id], M::PUT) => templates::put(state, req, id).await,
        (["alert-templates", id], M::DELETE) => templates::delete(state, req, id).await,
        (["cap"], M::POST) => cap::post_cap(state, req).await,
        (["cap"], M::GET) => cap::list_caps(state, req),
        (["cap", id], M::GET) => cap::get_cap(state, req, id),
        (["cap", id, "confirm"], M::POST) => cap::confirm_cap(state, req, id).await,
        (["cap", id, "dismiss"], M::POST) => cap::dismiss_cap(state, req, id).await,
        (["ticker"], M::POST) => ticker::create(state, req).await,
        (["ticker"], M::GET) => ticker::list(state, req),
        (["ticker", id], M::DELETE) => ticker::delete(state, req, id).await,
        (["layouts"], M::GET) => ticker::templates(state, req),
        (["screens", id, "layout"], M::PUT) => ticker::put_layout(state, req, id).await,
        (["screens", id, "layout"], M::GET) => ticker::get_layout(state, req, id),
        (["actions"], M::GET) => system::actions(state, req),
        (["receipts"], M::GET) => audit::receipts(state, req),
        (["reports", "plays"], M::GET) => audit::plays(state, req),
        (["reports", "compliance"], M::GET) => audit::compliance(state, req),
        (["reports", "period"], M::GET) => report::period(state, req).await,
        (["reports", "bundles", sha], M::GET) => report::bundle(state, req, sha).await,
        (["tokens"], M::POST) => system::create_token(state, req).await,
        (["session"], M::GET) => session::current(state, req),
        (["session"], M::POST) => session::sign_in(state, req).await,
        (["session"], M::DELETE) => session::sign_out(state, req).await,
        (["users"], M::GET) => session::list_users(state, req),
        (["users"], M::POST) => session::create_user(state, req).await,
        (["users", login, "disable"], M::POST) => session::disable_user(state, req, login).await,
        (["users", login, "password"], M::POST) => session::reset_password(state, req, login).await,
        (["me", "password"], M::POST) => session::change_own_password(state, req).await,
        (["tokens"], M::GET) => system::list_tokens(state, req),
        (["tokens", id], M::DELETE) => system::revoke_token(state, req, id).await,
        (["tokens", id], M::PATCH) => edits::edit_token(state, req, id).await,
        (["log", "checkpoint"], M::GET) => log::get_checkpoint(state, req).await,
        (["log", "checkpoint"], M::POST) => log::post_checkpoint(state, req).await,
        (["log", "proof", "inclusion"], M::GET) => log::get_inclusion(state, req),
        (["log", "proof", "consistency"], M::GET) => log::get_consistency(state, req),
        (["receipts", "rejections"], M::GET) => log::get_rejections(state, req),
        (["audit", "export"], M::GET) => export::get_export(state, req).await,
        (["policy"], M::PUT) => approvals::put_policy(state, req).await,
        (["policy"], M::GET) => approvals::get_policy(state, req),
        (["approvals", "pending"], M::GET) => approvals::get_pending(state, req),
        (["approvals"], M::POST) => approvals::post_approval(state, req).await,
        (
            ["keys"]
            | ["whoami"]
            | ["media"]
            | ["media", _]
            | ["media", _, "subtitles"]
            | ["media", _, "subtitles", _]
            | ["playlists"]
            | ["playlists", _]
            | ["schedules"]
            | ["schedules", _]
            | ["screens"]
            | ["screens", _]
            | ["screens", _, _]
            | ["screens", _, "screenshots", "request" | "latest" | "latest.json"]
            | ["gates"]
            | ["gates", _]
            | ["enroll"]
            | ["publish"]
            | ["alerts"]
            | ["alerts", _]
            | ["alert-templates"]
            | ["alert-templates", _]
            | ["cap"]
            | ["cap", _]
            | ["cap", _, "confirm" | "dismiss"]
            | ["ticker"]
            | ["ticker", _]
            | ["layouts"]
            | ["actions"]
            | ["tokens"]
            | ["tokens", _]
            | ["session"]
            | ["users"]
            | ["users", _, "disable" | "password"]
            | ["me", "password"]
            | ["log", "checkpoint"]
            | ["log", "proof", _]
            | ["receipts", "rejections"]
            | ["audit", "export"]
            | ["policy"]
            | ["approvals"]
            | ["approvals", "pending"]
            | ["receipts"]
            | ["reports", "plays" | "compliance" | "period"]
            | ["reports", "bundles", _],
            _,
        ) => Err(method_not_allowed()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API path",
        )),
    }
}

/// Validates an id of a playlist, schedule or alert (the manifest's id rule).
pub fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if playlists::manifest::is_valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::field_reason(
            field,
            "invalid_id",
            format!("{:?} is not a valid id: use 1-128 characters A-Z, a-z, 0-9 and . _ : -, starting with a letter or digit", id.chars().take(140).collect::<String>()),
        ))
    }
}
