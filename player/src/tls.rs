//! The player's TLS trust (`docs/protocol.md` §7, `docs/security.md` rows 65–69).
//!
//! - The broker link (`mqtts://`) trusts exactly the pinned key when `tls_pin_sha256` is set
//!   (the controller's certificate, learned at enrolment), else the CAs of `tls_ca_file`, else
//!   the system's CA store.
//! - Media mirrors (`https://`) are accepted when they present the pinned key, or chain to
//!   `tls_ca_file` (else the system's CA store) for their host name: a CDN mirror works beside
//!   a pinned self-signed controller. Every file is checked against the signed manifest's
//!   SHA-256 anyway; TLS on mirrors keeps the content private.
//!
//! A trust that cannot be built (a missing CA file, an empty CA store) does not stop the
//! player: the link gets a configuration that refuses every server with that reason, so the
//! player keeps playing from its cache and says why in its log and status.

use std::sync::Arc;

use gatecast_tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use gatecast_tls::rustls::client::WebPkiServerVerifier;
use gatecast_tls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use gatecast_tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use gatecast_tls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};
use gatecast_tls::{ClientTrust, TlsError};

use crate::config::PlayerConfig;

/// The rustls configurations of the player's links.
#[derive(Clone, Debug)]
pub struct PlayerTls {
    /// For the broker link (used only when `broker` is `mqtts://`).
    pub broker: Arc<ClientConfig>,
    /// For media downloads (used only by `https://` mirrors).
    pub media: Arc<ClientConfig>,
}

impl PlayerTls {
    /// The configurations for `cfg`'s links; never fails (see the module documentation).
    pub fn from_config(cfg: &PlayerConfig) -> PlayerTls {
        let broker = if cfg.broker_addr().is_ok_and(|b| b.tls) {
            config_or_refusing(&broker_trust(cfg))
        } else {
            refusing("the broker link is plaintext mqtt://")
        };
        // Screenshots are uploaded to the controller with the mirrors' trust.
        let https_mirror = cfg
            .media_base
            .mirrors()
            .iter()
            .any(|m| m.starts_with("https://"))
            || cfg.controller_base().starts_with("https://");
        let media = match (https_mirror, cfg.pin()) {
            (false, _) => refusing("no https:// media mirror is configured"),
            (true, None) => config_or_refusing(&chain_trust(cfg)),
            (true, Some(pin)) => match chain_verifier(&chain_trust(cfg)) {
                Ok(chain) => with_verifier(Arc::new(PinOrChain {
                    pin,
                    chain: Some(chain),
                })),
                Err(e) => {
                    tracing::warn!(error = %e, "media mirrors: only the pinned certificate is accepted");
                    with_verifier(Arc::new(PinOrChain { pin, chain: None }))
                }
            },
        };
        PlayerTls { broker, media }
    }
}

/// The broker link's trust: the pin, else the CA file, else the system roots.
pub fn broker_trust(cfg: &PlayerConfig) -> ClientTrust {
    match (cfg.pin(), &cfg.tls_ca_file) {
        (Some(pin), _) => ClientTrust::PinSha256(pin),
        (None, Some(ca)) => ClientTrust::CaFile(ca.clone()),
        (None, None) => ClientTrust::SystemRoots,
    }
}

/// The CA trust of media mirrors: the CA file, else the system roots.
fn chain_trust(cfg: &PlayerConfig) -> ClientTrust {
    match &cfg.tls_ca_file {
        Some(ca) => ClientTrust::CaFile(ca.clone()),
        None => ClientTrust::SystemRoots,
    }
}

/// `gatecast_tls::client_config(trust)`, or a configuration refusing every server with the
/// reason it could not be built.
fn config_or_refusing(trust: &ClientTrust) -> Arc<ClientConfig> {
    gatecast_tls::client_config(trust).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "TLS trust unusable; TLS connections are refused until it is fixed");
        refusing(&e.to_string())
    })
}

/// A configuration whose every handshake fails with `why` (for links that must not, or
/// cannot, speak TLS).
pub fn refusing(why: &str) -> Arc<ClientConfig> {
    with_verifier(Arc::new(Refuse {
        why: why.to_owned(),
    }))
}

#[allow(deprecated)] // ring: the one provider of gatecast-tls
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn with_verifier(v: Arc<dyn ServerCertVerifier>) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.3 and 1.2")
        .dangerous()
        .with_custom_certificate_verifier(v)
        .with_no_client_auth();
    Arc::new(config)
}

/// The WebPKI verifier for a CA file or the system roots.
fn chain_verifier(trust: &ClientTrust) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    let added = match trust {
        ClientTrust::CaFile(path) => {
            roots
                .add_parsable_certificates(gatecast_tls::load_certs(path)?)
                .0
        }
        _ => {
            roots
                .add_parsable_certificates(rustls_native_certs::load_native_certs().certs)
                .0
        }
    };
    if added == 0 {
        let what = match trust {
            ClientTrust::CaFile(p) => format!("{} holds no usable CA certificate", p.display()),
            _ => "the machine's CA store is empty (install ca-certificates)".into(),
        };
        return Err(TlsError::NoRoots(what));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::NoRoots(e.to_string()))
}

/// Accepts the pinned key, else what the CA verifier accepts.
#[derive(Debug)]
struct PinOrChain {
    pin: String,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for PinOrChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = gatecast_tls::spki_sha256_hex(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if presented == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.chain {
            Some(chain) => {
                chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(
                    TlsError::PinMismatch {
                        expected: self.pin.clone(),
                        presented,
                    },
                ))),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Refuses every server, naming why.
#[derive(Debug)]
struct Refuse {
    why: String,
}

impl ServerCertVerifier for Refuse {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Warns once for each link that sends in plaintext (`docs/security.md` row 65).
pub fn warn_plaintext(cfg: &PlayerConfig) {
    for link in cfg.plaintext_links() {
        tracing::warn!(link = %link, "plaintext link: MQTT credentials, manifests and media cross the network unencrypted; use mqtts:// and https:// outside a closed gate LAN");
    }
}
