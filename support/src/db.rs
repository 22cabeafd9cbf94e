//! Opening a sled database.
//!
//! A dropped sled instance releases its file lock only once its background writer threads have
//! finished, so opening the same database again in the same process (a reopen after a disk-full
//! failure, an in-process restart) can find the lock still held for a moment. [`open`] retries a
//! lock error for up to [`LOCK_WAIT`]; after that another process holds the database.

use std::path::Path;
use std::time::{Duration, Instant};

/// How long [`open`] waits for the database's file lock to be released.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Opens (or creates) the sled database at `path` with a page cache of `cache_bytes`. A lock
/// error still there after [`LOCK_WAIT`] is returned as it is ([`is_lock_error`] tells it apart).
pub fn open(path: &Path, cache_bytes: u64) -> Result<sled::Db, sled::Error> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            Err(e) if is_lock_error(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            r => return r,
        }
    }
}

/// sled's answer when another instance holds the database's file lock.
pub fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io)
        if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("could not acquire lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopens_after_drop_and_reports_a_held_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), 1 << 20).unwrap();
        db.insert(b"k", b"v").unwrap();
        db.flush().unwrap();
        drop(db);
        // Reopening at once in the same process waits for the dropped instance's lock.
        let db = open(dir.path(), 1 << 20).unwrap();
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        // While it is open, a second open finds the lock held and says so after the wait.
        let e = open(dir.path(), 1 << 20).unwrap_err();
        assert!(is_lock_error(&e), "{e}");
    }
}
