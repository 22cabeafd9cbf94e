//! Building the workspace binaries that tests and benchmarks start, so they never run stale
//! ones.

use std::path::Path;
use std::process::Command;

/// Runs `cargo build --bins -p <each package>` in `root` (with `--release` when asked); a no-op
/// when they are fresh. The error says which packages failed to build.
pub fn cargo_build_bins(root: &Path, packages: &[&str], release: bool) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "--bins"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo build for {packages:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build of {packages:?} failed ({status})"))
    }
}
