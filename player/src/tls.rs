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

use gatecast_tls::rustls::ClientConfig;
use gatecast_tls::ClientTrust;

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
        let media = if https_mirror {
            config_or_refusing(&media_trust(cfg))
        } else {
            refusing("no https:// media mirror is configured")
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

/// The trust of media mirrors: the pinned key or a chain to the CA file (else the system
/// roots) for the mirror's host name.
fn media_trust(cfg: &PlayerConfig) -> ClientTrust {
    match (cfg.pin(), &cfg.tls_ca_file) {
        (Some(pin), ca) => ClientTrust::PinOrChain {
            pin,
            ca: ca.clone(),
        },
        (None, Some(ca)) => ClientTrust::CaFile(ca.clone()),
        (None, None) => ClientTrust::SystemRoots,
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
    gatecast_tls::refusing_config(why)
}

/// Warns once for each link that sends in plaintext (`docs/security.md` row 65).
pub fn warn_plaintext(cfg: &PlayerConfig) {
    for link in cfg.plaintext_links() {
        tracing::warn!(link = %link, "plaintext link: MQTT credentials, manifests and media cross the network unencrypted; use mqtts:// and https:// outside a closed gate LAN");
    }
}
