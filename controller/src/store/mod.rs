//! Durable state in sled 0.34.7. This is the only module that touches sled.
//!
//! Every method that writes and returns `Ok` has flushed the write to disk first, so nothing is
//! acknowledged to a caller that a crash could lose. Values are JSON; keys are ids. Trees:
//! `meta` (schema version, the controller's alive mark), `media`, `playlists`, `schedules`, `screens`, `enroll_codes`, `tokens`,
//! `manifests` (exact signed bytes + version per screen), `alerts`, `alert_sets` (exact signed
//! bytes + version per screen), `tickers`, `ticker_sets` (the same for ticker texts),
//! `screen_layouts` (each screen's layout, `docs/protocol.md` §20), `status` (last status per screen), `status_history`
//! (online/offline transitions, the newest [`HISTORY_CAP`] per screen), `actions` (operator
//! action log), `screenshots` and `screenshot_images` (the newest screenshots per screen),
//! `cap_inbox` (received CAP messages, `cap`), `subtitles` (subtitle tracks of videos).
//!
//! Audit trees (receipt ingest and the Merkle log; see "The audit trees" below):
//! `receipt_runs`, `receipt_run_time`, `chain_tips`, `batch_hashes`, `log_leaves`, `log_hashes`,
//! `checkpoints`, `receipt_rejections`, `receipt_conflicts`, `receipt_conflict_index`,
//! `manifest_history`.
//!
//! One file per concern: `records` (the JSON records), `content` (media, playlists,
//! schedules), `screens` (screens, enrolment codes, tokens), `generations` (per-screen change
//! numbers), `publishing` (manifests, alert sets, manifest history), `status` (status and the
//! action log), `receipts` (ingest and reads of receipts), `rejections` (rejected batches and
//! conflict evidence), `alive` (the controller's alive mark), `screenshots` (signed
//! screenshots), `ticker` (ticker texts, ticker sets, layouts), `runs` (the pure run and key
//! encoding), `log` (Merkle leaves and checkpoints), `values` (the value log: receipt runs and
//! batch envelopes beside sled) and `migrations` (older schemas, converted on open). Opening,
//! the schema and errors are here.

mod alive;
mod approvals;
mod cap;
mod content;
mod dump;
mod generations;
mod log;
mod migrations;
mod publishing;
mod receipts;
mod records;
mod rejections;
mod runs;
mod screens;
mod screenshots;
mod status;
mod subtitles;
mod templates;
mod ticker;
mod users;
mod values;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use alive::{ControllerRun, ALIVE_TICK};
pub use cap::{CapRecord, CapState, GateMatch};
pub use dump::DumpSummary;
pub use log::{LeafKind, LogLeaf};
pub use publishing::{EncodedManifest, StoredBytes};
pub use receipts::{chain_key, BatchStored, LogGuard, StagedBatches, StoredReceipt};
pub use records::{
    ActionRecord, AlertRecord, AlertTemplate, AlertTextRecord, EnrollCode, EpochRecord,
    MediaRecord, PlaylistItemRecord, PlaylistRecord, Role, ScheduleRecord, ScreenRecord,
    ScreenVersion, StatusRecord, StatusTransition, StoredAlertSet, StoredManifest, Targets,
    TokenRecord,
};
pub use rejections::{ConflictRecord, RejectionCount, RejectionRecord, REJECTIONS_KEPT_PER_SCREEN};
pub use runs::RUN_SPAN_MS;
pub use screens::gate_name_key;
pub use screenshots::StoredScreenshot;
pub use status::{HistoryPage, HISTORY_CAP};
pub use subtitles::SubtitleRecord;
pub use ticker::{StoredTickerSet, TickerRecord};
pub use users::{SessionRecord, UserRecord};

/// The schema version this build reads and writes. Version 3 keeps large audit values in the
/// value log (`values.rs`); a version 2 database is opened as it is (its inline values stay
/// readable) and marked 3, so that an older build refuses it instead of misreading it.
pub const SCHEMA_VERSION: u64 = 3;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (disk full, I/O error, corruption).
    #[error("database error: {0}; check the disk and the data directory")]
    Db(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("stored {what} is corrupt: {message}")]
    Corrupt {
        /// Which record.
        what: String,
        /// The decoder's message.
        message: String,
    },
    /// The database was written by another schema version.
    #[error("database schema version {found} is not supported (this build uses {SCHEMA_VERSION}); use a matching gatecast-controller")]
    Schema {
        /// The version found on disk.
        found: u64,
    },
    /// The id is already taken.
    #[error("{what} {id:?} already exists")]
    Exists {
        /// Kind of record.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// The database is locked by another process.
    #[error("the database in {0} is in use by another process: the controller is probably running; stop it first, or use the HTTP API (e.g. POST /api/v1/tokens with the admin token)")]
    Locked(String),
}

/// Result type of the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The controller's database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    media: sled::Tree,
    playlists: sled::Tree,
    schedules: sled::Tree,
    screens: sled::Tree,
    codes: sled::Tree,
    tokens: sled::Tree,
    users: sled::Tree,
    sessions: sled::Tree,
    manifests: sled::Tree,
    alerts: sled::Tree,
    alert_sets: sled::Tree,
    tickers: sled::Tree,
    ticker_sets: sled::Tree,
    layouts: sled::Tree,
    status: sled::Tree,
    history: sled::Tree,
    actions: sled::Tree,
    screenshots: sled::Tree,
    screenshot_images: sled::Tree,
    /// Serialises screenshot writes (each assigns the next seq of its screen).
    screenshot_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    approvals: sled::Tree,
    cap_inbox: sled::Tree,
    subtitles: sled::Tree,
    audit: AuditTrees,
    /// Per-screen change numbers ([`Store::screen_generation`]).
    generations: std::sync::Arc<generations::Generations>,
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        message: e.to_string(),
    })
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("store records serialize")
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        // A just-dropped instance's file lock is waited for (gatecast_support::db); a lock
        // still held after that belongs to another process.
        let db = gatecast_support::db::open(dir, 32 * 1024 * 1024).map_err(|e| {
            if gatecast_support::db::is_lock_error(&e) {
                StoreError::Locked(dir.display().to_string())
            } else {
                StoreError::Db(e)
            }
        })?;
        let t = |n: &str| db.open_tree(n);
        let store = Store {
            meta: t("meta")?,
            media: t("media")?,
            playlists: t("playlists")?,
            schedules: t("schedules")?,
            screens: t("screens")?,
            codes: t("enroll_codes")?,
            tokens: t("tokens")?,
            users: t("users")?,
            sessions: t("sessions")?,
            manifests: t("manifests")?,
            alerts: t("alerts")?,
            alert_sets: t("alert_sets")?,
            tickers: t("tickers")?,
            ticker_sets: t("ticker_sets")?,
            layouts: t("screen_layouts")?,
            status: t("status")?,
            history: t("status_history")?,
            actions: t("actions")?,
            screenshots: t("screenshots")?,
            screenshot_images: t("screenshot_images")?,
            screenshot_lock: Default::default(),
            approvals: t("approvals")?,
            cap_inbox: t("cap_inbox")?,
            subtitles: t("subtitles")?,
            audit: AuditTrees::open(&db, dir)?,
            generations: Default::default(),
            db,
        };
        match store.meta.get("schema_version")? {
            Some(v) => {
                let found: u64 = decode("schema_version", &v)?;
                if found == 1 {
                    store.migrate_receipts_v1()?;
                } else if found == 2 {
                    store
                        .meta
                        .insert("schema_version", encode(&SCHEMA_VERSION))?;
                    store.db.flush()?;
                } else if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema { found });
                }
            }
            None => {
                store
                    .meta
                    .insert("schema_version", encode(&SCHEMA_VERSION))?;
                store.db.flush()?;
            }
        }
        store.migrate_audit()?;
        Ok(store)
    }

    /// Flushes everything written so far.
    pub async fn flush(&self) -> Result<()> {
        self.db.flush_async().await?;
        Ok(())
    }

    fn get<T: DeserializeOwned>(tree: &sled::Tree, what: &str, key: &str) -> Result<Option<T>> {
        match tree.get(key)? {
            Some(v) => Ok(Some(decode(what, &v)?)),
            None => Ok(None),
        }
    }

    fn all<T: DeserializeOwned>(tree: &sled::Tree, what: &str) -> Result<Vec<T>> {
        tree.iter()
            .values()
            .map(|v| decode(what, &v?))
            .collect::<Result<Vec<T>>>()
    }

    async fn put<T: Serialize>(&self, tree: &sled::Tree, key: &str, v: &T) -> Result<()> {
        tree.insert(key, encode(v))?;
        self.flush().await
    }

    async fn create<T: Serialize>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
        key: &str,
        v: &T,
    ) -> Result<()> {
        match tree.compare_and_swap(key, None as Option<&[u8]>, Some(encode(v)))? {
            Ok(()) => self.flush().await,
            Err(_) => Err(StoreError::Exists {
                what,
                id: key.to_string(),
            }),
        }
    }
}

impl Store {
    /// A value of the `meta` tree (internal settings such as the controller's MQTT hash).
    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Self::get(&self.meta, "meta", key)
    }

    /// Sets a value of the `meta` tree.
    pub async fn meta_put(&self, key: &str, value: &str) -> Result<()> {
        self.put(&self.meta, key, &value).await
    }
}

/// `meta` key of the controller's own MQTT password hash (checked by the embedded broker).
pub const CONTROLLER_HASH_KEY: &str = "controller_mqtt_hash";

// ======================================================================================
// The audit trees
// ======================================================================================
//
// Layout (all integers big-endian so sled's byte order is numeric order; screen ids never
// contain `/`, so `screen/` prefixes are unambiguous):
//
// | tree | key | value |
// |---|---|---|
// | `receipt_runs` | `screen` `/` first seq(u64) | a run: the exact bytes of consecutive new receipts of one batch, its received_at and batch_index ([`encode_run`]) |
// | `receipt_run_time` | least started_at ms of the run (i64, sign bit flipped) ‖ `screen` `/` first seq(u64) | empty (index) |
// | `chain_tips` | `screen` | JSON `{"seq","hash"}`: highest contiguous stored seq and its hash |
// | `batch_hashes` | SHA-256 of the exact envelope | JSON `{"screen","leaf"}` (exact-duplicate check) |
// | `log_leaves` | leaf index(u64) | kind byte (0 = batch, 1 = action) ‖ exact leaf bytes |
// | `log_hashes` | leaf index(u64) | 32-byte RFC 6962 leaf hash |
// | `checkpoints` | tree size(u64) | exact signed checkpoint envelope bytes |
// | `receipt_rejections` | id(u64) | JSON [`RejectionRecord`] (the newest [`REJECTIONS_KEPT_PER_SCREEN`] per screen) |
// | `receipt_rejection_index` | `screen` `/` id(u64) | empty (a screen's kept rejections, oldest first) |
// | `receipt_rejection_counts` | `screen` `/` reason | JSON [`RejectionCount`]: every rejection, kept or not |
// | `receipt_conflicts` | id(u64) | JSON [`ConflictRecord`] (raw envelope as evidence; the first per screen, epoch and seq, later ones counted in it; indexed in `receipt_conflict_index` by `seq_key(chain_key(screen, epoch), seq)`) |
// | `receipt_conflict_index` | chain key `/` seq(u64) | id(u64) of that first conflict |
// | `manifest_history` | `screen` `/` version(u64) | JSON [`StoredManifest`] of every version published |
// | `ticker_history` | `screen` `/` version(u64) | JSON [`StoredTickerSet`] of every version published |
//
// Leaf indexes are assigned under `log_lock`, and every append (a batch with its receipts, or
// an action with its record) is one sled transaction, so the log, the receipts and the action
// log never disagree after a crash.
//
// Receipts are stored by **run** (schema 2): the new receipts of one batch are one row and one
// time-index entry, not two rows each, so a batch of 100 costs six writes instead of 204 (the
// ingest rate is bound by sled writes; docs/BENCHMARKS.md). A run covers at most
// [`RUN_SPAN_MS`] of `started_at`; a batch whose receipts span more (a backlog, a clock jump) is
// cut into several runs. Time queries start [`RUN_SPAN_MS`] before `from` and merge the runs'
// receipts into `started_at` order, so they return exactly what a per-receipt index would.
// Schema 1 databases (one row per receipt) are converted on open.

#[derive(Clone)]
struct AuditTrees {
    runs: sled::Tree,
    run_time: sled::Tree,
    chain_tips: sled::Tree,
    batch_hashes: sled::Tree,
    log_leaves: sled::Tree,
    log_hashes: sled::Tree,
    checkpoints: sled::Tree,
    rejections: sled::Tree,
    rejection_index: sled::Tree,
    rejection_counts: sled::Tree,
    conflicts: sled::Tree,
    conflict_index: sled::Tree,
    manifest_history: sled::Tree,
    ticker_history: sled::Tree,
    log_lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// Receipt runs and batch leaves themselves; `runs` and `log_leaves` hold references.
    values: std::sync::Arc<values::ValueLog>,
}

impl AuditTrees {
    fn open(db: &sled::Db, dir: &Path) -> Result<AuditTrees> {
        let t = |n: &str| db.open_tree(n);
        Ok(AuditTrees {
            runs: t("receipt_runs")?,
            run_time: t("receipt_run_time")?,
            chain_tips: t("chain_tips")?,
            batch_hashes: t("batch_hashes")?,
            log_leaves: t("log_leaves")?,
            log_hashes: t("log_hashes")?,
            checkpoints: t("checkpoints")?,
            rejections: t("receipt_rejections")?,
            rejection_index: t("receipt_rejection_index")?,
            rejection_counts: t("receipt_rejection_counts")?,
            conflicts: t("receipt_conflicts")?,
            conflict_index: t("receipt_conflict_index")?,
            manifest_history: t("manifest_history")?,
            ticker_history: t("ticker_history")?,
            log_lock: Default::default(),
            values: std::sync::Arc::new(values::ValueLog::open(&dir.join("values"))?),
        })
    }
}

fn be_u64(what: &str, b: &[u8]) -> Result<u64> {
    let arr: [u8; 8] = b.try_into().map_err(|_| StoreError::Corrupt {
        what: what.to_string(),
        message: format!("expected 8 bytes, found {}", b.len()),
    })?;
    Ok(u64::from_be_bytes(arr))
}

fn corrupt(what: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        message: message.to_string(),
    }
}
