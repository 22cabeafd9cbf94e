//! Certificates made by the test, for every TLS test: a CA, a server certificate for the
//! given host names, a second ("wrong") CA with a certificate for the same names, a
//! certificate of the right CA for a wrong host name, an expired one and a not-yet-valid one.
//! All PEM files in a temporary directory that lives as long as the [`TestPki`].

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::TestDir;

/// The host name the [`TestPki::wrong_host`] certificate is for.
pub const WRONG_HOST: &str = "wrong-host.invalid";

/// A certificate and its key on disk, with its pins.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate chain PEM (leaf only: the CA is in [`TestPki::ca_pem`]).
    pub cert: PathBuf,
    /// The private key PEM.
    pub key: PathBuf,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo, hex (`tls_pin_sha256`, `--pin-sha256`).
    pub pin_sha256: String,
    /// The same pin in base64 (Chromium's `--ignore-certificate-errors-spki-list`).
    pub pin_sha256_base64: String,
}

/// A CA able to issue more certificates.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// The test certificates; see the module documentation.
pub struct TestPki {
    dir: TestDir,
    ca: Ca,
    /// The CA certificate PEM that clients trust (`--cacert`, `--broker-ca`, `tls_ca_file`).
    pub ca_pem: PathBuf,
    /// A server certificate of the CA for the hosts given to [`TestPki::new`].
    pub server: CertFiles,
    /// The wrong CA's certificate PEM.
    pub wrong_ca_pem: PathBuf,
    /// A certificate for the same hosts, issued by the wrong CA (a man in the middle).
    pub wrong_ca_server: CertFiles,
    /// A certificate of the right CA for [`WRONG_HOST`] only.
    pub wrong_host: CertFiles,
    /// A certificate of the right CA for the hosts, expired in 2021.
    pub expired: CertFiles,
    /// A certificate of the right CA for the hosts, valid from 2090 on.
    pub not_yet_valid: CertFiles,
}

impl TestPki {
    /// Makes everything for `hosts` (DNS names or IP addresses, e.g. `["localhost",
    /// "127.0.0.1"]`).
    pub fn new(hosts: &[&str]) -> TestPki {
        let dir = TestDir::new("pki");
        let ca = make_ca("gatecast test CA");
        let wrong = make_ca("gatecast WRONG test CA");
        let ca_pem = write(dir.path(), "ca.pem", &ca.cert.pem());
        let wrong_ca_pem = write(dir.path(), "wrong-ca.pem", &wrong.cert.pem());
        let valid = (2024, 2099);
        let server = issue(dir.path(), &ca, "server", hosts, valid);
        let wrong_ca_server = issue(dir.path(), &wrong, "wrong-ca-server", hosts, valid);
        let wrong_host = issue(dir.path(), &ca, "wrong-host", &[WRONG_HOST], valid);
        let expired = issue(dir.path(), &ca, "expired", hosts, (2020, 2021));
        let not_yet_valid = issue(dir.path(), &ca, "not-yet-valid", hosts, (2090, 2099));
        TestPki {
            dir,
            ca,
            ca_pem,
            server,
            wrong_ca_pem,
            wrong_ca_server,
            wrong_host,
            expired,
            not_yet_valid,
        }
    }

    /// Another certificate of the right CA (a fresh key), files named after `name`.
    pub fn issue(&self, name: &str, hosts: &[&str]) -> CertFiles {
        issue(self.dir.path(), &self.ca, name, hosts, (2024, 2099))
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn make_ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let cert = params.self_signed(&key).expect("CA certificate");
    Ca { cert, key }
}

fn issue(dir: &Path, ca: &Ca, name: &str, hosts: &[&str], years: (i32, i32)) -> CertFiles {
    let key = KeyPair::generate().expect("server key");
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, hosts.first().copied().unwrap_or(name));
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let cert = params
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("server certificate");
    CertFiles {
        cert: write(dir, &format!("{name}-cert.pem"), &cert.pem()),
        key: write(dir, &format!("{name}-key.pem"), &key.serialize_pem()),
        pin_sha256: gatecast_tls::spki_sha256_hex(cert.der()).expect("pin"),
        pin_sha256_base64: gatecast_tls::spki_sha256_base64(cert.der()).expect("pin"),
    }
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).expect("write PEM");
    path
}
