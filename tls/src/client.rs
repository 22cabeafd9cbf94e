//! How a client (the controller's MQTT client, the player) trusts a server.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
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
}

/// A rustls client configuration (TLS 1.3 and 1.2, ring) that trusts what `trust` says.
/// No ALPN; clone the config to add some.
pub fn client_config(trust: &ClientTrust) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder =
        rustls::ClientConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
    let config = match trust {
        ClientTrust::SystemRoots => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
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
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        ClientTrust::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(load_certs(path)?);
            if added == 0 {
                return Err(TlsError::NoRoots(format!(
                    "{} holds no usable CA certificate",
                    path.display()
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        ClientTrust::PinSha256(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier {
                pin: Pin::Fixed(normalize_pin(pin)?),
                algorithms: provider().signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A client configuration for a process's own server (the controller's client to its own
/// embedded MQTTS listener): trusts exactly the key `server` serves at the time of each
/// handshake, so a reloaded certificate is trusted at once.
pub fn own_server_client_config(server: &Arc<ServerTls>) -> Arc<rustls::ClientConfig> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .expect("ring supports TLS 1.3 and 1.2")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinVerifier {
            pin: Pin::Own(server.clone()),
            algorithms: provider().signature_verification_algorithms,
        }))
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

/// Accepts exactly the pinned key; the handshake signatures are still checked, so the server
/// must hold the private key.
#[derive(Debug)]
struct PinVerifier {
    pin: Pin,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = spki_sha256_hex(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let expected = match &self.pin {
            Pin::Fixed(pin) => pin.clone(),
            Pin::Own(server) => server.pin_sha256(),
        };
        if presented == expected {
            Ok(ServerCertVerified::assertion())
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
