//! gatecast's TLS in one place (docs/security.md §3, rows 60–64):
//! - [`ServerTls`]: the controller's certificate (files or self-signed), reloadable without a
//!   restart, behind one [`tokio_rustls::TlsAcceptor`] for HTTPS and MQTTS;
//! - [`ClientTrust`] and [`client_config`]: how a client trusts a server (the machine's CA
//!   store, a CA file, or a pinned SubjectPublicKeyInfo);
//! - [`spki_sha256_hex`]: the pin, SHA-256 of the certificate's SubjectPublicKeyInfo DER;
//! - [`explain`]: a TLS failure in words an operator can act on.
//!
//! rustls with the `ring` provider only; every config is built with that provider
//! explicitly, TLS 1.3 and 1.2 only.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod der;
mod explain;
mod pem;
mod server;

use std::path::PathBuf;
use std::sync::Arc;

pub use client::{client_config, own_server_client_config, refusing_config, ClientTrust};
pub use explain::{explain, IS_TLS as IS_TLS_WORDS, NOT_TLS as NOT_TLS_WORDS};
pub use pem::{load_certs, load_key};
pub use server::ServerTls;

/// Re-exported so that users name the same rustls as this crate.
pub use rustls;
pub use tokio_rustls;

/// What went wrong while loading, making or checking certificates and keys.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file holds no PEM section of the kind needed.
    #[error("{path} holds no PEM {what}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// "CERTIFICATE" or "PRIVATE KEY".
        what: &'static str,
    },
    /// A file's PEM could not be parsed.
    #[error("{path}: bad PEM: {detail}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
    /// The private key cannot be used (unsupported kind, or it does not match the certificate).
    #[error("private key {path} is unusable: {detail}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A certificate's DER is not an X.509 certificate this crate can read.
    #[error("certificate is malformed: {0}")]
    BadCertificate(&'static str),
    /// Making a self-signed certificate failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    /// A pin is not 64 hex digits.
    #[error("pin {0:?} is not a SHA-256 in hex (64 hex digits, colons allowed)")]
    BadPin(String),
    /// The server presented a leaf whose SPKI hash is not the pinned one.
    #[error("certificate pin mismatch: expected {expected}, server presented {presented}")]
    PinMismatch {
        /// The configured pin.
        expected: String,
        /// The pin of the certificate the server presented.
        presented: String,
    },
    /// A trust source gave no usable root certificate.
    #[error("no trusted CA certificate: {0}")]
    NoRoots(String),
    /// rustls refused a configuration.
    #[error("TLS configuration refused: {0}")]
    Config(#[from] rustls::Error),
}

/// The pin of a certificate: SHA-256 of its SubjectPublicKeyInfo DER, in lower-case hex.
///
/// The pin survives a renewal that keeps the key (what `certbot --reuse-key` and the
/// self-signed certificate in the data directory do).
pub fn spki_sha256_hex(cert_der: &[u8]) -> Result<String, TlsError> {
    use sha2::{Digest, Sha256};
    let spki = der::spki(cert_der)?;
    Ok(hex(&Sha256::digest(spki)))
}

/// The pin as standard base64 of the SHA-256 (what Chromium's
/// `--ignore-certificate-errors-spki-list` and HPKP take).
pub fn spki_sha256_base64(cert_der: &[u8]) -> Result<String, TlsError> {
    use sha2::{Digest, Sha256};
    let spki = der::spki(cert_der)?;
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki)))
}

/// Normalises a pin given by a person: lower case, colons and spaces dropped; checks
/// it is 64 hex digits.
pub fn normalize_pin(pin: &str) -> Result<String, TlsError> {
    let p: String = pin
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(p)
    } else {
        Err(TlsError::BadPin(pin.to_string()))
    }
}

/// The one crypto provider every config of this crate uses.
///
/// ring, not aws-lc-rs: no C/CMake toolchain beyond ring's. rustls 0.23.48 marks ring's
/// provider deprecated only because it has no post-quantum key exchange.
///
/// Key exchange X25519 first: ring's provider lists P-384 first, so two gatecast ends agreed
/// on P-384, whose key generation and agreement were 60 % of the controller's CPU in a
/// reconnect storm of 10,000 TLS screens (`docs/BENCHMARKS.md`); X25519 costs a fraction of
/// it at a security level no lower than P-256's. P-256 and P-384 stay for peers without it.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups = vec![X25519, SECP256R1, SECP384R1];
    Arc::new(provider)
}

/// TLS 1.3 and 1.2; nothing older exists in rustls.
pub(crate) const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_normalised_and_checked() {
        let upper = "AB:".repeat(31) + "AB";
        assert_eq!(normalize_pin(&upper).unwrap(), "ab".repeat(32));
        assert!(matches!(normalize_pin("abc"), Err(TlsError::BadPin(_))));
        assert!(normalize_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn key_exchange_prefers_x25519() {
        let names: Vec<_> = provider().kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                rustls::NamedGroup::X25519,
                rustls::NamedGroup::secp256r1,
                rustls::NamedGroup::secp384r1
            ]
        );
    }
}
