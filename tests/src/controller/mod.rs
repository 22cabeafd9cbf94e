//! A running `gatecast-controller serve` process: how it is started (and started again on the
//! same data directory and ports), stopped or killed, and what its `listening` line says. What
//! the tests ask it over HTTP is in [`api`].

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use gatecast_testkit::ChildGuard;

use crate::harness::{tail, DEADLINE};
use crate::process::{self, binary};

pub mod api;

/// How to start a controller.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// HTTP listen address (port 0: a free one).
    pub http: SocketAddr,
    /// Embedded broker address (port 0: a free one); ignored when `broker` is set.
    pub mqtt: SocketAddr,
    /// External broker URL (`mqtt://127.0.0.1:PORT`), or `None` for the embedded broker.
    pub broker: Option<String>,
    /// More flags for `serve`.
    pub extra_args: Vec<String>,
    /// Serve HTTPS and (embedded broker) MQTTS instead of plain HTTP and MQTT.
    pub tls: Option<ControllerTls>,
}

/// The certificate a controller under test serves, and the CA the test's clients trust.
#[derive(Debug, Clone)]
pub struct ControllerTls {
    /// `--tls-cert`.
    pub cert: PathBuf,
    /// `--tls-key`.
    pub key: PathBuf,
    /// The CA certificate PEM that issued `cert` (the harness's HTTPS client trusts it).
    pub ca: PathBuf,
    /// `--mqtts` (port 0: a free one); the plain `--mqtt` listener is not opened.
    pub mqtts: SocketAddr,
}

impl ControllerTls {
    /// The server certificate of a test PKI (made for `localhost` and `127.0.0.1`).
    pub fn from_pki(pki: &gatecast_testkit::TestPki) -> ControllerTls {
        ControllerTls {
            cert: pki.server.cert.clone(),
            key: pki.server.key.clone(),
            ca: pki.ca_pem.clone(),
            mqtts: "127.0.0.1:0".parse().expect("address"),
        }
    }
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            http: "127.0.0.1:0".parse().expect("address"),
            mqtt: "127.0.0.1:0".parse().expect("address"),
            broker: None,
            extra_args: Vec::new(),
            tls: None,
        }
    }
}

/// A running `gatecast-controller serve` process on a data directory. Killed when dropped.
pub struct Controller {
    child: Option<ChildGuard>,
    data: PathBuf,
    log: PathBuf,
    opts: ControllerOptions,
    /// The bound HTTP address (from the `listening` line).
    pub http: SocketAddr,
    /// The bound embedded-broker address (`None` with an external broker or with TLS).
    pub mqtt: Option<SocketAddr>,
    /// The bound MQTTS address of the embedded broker (with [`ControllerOptions::tls`]).
    pub mqtts: Option<SocketAddr>,
    /// The pin (SHA-256 of the SubjectPublicKeyInfo, hex) of the certificate served, with TLS.
    pub pin_sha256: Option<String>,
    /// The plain listener that redirects to HTTPS (`--http-redirect`).
    pub redirect: Option<SocketAddr>,
    /// The admin token from `<data>/admin.token`.
    pub token: String,
    starts: u32,
}

impl Controller {
    /// Starts `serve` on `data` (created if missing) and waits for its `listening` line.
    /// Its log (stderr) goes to `<data>/../controller.log`.
    pub fn start(data: &Path, opts: ControllerOptions) -> Controller {
        let log = data.with_extension("log");
        let mut c = Controller {
            child: None,
            data: data.to_path_buf(),
            log,
            opts,
            http: "127.0.0.1:0".parse().expect("address"),
            mqtt: None,
            mqtts: None,
            pin_sha256: None,
            redirect: None,
            token: String::new(),
            starts: 0,
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "controller already running");
        let mut cmd = Command::new(binary("gatecast-controller"));
        cmd.arg("serve")
            .arg("--data")
            .arg(&self.data)
            .arg("--http")
            .arg(self.opts.http.to_string());
        match (&self.opts.broker, &self.opts.tls) {
            (Some(b), _) => cmd.arg("--broker").arg(b),
            (None, Some(tls)) => cmd.arg("--mqtts").arg(tls.mqtts.to_string()),
            (None, None) => cmd.arg("--mqtt").arg(self.opts.mqtt.to_string()),
        };
        if let Some(tls) = &self.opts.tls {
            cmd.arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key);
        }
        cmd.args(&self.opts.extra_args).env("GATECAST_LOG", "info");
        let (mut child, stdout) =
            ChildGuard::spawn_piped_stdout("gatecast-controller serve", &mut cmd, &self.log);
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("gatecast-controller listening") {
                    let _ = tx.send(line);
                }
            }
        });
        self.starts += 1;
        let deadline = Instant::now() + DEADLINE;
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    child.kill9();
                    panic!(
                        "gatecast-controller serve exited before listening; log:\n{}",
                        tail(&self.log, 40)
                    );
                }
            }
            if let Some(st) = child.try_wait() {
                panic!(
                    "gatecast-controller serve exited ({st}) before listening; log:\n{}",
                    tail(&self.log, 40)
                );
            }
            if Instant::now() > deadline {
                child.kill9();
                panic!(
                    "gatecast-controller serve printed no listening line in {DEADLINE:?}; log:\n{}",
                    tail(&self.log, 40)
                );
            }
        };
        let listening = parse_listening(&line);
        self.http = listening.http;
        self.mqtt = listening.mqtt;
        self.mqtts = listening.mqtts;
        self.pin_sha256 = listening.pin_sha256.clone();
        self.redirect = listening.redirect;
        // Restarts reuse the same ports, so players and URLs stay valid.
        self.opts.http = listening.http;
        if let Some(m) = listening.mqtt {
            self.opts.mqtt = m;
        }
        if let (Some(m), Some(tls)) = (listening.mqtts, self.opts.tls.as_mut()) {
            tls.mqtts = m;
        }
        self.child = Some(child);
        let token_path = self.data.join("admin.token");
        self.token = std::fs::read_to_string(&token_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", token_path.display()))
            .trim()
            .to_string();
        assert!(!self.token.is_empty(), "admin.token is empty");
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The controller's log file (its stderr, all runs).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 60)
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS.
    pub fn url(&self) -> String {
        match &self.opts.tls {
            Some(_) => format!("https://localhost:{}", self.http.port()),
            None => format!("http://{}", self.http),
        }
    }

    /// The CA file the controller's certificate is issued by, with TLS.
    pub fn tls_ca(&self) -> Option<&Path> {
        self.opts.tls.as_ref().map(|t| t.ca.as_path())
    }

    /// How many times this controller was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The process id while it runs (to read its memory figures from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildGuard::id)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        process::is_running(&mut self.child)
    }

    /// SIGTERM and wait for a clean exit (panics if it needed SIGKILL).
    pub fn stop(&mut self) {
        process::stop(&mut self.child);
    }

    /// SIGKILL (a crash).
    pub fn kill9(&mut self) {
        process::kill9(&mut self.child);
    }

    /// Starts it again on the same data directory and the same ports.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts it again after [`Controller::stop`] or [`Controller::kill9`].
    pub fn start_again(&mut self) {
        self.spawn();
    }
}

/// Runs `gatecast-controller broker-acl mosquitto --data DATA --out OUT` and asserts success.
pub fn broker_acl(data: &Path, out: &Path) {
    broker_acl_with(data, out, &[]);
}

/// [`broker_acl`] with more arguments (e.g. `--tls-cert`, `--tls-key`, `--mqtts-port`).
pub fn broker_acl_with(data: &Path, out: &Path, extra: &[&std::ffi::OsStr]) {
    let o = Command::new(binary("gatecast-controller"))
        .args(["broker-acl", "mosquitto", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("running gatecast-controller broker-acl");
    assert!(
        o.status.success(),
        "broker-acl failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// What the `gatecast-controller listening …` line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// `http=`.
    pub http: SocketAddr,
    /// `mqtt=` (embedded broker).
    pub mqtt: Option<SocketAddr>,
    /// `broker=` (external broker URL).
    pub broker: Option<String>,
    /// `mqtts=` (embedded broker's TLS listener).
    pub mqtts: Option<SocketAddr>,
    /// `pin_sha256=` (with `tls=on`: `http=` is an HTTPS address).
    pub pin_sha256: Option<String>,
    /// `redirect=` (the plain listener redirecting to HTTPS).
    pub redirect: Option<SocketAddr>,
}

/// Parses `gatecast-controller listening http=ADDR mqtt=ADDR` (or `broker=URL`).
pub fn parse_listening(line: &str) -> Listening {
    let mut http = None;
    let mut mqtt = None;
    let mut broker = None;
    let mut mqtts = None;
    let mut pin_sha256 = None;
    let mut redirect = None;
    for word in line.split_whitespace() {
        if let Some(v) = word.strip_prefix("redirect=") {
            redirect = v.parse().ok();
        }
        if let Some(v) = word.strip_prefix("mqtts=") {
            mqtts = v.parse().ok();
        } else if let Some(v) = word.strip_prefix("pin_sha256=") {
            pin_sha256 = Some(v.to_string());
        }
        if let Some(v) = word.strip_prefix("http=") {
            http = v.parse().ok();
        } else if let Some(v) = word.strip_prefix("mqtt=") {
            mqtt = v.parse().ok();
        } else if let Some(v) = word.strip_prefix("broker=") {
            broker = Some(v.to_string());
        }
    }
    Listening {
        http: http.unwrap_or_else(|| panic!("no http=ADDR in {line:?}")),
        mqtt,
        broker,
        mqtts,
        pin_sha256,
        redirect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        let l = parse_listening(
            "gatecast-controller listening http=127.0.0.1:8080 mqtt=127.0.0.1:1883",
        );
        assert_eq!(l.http, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(l.mqtt, Some("127.0.0.1:1883".parse().unwrap()));
        let l = parse_listening(
            "gatecast-controller listening http=127.0.0.1:9 broker=mqtt://127.0.0.1:1884",
        );
        assert_eq!(l.mqtt, None);
        assert_eq!(l.broker.as_deref(), Some("mqtt://127.0.0.1:1884"));
        let l = parse_listening(
            "gatecast-controller listening http=127.0.0.1:9 mqtts=127.0.0.1:8883 tls=on pin_sha256=ab12 redirect=127.0.0.1:80",
        );
        assert_eq!(l.mqtt, None);
        assert_eq!(l.mqtts, Some("127.0.0.1:8883".parse().unwrap()));
        assert_eq!(l.pin_sha256.as_deref(), Some("ab12"));
        assert_eq!(l.redirect, Some("127.0.0.1:80".parse().unwrap()));
    }
}
