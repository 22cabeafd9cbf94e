//! The workspace binaries the tests start. The processes themselves run under
//! `gatecast_testkit::ChildGuard` (own process group, output in a log file, killed on drop).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use gatecast_testkit::ChildGuard;

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
        gatecast_testkit::cargo_build_bins(
            &workspace_root(),
            &[
                "gatecast-controller",
                "gatecast-player",
                "gatecast-bench",
                "gatecast-approve",
                "playlists",
            ],
            dir.file_name().is_some_and(|n| n == "release"),
        )
        .expect("building the workspace binaries");
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

/// How long a controller or player may take to stop cleanly after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Whether the process in `slot` (a controller's or player's, `None` once stopped) runs.
pub(crate) fn is_running(slot: &mut Option<ChildGuard>) -> bool {
    slot.as_mut().is_some_and(ChildGuard::is_running)
}

/// SIGTERM to the process in `slot` and a clean exit within [`STOP_GRACE`] (panics, with its
/// log, if it needed SIGKILL); empties the slot.
pub(crate) fn stop(slot: &mut Option<ChildGuard>) {
    if let Some(mut c) = slot.take() {
        c.stop(STOP_GRACE);
    }
}

/// SIGKILL to the process in `slot` (a crash or power cut); empties the slot.
pub(crate) fn kill9(slot: &mut Option<ChildGuard>) {
    if let Some(mut c) = slot.take() {
        c.kill9();
    }
}
