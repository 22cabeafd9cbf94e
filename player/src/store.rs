//! The player's durable state: one sled database at `<data_dir>/state.sled`.
//!
//! Trees:
//! - `meta`: last accepted manifest version, active and pending manifest (version + the exact
//!   envelope bytes, so they can be verified again at start), last accepted alert set, and
//!   the accepted controller key rotation statements (`rotation/<index>`, exact bytes, in the
//!   order accepted; the trusted keys are rebuilt from them at start).
//!   The config's `controller_key` is never rewritten: it stays the enrolment-time root.
//! - `journal`: receipts (owned by [`crate::journal::Journal`]).
//! - `cache_index`: when each cached media file was last played (owned by [`crate::cache::Cache`]).
//!
//! Every write is flushed to disk before the method returns, and writes that change several keys
//! are one atomic sled batch: after a crash the state is either before or after the call.

use std::path::{Path, PathBuf};

/// A sled error with what the store was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk full, corruption, or the db is open in another process).
    #[error("state database {path}: {what}: {source} (check disk space, and that no other gatecast-player uses this data_dir)")]
    Sled {
        /// The database directory.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// sled's error.
        source: sled::Error,
    },
    /// `activate` was asked for a version that is not the pending one.
    #[error("cannot activate manifest version {requested}: pending version is {pending:?}")]
    NotPending {
        /// The version asked for.
        requested: u64,
        /// The pending version, if any.
        pending: Option<u64>,
    },
    /// An earlier write failed (disk full, I/O error); nothing is read or written until the
    /// database is reopened.
    #[error("state database {path} is unavailable since a write failed ({cause}); free disk space (or fix the I/O problem): it is reopened automatically")]
    Unavailable {
        /// The database directory.
        path: PathBuf,
        /// The failure that made it unavailable.
        cause: String,
    },
    /// A stored value has an unexpected shape (the db was written by something else).
    #[error("state database {path}: key {key} is corrupt; move the data_dir away to start fresh")]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// The key.
        key: &'static str,
    },
}

const LAST_ACCEPTED: &[u8] = b"manifest.last_accepted";
const ACTIVE_VERSION: &[u8] = b"manifest.active.version";
const ACTIVE_BYTES: &[u8] = b"manifest.active.bytes";
const PENDING_VERSION: &[u8] = b"manifest.pending.version";
const PENDING_BYTES: &[u8] = b"manifest.pending.bytes";
const ALERT_VERSION: &[u8] = b"alert.version";
const ALERT_BYTES: &[u8] = b"alert.bytes";
const ROTATION_PREFIX: &[u8] = b"rotation/";
const POLICY_CHAIN: &[u8] = b"policy.chain";

/// A version and the exact envelope bytes it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The manifest or alert-set version.
    pub version: u64,
    /// The exact envelope bytes that were verified.
    pub bytes: Vec<u8>,
}

/// Handle to the state database. Cheap to clone; all clones share one sled db.
///
/// A failed write (disk full, I/O error, permission) leaves sled in a sticky error state
/// in which nothing it holds in memory can be trusted to be on disk. The store then marks
/// itself failed ([`Store::failure`]): every later call returns [`StoreError::Unavailable`]
/// without touching sled, until [`Store::reopen`] (called with backoff by the agent)
/// opens the database again from what is durably on disk.
#[derive(Clone, Debug)]
pub struct Store {
    inner: std::sync::Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    open: std::sync::RwLock<Open>,
    generation: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Open {
    db: Option<sled::Db>,
    failure: Option<Failure>,
}

/// Why the store is unusable until reopened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What was being done when it failed, and the error.
    pub message: String,
    /// The OS error was ENOSPC or EDQUOT (no space left / quota exceeded).
    pub disk_full: bool,
}

/// Opens the database (page cache 2 MiB). A reopen in the same process (after a disk-full
/// failure) waits briefly for the dropped instance's file lock: see [`gatecast_support::db`].
fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    gatecast_support::db::open(path, 2 * 1024 * 1024)
}

fn is_disk_full(e: &sled::Error) -> bool {
    // ENOSPC = 28, EDQUOT = 122 on Linux.
    matches!(e, sled::Error::Io(io) if matches!(io.raw_os_error(), Some(28) | Some(122)))
}

impl Store {
    /// Opens (or creates) `<data_dir>/state.sled`. sled's page cache is kept small (2 MiB),
    /// the player's memory goal is 10 MiB.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join("state.sled");
        let db = open_db(&path).map_err(|source| StoreError::Sled {
            path: path.clone(),
            what: "open",
            source,
        })?;
        let store = Store {
            inner: std::sync::Arc::new(Inner {
                path,
                open: std::sync::RwLock::new(Open {
                    db: Some(db),
                    failure: None,
                }),
                generation: std::sync::atomic::AtomicU64::new(0),
            }),
        };
        // Fail early if the meta tree cannot be opened.
        store.with_db("open tree meta", |db| db.open_tree("meta").map(|_| ()))?;
        Ok(store)
    }

    fn read_open(&self) -> std::sync::RwLockReadGuard<'_, Open> {
        self.inner.open.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_open(&self) -> std::sync::RwLockWriteGuard<'_, Open> {
        self.inner.open.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the open database. A sled I/O error marks the store failed (see
    /// [`Store::failure`]); while failed, `f` is not run and [`StoreError::Unavailable`] is
    /// returned. `f` must not block on anything but sled itself.
    pub(crate) fn with_db<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&sled::Db) -> Result<T, sled::Error>,
    ) -> Result<T, StoreError> {
        let open = self.read_open();
        let db = match (&open.failure, &open.db) {
            (None, Some(db)) => db,
            (failure, _) => {
                return Err(StoreError::Unavailable {
                    path: self.inner.path.clone(),
                    cause: failure
                        .as_ref()
                        .map_or_else(|| "not open".to_owned(), |f| f.message.clone()),
                })
            }
        };
        match f(db) {
            Ok(v) => Ok(v),
            Err(source) => {
                drop(open);
                if matches!(source, sled::Error::Io(_)) {
                    let failure = Failure {
                        message: format!("{what}: {source}"),
                        disk_full: is_disk_full(&source),
                    };
                    let mut open = self.write_open();
                    if open.failure.is_none() {
                        open.failure = Some(failure);
                    }
                }
                Err(StoreError::Sled {
                    path: self.inner.path.clone(),
                    what,
                    source,
                })
            }
        }
    }

    /// Why the store is unusable (a write failed), or `None` while it works.
    pub fn failure(&self) -> Option<Failure> {
        self.read_open().failure.clone()
    }

    /// Counts reopenings: readers that cache state derived from the database (the journal's
    /// chain tip) reload it when this changes.
    pub fn generation(&self) -> u64 {
        self.inner
            .generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// If the store failed, drops the database and opens it again from what is on disk
    /// (writes that were not flushed when it failed are gone). Returns `Ok(true)` if it was
    /// reopened, `Ok(false)` if it had not failed; on error it stays failed (try again later,
    /// e.g. once disk space was freed).
    pub fn reopen(&self) -> Result<bool, StoreError> {
        let mut open = self.write_open();
        if open.failure.is_none() && open.db.is_some() {
            return Ok(false);
        }
        // The old instance must be gone (its file lock released) before opening again.
        open.db = None;
        match open_db(&self.inner.path) {
            Ok(db) => {
                open.db = Some(db);
                open.failure = None;
                self.inner
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(true)
            }
            Err(source) => {
                open.failure = Some(Failure {
                    message: format!("reopen: {source}"),
                    disk_full: is_disk_full(&source),
                });
                Err(StoreError::Sled {
                    path: self.inner.path.clone(),
                    what: "reopen",
                    source,
                })
            }
        }
    }

    fn meta<T>(
        &self,
        what: &'static str,
        f: impl FnOnce(&sled::Db, &sled::Tree) -> Result<T, sled::Error>,
    ) -> Result<T, StoreError> {
        self.with_db(what, |db| {
            let meta = db.open_tree("meta")?;
            f(db, &meta)
        })
    }

    /// Flushes everything written so far to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.with_db("flush", |db| db.flush().map(|_| ()))
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn get_u64(&self, key: &'static [u8], name: &'static str) -> Result<Option<u64>, StoreError> {
        match self.meta("read", |_, m| m.get(key))? {
            None => Ok(None),
            Some(v) => {
                let arr: [u8; 8] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    path: self.inner.path.clone(),
                    key: name,
                })?;
                Ok(Some(u64::from_be_bytes(arr)))
            }
        }
    }

    fn get_stored(
        &self,
        vkey: &'static [u8],
        bkey: &'static [u8],
        name: &'static str,
    ) -> Result<Option<Stored>, StoreError> {
        let Some(version) = self.get_u64(vkey, name)? else {
            return Ok(None);
        };
        let bytes = self
            .meta("read", |_, m| m.get(bkey))?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.inner.path.clone(),
                key: name,
            })?;
        Ok(Some(Stored {
            version,
            bytes: bytes.to_vec(),
        }))
    }

    /// The highest manifest version ever accepted (pending or active), for
    /// `verify_manifest`'s `last_accepted_version`.
    pub fn last_accepted_version(&self) -> Result<Option<u64>, StoreError> {
        self.get_u64(LAST_ACCEPTED, "manifest.last_accepted")
    }

    /// The active manifest (what plays now), if any.
    pub fn active_manifest(&self) -> Result<Option<Stored>, StoreError> {
        self.get_stored(ACTIVE_VERSION, ACTIVE_BYTES, "manifest.active")
    }

    /// The pending manifest (accepted, waiting for its media), if any.
    pub fn pending_manifest(&self) -> Result<Option<Stored>, StoreError> {
        self.get_stored(PENDING_VERSION, PENDING_BYTES, "manifest.pending")
    }

    /// Records an accepted manifest as pending, replacing any older pending one, and raises
    /// the last accepted version — atomically and flushed. Call only after
    /// `verify_manifest` accepted `envelope_bytes`.
    pub fn save_pending(&self, envelope_bytes: &[u8], version: u64) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(PENDING_VERSION, &version.to_be_bytes());
        b.insert(PENDING_BYTES, envelope_bytes);
        let last = self.last_accepted_version()?.unwrap_or(0).max(version);
        b.insert(LAST_ACCEPTED, &last.to_be_bytes());
        self.meta("save pending", |db, m| {
            m.apply_batch(b)?;
            db.flush().map(|_| ())
        })
    }

    /// Makes the pending manifest `version` the active one (atomically, flushed). Fails with
    /// [`StoreError::NotPending`] if `version` is not pending (e.g. superseded meanwhile).
    pub fn activate(&self, version: u64) -> Result<(), StoreError> {
        let pending = self.pending_manifest()?;
        let Some(p) = pending.filter(|p| p.version == version) else {
            return Err(StoreError::NotPending {
                requested: version,
                pending: self.get_u64(PENDING_VERSION, "manifest.pending")?,
            });
        };
        let mut b = sled::Batch::default();
        b.insert(ACTIVE_VERSION, &p.version.to_be_bytes());
        b.insert(ACTIVE_BYTES, p.bytes);
        b.remove(PENDING_VERSION);
        b.remove(PENDING_BYTES);
        self.meta("activate", |db, m| {
            m.apply_batch(b)?;
            db.flush().map(|_| ())
        })
    }

    /// The last accepted alert set (version + exact envelope bytes), if any.
    pub fn alerts(&self) -> Result<Option<Stored>, StoreError> {
        self.get_stored(ALERT_VERSION, ALERT_BYTES, "alert")
    }

    /// The version of the last accepted alert set, for `verify_alerts`.
    pub fn last_alert_version(&self) -> Result<Option<u64>, StoreError> {
        self.get_u64(ALERT_VERSION, "alert.version")
    }

    /// Stores an accepted alert set (atomically, flushed). Alerts need no media sync for
    /// their text, so they take effect at once.
    pub fn save_alerts(&self, envelope_bytes: &[u8], version: u64) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        b.insert(ALERT_VERSION, &version.to_be_bytes());
        b.insert(ALERT_BYTES, envelope_bytes);
        self.meta("save alerts", |db, m| {
            m.apply_batch(b)?;
            db.flush().map(|_| ())
        })
    }

    /// The accepted controller key rotation statements (exact envelope bytes), oldest first.
    pub fn rotations(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.meta("read rotations", |_, m| {
            m.scan_prefix(ROTATION_PREFIX)
                .values()
                .map(|v| v.map(|b| b.to_vec()))
                .collect()
        })
    }

    /// Appends an accepted rotation statement (one key, flushed before returning). Call only
    /// after `playlists::rotation::Trust::apply` accepted `envelope_bytes`.
    pub fn save_rotation(&self, envelope_bytes: &[u8]) -> Result<(), StoreError> {
        let next = match self.meta("read rotations", |_, m| {
            m.scan_prefix(ROTATION_PREFIX)
                .keys()
                .next_back()
                .transpose()
        })? {
            None => 0,
            Some(k) => {
                let idx: [u8; 8] =
                    k[ROTATION_PREFIX.len()..]
                        .try_into()
                        .map_err(|_| StoreError::Corrupt {
                            path: self.inner.path.clone(),
                            key: "rotation",
                        })?;
                u64::from_be_bytes(idx) + 1
            }
        };
        let mut key = ROTATION_PREFIX.to_vec();
        key.extend_from_slice(&next.to_be_bytes());
        self.meta("save rotation", |db, m| {
            m.insert(key, envelope_bytes)?;
            db.flush().map(|_| ())
        })
    }

    /// The approval policy chain last taken from the policy topic (`docs/protocol.md` §19),
    /// as received (a JSON array of envelope texts); checked again at start.
    pub fn policy_chain(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta("read policy chain", |_, m| {
            m.get(POLICY_CHAIN).map(|v| v.map(|b| b.to_vec()))
        })
    }

    /// Stores an accepted policy chain (flushed), replacing the previous one.
    pub fn save_policy_chain(&self, chain: &[u8]) -> Result<(), StoreError> {
        self.meta("save policy chain", |db, m| {
            m.insert(POLICY_CHAIN, chain)?;
            db.flush().map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_activate_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            assert_eq!(s.last_accepted_version().unwrap(), None);
            s.save_pending(b"env-v3", 3).unwrap();
            assert_eq!(s.last_accepted_version().unwrap(), Some(3));
            assert_eq!(s.active_manifest().unwrap(), None);
            s.save_pending(b"env-v4", 4).unwrap();
            assert!(matches!(
                s.activate(3),
                Err(StoreError::NotPending {
                    requested: 3,
                    pending: Some(4)
                })
            ));
            s.activate(4).unwrap();
            assert_eq!(s.pending_manifest().unwrap(), None);
            s.save_pending(b"env-v5", 5).unwrap();
            s.save_alerts(b"alerts-v2", 2).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.active_manifest().unwrap(),
            Some(Stored {
                version: 4,
                bytes: b"env-v4".to_vec()
            })
        );
        assert_eq!(s.pending_manifest().unwrap().unwrap().version, 5);
        assert_eq!(s.last_accepted_version().unwrap(), Some(5));
        assert_eq!(s.last_alert_version().unwrap(), Some(2));
        assert_eq!(s.alerts().unwrap().unwrap().bytes, b"alerts-v2");
    }

    #[test]
    fn rotations_append_in_order_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            assert!(s.rotations().unwrap().is_empty());
            for i in 0..12u8 {
                s.save_rotation(&[b'r', i]).unwrap();
            }
        }
        let s = Store::open(dir.path()).unwrap();
        let got = s.rotations().unwrap();
        assert_eq!(got.len(), 12);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r, &vec![b'r', i as u8]);
        }
    }
}
