//! The workspace binaries the tests start. The processes themselves run under
//! `gatecast_testkit::ChildGuard` (own process group, output in a log file, killed on drop).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
