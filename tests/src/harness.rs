//! The pieces every test uses: deadlines, waiting on a condition, a temporary directory per
//! test, free ports, the workspace root, and small helpers for failure messages.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The usual deadline of one wait in these tests (generous: the machine may be busy building).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How long to wait for something that needs a player to reconnect after its link was cut for
/// a while: its longest reconnect wait (`BACKOFF_MAX`: jitter only shortens a wait) plus [`DEADLINE`].
pub const RECONNECT_DEADLINE: Duration = Duration::from_millis(
    gatecast_player::mqtt::BACKOFF_MAX.as_millis() as u64 + DEADLINE.as_millis() as u64,
);

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
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
