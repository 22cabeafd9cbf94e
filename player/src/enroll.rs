//! `gatecast-player enroll`: register this screen's device key with the controller and write
//! the player configuration.
//!
//! Steps: load the device key from `<data_dir>/device.key` or make a new one (in memory);
//! `POST <controller>/api/v1/enroll` with `{"screen","code","device_key"}`; check that the
//! returned `controller_key` really has the returned `controller_key_id`, and that this id
//! equals `--expect-key-id` when given. Only when every check passed are the device key
//! (mode 0600, if new) and the configuration (mode 0600) written; a refused enrolment writes
//! nothing. An existing configuration file is replaced (re-enrolment).
//!
//! TLS (`docs/protocol.md` §7): an `https://` controller is trusted through `--pin-sha256`
//! (the SHA-256 of its certificate's SubjectPublicKeyInfo), `--ca-file`, or the system's CA
//! store; the trust given is written into the configuration (`tls_pin_sha256`,
//! `tls_ca_file`). When the enrolment went over a pinned or CA-checked link, the answer's
//! `tls_pin_sha256` (the controller's current certificate) pins the broker link too; a pin
//! that arrived over plaintext `http://` is never trusted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use playlists::keys::{PublicKey, SecretKey};
use serde::Deserialize;

use crate::config::{BackendKind, ConfigError, MediaBase, PlayerConfig};
use crate::keyfile::{self, KeyFileError};
use gatecast_tls::ClientTrust;

/// Largest enrolment answer read from the controller.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What `enroll` needs.
#[derive(Debug, Clone)]
pub struct EnrollOptions {
    /// Controller base URL, e.g. `http://10.0.0.5:8080`.
    pub controller: String,
    /// This screen's id.
    pub screen: String,
    /// The single-use enrolment code shown when the screen was registered.
    pub code: String,
    /// If set, the controller key id must be exactly this (read it from the console or
    /// `GET /api/v1/keys` over a trusted path); protects against a spoofed controller.
    pub expect_key_id: Option<String>,
    /// Policy root key ids to pin (`--policy-root`, from the installation sheet); empty: the
    /// screen does not enforce approvals (`docs/protocol.md` §19).
    pub policy_root: Vec<String>,
    /// Where to write the configuration.
    pub config_path: PathBuf,
    /// The data directory (device key, state, cache).
    pub data_dir: PathBuf,
    /// The backend written into the configuration.
    pub backend: BackendKind,
    /// `--ca-file`: the PEM CA(s) an `https://` controller must chain to.
    pub ca_file: Option<PathBuf>,
    /// `--pin-sha256`: the SHA-256 (hex) of the controller certificate's SubjectPublicKeyInfo.
    pub pin_sha256: Option<String>,
}

/// Why enrolment failed. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// An option is unusable.
    #[error("{0}")]
    BadOption(String),
    /// The controller could not be reached (or its certificate was refused: `detail` names
    /// the TLS problem).
    #[error("cannot reach the controller at {url}: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The controller refused (wrong or used code, unknown screen, ...).
    #[error("the controller refused the enrolment (HTTP {status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The controller's message.
        message: String,
    },
    /// The controller's answer is not a valid enrolment answer.
    #[error("the controller's answer is invalid: {0}")]
    BadAnswer(String),
    /// The controller key id differs from `--expect-key-id`.
    #[error("controller key id is {found}, but {expected} was expected; refusing to enrol (is this the right controller?)")]
    KeyIdMismatch {
        /// The expected id.
        expected: String,
        /// The id of the key the controller sent.
        found: String,
    },
    /// The device key file.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The configuration could not be written or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

#[derive(Deserialize)]
struct Answer {
    broker: String,
    mqtt_username: String,
    mqtt_password: String,
    controller_key: String,
    controller_key_id: String,
    media_base: MediaBase,
    /// Absent from controllers before enrolment epochs: 1.
    #[serde(default = "playlists::receipt::first_epoch")]
    epoch: u64,
    /// The screen's gate (absent from older controllers).
    #[serde(default)]
    gate: String,
    /// The approval policy chain, oldest first (absent: no policy yet).
    #[serde(default)]
    policy: Vec<String>,
    /// The controller's TLS pin, when it serves TLS.
    #[serde(default)]
    tls_pin_sha256: Option<String>,
}

/// With pinned roots, a policy chain sent at enrolment must verify from them: a wrong id on
/// the installation sheet (or a controller handing out a policy of other roots) is caught
/// now, not at the first manifest.
fn check_policy(pinned: &[String], chain: &[String]) -> Result<(), EnrollError> {
    if pinned.is_empty() || chain.is_empty() {
        return Ok(());
    }
    match playlists::policy::verify_chain(chain, pinned, None, jiff::Timestamp::now()) {
        Ok(Some((p, _))) => {
            tracing::info!(
                policy_version = p.version,
                "the controller's approval policy verifies under the pinned root"
            );
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(EnrollError::BadAnswer(format!(
            "the approval policy does not verify under the pinned root {}: {e}",
            pinned.join(",")
        ))),
    }
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
}

/// Enrols the screen and writes its configuration; returns the configuration written.
pub async fn enroll(opts: &EnrollOptions) -> Result<PlayerConfig, EnrollError> {
    if !playlists::manifest::is_valid_screen_id(&opts.screen) {
        return Err(EnrollError::BadOption(format!(
            "--screen {:?} is not a screen id (lowercase letters, digits and '-', 1 to 63 characters)",
            opts.screen
        )));
    }
    if opts.code.trim().is_empty() {
        return Err(EnrollError::BadOption("--code must not be empty".into()));
    }
    let base = opts.controller.trim_end_matches('/');
    let tls = base.starts_with("https://");
    if !tls && !base.starts_with("http://") {
        return Err(EnrollError::BadOption(format!(
            "--controller {:?} must be an https:// (or plaintext http://) URL",
            opts.controller
        )));
    }
    let trust = enrol_trust(opts, tls)?;

    let key_path = keyfile::device_key_path(&opts.data_dir);
    let (key, new_key) = if key_path.exists() {
        (keyfile::load(&key_path)?, false)
    } else {
        (SecretKey::generate(&mut rand_core::OsRng), true)
    };

    let url = format!("{base}/api/v1/enroll");
    let body = serde_json::json!({
        "screen": opts.screen,
        "code": opts.code,
        "device_key": base64::engine::general_purpose::STANDARD.encode(key.public().as_bytes()),
    });
    let unreachable = |e: reqwest::Error| EnrollError::Unreachable {
        url: url.clone(),
        detail: gatecast_tls::explain(&e),
    };
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(enrol_rustls(&trust)?.as_ref().clone())
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(unreachable)?;
    let resp = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).expect("JSON of strings"))
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let mut bytes = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreachable)?;
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(EnrollError::BadAnswer(format!(
                "answer larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let message = match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(e) if !e.message.is_empty() => format!("{} ({})", e.message, e.error),
            _ => String::from_utf8_lossy(&bytes).chars().take(300).collect(),
        };
        return Err(EnrollError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    let answer: Answer =
        serde_json::from_slice(&bytes).map_err(|e| EnrollError::BadAnswer(e.to_string()))?;
    let controller_key = PublicKey::from_base64(&answer.controller_key)
        .map_err(|e| EnrollError::BadAnswer(format!("controller_key: {e}")))?;
    let found = controller_key.key_id();
    if found != answer.controller_key_id {
        return Err(EnrollError::BadAnswer(format!(
            "controller_key_id {:?} is not the id of controller_key ({found})",
            answer.controller_key_id
        )));
    }
    if let Some(expected) = &opts.expect_key_id {
        if expected.trim().to_ascii_lowercase() != found {
            return Err(EnrollError::KeyIdMismatch {
                expected: expected.clone(),
                found,
            });
        }
    }

    let pinned: Vec<String> = opts
        .policy_root
        .iter()
        .map(|id| id.trim().to_ascii_lowercase())
        .filter(|id| !id.is_empty())
        .collect();
    check_policy(&pinned, &answer.policy)?;
    let learned = match (&answer.tls_pin_sha256, &trust) {
        (Some(p), _) => Some(
            gatecast_tls::normalize_pin(p)
                .map_err(|e| EnrollError::BadAnswer(format!("tls_pin_sha256: {e}")))?,
        ),
        (None, _) => None,
    };
    let (tls_ca_file, tls_pin_sha256) = match trust {
        EnrolTrust::Plain => {
            if learned.is_some() {
                tracing::warn!("the controller's TLS pin arrived over plaintext http:// and is not trusted; enrol over https:// with --pin-sha256 or --ca-file to pin the broker link");
            }
            (None, None)
        }
        EnrolTrust::Tls(ClientTrust::SystemRoots) => (None, None),
        EnrolTrust::Tls(ClientTrust::CaFile(path)) => (Some(path), learned),
        EnrolTrust::Tls(ClientTrust::PinSha256(given)) => {
            if let Some(l) = learned.as_ref().filter(|l| **l != given) {
                tracing::warn!(given = %given, controller = %l, "the controller's certificate pin differs from --pin-sha256 (a TLS proxy in front of it?); the broker link is pinned to the controller's");
            }
            (None, Some(learned.unwrap_or(given)))
        }
        // Not made by the enrolment's options; kept whole if it ever is.
        EnrolTrust::Tls(ClientTrust::PinOrChain { pin, ca }) => (ca, Some(learned.unwrap_or(pin))),
    };

    let config = PlayerConfig {
        screen: opts.screen.clone(),
        broker: answer.broker,
        mqtt_username: answer.mqtt_username,
        mqtt_password: answer.mqtt_password,
        controller_key: controller_key.to_base64(),
        media_base: answer.media_base,
        data_dir: opts.data_dir.clone(),
        backend: opts.backend,
        cache_budget_bytes: None,
        bandwidth_limit_bytes_per_sec: None,
        batch_max_receipts: 100,
        batch_max_delay_ms: 2000,
        ack_timeout_ms: 30_000,
        backlog_warn: 1000,
        mpv_args: Vec::new(),
        alert_text_ms: crate::config::default_alert_text_ms(),
        epoch: answer.epoch,
        fallback: None,
        screenshot_interval_s: crate::config::default_screenshot_interval_s(),
        controller_url: None,
        policy_root: pinned,
        gate: answer.gate,
        tls_ca_file,
        tls_pin_sha256,
    };
    // Validate before writing anything: a bad answer must leave no trace.
    config.validate()?;
    std::fs::create_dir_all(&opts.data_dir).map_err(|source| KeyFileError::Io {
        path: opts.data_dir.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opts.data_dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| KeyFileError::Io {
                path: opts.data_dir.clone(),
                source,
            },
        )?;
    }
    if new_key {
        keyfile::save(&key_path, &key)?;
    }
    config.save(&opts.config_path)?;
    tracing::info!(screen = %config.screen, epoch = config.epoch, controller_key_id = %found, device_key_id = %key.key_id(), "enrolled");
    Ok(config)
}

/// How the enrolment request trusts the controller.
enum EnrolTrust {
    /// Plaintext `http://`.
    Plain,
    /// `https://`, with this trust.
    Tls(ClientTrust),
}

/// The rustls configuration of the enrolment request.
fn enrol_rustls(
    trust: &EnrolTrust,
) -> Result<Arc<gatecast_tls::rustls::ClientConfig>, EnrollError> {
    match trust {
        EnrolTrust::Plain => Ok(crate::tls::refusing("this enrolment is plaintext http://")),
        EnrolTrust::Tls(t) => gatecast_tls::client_config(t)
            .map_err(|e| EnrollError::BadOption(format!("cannot trust the controller: {e}"))),
    }
}

/// The trust for the enrolment request from `--pin-sha256` / `--ca-file`.
fn enrol_trust(opts: &EnrollOptions, tls: bool) -> Result<EnrolTrust, EnrollError> {
    let bad = |m: String| Err(EnrollError::BadOption(m));
    match (&opts.pin_sha256, &opts.ca_file, tls) {
        (Some(_), Some(_), _) => bad("give --pin-sha256 or --ca-file, not both".into()),
        (Some(_), None, false) | (None, Some(_), false) => bad(format!(
            "--pin-sha256 and --ca-file need an https:// controller, not {:?}",
            opts.controller
        )),
        (None, None, false) => {
            tracing::warn!(controller = %opts.controller, "enrolling over plaintext http://: the enrolment code and the MQTT password cross the network in clear");
            Ok(EnrolTrust::Plain)
        }
        (None, None, true) => Ok(EnrolTrust::Tls(ClientTrust::SystemRoots)),
        (Some(pin), None, true) => gatecast_tls::normalize_pin(pin)
            .map(|p| EnrolTrust::Tls(ClientTrust::PinSha256(p)))
            .map_err(|e| EnrollError::BadOption(format!("--pin-sha256: {e}"))),
        (None, Some(ca), true) => {
            let abs = std::path::absolute(ca)
                .map_err(|e| EnrollError::BadOption(format!("--ca-file {}: {e}", ca.display())))?;
            // Loaded now so that a wrong file is named before anything is sent.
            gatecast_tls::client_config(&ClientTrust::CaFile(abs.clone()))
                .map_err(|e| EnrollError::BadOption(format!("--ca-file: {e}")))?;
            Ok(EnrolTrust::Tls(ClientTrust::CaFile(abs)))
        }
    }
}
