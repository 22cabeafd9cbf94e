//! API tokens: creating, revoking and checking them.
//!
//! A token reads `gct_<id>_<secret>`: `id` is 16 hex characters (public, names the token in
//! the action log), `secret` 43 base64url characters (256 bits). The store keeps only the
//! SHA-256 of the secret; a presented secret is compared in constant time. A fast hash is fine
//! here because the secret is random and long, unlike a password.

use subtle::ConstantTimeEq;

use crate::secrets::{random_bytes, random_secret};
use crate::store::{Role, Store, StoreError, TokenRecord};
use playlists::hex::{encode as hex, sha256_hex};

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id.
    pub token_id: String,
    /// Its role.
    pub role: Role,
    /// The signed-in user (a console session) or the token's owner, if any.
    pub user: Option<String>,
}

impl Principal {
    /// Who acted, for the action log: the user's login (and the token id when a token was
    /// used), or the token id of a token without an owner.
    pub fn actor(&self) -> String {
        match (&self.user, self.token_id.is_empty()) {
            (Some(u), true) => u.clone(),
            (Some(u), false) => format!("{u} (token {})", self.token_id),
            (None, _) => self.token_id.clone(),
        }
    }
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Creates a token with `role`, stores its hash and returns `(record, token text)`.
pub async fn create_token(store: &Store, role: Role) -> Result<(TokenRecord, String), StoreError> {
    let id = hex(&random_bytes::<8>());
    let secret = random_secret(32);
    let rec = TokenRecord {
        id: id.clone(),
        role,
        secret_hash: sha256_hex(secret.as_bytes()),
        created_at: jiff::Timestamp::now().to_string(),
        revoked: false,
        owner: None,
        label: None,
    };
    store.put_token(&rec).await?;
    Ok((rec, format!("gct_{id}_{secret}")))
}

/// Revokes a token; false if there is no such token.
pub async fn revoke_token(store: &Store, id: &str) -> Result<bool, StoreError> {
    match store.token(id)? {
        Some(mut t) => {
            t.revoked = true;
            store.put_token(&t).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Checks a bearer token; `None` if it is malformed, unknown, revoked or wrong.
pub fn authenticate(store: &Store, token: &str) -> Result<Option<Principal>, StoreError> {
    let Some(rest) = token.strip_prefix("gct_") else {
        return Ok(None);
    };
    let Some((id, secret)) = rest.split_once('_') else {
        return Ok(None);
    };
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(rec) = store.token(id)? else {
        return Ok(None);
    };
    let ok = ct_eq(&sha256_hex(secret.as_bytes()), &rec.secret_hash);
    // A token of a disabled user stops working with the user.
    let owner_ok = match &rec.owner {
        Some(login) => store.user(login)?.is_some_and(|u| !u.disabled),
        None => true,
    };
    Ok((ok && owner_ok && !rec.revoked).then_some(Principal {
        token_id: rec.id,
        role: rec.role,
        user: rec.owner,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_roundtrip_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let (rec, tok) = create_token(&store, Role::Operator).await.unwrap();
        let p = authenticate(&store, &tok).unwrap().unwrap();
        assert_eq!(p.role, Role::Operator);
        assert_eq!(p.token_id, rec.id);
        let mut bad = tok.clone();
        bad.pop();
        bad.push('A');
        assert!(authenticate(&store, &bad).unwrap().is_none() || tok.ends_with('A'));
        assert!(authenticate(&store, "gct_zz_x").unwrap().is_none());
        assert!(revoke_token(&store, &rec.id).await.unwrap());
        assert!(authenticate(&store, &tok).unwrap().is_none());
    }
}
