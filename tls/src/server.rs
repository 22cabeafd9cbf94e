//! The server's certificate: read from PEM files (or made once, self-signed, in a data
//! directory), served through one resolver so that a reload swaps it for every new
//! handshake without a restart (docs/security.md §3 row 63).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::{load_certs, load_key, provider, spki_sha256_hex, TlsError, VERSIONS};

/// How often [`ServerTls::watch`] looks at the files.
const POLL: Duration = Duration::from_secs(2);

/// File names of a self-signed certificate and its key inside the data directory.
const SELF_CERT: &str = "tls-cert.pem";
const SELF_KEY: &str = "tls-key.pem";

/// A certificate and key in force, with the pin of its leaf.
#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    pin: String,
}

/// Hands the certificate in force to every handshake.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Loaded>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.current.read().unwrap_or_else(|p| p.into_inner());
        Some(loaded.key.clone())
    }
}

/// The server side of TLS: a certificate chain and key read from two PEM files, that can be
/// re-read at any time ([`ServerTls::reload`], or on SIGHUP and file change with
/// [`ServerTls::watch`]). Connections already open keep the certificate they started with.
#[derive(Debug)]
pub struct ServerTls {
    cert_path: PathBuf,
    key_path: PathBuf,
    resolver: Arc<Resolver>,
}

impl ServerTls {
    /// Reads a certificate chain (leaf first) and its private key from PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let loaded = load(cert, key)?;
        Ok(Arc::new(Self {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            resolver: Arc::new(Resolver {
                current: RwLock::new(loaded),
            }),
        }))
    }

    /// A self-signed certificate for `hosts` plus `localhost`, `127.0.0.1` and `::1`, made on
    /// the first call in `dir` (`tls-cert.pem`, and `tls-key.pem` with mode 0600) and read from
    /// there afterwards, so that its pin stays the same across restarts.
    pub fn self_signed(dir: &Path, hosts: &[String]) -> Result<Arc<Self>, TlsError> {
        let cert = dir.join(SELF_CERT);
        let key = dir.join(SELF_KEY);
        if !(cert.exists() && key.exists()) {
            let mut names: Vec<String> = hosts.to_vec();
            for n in ["localhost", "127.0.0.1", "::1"] {
                if !names.iter().any(|h| h == n) {
                    names.push(n.to_string());
                }
            }
            let (cert_pem, key_pem) = generate_self_signed(&names)?;
            let io = |path: &Path| {
                let path = path.to_path_buf();
                move |source| TlsError::Io { path, source }
            };
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            gatecast_support::fs::write_atomic(&key, key_pem.as_bytes(), 0o600)
                .map_err(io(&key))?;
            gatecast_support::fs::write_atomic(&cert, cert_pem.as_bytes(), 0o644)
                .map_err(io(&cert))?;
            tracing::info!(cert = %cert.display(), names = ?names, "made a self-signed TLS certificate");
        }
        Self::from_files(&cert, &key)
    }

    /// An acceptor for new connections (TLS 1.3 and 1.2), always using the certificate in
    /// force at each handshake. No ALPN.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor_with_alpn(&[])
    }

    /// Like [`ServerTls::acceptor`], offering these ALPN protocols (e.g. `b"http/1.1"`).
    pub fn acceptor_with_alpn(&self, alpn: &[&[u8]]) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config(alpn))
    }

    /// The rustls server configuration behind [`ServerTls::acceptor_with_alpn`].
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .expect("ring supports TLS 1.3 and 1.2")
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// Re-reads both files; on success new handshakes use the new certificate. On failure the
    /// certificate in force stays and the error says which file is wrong.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = load(&self.cert_path, &self.key_path)?;
        let mut current = self
            .resolver
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if current.pin != loaded.pin {
            tracing::info!(pin_sha256 = %loaded.pin, cert = %self.cert_path.display(), "TLS certificate reloaded with a new key");
        } else {
            tracing::info!(pin_sha256 = %loaded.pin, cert = %self.cert_path.display(), "TLS certificate reloaded");
        }
        *current = loaded;
        Ok(())
    }

    /// The pin (SHA-256 of the SubjectPublicKeyInfo, hex) of the leaf in force.
    pub fn pin_sha256(&self) -> String {
        let current = self
            .resolver
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner());
        current.pin.clone()
    }

    /// The leaf certificate in force, DER.
    pub fn leaf_der(&self) -> Vec<u8> {
        let current = self
            .resolver
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner());
        current.key.cert[0].to_vec()
    }

    /// The certificate chain file.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The private key file.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// Reloads on SIGHUP and whenever either file's content changes (looked at every 2 s;
    /// the files are a few kilobytes). A failed reload is logged once per distinct error and keeps
    /// the certificate in force. Must be called inside a tokio runtime.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        // Taken now, not in the task: a change made before the task first runs must count.
        let mut seen = this.stamp();
        tokio::spawn(async move {
            let mut hup = match tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::hangup(),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS certificate reloads on file change only");
                    None
                }
            };
            let mut last_error: Option<String> = None;
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let forced = tokio::select! {
                    _ = tick.tick() => false,
                    Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
                };
                let now = this.stamp();
                if !forced && now == seen {
                    continue;
                }
                match this.reload() {
                    Ok(()) => {
                        seen = now;
                        last_error = None;
                    }
                    Err(e) => {
                        let text = e.to_string();
                        if last_error.as_deref() != Some(text.as_str()) {
                            tracing::warn!(error = %text, "TLS certificate not reloaded; the previous one stays in use");
                            last_error = Some(text);
                        }
                    }
                }
            }
        })
    }

    /// What the files hold now: compared by content, because a renewal written within the
    /// same clock tick and of the same length would look unchanged by time and size.
    fn stamp(&self) -> [Option<Vec<u8>>; 2] {
        [
            std::fs::read(&self.cert_path).ok(),
            std::fs::read(&self.key_path).ok(),
        ]
    }
}

fn load(cert: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let chain = load_certs(cert)?;
    let private = load_key(key)?;
    let pin = spki_sha256_hex(&chain[0])?;
    let certified =
        CertifiedKey::from_der(chain, private, &provider()).map_err(|e| TlsError::BadKey {
            path: key.to_path_buf(),
            detail: match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "it does not belong to the certificate in {}",
                    cert.display()
                ),
                other => other.to_string(),
            },
        })?;
    Ok(Loaded {
        key: Arc::new(certified),
        pin,
    })
}

/// The current year, close enough for certificate validity bounds.
fn this_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}

/// A self-signed ECDSA P-256 certificate for `names` (DNS names or IP addresses), valid
/// from last year for ten years. Returns (certificate PEM, key PEM).
fn generate_self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(err)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.not_before = rcgen::date_time_ymd(this_year() - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(this_year() + 10, 1, 1);
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}
