//! The workspace binaries the tests start, and how the harness stops the processes it started:
//! SIGTERM with a grace period, or SIGKILL (a crash), always by the child's own id.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::workspace_root;

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
pub(crate) fn terminate(child: &mut Child, grace: Duration) -> bool {
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
pub(crate) fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `path` opened for appending (created if missing): where a process's output goes.
pub(crate) fn log_file(path: &Path) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log file {}: {e}", path.display()))
}
