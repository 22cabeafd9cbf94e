//! Shared parts of the benchmarks: the workspace binaries, a controller process driven over
//! its HTTP API, mosquitto with a generated configuration, `/proc` readings, percentiles and
//! the report (table on stdout, JSON file).

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use playlists::keys::{KeySet, PublicKey};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Options shared by every scenario.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Small sizes, correctness only (CI).
    pub quick: bool,
    /// Where `<scenario>.json` goes.
    pub out_dir: PathBuf,
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// The directory of this executable (`target/release` or `target/debug`): the workspace
/// binaries are next to it.
pub fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| workspace_root().join("target").join("release"))
}

/// Whether this executable is a release build.
pub fn is_release() -> bool {
    bin_dir().file_name().is_some_and(|n| n == "release")
}

/// Builds the controller and player binaries with this executable's profile (a no-op when
/// fresh; skipped with `GATECAST_BENCH_NO_BUILD=1`). The player is built in a cargo invocation
/// of its own, as `deploy/deb/build.sh` ships it: built together with the controller it would
/// get the features the controller's crates turn on in shared dependencies (HTTP/2 in `hyper`),
/// 1 MB of code it never runs (`docs/BENCHMARKS.md`, "Player RSS").
pub fn ensure_binaries() -> Result<()> {
    if std::env::var("GATECAST_BENCH_NO_BUILD").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    for packages in [
        &["gatecast-controller", "playlists"][..],
        &["gatecast-player"],
    ] {
        gatecast_testkit::cargo_build_bins(&workspace_root(), packages, is_release())
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Path of a workspace binary next to this one.
pub fn binary(name: &str) -> Result<PathBuf> {
    let p = bin_dir().join(name);
    if !p.exists() {
        bail!(
            "{} not found; build it with cargo build{} --bins",
            p.display(),
            if is_release() { " --release" } else { "" }
        );
    }
    Ok(p)
}

pub use gatecast_support::program::find as program_path;

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A temporary directory for one run.
pub fn temp_dir(what: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("gatecast-bench-{what}-"))
        .tempdir()
        .context("creating a temporary directory")
}

// ---------------------------------------------------------------------------------------------
// /proc

/// `(VmRSS, VmHWM)` of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User + system CPU time of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state(0) ... utime(11) stime(12).
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    Some((ut + st) as f64 / clk_tck())
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The machine: nproc, CPU model, memory, kernel, load.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "mem_mib": mem_kib / 1024,
        "kernel": kernel,
        "load1": load1(),
        "release_build": is_release(),
    })
}

// ---------------------------------------------------------------------------------------------
// statistics

/// Nearest-rank percentile of sorted values (`q` in 0..=100).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sorts in place and returns `(p50, p99, max)`.
pub fn summary(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    (
        percentile(values, 50.0),
        percentile(values, 99.0),
        values.last().copied().unwrap_or(f64::NAN),
    )
}

// ---------------------------------------------------------------------------------------------
// report

/// One line of a result table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// What was measured.
    pub metric: String,
    /// The figure.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The goal, if there is one (text, e.g. "<= 1000").
    pub goal: Option<String>,
    /// Whether the goal is met (`None` without a goal, or in quick mode).
    pub met: Option<bool>,
}

/// A scenario's results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Quick mode (figures meaningless, goals not judged).
    pub quick: bool,
    /// The machine and its load at the start.
    pub machine: Value,
    /// Load at the end.
    pub load1_end: f64,
    /// Table rows.
    pub rows: Vec<Row>,
    /// Free-form details (parameters, raw numbers).
    pub details: Value,
}

impl Report {
    /// An empty report.
    pub fn new(scenario: &str, opts: &Opts) -> Report {
        Report {
            scenario: scenario.to_string(),
            quick: opts.quick,
            machine: machine(),
            load1_end: f64::NAN,
            rows: Vec::new(),
            details: json!({}),
        }
    }

    /// Adds a row without a goal.
    pub fn row(&mut self, metric: impl Into<String>, value: f64, unit: &str) {
        self.rows.push(Row {
            metric: metric.into(),
            value,
            unit: unit.to_string(),
            goal: None,
            met: None,
        });
    }

    /// Adds a row with a goal; `met` is judged unless quick.
    pub fn goal(
        &mut self,
        metric: impl Into<String>,
        value: f64,
        unit: &str,
        goal: &str,
        met: bool,
    ) {
        self.rows.push(Row {
            metric: metric.into(),
            value,
            unit: unit.to_string(),
            goal: Some(goal.to_string()),
            met: if self.quick { None } else { Some(met) },
        });
    }

    /// Sets a detail.
    pub fn detail(&mut self, key: &str, v: Value) {
        self.details[key] = v;
    }

    /// The table as text.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n== {}{} (load {:.2} -> {:.2}) ==",
            self.scenario,
            if self.quick { " --quick" } else { "" },
            self.machine["load1"].as_f64().unwrap_or(f64::NAN),
            self.load1_end
        );
        let w = self.rows.iter().map(|r| r.metric.len()).max().unwrap_or(10);
        let _ = writeln!(
            s,
            "{:<w$}  {:>14}  {:<8}  {:<12}  met",
            "metric", "value", "unit", "goal"
        );
        for r in &self.rows {
            let v = if r.value.abs() >= 100.0 || r.value == r.value.trunc() {
                format!("{:.0}", r.value)
            } else {
                format!("{:.3}", r.value)
            };
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            let _ = writeln!(
                s,
                "{:<w$}  {:>14}  {:<8}  {:<12}  {met}",
                r.metric,
                v,
                r.unit,
                r.goal.as_deref().unwrap_or("")
            );
        }
        s
    }

    /// Prints the table and writes `<out>/<scenario>.json`.
    pub fn finish(mut self, opts: &Opts) -> Result<Report> {
        self.load1_end = load1();
        print!("{}", self.table());
        std::fs::create_dir_all(&opts.out_dir)
            .with_context(|| format!("creating {}", opts.out_dir.display()))?;
        let path = opts.out_dir.join(format!("{}.json", self.scenario));
        std::fs::write(&path, serde_json::to_vec_pretty(&self)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
        Ok(self)
    }
}

// ---------------------------------------------------------------------------------------------
// processes

/// Sends SIGTERM (through `kill`, so no unsafe code) and waits up to `grace`, then SIGKILL.
pub async fn terminate(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

/// mosquitto on a free port with a generated configuration (anonymous, no persistence).
pub struct Mosquitto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Mosquitto {
    /// Starts it in `dir`; `None` (with a `SKIPPED` line) if mosquitto is not installed.
    pub async fn start(dir: &Path) -> Result<Option<Mosquitto>> {
        let Some(prog) = program_path("mosquitto") else {
            eprintln!("SKIPPED: mosquitto side: mosquitto not found (apt-get install mosquitto)");
            return Ok(None);
        };
        let port = free_port()?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_connections -1\nmax_inflight_messages 100\nmax_queued_messages 1000\n\
                 message_size_limit 8388608\nlog_dest stderr\nlog_type error\nlog_type warning\n"
            ),
        )?;
        let log = std::fs::File::create(dir.join("mosquitto.log"))?;
        let child = Command::new(prog)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting mosquitto")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("mosquitto did not listen on port {port} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(Some(Mosquitto { child, port }))
    }

    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops it.
    pub async fn stop(mut self) {
        terminate(&mut self.child, Duration::from_secs(5)).await;
    }
}

/// TLS for a bench controller: `--tls-cert`, `--tls-key`, and the CA its clients trust.
#[derive(Debug, Clone)]
pub struct CtlTls {
    /// Certificate chain (PEM), for `localhost` and `127.0.0.1`.
    pub cert: PathBuf,
    /// Its key (PEM).
    pub key: PathBuf,
    /// The CA that issued it (PEM).
    pub ca: PathBuf,
}

/// A `gatecast-controller serve` process and an HTTP client with the admin token.
pub struct CtlProc {
    child: Child,
    /// HTTP address (HTTPS with TLS).
    pub http: SocketAddr,
    /// Embedded broker address (`None` with an external broker); the MQTTS listener with TLS.
    pub mqtt: Option<SocketAddr>,
    /// Whether the controller serves HTTPS and MQTTS.
    pub tls: bool,
    /// Admin token.
    pub token: String,
    /// Process id.
    pub pid: u32,
    client: reqwest::Client,
    /// The CA the HTTP client trusts (with TLS).
    ca: Option<PathBuf>,
}

/// The bench's HTTP client of a controller (trusting `ca` for HTTPS).
fn http_client(ca: Option<&Path>) -> Result<reqwest::Client> {
    let mut client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .pool_max_idle_per_host(64);
    if let Some(ca) = ca {
        let trust = gatecast_tls::ClientTrust::CaFile(ca.to_owned());
        client =
            client.use_preconfigured_tls(gatecast_tls::client_config(&trust)?.as_ref().clone());
    }
    Ok(client.build()?)
}

/// A request with the admin `token` and, when there is one, a JSON `body`.
fn json_request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<reqwest::RequestBuilder> {
    let r = client.request(method, url).bearer_auth(token);
    Ok(match body {
        Some(b) => r
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(b)?),
        None => r,
    })
}

impl CtlProc {
    /// Starts `serve` on `data` (embedded broker on a free port, or `broker` URL) and waits
    /// for its listening line.
    pub async fn start(data: &Path, broker: Option<&str>) -> Result<CtlProc> {
        CtlProc::start_with(data, broker, None).await
    }

    /// [`CtlProc::start`], with TLS: HTTPS on the HTTP address, the embedded broker on
    /// `--mqtts` only, and an HTTP client trusting `tls.ca`.
    pub async fn start_with(
        data: &Path,
        broker: Option<&str>,
        tls: Option<&CtlTls>,
    ) -> Result<CtlProc> {
        std::fs::create_dir_all(data)?;
        // GATECAST_BENCH_CTL_LOG_DIR: keep the controller's log there instead of beside its
        // (temporary) data directory.
        let log_path = match std::env::var_os("GATECAST_BENCH_CTL_LOG_DIR") {
            Some(d) => std::path::PathBuf::from(d).join("controller.log"),
            None => data.with_extension("log"),
        };
        let log = std::fs::File::create(log_path)?;
        let mut cmd = Command::new(binary("gatecast-controller")?);
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--http", "127.0.0.1:0"]);
        match (broker, tls) {
            (Some(b), _) => cmd.args(["--broker", b]),
            (None, Some(_)) => cmd.args(["--mqtts", "127.0.0.1:0"]),
            (None, None) => cmd.args(["--mqtt", "127.0.0.1:0"]),
        };
        if let Some(t) = tls {
            cmd.arg("--tls-cert")
                .arg(&t.cert)
                .arg("--tls-key")
                .arg(&t.key);
        }
        // GATECAST_BENCH_CTL_LOG: the controller's log filter, for diagnosing a run.
        let filter = std::env::var("GATECAST_BENCH_CTL_LOG").unwrap_or_else(|_| "warn".into());
        let mut child = cmd
            .env("GATECAST_LOG", &filter)
            .env("RUST_LOG", &filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting gatecast-controller serve")?;
        let pid = child.id().ok_or_else(|| anyhow!("controller has no pid"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(l) = lines.next_line().await? {
                if l.starts_with("gatecast-controller listening") {
                    return Ok::<_, std::io::Error>(Some(l));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|_| anyhow!("controller printed no listening line in 60 s"))??
        .ok_or_else(|| {
            anyhow!(
                "controller exited before listening; see {}",
                data.with_extension("log").display()
            )
        })?;
        // Keep draining stdout so the controller never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let mut http = None;
        let mut mqtt = None;
        for w in line.split_whitespace() {
            if let Some(v) = w.strip_prefix("http=") {
                http = v.parse().ok();
            }
            if let Some(v) = w.strip_prefix("mqtt=").or_else(|| w.strip_prefix("mqtts=")) {
                mqtt = v.parse().ok();
            }
        }
        let http = http.ok_or_else(|| anyhow!("no http= in {line:?}"))?;
        let token = std::fs::read_to_string(data.join("admin.token"))?
            .trim()
            .to_string();
        let ca = tls.map(|t| t.ca.clone());
        let client = http_client(ca.as_deref())?;
        Ok(CtlProc {
            child,
            http,
            mqtt,
            tls: tls.is_some(),
            token,
            pid,
            client,
            ca,
        })
    }

    /// [`CtlProc::api`] from a thread of its own, with its own runtime and connection; also
    /// returns how long the call took (ms). For timing a call while this process's runtime is
    /// busy (5,000 screens verifying what the call makes the controller send): the answer is
    /// timed when it arrives, not when a busy runtime gets round to reading it.
    pub async fn api_timed_apart(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Result<(Value, f64)> {
        let (url, token, ca) = (
            format!("{}{path}", self.url()),
            self.token.clone(),
            self.ca.clone(),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let call = || -> Result<(Value, f64)> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    let client = http_client(ca.as_deref())?;
                    let req = json_request(&client, method.clone(), &url, &token, body.as_ref())?;
                    let start = Instant::now();
                    let resp = req.send().await?;
                    let st = resp.status().as_u16();
                    let bytes = resp.bytes().await?;
                    let ms = start.elapsed().as_secs_f64() * 1e3;
                    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if st != want {
                        bail!("{method} {url}: answered {st} {v}, expected {want}");
                    }
                    Ok((v, ms))
                })
            };
            let _ = tx.send(call());
        });
        rx.await
            .map_err(|_| anyhow!("the thread of the timed call ended without an answer"))?
    }

    /// `http://addr`, or `https://localhost:port` with TLS (the certificate's name).
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.http.port())
        } else {
            format!("http://{}", self.http)
        }
    }

    /// The HTTP client (keep-alive, no token set).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A JSON request with the admin token; returns status and body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.url());
        let r = json_request(&self.client, method.clone(), &url, &self.token, body)?;
        let resp = r.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A JSON request that must answer `want`.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Result<Value> {
        let (st, v) = self.call(method.clone(), path, body.as_ref()).await?;
        if st != want {
            bail!("{method} {path}: answered {st} {v}, expected {want}");
        }
        Ok(v)
    }

    /// Uploads media; returns its sha256.
    pub async fn upload(
        &self,
        bytes: Vec<u8>,
        mime: &str,
        kind: &str,
        title: &str,
    ) -> Result<String> {
        let resp = self
            .client
            .post(format!(
                "{}/api/v1/media?kind={kind}&lang=vi&title={title}",
                self.url()
            ))
            .bearer_auth(&self.token)
            .header("Content-Type", mime)
            .body(bytes)
            .send()
            .await?;
        let st = resp.status().as_u16();
        let v: Value = serde_json::from_slice(&resp.bytes().await?).unwrap_or(Value::Null);
        if st != 201 && st != 200 {
            bail!("upload {title}: {st} {v}");
        }
        v["sha256"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no sha256 in {v}"))
    }

    /// One slide, playlist `p1` of it and schedule `s1` targeting `gate`.
    pub async fn simple_content(&self, gate: &str) -> Result<String> {
        let sha = self
            .upload(png(1, 3000), "image/png", "slide", "bench")
            .await?;
        self.api(
            reqwest::Method::POST,
            "/api/v1/playlists",
            Some(json!({"id": "p1", "name": "Main", "items": [{"media": sha, "duration_ms": 10000}]})),
            201,
        )
        .await?;
        self.api(
            reqwest::Method::POST,
            "/api/v1/schedules",
            Some(
                json!({"id": "s1", "playlist": "p1", "targets": {"gates": [gate]}, "priority": 10}),
            ),
            201,
        )
        .await?;
        Ok(sha)
    }

    /// Registers screens at `gate` (a few requests at a time); returns
    /// `(id, enrollment_code, mqtt_password)` in order.
    pub async fn register_many(
        &self,
        ids: &[String],
        gate: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
        let mut set = tokio::task::JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let permit = sem.clone().acquire_owned().await?;
            let client = self.client.clone();
            let url = format!("{}/api/v1/screens", self.url());
            let token = self.token.clone();
            let body = json!({"id": id, "name": format!("Screen {id}"), "gate": gate,
                              "languages": ["vi", "en"], "timezone": "Asia/Ho_Chi_Minh"});
            let id = id.clone();
            set.spawn(async move {
                let _permit = permit;
                let resp = client
                    .post(url)
                    .bearer_auth(token)
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await?;
                let st = resp.status().as_u16();
                let v: Value = serde_json::from_slice(&resp.bytes().await?).unwrap_or(Value::Null);
                if st != 201 {
                    bail!("registering {id}: {st} {v}");
                }
                let code = v["enrollment_code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let pw = v["mqtt_password"].as_str().unwrap_or_default().to_string();
                Ok((i, (id, code, pw)))
            });
        }
        let mut out: Vec<Option<(String, String, String)>> = vec![None; ids.len()];
        while let Some(r) = set.join_next().await {
            let (i, v) = r??;
            out[i] = Some(v);
        }
        Ok(out
            .into_iter()
            .map(|v| v.expect("every screen registered"))
            .collect())
    }

    /// Enrols a device key for a registered screen; returns the MQTT password.
    pub async fn enroll(&self, screen: &str, code: &str, device: &PublicKey) -> Result<String> {
        let resp = self
            .client
            .post(format!("{}/api/v1/enroll", self.url()))
            .header("Content-Type", "application/json")
            .body(
                json!({"screen": screen, "code": code, "device_key": device.to_base64()})
                    .to_string(),
            )
            .send()
            .await?;
        let st = resp.status().as_u16();
        let v: Value = serde_json::from_slice(&resp.bytes().await?).unwrap_or(Value::Null);
        if st != 200 {
            bail!("enrolling {screen}: {st} {v}");
        }
        v["mqtt_password"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no mqtt_password in {v}"))
    }

    /// The controller's public key as a trusted key set.
    pub async fn keys(&self) -> Result<KeySet> {
        let v = self
            .api(reqwest::Method::GET, "/api/v1/keys", None, 200)
            .await?;
        let k = PublicKey::from_base64(v["controller_key"].as_str().unwrap_or_default())
            .map_err(|e| anyhow!("controller key: {e}"))?;
        Ok(KeySet::from_keys([k]))
    }

    /// The sum of a Prometheus metric over its labels (0 when absent).
    pub async fn metric(&self, name: &str) -> Result<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.url()))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// `(VmRSS, VmHWM)` in KiB.
    pub fn rss(&self) -> (u64, u64) {
        rss_kib(self.pid).unwrap_or((0, 0))
    }

    /// SIGTERM and wait.
    pub async fn stop(mut self) {
        terminate(&mut self.child, Duration::from_secs(30)).await;
    }
}

/// Bytes with PNG magic (the controller checks the declared type's magic bytes).
pub fn png(seed: u32, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(&seed.to_le_bytes());
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed as u8)));
    v
}

/// An MQTT client of a bench screen, with TCP_NODELAY like the player's.
pub fn mqtt_client(
    options: rumqttc::MqttOptions,
    capacity: usize,
) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let (client, mut ev) = rumqttc::AsyncClient::new(options, capacity);
    let mut net = ev.network_options();
    net.set_tcp_nodelay(true);
    ev.set_network_options(net);
    (client, ev)
}

/// MQTT options for a bench screen (persistent session like a player, raised packet limit).
pub fn mqtt_options(
    id: &str,
    user: &str,
    password: &str,
    host: &str,
    port: u16,
) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(id, host, port);
    o.set_credentials(user, password)
        .set_keep_alive(Duration::from_secs(60))
        .set_clean_session(false)
        .set_max_packet_size(1 << 22, 1 << 22)
        .set_request_channel_capacity(16);
    o
}
