//! The controller's secret files (signing key, admin token, broker password) and random secrets.
//!
//! Secret files are written atomically with mode 0600 (temp file, fsync, rename, fsync dir).

use std::path::Path;

use base64::Engine as _;
use rand_core::{OsRng, RngCore};

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

/// Writes a secret file atomically with mode 0600 (see [`gatecast_support::fs::write_atomic`]).
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    gatecast_support::fs::write_atomic(path, contents, 0o600)
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
