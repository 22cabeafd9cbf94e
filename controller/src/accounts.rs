//! Named operator accounts (`docs/operations.md`, "Accounts"): argon2id passwords, optional
//! TOTP (RFC 6238) two-factor sign-in, and console sessions held in an `HttpOnly`,
//! `SameSite=Strict` cookie with a CSRF token for every state-changing request.
//!
//! A session id is 256 random bits; the store keeps only its SHA-256. A session ends after
//! [`IDLE`] without a request or [`ABSOLUTE`] after sign-in, at sign-out, and when its user is
//! disabled or gets a new password.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;

use crate::secrets::{random_bytes, random_secret};
use crate::store::{Role, SessionRecord, Store, StoreError, UserRecord};
use crate::tokens::{ct_eq, Principal};
use playlists::hex::sha256_hex;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "gatecast_session";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The issuer the phone app shows next to the code.
pub const TOTP_ISSUER: &str = "gatecast";

/// An account operation that cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The login is not acceptable.
    #[error("login {0:?} is invalid: use 1-64 lowercase letters, digits, '.', '-' or '_'")]
    BadLogin(String),
    /// The password is too short.
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// No such user.
    #[error("no user with login {0:?}")]
    NoSuchUser(String),
    /// Hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Why a sign-in was refused. The message never says which part was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong login, password or code, or a disabled user.
    #[error("wrong login, password or code")]
    Refused,
    /// Login and password are right, the user has two-factor on and no code came: the
    /// console then asks for the 6-digit code.
    #[error("this user signs in with a 6-digit code from the authenticator app too")]
    CodeRequired,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn valid_login(login: &str) -> bool {
    (1..=64).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane) PHC string of `password`.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword);
    }
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn totp(secret_b32: &str, login: &str) -> Option<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .ok()?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some(TOTP_ISSUER.to_string()),
        login.to_string(),
    )
    .ok()
}

/// The `otpauth://` URI a phone app reads (as text or a QR code) for this user's secret.
pub fn otpauth_uri(secret_b32: &str, login: &str) -> Option<String> {
    totp(secret_b32, login).map(|t| t.get_url())
}

/// The current TOTP code of a secret (tests and the CLI's self-check).
pub fn totp_now(secret_b32: &str, login: &str) -> Option<String> {
    totp(secret_b32, login).and_then(|t| t.generate_current().ok())
}

fn check_totp(secret_b32: &str, login: &str, code: &str) -> bool {
    totp(secret_b32, login).is_some_and(|t| t.check_current(code.trim()).unwrap_or(false))
}

/// What [`add_user`] made.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The stored record.
    pub user: UserRecord,
    /// The password (generated when none was given): shown once.
    pub password: String,
    /// The `otpauth://` URI when two-factor sign-in is on: shown once.
    pub otpauth: Option<String>,
}

/// Creates a user. Without `password` a random one is made (shown once).
pub async fn add_user(
    store: &Store,
    login: &str,
    name: &str,
    role: Role,
    password: Option<String>,
    with_totp: bool,
) -> Result<NewUser, AccountError> {
    if !valid_login(login) {
        return Err(AccountError::BadLogin(login.to_string()));
    }
    let password = password.unwrap_or_else(|| random_secret(15));
    let totp_secret = with_totp.then(|| {
        totp_rs::Secret::Raw(random_bytes::<20>().to_vec())
            .to_encoded()
            .to_string()
    });
    let user = UserRecord {
        login: login.to_string(),
        name: name.to_string(),
        role,
        password_hash: hash_password(&password)?,
        totp_secret: totp_secret.clone(),
        disabled: false,
        created_at: jiff::Timestamp::now().to_string(),
    };
    store.create_user(&user).await?;
    let otpauth = totp_secret.and_then(|s| otpauth_uri(&s, login));
    Ok(NewUser {
        user,
        password,
        otpauth,
    })
}

/// Disables a user and ends their sessions.
pub async fn disable_user(store: &Store, login: &str) -> Result<UserRecord, AccountError> {
    let mut u = store
        .user(login)?
        .ok_or_else(|| AccountError::NoSuchUser(login.to_string()))?;
    u.disabled = true;
    store.put_user(&u).await?;
    store.delete_sessions_of(login).await?;
    Ok(u)
}

/// Sets a new password (random when `None`; returned), enables the user and ends their
/// sessions.
pub async fn reset_password(
    store: &Store,
    login: &str,
    password: Option<String>,
) -> Result<String, AccountError> {
    let mut u = store
        .user(login)?
        .ok_or_else(|| AccountError::NoSuchUser(login.to_string()))?;
    let password = password.unwrap_or_else(|| random_secret(15));
    u.password_hash = hash_password(&password)?;
    u.disabled = false;
    store.put_user(&u).await?;
    store.delete_sessions_of(login).await?;
    Ok(password)
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Checks login, password and (when the user has two-factor on) the code; on success stores a
/// new session and returns `(session id for the cookie, session)`.
pub async fn sign_in(
    store: &Store,
    login: &str,
    password: &str,
    code: Option<&str>,
) -> Result<(String, SessionRecord, UserRecord), SignInError> {
    let user = store.user(login)?;
    // A missing user costs a hash too, so timing does not tell which logins exist.
    let password_ok = match &user {
        Some(u) => verify_password(&u.password_hash, password),
        None => verify_password(dummy_hash(), password),
    };
    let Some(user) = user.filter(|u| password_ok && !u.disabled) else {
        return Err(SignInError::Refused);
    };
    if let Some(secret) = &user.totp_secret {
        if code.is_none_or(|c| c.trim().is_empty()) {
            return Err(SignInError::CodeRequired);
        }
        if !code.is_some_and(|c| check_totp(secret, &user.login, c)) {
            return Err(SignInError::Refused);
        }
    }
    let id = random_secret(32);
    let now = now_ms();
    let session = SessionRecord {
        login: user.login.clone(),
        csrf: random_secret(32),
        created_ms: now,
        seen_ms: now,
    };
    store
        .put_session(&sha256_hex(id.as_bytes()), &session)
        .await?;
    Ok((id, session, user))
}

/// An argon2id hash of a random password, verified against when the login is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_secret(24)).unwrap_or_default())
}

/// The user behind a session cookie, if the session is live (and its user enabled); records
/// the request for the idle expiry. Returns the principal and the session's CSRF token.
pub fn session_principal(
    store: &Store,
    cookie: &str,
) -> Result<Option<(Principal, String)>, StoreError> {
    let key = sha256_hex(cookie.as_bytes());
    let Some(mut s) = store.session(&key)? else {
        return Ok(None);
    };
    let now = now_ms();
    let expired = now - s.seen_ms > IDLE.as_millis() as i64
        || now - s.created_ms > ABSOLUTE.as_millis() as i64;
    let user = store.user(&s.login)?.filter(|u| !u.disabled);
    let Some(user) = user.filter(|_| !expired) else {
        return Ok(None);
    };
    s.seen_ms = now;
    store.touch_session(&key, &s)?;
    Ok(Some((
        Principal {
            token_id: String::new(),
            role: user.role,
            user: Some(user.login),
        },
        s.csrf,
    )))
}

/// Ends the session of `cookie` (sign-out).
pub async fn sign_out(store: &Store, cookie: &str) -> Result<(), StoreError> {
    store.delete_session(&sha256_hex(cookie.as_bytes())).await
}

/// Whether `presented` is the session's CSRF token (constant time).
pub fn csrf_ok(expected: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| ct_eq(expected, p.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_totp_sessions_and_disable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        assert!(!verify_password(dummy_hash(), "x"));
        let n = add_user(
            &store,
            "lan.nguyen",
            "Nguyễn Thị Lan",
            Role::Operator,
            Some("correct horse battery".into()),
            true,
        )
        .await
        .unwrap();
        let secret = n.user.totp_secret.clone().unwrap();
        assert!(n
            .otpauth
            .unwrap()
            .starts_with("otpauth://totp/gatecast:lan.nguyen?"));
        let code = totp_now(&secret, "lan.nguyen").unwrap();
        assert!(matches!(
            sign_in(&store, "lan.nguyen", "correct horse battery", None).await,
            Err(SignInError::CodeRequired)
        ));
        assert!(matches!(
            sign_in(&store, "lan.nguyen", "wrong horse battery", Some(&code)).await,
            Err(SignInError::Refused)
        ));
        let (id, s, _) = sign_in(&store, "lan.nguyen", "correct horse battery", Some(&code))
            .await
            .unwrap();
        let (p, csrf) = session_principal(&store, &id).unwrap().unwrap();
        assert_eq!(
            (p.user.as_deref(), p.role, csrf),
            (Some("lan.nguyen"), Role::Operator, s.csrf)
        );
        disable_user(&store, "lan.nguyen").await.unwrap();
        assert!(session_principal(&store, &id).unwrap().is_none());
        assert!(matches!(
            add_user(&store, "Bad Login", "x", Role::Admin, None, false).await,
            Err(AccountError::BadLogin(_))
        ));
        assert!(matches!(
            hash_password("short"),
            Err(AccountError::WeakPassword)
        ));
    }
}
