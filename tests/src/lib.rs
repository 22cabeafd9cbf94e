//! Harness for gatecast's end-to-end tests: finds the workspace binaries (building them once
//! per test process), free ports, temporary directories and external programs, and drives real
//! processes — `gatecast-controller serve`, `gatecast-player enroll` / `run`, mosquitto — over
//! their public interfaces (HTTP API, command line, files), plus a TCP proxy that can cut a link.
//!
//! Everything here is blocking `std` code: the tests wait on conditions with
//! [`wait_until`] (polling every 25 ms up to a deadline), never on sleeps.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The usual deadline of one wait in these tests (generous: the machine may be busy building).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How long to wait for something that needs a player to reconnect after its link was cut for
/// a while: its longest reconnect wait (`BACKOFF_MAX` plus 50 % jitter) plus [`DEADLINE`].
pub const RECONNECT_DEADLINE: Duration = Duration::from_millis(
    gatecast_player::mqtt::BACKOFF_MAX.as_millis() as u64 * 3 / 2 + DEADLINE.as_millis() as u64,
);

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// Whether `GATECAST_REQUIRE_EXTERNAL=1` is set (CI): then missing programs fail tests.
pub fn external_required() -> bool {
    std::env::var("GATECAST_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Checks that `program` is on the PATH. If it is not, prints one loud `SKIPPED:` line naming
/// the Debian package and returns `false` — or panics when [`external_required`] is true.
pub fn require_program(test: &str, program: &str, package: &str) -> bool {
    if program_path(program).is_some() {
        return true;
    }
    let line = format!("SKIPPED: {test}: {program} not found (apt-get install {package})");
    if external_required() {
        panic!("{line} — GATECAST_REQUIRE_EXTERNAL=1 forbids skipping");
    }
    eprintln!("{line}");
    false
}

/// Where `program` is: on the PATH, or in `/usr/sbin` / `/sbin` (mosquitto lives there on
/// Debian and those are not on every user's PATH).
pub fn program_path(program: &str) -> Option<PathBuf> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .ok()?;
    if out.status.success() {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it).
///
/// For programs that cannot be given an already bound socket (mosquitto, our binaries' broker).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

/// Path of a workspace binary (`gatecast-controller`, `gatecast-player`, …).
///
/// The first call in a test process runs `cargo build --bins` for the controller, the player
/// and the bench with the tests' own profile (a no-op when they are fresh), so the end-to-end
/// tests never run stale binaries.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = target_dir();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(workspace_root()).args([
            "build",
            "--bins",
            "-p",
            "gatecast-controller",
            "-p",
            "gatecast-player",
            "-p",
            "gatecast-bench",
        ]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .expect("running cargo build for the workspace binaries");
        assert!(
            status.success(),
            "cargo build of the workspace binaries failed"
        );
    });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "binary {} not found after building",
        path.display()
    );
    path
}

/// The directory the tests' own executable lives in, up to the profile directory
/// (`target/debug`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // target/debug/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// Polls `cond` every 25 ms until it returns `Some`, and returns that value. Panics naming
/// `what` (and the last value of `diagnose`, if any) when `timeout` passes first.
pub fn wait_until<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// A temporary directory for one test, removed at the end unless `GATECAST_E2E_KEEP=1`
/// (then its path is printed, so the logs of every process can be read after a failure).
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    /// Makes the directory.
    pub fn new(test: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("gatecast-{test}-"))
            .tempdir()
            .expect("temporary directory");
        let path = dir.path().to_path_buf();
        if std::env::var("GATECAST_E2E_KEEP").is_ok_and(|v| v == "1") {
            eprintln!("{test}: keeping {}", path.display());
            #[allow(deprecated)]
            let _ = dir.into_path();
            return TestDir { dir: None, path };
        }
        TestDir {
            dir: Some(dir),
            path,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = d.close();
        }
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last `n` lines of a log file (for failure messages).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Sends SIGTERM to one process we started (by its id).
fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM, then wait up to `grace` for the exit; SIGKILL after that. Returns whether the
/// process exited by itself.
fn terminate(child: &mut Child, grace: Duration) -> bool {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return true;
    }
    sigterm(child);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// SIGKILL and reap.
fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn log_file(path: &Path) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log file {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers (names in lower case).
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 request (`Connection: close`) with a small blocking client: enough for the
/// controller's API in tests, no TLS, no redirects.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of HTTP headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest.get(..len)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&rest[..nl]).map_err(|_| bad("chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(rest.get(..size).ok_or_else(|| bad("truncated chunk"))?);
        rest = rest
            .get(size + 2..)
            .ok_or_else(|| bad("truncated chunk end"))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Controller

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
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            http: "127.0.0.1:0".parse().expect("address"),
            mqtt: "127.0.0.1:0".parse().expect("address"),
            broker: None,
            extra_args: Vec::new(),
        }
    }
}

/// A running `gatecast-controller serve` process on a data directory. Killed when dropped.
pub struct Controller {
    child: Option<Child>,
    data: PathBuf,
    log: PathBuf,
    opts: ControllerOptions,
    /// The bound HTTP address (from the `listening` line).
    pub http: SocketAddr,
    /// The bound embedded-broker address (`None` with an external broker).
    pub mqtt: Option<SocketAddr>,
    /// The admin token from `<data>/admin.token`.
    pub token: String,
    starts: u32,
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill9(&mut c);
        }
    }
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
        match &self.opts.broker {
            Some(b) => cmd.arg("--broker").arg(b),
            None => cmd.arg("--mqtt").arg(self.opts.mqtt.to_string()),
        };
        cmd.args(&self.opts.extra_args)
            .env("GATECAST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&self.log));
        let mut child = cmd.spawn().expect("starting gatecast-controller serve");
        let stdout = child.stdout.take().expect("piped stdout");
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
                    let _ = child.wait();
                    panic!(
                        "gatecast-controller serve exited before listening; log:\n{}",
                        tail(&self.log, 40)
                    );
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "gatecast-controller serve exited ({st}) before listening; log:\n{}",
                    tail(&self.log, 40)
                );
            }
            if Instant::now() > deadline {
                kill9(&mut child);
                panic!(
                    "gatecast-controller serve printed no listening line in {DEADLINE:?}; log:\n{}",
                    tail(&self.log, 40)
                );
            }
        };
        let listening = parse_listening(&line);
        self.http = listening.http;
        self.mqtt = listening.mqtt;
        // Restarts reuse the same ports, so players and URLs stay valid.
        self.opts.http = listening.http;
        if let Some(m) = listening.mqtt {
            self.opts.mqtt = m;
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

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// How many times this controller was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM and wait for a clean exit (panics if it needed SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            assert!(
                terminate(&mut c, Duration::from_secs(20)),
                "controller did not stop on SIGTERM within 20 s; log:\n{}",
                self.log_tail()
            );
        }
    }

    /// SIGKILL (a crash).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill9(&mut c);
        }
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

    /// Any HTTP request to the controller, with the admin token.
    pub fn request(&self, method: &str, path: &str, ctype: &str, body: &[u8]) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        http(
            self.http,
            method,
            path,
            &[("Authorization", &auth), ("Content-Type", ctype)],
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A JSON request with the admin token; panics unless the status is `want`.
    pub fn api(&self, method: &str, path: &str, body: Value, want: u16) -> Value {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).expect("json")
        };
        let r = self.request(method, path, "application/json", &bytes);
        assert_eq!(
            r.status,
            want,
            "{method} {path} {body}: answered {} {}",
            r.status,
            r.text()
        );
        r.json()
    }

    /// `GET path` with the admin token, JSON, expecting 200.
    pub fn get(&self, path: &str) -> Value {
        self.api("GET", path, Value::Null, 200)
    }

    /// Uploads media (`POST /api/v1/media?kind=…&lang=…&title=…`); returns its record.
    pub fn upload(&self, bytes: &[u8], mime: &str, kind: &str, lang: &str, title: &str) -> Value {
        let path = format!("/api/v1/media?kind={kind}&lang={lang}&title={title}");
        let r = self.request("POST", &path, mime, bytes);
        assert_eq!(r.status, 201, "upload {title}: {} {}", r.status, r.text());
        r.json()
    }

    /// Registers a screen at `gate`; returns its enrolment code.
    pub fn register_screen(&self, id: &str, gate: &str) -> String {
        let v = self.api(
            "POST",
            "/api/v1/screens",
            json!({"id": id, "name": format!("Screen {id}"), "gate": gate,
                   "languages": ["vi", "en"], "timezone": "Asia/Ho_Chi_Minh"}),
            201,
        );
        v["enrollment_code"]
            .as_str()
            .expect("enrollment_code in the registration answer")
            .to_string()
    }

    /// Publishes to `screens`; returns the answer.
    pub fn publish(&self, screens: &[&str]) -> Value {
        self.api("POST", "/api/v1/publish", json!({"screens": screens}), 200)
    }

    /// The version `publish` gave `screen`.
    pub fn publish_version(&self, screens: &[&str], screen: &str) -> u64 {
        let v = self.publish(screens);
        v["published"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["screen"] == screen))
            .and_then(|p| p["version"].as_u64())
            .unwrap_or_else(|| panic!("no version for {screen} in {v}"))
    }

    /// The screen's record (`GET /api/v1/screens/{id}`).
    pub fn screen(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/screens/{id}"))
    }

    /// The last status the controller received from `screen`, if any.
    pub fn status(&self, screen: &str) -> Option<Value> {
        let s = self.screen(screen);
        let st = s.get("status")?;
        (!st.is_null()).then(|| st.clone())
    }

    /// Waits until the controller holds a status of `screen` that satisfies `pred`; returns it.
    pub fn wait_status(&self, screen: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_status_within(screen, what, DEADLINE, pred)
    }

    /// [`Controller::wait_status`] after a player's link comes back: the player may be in its
    /// longest reconnect wait ([`RECONNECT_DEADLINE`]).
    pub fn wait_status_after_reconnect(
        &self,
        screen: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_status_within(screen, what, RECONNECT_DEADLINE, pred)
    }

    /// [`Controller::wait_status`] with its own deadline.
    pub fn wait_status_within(
        &self,
        screen: &str,
        what: &str,
        deadline: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = None;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(what, deadline, || {
                let st = self.status(screen)?;
                let ok = pred(&st);
                last = Some(st.clone());
                ok.then_some(st)
            })
        }));
        r.unwrap_or_else(|_| {
            panic!(
                "{screen}: no status with {what}; last status: {last:?}; controller log:\n{}",
                self.log_tail()
            )
        })
    }

    /// Registers `screen` at `gate`, enrols a player for it in `dir` with `gatecast-player
    /// enroll`, and shortens its batch delay to 100 ms so acks follow plays closely.
    pub fn enrol_player(&self, screen: &str, gate: &str, dir: &Path) -> Player {
        let code = self.register_screen(screen, gate);
        let p = Player::enroll(self, screen, &code, dir);
        p.edit_config(|c| c.batch_max_delay_ms = 100);
        p
    }

    /// Checks the receipts the controller stored for `screen` (receipts API): every seq from 1
    /// up exactly once; and in `/metrics` no conflicts and no rejected batches. Returns the
    /// highest seq.
    pub fn assert_receipts_contiguous(&self, screen: &str) -> u64 {
        let rows = self
            .receipts(screen)
            .expect("the controller has GET /api/v1/receipts");
        for r in &rows {
            assert_eq!(r["screen"], screen, "a receipt of another screen: {r}");
            assert_eq!(r["backend"], "null", "null-backend receipts say so: {r}");
        }
        let top = assert_contiguous(&rows);
        let m = self.metrics();
        assert_eq!(
            metric_sum(&m, "gatecast_receipt_conflicts_total"),
            Some(0.0),
            "conflicting receipts at the controller:\n{m}"
        );
        assert_eq!(
            metric_sum(&m, "gatecast_receipt_batches_rejected_total"),
            Some(0.0),
            "rejected receipt batches at the controller:\n{m}"
        );
        top
    }

    /// `GET /healthz`.
    pub fn healthz(&self) -> Option<Value> {
        http(self.http, "GET", "/healthz", &[], b"")
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.json())
    }

    /// The Prometheus text of `GET /metrics`.
    pub fn metrics(&self) -> String {
        let r = http(self.http, "GET", "/metrics", &[], b"").expect("GET /metrics");
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        r.text()
    }

    /// One sample of `GET /metrics` (the line `name value`, without labels).
    pub fn metric(&self, name: &str) -> Option<f64> {
        metric_value(&self.metrics(), name)
    }

    /// Every stored receipt of `screen` through `GET /api/v1/receipts` (all pages), as the
    /// API's rows. `None` if the controller has no receipts API (404/405).
    pub fn receipts(&self, screen: &str) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/receipts?screen={screen}&limit=10000");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let r = self.request("GET", &path, "application/json", b"");
            if r.status == 404 || r.status == 405 {
                return None;
            }
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            let v = r.json();
            out.extend(v["receipts"].as_array().cloned().unwrap_or_default());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Some(out),
            }
        }
    }

    /// Writes the mosquitto password and ACL files with
    /// `gatecast-controller broker-acl mosquitto --out DIR` (the controller must be stopped:
    /// the command opens the database, which `serve` keeps locked).
    pub fn broker_acl(&self, out: &Path) {
        broker_acl(&self.data, out);
    }
}

/// Runs `gatecast-controller broker-acl mosquitto --data DATA --out OUT` and asserts success.
pub fn broker_acl(data: &Path, out: &Path) {
    let o = Command::new(binary("gatecast-controller"))
        .args(["broker-acl", "mosquitto", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
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
}

/// Parses `gatecast-controller listening http=ADDR mqtt=ADDR` (or `broker=URL`).
pub fn parse_listening(line: &str) -> Listening {
    let mut http = None;
    let mut mqtt = None;
    let mut broker = None;
    for word in line.split_whitespace() {
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
    }
}

/// The sum of every sample of `name` in Prometheus text, labelled or not (`None` if there is
/// no sample of that name).
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((n, v)) = l.rsplit_once(' ') else {
            continue;
        };
        let base = n.split('{').next().unwrap_or(n);
        if base == name {
            if let Ok(v) = v.trim().parse::<f64>() {
                found = true;
                sum += v;
            }
        }
    }
    found.then_some(sum)
}

/// The value of an unlabelled sample `name value` in Prometheus text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

// ---------------------------------------------------------------------------------------------
// Content

/// A small file with PNG magic bytes (the controller checks only the magic).
pub fn png(seed: u8, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

/// Media uploaded by [`standard_content`].
#[derive(Debug, Clone)]
pub struct Content {
    /// `(sha256, bytes)` of each uploaded slide.
    pub media: Vec<(String, Vec<u8>)>,
}

/// Uploads two slides (`vi`, `en`), a playlist `p1` of both (`item_ms` each) and a schedule
/// `s1` targeting `gate` at priority 10.
pub fn standard_content(ctl: &Controller, gate: &str, item_ms: u64) -> Content {
    let mut media = Vec::new();
    for (seed, lang, title) in [(1u8, "vi", "Chao-mung"), (2u8, "en", "Welcome")] {
        let bytes = png(seed, 3000 + seed as usize * 100);
        let rec = ctl.upload(&bytes, "image/png", "slide", lang, title);
        let sha = rec["sha256"].as_str().expect("sha256").to_string();
        assert_eq!(
            sha,
            sha256_hex(&bytes),
            "the controller names media by SHA-256"
        );
        media.push((sha, bytes));
    }
    let items: Vec<Value> = media
        .iter()
        .map(|(sha, _)| json!({"media": sha, "duration_ms": item_ms}))
        .collect();
    ctl.api(
        "POST",
        "/api/v1/playlists",
        json!({"id": "p1", "name": "Main", "items": items}),
        201,
    );
    ctl.api(
        "POST",
        "/api/v1/schedules",
        json!({"id": "s1", "playlist": "p1", "targets": {"gates": [gate]}, "priority": 10}),
        201,
    );
    Content { media }
}

// ---------------------------------------------------------------------------------------------
// Player

/// A screen's player: its directory (`player.toml`, `data/`, `player.log`) and, while
/// running, its `gatecast-player run --backend null` process. Killed when dropped.
pub struct Player {
    /// The screen id.
    pub screen: String,
    dir: PathBuf,
    child: Option<Child>,
    /// Null-backend speed-up (`--null-speed`).
    pub null_speed: f64,
}

impl Drop for Player {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill9(&mut c);
        }
    }
}

impl Player {
    /// Runs `gatecast-player enroll` against `ctl` into `dir` (config `dir/player.toml`,
    /// data `dir/data`, backend null) and asserts it succeeded.
    pub fn enroll(ctl: &Controller, screen: &str, code: &str, dir: &Path) -> Player {
        std::fs::create_dir_all(dir).expect("player dir");
        let p = Player {
            screen: screen.to_string(),
            dir: dir.to_path_buf(),
            child: None,
            null_speed: 1.0,
        };
        let key_id = ctl.get("/api/v1/keys")["controller_key_id"]
            .as_str()
            .expect("controller_key_id")
            .to_string();
        let o = Command::new(binary("gatecast-player"))
            .arg("enroll")
            .args([
                "--controller",
                &ctl.url(),
                "--screen",
                screen,
                "--code",
                code,
            ])
            .args(["--expect-key-id", &key_id])
            .arg("--config")
            .arg(p.config_path())
            .arg("--data")
            .arg(p.data_dir())
            .args(["--backend", "null"])
            .output()
            .expect("running gatecast-player enroll");
        assert!(
            o.status.success(),
            "gatecast-player enroll failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        p
    }

    /// `dir/player.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("player.toml")
    }

    /// `dir/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `dir/player.log` (stderr of every run).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("player.log")
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 60)
    }

    /// The cache file of a media hash.
    pub fn cache_file(&self, sha256: &str) -> PathBuf {
        self.data_dir().join("cache").join("sha256").join(sha256)
    }

    /// The configuration as written by `enroll`.
    pub fn config(&self) -> gatecast_player::config::PlayerConfig {
        gatecast_player::config::PlayerConfig::load(&self.config_path())
            .expect("the player configuration loads")
    }

    /// Points the player at another broker (e.g. a [`CutProxy`]) by rewriting `broker` in its
    /// configuration, as a person would. Takes effect at the next start.
    pub fn set_broker(&self, url: &str) {
        self.edit_config(|cfg| cfg.broker = url.to_string());
    }

    /// Changes the configuration file (e.g. `batch_max_delay_ms`); takes effect at the next
    /// start.
    pub fn edit_config(&self, f: impl FnOnce(&mut gatecast_player::config::PlayerConfig)) {
        let mut cfg = self.config();
        f(&mut cfg);
        cfg.save(&self.config_path())
            .expect("saving the player configuration");
    }

    /// Starts `gatecast-player run --backend null --null-speed SPEED --status-interval-secs 1`.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "player already running");
        let child = Command::new(binary("gatecast-player"))
            .arg("run")
            .arg("--config")
            .arg(self.config_path())
            .args(["--backend", "null", "--status-interval-secs", "1"])
            .arg("--null-speed")
            .arg(self.null_speed.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file(&self.log_path()))
            .stderr(log_file(&self.log_path()))
            .spawn()
            .expect("starting gatecast-player run");
        self.child = Some(child);
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM and wait for a clean exit (panics if it needed SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            assert!(
                terminate(&mut c, Duration::from_secs(20)),
                "player {} did not stop on SIGTERM within 20 s; log:\n{}",
                self.screen,
                self.log_tail()
            );
        }
    }

    /// SIGKILL (a crash or power cut).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill9(&mut c);
        }
    }

    /// Reads the journal of a **stopped** player (its database is locked while it runs).
    pub fn journal(&self) -> JournalView {
        assert!(
            self.child.is_none(),
            "stop the player before reading its journal"
        );
        let store = gatecast_player::store::Store::open(&self.data_dir())
            .expect("opening the player's state database");
        let j = gatecast_player::journal::Journal::open(&store, &self.screen)
            .expect("opening the player's journal");
        let unacked = j.unacked(usize::MAX).expect("reading the journal");
        JournalView {
            backlog: j.backlog(),
            unacked_seqs: unacked.iter().map(|(s, _)| *s).collect(),
            tip_seq: j.tip().map(|t| t.seq),
        }
    }
}

/// What a stopped player's journal holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalView {
    /// Receipts written but not acknowledged.
    pub backlog: u64,
    /// Their `seq`, ascending.
    pub unacked_seqs: Vec<u64>,
    /// The last `seq` ever written.
    pub tip_seq: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Checks on receipts

/// Checks the controller's receipts of one screen: every `seq` from 1 to the highest exactly
/// once. Returns the highest `seq` (0 if none). Panics naming the first gap or duplicate.
pub fn assert_contiguous(rows: &[Value]) -> u64 {
    let mut seqs: Vec<u64> = rows
        .iter()
        .map(|r| {
            r["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("row without seq: {r}"))
        })
        .collect();
    seqs.sort_unstable();
    for (i, s) in seqs.iter().enumerate() {
        let want = i as u64 + 1;
        assert!(
            *s == want,
            "receipts are not contiguous: expected seq {want}, found {s} (a {}); seqs: {:?}…",
            if *s < want { "duplicate" } else { "gap" },
            &seqs[..seqs.len().min(50)]
        );
    }
    seqs.last().copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// mosquitto

/// A mosquitto process on 127.0.0.1 with the files written by `broker-acl mosquitto`.
/// Killed when dropped.
pub struct Mosquitto {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    conf: PathBuf,
    log: PathBuf,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill9(&mut c);
        }
    }
}

impl Mosquitto {
    /// Writes `dir/mosquitto.conf` (password and ACL files from `files`, no persistence) and
    /// starts mosquitto on `port`, waiting until it accepts TCP connections.
    pub fn start(dir: &Path, files: &Path, port: u16) -> Mosquitto {
        let conf = dir.join("mosquitto.conf");
        let mut text = format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous false\n\
             password_file {}\n\
             acl_file {}\n\
             persistence false\n\
             message_size_limit 8388608\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             log_type notice\n",
            files.join("passwords").display(),
            files.join("acl").display()
        );
        // Started by root, mosquitto drops to the user `mosquitto`, who cannot read our 0600
        // temp files: stay root then.
        if is_root(dir) {
            text.push_str("user root\n");
        }
        std::fs::write(&conf, text).expect("writing mosquitto.conf");
        let mut m = Mosquitto {
            child: None,
            port,
            conf,
            log: dir.join("mosquitto.log"),
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let program = program_path("mosquitto").expect("mosquitto is installed");
        let mut child = Command::new(program)
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(log_file(&self.log))
            .stderr(log_file(&self.log))
            .spawn()
            .expect("starting mosquitto");
        let port = self.port;
        wait_until(&format!("mosquitto listening on {port}"), DEADLINE, || {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("mosquitto exited ({st}); log:\n{}", tail(&self.log, 30));
            }
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        self.child = Some(child);
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops it (SIGTERM) and waits until the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(10));
        }
    }

    /// Starts it again on the same port and files.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "mosquitto already running");
        self.spawn();
    }

    /// Its log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }
}

fn is_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir)
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy that can cut a link

/// A TCP proxy on 127.0.0.1 in front of `target`. [`CutProxy::cut`] closes every connection
/// through it and refuses new ones (they are accepted and closed at once) until
/// [`CutProxy::restore`]: a network outage between a player and its broker.
pub struct CutProxy {
    /// The proxy's own port.
    pub port: u16,
    shared: Arc<ProxyShared>,
}

struct ProxyShared {
    cut: AtomicBool,
    stop: AtomicBool,
    refused: AtomicU64,
    accepted: AtomicU64,
    conns: Mutex<Vec<TcpStream>>,
}

impl CutProxy {
    /// Starts the proxy.
    pub fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(ProxyShared {
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                if sh.cut.load(Ordering::SeqCst) {
                    sh.refused.fetch_add(1, Ordering::SeqCst);
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                sh.accepted.fetch_add(1, Ordering::SeqCst);
                {
                    let mut conns = sh.conns.lock().unwrap_or_else(|e| e.into_inner());
                    if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
                        conns.push(a);
                        conns.push(b);
                    }
                }
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        CutProxy { port, shared }
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        let mut conns = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in conns.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Connections refused while cut.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections let through.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
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
    }

    #[test]
    fn parses_plain_and_chunked_responses() {
        let r = parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{}"[..]));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn reads_metrics_and_checks_contiguity() {
        let text = "# HELP a x\n# TYPE a gauge\na 3\nab 4\n";
        assert_eq!(metric_value(text, "a"), Some(3.0));
        assert_eq!(metric_value(text, "ab"), Some(4.0));
        assert_eq!(metric_value(text, "b"), None);
        let rows: Vec<Value> = [2, 1, 3].iter().map(|s| json!({"seq": s})).collect();
        assert_eq!(assert_contiguous(&rows), 3);
        let dup: Vec<Value> = [1, 2, 2].iter().map(|s| json!({"seq": s})).collect();
        assert!(std::panic::catch_unwind(|| assert_contiguous(&dup)).is_err());
    }

    #[test]
    fn proxy_cuts_and_restores() {
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = target.local_addr().unwrap();
        thread::spawn(move || {
            for c in target.incoming().map_while(Result::ok) {
                let mut w = c.try_clone().unwrap();
                thread::spawn(move || {
                    let mut r = c;
                    let _ = io::copy(&mut r, &mut w);
                });
            }
        });
        let proxy = CutProxy::start(addr);
        let echo = |msg: &[u8]| -> io::Result<Vec<u8>> {
            let mut s = TcpStream::connect(("127.0.0.1", proxy.port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(msg)?;
            let mut buf = vec![0; msg.len()];
            s.read_exact(&mut buf)?;
            Ok(buf)
        };
        assert_eq!(echo(b"hello").unwrap(), b"hello");
        proxy.cut();
        assert!(echo(b"x").is_err());
        assert_eq!(proxy.refused(), 1);
        proxy.restore();
        assert_eq!(echo(b"again").unwrap(), b"again");
    }
}
