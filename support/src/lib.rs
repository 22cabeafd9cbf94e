//! Small runtime helpers that the controller, the player, the broker and the tools share, one
//! copy of each (see `docs/architecture.md`):
//!
//! * [`fs`]: crash-safe writes (temp file, fsync, rename, fsync the directory);
//! * [`backoff`]: exponential backoff with jitter, so many screens never retry in lockstep;
//! * [`db`]: opening a sled database, waiting briefly for a just-dropped instance's file lock;
//! * [`program`]: finding an external program (mpv, mosquitto, chromium) on this machine;
//! * [`logging`]: the binaries' log output (text or JSON, colour only on a terminal);
//! * [`notify`]: systemd readiness and watchdog notifications (`$NOTIFY_SOCKET`).
//!
//! Pure contract logic (hashes, hex, signatures) lives in `playlists`, not here.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
pub mod db;
pub mod fs;
pub mod logging;
pub mod notify;
pub mod program;
