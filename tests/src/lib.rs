//! Harness for gatecast's end-to-end tests: finds the workspace binaries (building them once if
//! needed), free ports, temporary directories and external programs.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if found {
        return true;
    }
    let line = format!("SKIPPED: {test}: {program} not found (apt-get install {package})");
    if external_required() {
        panic!("{line} — GATECAST_REQUIRE_EXTERNAL=1 forbids skipping");
    }
    eprintln!("{line}");
    false
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

/// Path of a workspace binary (`gatecast-controller`, `gatecast-player`, …), built once per
/// test process with the same profile as the tests if it is not there yet.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = target_dir();
    let path = dir.join(name);
    if !path.exists() {
        BUILT.get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .current_dir(workspace_root())
                .args(["build", "--workspace", "--bins"])
                .status()
                .expect("running cargo build for the workspace binaries");
            assert!(status.success(), "cargo build --workspace --bins failed");
        });
    }
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
