//! The pieces every test uses: deadlines, waiting on a condition, a temporary directory per
//! test, free ports, the workspace root, and small helpers for failure messages. The ones every
//! crate's tests share live in `gatecast-testkit` and are re-exported here.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use gatecast_testkit::{free_port, tail, wait_until, TestDir, DEADLINE};
pub use playlists::hex::sha256_hex;

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
