//! `gatecast-demo demo` (what `cargo run -- demo` runs) as a newcomer runs it: the real binary
//! on free ports and a temporary data directory. It must answer on /healthz, hold receipts
//! from all three screens in `/api/v1/receipts?format=jsonl`, stop cleanly on SIGTERM, and on
//! a second run over the same data duplicate nothing while the players resume their receipt
//! chains.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use gatecast_tests::{http, parse_listening, tail, wait_until};
use serde_json::Value;

const SCREENS: [&str; 3] = [
    "lao-cai-road-hall-a",
    "lao-cai-road-hall-b",
    "lao-cai-rail-hall",
];

/// A running `gatecast-demo demo`.
struct Demo {
    child: Option<Child>,
    data: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    lines: mpsc::Receiver<String>,
    http: SocketAddr,
    token: String,
}

impl Demo {
    /// Starts the demo and waits for its listening line and /healthz.
    fn start(data: &Path, extra: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatecast-demo"))
            .arg("demo")
            .arg("--data")
            .arg(data)
            .args(["--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"])
            .args(extra)
            .env("GATECAST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the gatecast-demo binary starts");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let keep = stdout.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut demo = Demo {
            child: Some(child),
            data: data.to_owned(),
            stdout,
            lines,
            http: "127.0.0.1:1".parse().unwrap(),
            token: String::new(),
        };
        let listening = demo.wait_line("the listening line", Duration::from_secs(60), |l| {
            l.starts_with("gatecast-controller listening ")
        });
        demo.http = parse_listening(&listening).http;
        wait_until("/healthz answers 200", Duration::from_secs(30), || {
            http(demo.http, "GET", "/healthz", &[], b"")
                .ok()
                .filter(|r| r.status == 200)
        });
        demo.token = std::fs::read_to_string(data.join("admin.token"))
            .expect("admin.token is written at first start")
            .trim()
            .to_string();
        demo
    }

    /// Waits for a stdout line matching `pred` (lines already read are skipped).
    fn wait_line(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "timed out waiting for {what} on the demo's stdout; stdout so far:\n{}\nlog:\n{}",
                    self.stdout.lock().unwrap().join("\n"),
                    tail(&self.data.join("demo.log"), 40)
                ),
            }
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let auth = format!("Bearer {}", self.token);
        let r = http(self.http, "GET", path, &[("Authorization", &auth)], b"")
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (r.status, r.text())
    }

    fn get_json(&self, path: &str) -> Value {
        let (s, body) = self.get(path);
        assert_eq!(s, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// Every stored receipt, from the JSONL export (following `x-next-cursor` pages).
    fn receipts(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/api/v1/receipts?format=jsonl&limit=1000".to_string();
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let auth = format!("Bearer {}", self.token);
            let r = http(self.http, "GET", &path, &[("Authorization", &auth)], b"")
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            for line in r.text().lines().filter(|l| !l.trim().is_empty()) {
                out.push(
                    serde_json::from_str(line).unwrap_or_else(|e| {
                        panic!("receipts JSONL line is not JSON ({e}): {line}")
                    }),
                );
            }
            match r.header("x-next-cursor") {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    /// Highest receipt seq per screen.
    fn max_seqs(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for r in self.receipts() {
            let screen = r["screen"]
                .as_str()
                .expect("receipt row has a screen")
                .to_string();
            let seq = r["seq"].as_u64().expect("receipt row has a seq");
            let e = m.entry(screen).or_insert(0);
            *e = (*e).max(seq);
        }
        m
    }

    /// SIGTERM; waits for the exit.
    fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = wait_until(
            "the demo exits after SIGTERM",
            Duration::from_secs(45),
            || child.try_wait().expect("try_wait"),
        );
        // Let the reader thread take the last lines (it may be starved on a loaded machine).
        wait_until("stdout closes", Duration::from_secs(30), || {
            match self.lines.recv_timeout(Duration::from_millis(25)) {
                Err(mpsc::RecvTimeoutError::Disconnected) => Some(()),
                _ => None,
            }
        });
        status
    }

    fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn count(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn demo_plays_on_three_screens_stops_cleanly_and_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gatecast-demo");

    // First run: everything is created; receipts from all three screens reach the controller.
    let mut demo = Demo::start(&data, &[]);
    demo.wait_line("the ready line", Duration::from_secs(60), |l| {
        l.starts_with("gatecast demo ready")
    });
    let first = wait_until(
        "receipts from all three screens in /api/v1/receipts?format=jsonl",
        Duration::from_secs(75),
        || {
            let rows = demo.receipts();
            let screens: BTreeSet<&str> =
                rows.iter().filter_map(|r| r["screen"].as_str()).collect();
            (screens == BTreeSet::from(SCREENS)).then_some(rows)
        },
    );
    for r in &first {
        assert_eq!(
            r["backend"], "null",
            "null-backend receipts must say so: {r}"
        );
        assert!(
            r["media_title"].as_str().is_some_and(|t| !t.is_empty()),
            "{r}"
        );
    }
    let media = demo.get_json("/api/v1/media");
    let screens = demo.get_json("/api/v1/screens");
    let playlists = demo.get_json("/api/v1/playlists");
    let schedules = demo.get_json("/api/v1/schedules");
    assert_eq!(count(&media), 12, "every catalogue file is uploaded once");
    assert_eq!(
        ids(&screens),
        SCREENS.iter().map(|s| s.to_string()).collect()
    );
    let gates: BTreeSet<String> = screens
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["gate"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        gates,
        BTreeSet::from(["lao-cai-rail".into(), "lao-cai-road".into()])
    );
    let welcome = demo.get_json("/api/v1/playlists/demo-welcome");
    assert_eq!(
        welcome["items"][0]["variants"].as_array().map(Vec::len),
        Some(3),
        "the welcome message is one item with three language variants: {welcome}"
    );
    let versions: Vec<Value> = screens
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["published_version"].clone())
        .collect();
    assert!(versions.iter().all(|v| v == 1), "{versions:?}");
    demo_approvals(&demo, &data, &screens);

    let status = demo.stop();
    assert!(
        status.success(),
        "the demo must exit 0 on SIGTERM, got {status}"
    );
    assert!(
        demo.stdout_text().contains("demo stopped"),
        "stdout:\n{}",
        demo.stdout_text()
    );
    drop(demo);

    // Second run over the same data: nothing duplicated, no new manifest version, players
    // resume their chains (receipts continue past the first run's seqs).
    let mut demo = Demo::start(&data, &[]);
    demo.wait_line("the ready line", Duration::from_secs(60), |l| {
        l.starts_with("gatecast demo ready")
    });
    let before = demo.max_seqs();
    assert_eq!(
        before.len(),
        3,
        "receipts of the first run are kept: {before:?}"
    );
    assert_eq!(demo.get_json("/api/v1/media"), media, "media unchanged");
    assert_eq!(
        ids(&demo.get_json("/api/v1/screens")),
        ids(&screens),
        "same screens"
    );
    assert_eq!(ids(&demo.get_json("/api/v1/playlists")), ids(&playlists));
    assert_eq!(ids(&demo.get_json("/api/v1/schedules")), ids(&schedules));
    let after = wait_until(
        "new receipts from every screen, continuing its chain",
        Duration::from_secs(60),
        || {
            let now = demo.max_seqs();
            SCREENS
                .iter()
                .all(|s| now.get(*s) > before.get(*s))
                .then_some(now)
        },
    );
    for s in demo.get_json("/api/v1/screens").as_array().unwrap() {
        assert_eq!(
            s["published_version"], 1,
            "unchanged content is not re-versioned: {s}"
        );
    }
    // Chains are contiguous from 1: every seq up to the highest is stored exactly once.
    let rows = demo.receipts();
    for s in SCREENS {
        let mut seqs: Vec<u64> = rows
            .iter()
            .filter(|r| r["screen"] == s)
            .map(|r| r["seq"].as_u64().unwrap())
            .collect();
        seqs.sort_unstable();
        let n = seqs.len() as u64;
        assert!(n >= after[s], "{s}: {n} rows, max seq {}", after[s]);
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{s}: seqs not 1..=n");
    }
    let status = demo.stop();
    assert!(
        status.success(),
        "second run must exit 0 on SIGTERM, got {status}"
    );
    let old_token = demo.token.clone();
    drop(demo);

    // Third run with --fresh: says so, starts over (new admin token, earlier receipts gone).
    let mut demo = Demo::start(&data, &["--fresh"]);
    demo.wait_line("the ready line", Duration::from_secs(60), |l| {
        l.starts_with("gatecast demo ready")
    });
    assert!(
        demo.stdout_text()
            .contains("--fresh: deleting the demo data directory"),
        "stdout:\n{}",
        demo.stdout_text()
    );
    assert_ne!(
        demo.token, old_token,
        "a fresh start makes a new admin token"
    );
    let fresh = demo.max_seqs();
    assert!(
        SCREENS.iter().all(|s| fresh.get(*s) < after.get(*s)),
        "earlier receipts must be gone: {fresh:?} vs {after:?}"
    );
    assert_eq!(count(&demo.get_json("/api/v1/media")), 12);
    let status = demo.stop();
    assert!(
        status.success(),
        "--fresh run must exit 0 on SIGTERM, got {status}"
    );
}

#[test]
fn demo_binary_lists_the_demo_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatecast-demo"))
        .arg("--help")
        .output()
        .expect("running gatecast-demo --help");
    assert!(out.status.success(), "--help exited with {}", out.status);
    let help = String::from_utf8(out.stdout).expect("help is UTF-8");
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("demo ")),
        "no `demo` command in:\n{help}"
    );
}

/// The demo's approval setup (`docs/protocol.md` §19): demo keys, screens pinning the demo root,
/// the sample content approved (it plays), the emergency slide waiting with one approval of
/// two, and the printed `gatecast-approve` command giving it the second.
fn demo_approvals(demo: &Demo, data: &Path, screens: &Value) {
    let keys = data.join("demo-keys");
    let readme = std::fs::read_to_string(keys.join("README.txt")).unwrap();
    assert!(readme.contains("DEMO KEYS"), "{readme}");
    for s in screens.as_array().unwrap() {
        assert_eq!(s["status"]["approvals"]["enforced"], true, "{s}");
    }
    let pending = demo.get_json("/api/v1/approvals/pending");
    assert_eq!(count(&pending["media"]), 1, "{pending}");
    assert_eq!(count(&pending["media"][0]["approved_by"]), 1, "{pending}");
    let out = demo.stdout_text();
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("gatecast-approve sign"))
        .unwrap_or_else(|| panic!("no gatecast-approve command printed:\n{out}"))
        .trim()
        .to_string();
    // Run it as printed, with the built binary and the token file's contents.
    let start = line.find("\"$(cat ").expect("the token argument");
    let end = start + line[start..].find(")\"").expect("the token argument's end") + 2;
    let line = format!("{}{}{}", &line[..start], demo.token, &line[end..]);
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let o = Command::new(gatecast_tests::binary("gatecast-approve"))
        .args(&words)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{line}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let pending = demo.get_json("/api/v1/approvals/pending");
    assert_eq!(
        count(&pending["media"]),
        0,
        "the second approval is in: {pending}"
    );
}
