//! Deadlines, waiting on a condition, free ports, a temporary directory per test and the tail
//! of a log for failure messages.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// The usual deadline of one wait in these tests (generous: the machine may be busy building).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it).
///
/// For programs that cannot be given an already bound socket (mosquitto, chromedriver, our
/// binaries' broker).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

/// Polls `cond` every 25 ms until it returns `Some`, and returns that value. Panics naming
/// `what` when `timeout` passes first.
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

/// [`wait_until`] for async tests: awaits `cond` every 25 ms (without blocking the runtime)
/// until it returns `Some`, and returns that value. Panics naming `what` when `timeout` passes
/// first.
pub async fn wait_until_async<T, F, Fut>(what: &str, timeout: Duration, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
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
            let _ = dir.keep();
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

/// The last `n` lines of a log file (for failure messages).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A `/proc/<pid>/status` figure in KiB (`"VmRSS:"`, `"VmHWM:"`); `None` off Linux or once
/// the process is gone.
pub fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
