//! Key files: the secret key text (`gatecast-ed25519-secret-v1 …`, mode 0600) and `FILE.pub`
//! with the public key in standard base64.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use gatecast_support::fs::write_atomic;
use playlists::keys::{PublicKey, SecretKey};

/// `FILE.pub` beside `FILE`.
pub fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// `keygen --out FILE`.
pub fn keygen(out: &Path) -> Result<()> {
    if out.exists() {
        bail!(
            "{} exists; refusing to overwrite a key (move it away first)",
            out.display()
        );
    }
    let key = SecretKey::generate(&mut rand_core::OsRng);
    write_atomic(out, format!("{}\n", key.to_text()).as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let public = pub_path(out);
    write_atomic(
        &public,
        format!("{}\n", key.public().to_base64()).as_bytes(),
        0o644,
    )
    .with_context(|| format!("cannot write {}", public.display()))?;
    println!(
        "secret key {} (keep it on this computer), public key {}, key id {}",
        out.display(),
        public.display(),
        key.key_id()
    );
    Ok(())
}

/// A key file: a secret key (it can sign) or a public key (listed only).
pub enum KeyFile {
    /// A secret key.
    Secret(SecretKey),
    /// A public key only.
    Public(PublicKey),
}

impl KeyFile {
    /// The public key.
    pub fn public(&self) -> PublicKey {
        match self {
            KeyFile::Secret(k) => k.public(),
            KeyFile::Public(k) => k.clone(),
        }
    }
}

/// Reads a secret key file, or a public key (`FILE.pub` or base64 text).
pub fn read_key(path: &Path) -> Result<KeyFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let text = text.trim();
    if let Ok(k) = SecretKey::from_text(text) {
        return Ok(KeyFile::Secret(k));
    }
    PublicKey::from_base64(text)
        .map(KeyFile::Public)
        .map_err(|e| {
            anyhow::anyhow!(
                "{} holds neither a gatecast secret key nor a public key: {e}",
                path.display()
            )
        })
}

/// Reads a secret key file (refusing a public one).
pub fn read_secret(path: &Path) -> Result<SecretKey> {
    match read_key(path)? {
        KeyFile::Secret(k) => Ok(k),
        KeyFile::Public(_) => bail!(
            "{} holds a public key; signing needs the secret key file",
            path.display()
        ),
    }
}

/// A public key given as base64, or as a file holding it (or a secret key).
pub fn public_from_arg(arg: &str) -> Result<PublicKey> {
    if let Ok(k) = PublicKey::from_base64(arg.trim()) {
        return Ok(k);
    }
    Ok(read_key(Path::new(arg))
        .with_context(|| format!("{arg:?} is neither a base64 public key nor a key file"))?
        .public())
}
