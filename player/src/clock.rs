//! Is the system clock synchronised? (receipt field `clock_synced`, `docs/protocol.md` §13)
//!
//! The kernel's own answer lives behind `adjtimex(2)`, which needs a raw syscall and thus
//! `unsafe` (forbidden in this crate), and `/proc` does not expose it. We therefore read the
//! safe, documented signal of the time daemon that Debian/Ubuntu/Raspberry Pi OS boxes run:
//! `systemd-timesyncd` creates `/run/systemd/timesync/synchronized` once the kernel clock has
//! been synchronised (and keeps it while it stays so). Boxes running chrony or ntpd can point
//! the agent at a flag file that their daemon's hook maintains ([`ClockProbe::with_flag_file`]).
//!
//! The default is honest: when no such signal exists we say `false`, never `true`.

use std::path::{Path, PathBuf};

/// Flag file that systemd-timesyncd maintains while the clock is synchronised.
pub const TIMESYNCD_FLAG: &str = "/run/systemd/timesync/synchronized";

/// Answers "is the clock synchronised?" from a flag file.
#[derive(Debug, Clone)]
pub struct ClockProbe {
    flag: PathBuf,
}

impl Default for ClockProbe {
    fn default() -> Self {
        ClockProbe {
            flag: PathBuf::from(TIMESYNCD_FLAG),
        }
    }
}

impl ClockProbe {
    /// A probe that reads systemd-timesyncd's flag file.
    pub fn new() -> ClockProbe {
        ClockProbe::default()
    }

    /// A probe that reads another flag file (e.g. one a chrony hook maintains).
    pub fn with_flag_file(path: impl Into<PathBuf>) -> ClockProbe {
        ClockProbe { flag: path.into() }
    }

    /// The flag file this probe reads.
    pub fn flag_file(&self) -> &Path {
        &self.flag
    }

    /// `true` only if the flag file exists now.
    pub fn synced(&self) -> bool {
        self.flag.exists()
    }
}

/// Shorthand for `ClockProbe::new().synced()`.
pub fn clock_synced() -> bool {
    ClockProbe::new().synced()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_flag_file() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("synchronized");
        let probe = ClockProbe::with_flag_file(&flag);
        assert!(!probe.synced());
        std::fs::write(&flag, b"").unwrap();
        assert!(probe.synced());
        assert_eq!(probe.flag_file(), flag.as_path());
    }
}
