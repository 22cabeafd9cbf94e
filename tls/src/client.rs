//! How a client (the controller's MQTT client, the player) trusts a server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use crate::{load_certs, normalize_pin, provider, spki_sha256_hex, ServerTls, TlsError, VERSIONS};

/// Which servers a client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTrust {
    /// Certificates issued by a CA in the machine's CA store, for the host name dialled.
    SystemRoots,
    /// Certificates issued by a CA in this PEM file, for the host name dialled.
    CaFile(PathBuf),
    /// Exactly a leaf whose SubjectPublicKeyInfo has this SHA-256 (hex). Host name and
    /// validity dates are not checked: the key is what is trusted.
    PinSha256(String),
    /// The leaf with this SPKI SHA-256 (hex), as [`ClientTrust::PinSha256`], or else a
    /// certificate issued by a CA in `ca` (the machine's CA store when `None`) for the host name
    /// dialled: a CDN mirror beside a pinned self-signed controller. When no CA can be loaded,
    /// the pin alone is accepted (with a warning).
    PinOrChain {
        /// The pinned SPKI SHA-256 (hex).
        pin: String,
        /// A PEM file of CAs; `None` for the machine's CA store.
        ca: Option<PathBuf>,
    },
}

/// A rustls client configuration (TLS 1.3 and 1.2, ring) that trusts what `trust` says.
/// No ALPN; clone the config to add some.
pub fn client_config(trust: &ClientTrust) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder =
        rustls::ClientConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
    let config = match trust {
        ClientTrust::SystemRoots => builder
            .with_root_certificates(roots(None)?)
            .with_no_client_auth(),
        ClientTrust::CaFile(path) => builder
            .with_root_certificates(roots(Some(path))?)
            .with_no_client_auth(),
        ClientTrust::PinSha256(pin) => {
            return Ok(with_verifier(Arc::new(PinVerifier {
                pin: Pin::Fixed(normalize_pin(pin)?),
                chain: None,
                algorithms: provider().signature_verification_algorithms,
            })))
        }
        ClientTrust::PinOrChain { pin, ca } => {
            let pin = Pin::Fixed(normalize_pin(pin)?);
            let chain = roots(ca.as_deref()).and_then(|r| {
                WebPkiServerVerifier::builder_with_provider(Arc::new(r), provider())
                    .build()
                    .map_err(|e| TlsError::NoRoots(e.to_string()))
            });
            let chain = match chain {
                Ok(chain) => Some(chain),
                Err(e) => {
                    tracing::warn!(error = %e, "only the pinned certificate is accepted");
                    None
                }
            };
            return Ok(with_verifier(Arc::new(PinVerifier {
                pin,
                chain,
                algorithms: provider().signature_verification_algorithms,
            })));
        }
    };
    Ok(Arc::new(config))
}

/// A client configuration for a process's own server (the controller's client to its own
/// embedded MQTTS listener): trusts exactly the key `server` serves at the time of each
/// handshake, so a reloaded certificate is trusted at once.
pub fn own_server_client_config(server: &Arc<ServerTls>) -> Arc<rustls::ClientConfig> {
    with_verifier(Arc::new(PinVerifier {
        pin: Pin::Own(server.clone()),
        chain: None,
        algorithms: provider().signature_verification_algorithms,
    }))
}

/// A client configuration whose every handshake fails, naming `why` (for a link that must not,
/// or cannot, speak TLS: its trust could not be built, or it is configured as plaintext).
pub fn refusing_config(why: &str) -> Arc<rustls::ClientConfig> {
    with_verifier(Arc::new(Refuse {
        why: why.to_owned(),
        algorithms: provider().signature_verification_algorithms,
    }))
}

/// The CAs of the PEM file `ca`, or of the machine's CA store when `None`; an error when none
/// is usable.
fn roots(ca: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let (added, _) = roots.add_parsable_certificates(load_certs(path)?);
            if added == 0 {
                return Err(TlsError::NoRoots(format!(
                    "{} holds no usable CA certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| {
                        "the machine's CA store is empty (install ca-certificates)".into()
                    });
                return Err(TlsError::NoRoots(why));
            }
        }
    }
    Ok(roots)
}

/// A client configuration (TLS 1.3 and 1.2, ring) with its own certificate verifier.
fn with_verifier(verifier: Arc<dyn ServerCertVerifier>) -> Arc<rustls::ClientConfig> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .expect("ring supports TLS 1.3 and 1.2")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Arc::new(config)
}

/// The key a [`PinVerifier`] accepts.
#[derive(Debug)]
enum Pin {
    /// A fixed pin (hex).
    Fixed(String),
    /// Whatever this server serves now.
    Own(Arc<ServerTls>),
}

/// Accepts exactly the pinned key, or else what `chain` accepts; the handshake signatures are
/// still checked, so the server must hold the private key.
#[derive(Debug)]
struct PinVerifier {
    pin: Pin,
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = spki_sha256_hex(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let expected = match &self.pin {
            Pin::Fixed(pin) => pin.clone(),
            Pin::Own(server) => server.pin_sha256(),
        };
        if presented == expected {
            Ok(ServerCertVerified::assertion())
        } else if let Some(chain) = &self.chain {
            chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(TlsError::PinMismatch {
                    expected,
                    presented,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Refuses every server, naming why.
#[derive(Debug)]
struct Refuse {
    why: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Refuse {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(format!(
            "no trusted certificate: {}",
            self.why
        )))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(self.why.clone()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(self.why.clone()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
