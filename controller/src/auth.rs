//! API tokens and roles, and the controller's secret files (signing key, admin token, broker
//! password).
//!
//! A token reads `gct_<id>_<secret>`: `id` is 16 hex characters (public, names the token in
//! the action log), `secret` 43 base64url characters (256 bits). The store keeps only the
//! SHA-256 of the secret; a presented secret is compared in constant time. A fast hash is fine
//! here because the secret is random and long, unlike a password.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError, TokenRecord};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Content, publish, alerts (and reading them).
    Operator,
    /// Read-only: screens, receipts, reports, exports, action log.
    Auditor,
}

impl Role {
    /// Name as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "auditor" => Ok(Role::Auditor),
            other => Err(format!(
                "unknown role {other:?}; use admin, operator or auditor"
            )),
        }
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id.
    pub token_id: String,
    /// Its role.
    pub role: Role,
}

/// Random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A random URL-safe secret of `n` random bytes.
pub fn random_secret(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Alphabet of enrolment codes: lowercase letters and digits without the look-alikes
/// `l`, `o`, `0` and `1`, so a code read off a screen or a phone is typed right, and never `-`,
/// so a code is never mistaken for a command-line option.
const CODE_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A random enrolment code of `n` random bytes, 5 bits per character from [`CODE_ALPHABET`]
/// (12 bytes give 20 characters, 96 bits).
pub fn random_code(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    let mut out = String::with_capacity(n * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in b {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(CODE_ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(CODE_ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    Ok((ok && !rec.revoked).then_some(Principal {
        token_id: rec.id,
        role: rec.role,
    }))
}

/// Writes a secret file atomically with mode 0600 (temp file, fsync, rename, fsync dir).
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secret"),
        hex(&random_bytes::<6>())
    ));
    let res = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// fsyncs a directory so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Loads `<data>/controller.key`, creating it (0600) on first start. Returns the key and
/// whether it was created.
pub fn load_or_create_key(path: &Path) -> secret_file::Result<(playlists::keys::SecretKey, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = playlists::keys::SecretKey::from_text(&text).map_err(|e| {
                secret_file::Error(format!(
                    "controller key {} is unreadable: {e}; restore it from backup",
                    path.display()
                ))
            })?;
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = playlists::keys::SecretKey::generate(&mut OsRng);
            write_secret_file(path, key.to_text().as_bytes())
                .map_err(|e| secret_file::Error(format!("cannot write {}: {e}", path.display())))?;
            Ok((key, true))
        }
        Err(e) => Err(secret_file::Error(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Loads a secret text file, creating it with `make()` (0600) if missing.
pub fn load_or_create_secret(
    path: &Path,
    make: impl FnOnce() -> String,
) -> secret_file::Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok((t.trim().to_string(), false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = make();
            write_secret_file(path, format!("{s}\n").as_bytes())
                .map_err(|e| secret_file::Error(format!("cannot write {}: {e}", path.display())))?;
            Ok((s, true))
        }
        Err(e) => Err(secret_file::Error(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Errors of secret-file handling.
pub mod secret_file {
    /// An error message.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct Error(pub String);
    /// Result with [`Error`].
    pub type Result<T> = std::result::Result<T, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrolment_codes_are_typeable_and_never_look_like_options() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let c = random_code(12);
            assert_eq!(c.len(), 20, "{c}");
            assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{c}");
            assert!(!c.starts_with('-'));
            assert!(seen.insert(c));
        }
        // Every character of the alphabet is reachable.
        let all: String = seen.iter().flat_map(|c| c.chars()).collect();
        assert!(CODE_ALPHABET.iter().all(|b| all.contains(*b as char)));
    }

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

    #[test]
    fn secret_file_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        write_secret_file(&p, b"x").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
    }
}
