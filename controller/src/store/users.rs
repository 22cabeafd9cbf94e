//! Named operator accounts and their console sessions (`docs/security.md` §3, accounts).
//! Trees: `users` (login → JSON [`UserRecord`]), `sessions` (hex SHA-256 of the session id →
//! JSON [`SessionRecord`]; the id itself is only in the browser's cookie).

use serde::{Deserialize, Serialize};

use super::{decode, encode, Result, Role, Store};

/// A person who signs in to the console.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    /// Login (lowercase letters, digits, `.`, `-`, `_`).
    pub login: String,
    /// Full name, as the action log shows it.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string of the password.
    pub password_hash: String,
    /// Base32 TOTP secret (RFC 6238) when two-factor sign-in is on.
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// Disabled users cannot sign in; their sessions and tokens stop working.
    #[serde(default)]
    pub disabled: bool,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A signed-in console session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    /// The user's login.
    pub login: String,
    /// The CSRF token every state-changing request of this session must carry.
    pub csrf: String,
    /// Sign-in time, Unix ms (absolute expiry counts from here).
    pub created_ms: i64,
    /// Last request, Unix ms (idle expiry counts from here).
    pub seen_ms: i64,
}

impl Store {
    /// One user.
    pub fn user(&self, login: &str) -> Result<Option<UserRecord>> {
        Self::get(&self.users, "user", login)
    }

    /// Every user, by login.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        Self::all(&self.users, "user")
    }

    /// Stores a new user; [`StoreError::Exists`] if the login is taken.
    pub async fn create_user(&self, u: &UserRecord) -> Result<()> {
        self.create(&self.users, "user", &u.login, u).await
    }

    /// Replaces a user.
    pub async fn put_user(&self, u: &UserRecord) -> Result<()> {
        self.put(&self.users, &u.login, u).await
    }

    /// A session by the hex SHA-256 of its id.
    pub fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>> {
        Self::get(&self.sessions, "session", id_hash)
    }

    /// Stores a session (flushed).
    pub async fn put_session(&self, id_hash: &str, s: &SessionRecord) -> Result<()> {
        self.put(&self.sessions, id_hash, s).await
    }

    /// Records a session's last request without a flush: losing it in a crash only ends
    /// the session sooner.
    pub fn touch_session(&self, id_hash: &str, s: &SessionRecord) -> Result<()> {
        self.sessions.insert(id_hash, encode(s))?;
        Ok(())
    }

    /// Ends one session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.sessions.remove(id_hash)?;
        self.flush().await
    }

    /// Ends every session of `login` (disabled user, new password).
    pub async fn delete_sessions_of(&self, login: &str) -> Result<usize> {
        let mut n = 0;
        for kv in self.sessions.iter() {
            let (k, v) = kv?;
            let s: SessionRecord = decode("session", &v)?;
            if s.login == login {
                self.sessions.remove(k)?;
                n += 1;
            }
        }
        self.flush().await?;
        Ok(n)
    }
}
