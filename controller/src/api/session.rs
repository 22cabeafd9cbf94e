//! Console sign-in and named accounts over HTTP (`docs/protocol.md` keeps the API list;
//! `crate::accounts` holds the rules): `POST /api/v1/session` signs in with login, password
//! and, when enabled, a TOTP code, and sets the session cookie; `DELETE /api/v1/session` signs
//! out; admins list, create, disable and reset users; anyone signed in changes their own
//! password. A cookie-authenticated request that changes state must carry the session's CSRF
//! token in `X-CSRF-Token` and, when the browser sends `Origin`, come from this host.

use serde::Deserialize;
use warp::http::{header, StatusCode};
use warp::reply::Response;

use super::{json_reply, log_action, too_many_attempts, ApiError, AppState, Request, ADMIN, READ};
use crate::accounts::{self, AccountError, SignInError, SESSION_COOKIE};
use crate::store::Role;
use crate::tokens::Principal;

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::Store(e) => e.into(),
            AccountError::NoSuchUser(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            AccountError::BadLogin(_) => ApiError::field_reason("login", "invalid_id", e),
            AccountError::WeakPassword => ApiError::field_reason("password", "weak_password", e),
            AccountError::Hash(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
        }
    }
}

/// Whether cookies get `Secure`: when the controller serves HTTPS itself (`[tls]`), or the
/// console is served over HTTPS by a proxy in front, as the configured public media base says.
fn secure(state: &AppState) -> bool {
    state.config.tls.is_some()
        || state
            .config
            .public_media_base
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

fn cookie(state: &AppState, value: &str, max_age: Option<u64>) -> String {
    let mut c = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure(state) {
        c.push_str("; Secure");
    }
    c
}

/// The session path of [`Request::authorize`].
pub(super) fn authorize_session(
    req: &Request,
    state: &AppState,
    allowed: &[Role],
    cookie: &str,
) -> Result<Principal, ApiError> {
    let Some((p, csrf)) = accounts::session_principal(&state.store, cookie)? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the session has ended; sign in again",
        ));
    };
    let safe = matches!(
        req.method,
        warp::http::Method::GET | warp::http::Method::HEAD
    );
    if !safe {
        let forbidden = |m: &str| ApiError::new(StatusCode::FORBIDDEN, "csrf", m.to_string());
        if !accounts::csrf_ok(&csrf, req.header("x-csrf-token")) {
            tracing::warn!(source = %req.source(), user = ?p.user, "refused a session request without its CSRF token");
            return Err(forbidden("a signed-in request that changes something needs the session's X-CSRF-Token header"));
        }
        if let (Some(origin), Some(host)) = (req.header("origin"), req.header("host")) {
            let same = origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
            if !same {
                tracing::warn!(source = %req.source(), %origin, "refused a cross-origin session request");
                return Err(forbidden("cross-origin requests are refused"));
            }
        }
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

#[derive(Deserialize)]
struct SignInBody {
    login: String,
    password: String,
    #[serde(default)]
    code: Option<String>,
}

/// `POST /api/v1/session {"login","password","code"?}`: 200 with the session cookie and
/// `{"login","name","role","csrf"}`; 401 for any wrong part; failures count in the same
/// per-address lockout as bad tokens.
pub async fn sign_in(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let b: SignInBody = req.json().await?;
    let source = req.source();
    if let Err(wait) = state.auth_throttle.check(&source) {
        return Err(too_many_attempts(wait));
    }
    match accounts::sign_in(&state.store, &b.login, &b.password, b.code.as_deref()).await {
        Ok((id, session, user)) => {
            let who = Principal {
                token_id: String::new(),
                role: user.role,
                user: Some(user.login.clone()),
            };
            log_action(
                state,
                &who,
                "session.sign_in",
                serde_json::json!({}),
                vec![],
            )
            .await?;
            let mut r = json_reply(
                StatusCode::OK,
                &serde_json::json!({"login": user.login, "name": user.name, "role": user.role, "csrf": session.csrf}),
            );
            let c = cookie(state, &id, Some(accounts::ABSOLUTE.as_secs()));
            r.headers_mut().insert(
                header::SET_COOKIE,
                c.parse().expect("a valid cookie header"),
            );
            Ok(r)
        }
        Err(SignInError::Refused) => {
            if let Some(lock) = state.auth_throttle.failure(&source) {
                tracing::warn!(%source, lock_secs = lock.as_secs(), "too many failed sign-ins from this address; locked out");
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                SignInError::Refused.to_string(),
            ))
        }
        Err(SignInError::CodeRequired) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "code_required",
            SignInError::CodeRequired.to_string(),
        )),
        Err(SignInError::Store(e)) => Err(e.into()),
    }
}

/// `GET /api/v1/session`: the signed-in user of the cookie and the session's CSRF token, so a
/// new console tab of the same browser carries on without signing in again.
pub fn current(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "not signed in");
    let cookie = req.cookie(SESSION_COOKIE).ok_or_else(unauthorized)?;
    let (p, csrf) = accounts::session_principal(&state.store, cookie)?.ok_or_else(unauthorized)?;
    let login = p.user.unwrap_or_default();
    let name = state
        .store
        .user(&login)?
        .map(|u| u.name)
        .unwrap_or_default();
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"login": login, "name": name, "role": p.role, "csrf": csrf}),
    ))
}

/// `DELETE /api/v1/session`: ends the session and clears the cookie.
pub async fn sign_out(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, READ)?;
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        accounts::sign_out(&state.store, c).await?;
    }
    log_action(
        state,
        &who,
        "session.sign_out",
        serde_json::json!({}),
        vec![],
    )
    .await?;
    let mut r = json_reply(StatusCode::OK, &serde_json::json!({"signed_out": true}));
    r.headers_mut().insert(
        header::SET_COOKIE,
        cookie(state, "", Some(0))
            .parse()
            .expect("a valid cookie header"),
    );
    Ok(r)
}

/// `GET /api/v1/users` (admin): logins, names, roles, two-factor and disabled flags.
pub fn list_users(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, ADMIN)?;
    let v: Vec<_> = state
        .store
        .users()?
        .into_iter()
        .map(|u| serde_json::json!({"login": u.login, "name": u.name, "role": u.role, "totp": u.totp_secret.is_some(), "disabled": u.disabled, "created_at": u.created_at}))
        .collect();
    Ok(json_reply(StatusCode::OK, &v))
}

#[derive(Deserialize)]
struct NewUserBody {
    login: String,
    name: String,
    role: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    totp: bool,
}

/// `POST /api/v1/users {"login","name","role","password"?,"totp"?}` (admin): 201 with the
/// password (when generated), the `otpauth://` URI and that URI as a QR code (`otpauth_svg`,
/// an SVG document), shown once.
pub async fn create_user(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let b: NewUserBody = req.json().await?;
    let role: Role = b
        .role
        .parse()
        .map_err(|e: String| ApiError::field("role", e))?;
    let generated = b.password.is_none();
    let n = accounts::add_user(&state.store, &b.login, &b.name, role, b.password, b.totp).await?;
    log_action(
        state,
        &who,
        "user.create",
        serde_json::json!({"login": n.user.login, "role": role, "totp": b.totp}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::CREATED,
        &serde_json::json!({"login": n.user.login, "role": role, "password": generated.then_some(n.password), "otpauth": n.otpauth, "otpauth_svg": n.otpauth.as_deref().and_then(qr_svg)}),
    ))
}

/// The QR code of `text` as an SVG document (black on white, quiet zone included), for a
/// phone app to scan; `None` when the text is too long for a QR code.
fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

/// `POST /api/v1/users/{login}/disable` (admin).
pub async fn disable_user(
    state: &AppState,
    req: Request,
    login: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    accounts::disable_user(&state.store, login).await?;
    log_action(
        state,
        &who,
        "user.disable",
        serde_json::json!({"login": login}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"login": login, "disabled": true}),
    ))
}

#[derive(Deserialize)]
struct PasswordBody {
    #[serde(default)]
    old_password: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `POST /api/v1/users/{login}/password {"password"?}` (admin): sets a new password (random
/// when absent, returned once) and ends the user's sessions.
pub async fn reset_password(
    state: &AppState,
    mut req: Request,
    login: &str,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let b: PasswordBody = req.json().await?;
    let generated = b.password.is_none();
    let pw = accounts::reset_password(&state.store, login, b.password).await?;
    log_action(
        state,
        &who,
        "user.reset_password",
        serde_json::json!({"login": login}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"login": login, "password": generated.then_some(pw)}),
    ))
}

/// `POST /api/v1/me/password {"old_password","password"}` (signed in): changes one's own
/// password after checking the old one; other sessions end, this one too (sign in again).
pub async fn change_own_password(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, READ)?;
    let Some(login) = who.user.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only a signed-in user has a password",
        ));
    };
    let b: PasswordBody = req.json().await?;
    let user = state
        .store
        .user(&login)?
        .ok_or_else(|| AccountError::NoSuchUser(login.clone()))?;
    if !b
        .old_password
        .as_deref()
        .is_some_and(|o| accounts::verify_password(&user.password_hash, o))
    {
        return Err(ApiError::field(
            "old_password",
            "the current password is wrong",
        ));
    }
    let Some(new) = b.password else {
        return Err(ApiError::field("password", "a new password is required"));
    };
    accounts::reset_password(&state.store, &login, Some(new)).await?;
    log_action(
        state,
        &who,
        "user.change_password",
        serde_json::json!({}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"changed": true}),
    ))
}
