//! Durable state in sled 0.34.7. This is the only module that touches sled.
//!
//! Every method that writes and returns `Ok` has flushed the write to disk first, so nothing is
//! acknowledged to a caller that a crash could lose. Values are JSON; keys are ids. Trees:
//! `meta` (schema version), `media`, `playlists`, `schedules`, `screens`, `enroll_codes`, `tokens`,
//! `manifests` (exact signed bytes + version per screen), `alerts`, `alert_sets` (exact signed
//! bytes + version per screen), `status` (last status per screen), `status_history`
//! (online/offline transitions), `actions` (operator action log).
//!
//! Audit trees (receipt ingest and the Merkle log; see "Receipts and the audit log" below):
//! `receipts`, `receipt_time`, `chain_tips`, `batch_hashes`, `log_leaves`, `log_hashes`,
//! `checkpoints`, `receipt_rejections`, `receipt_conflicts`, `manifest_history`.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::Role;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u64 = 2;

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

/// Metadata of a media file (the bytes live in `blobs`). Kept after deletion, so receipts that
/// name this hash keep their meaning.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MediaRecord {
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Media type, checked against the bytes' magic.
    pub mime: String,
    /// `video`, `slide` or `clip`.
    pub kind: String,
    /// BCP 47 language tag.
    pub lang: String,
    /// Human title.
    pub title: String,
    /// Play duration in ms, if known.
    pub duration_ms: Option<u64>,
    /// RFC 3339 upload time.
    pub uploaded_at: String,
    /// True once deleted (file removed, metadata kept).
    #[serde(default)]
    pub deleted: bool,
}

/// An item of a playlist.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlaylistItemRecord {
    /// Media sha256.
    pub media: String,
    /// Duration override in ms.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The same message in other languages (sha256 each).
    #[serde(default)]
    pub variants: Vec<String>,
}

/// A playlist.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlaylistRecord {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Items in order.
    pub items: Vec<PlaylistItemRecord>,
}

/// Targets of a schedule or alert.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Targets {
    /// Screen ids.
    #[serde(default)]
    pub screens: Vec<String>,
    /// Gate names.
    #[serde(default)]
    pub gates: Vec<String>,
}

impl Targets {
    /// Whether `screen` is targeted, directly or through its gate.
    pub fn matches(&self, screen: &ScreenRecord) -> bool {
        self.screens.contains(&screen.id) || self.gates.contains(&screen.gate)
    }
}

/// A schedule entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScheduleRecord {
    /// Id.
    pub id: String,
    /// Playlist id.
    pub playlist: String,
    /// Screens and gates it applies to.
    pub targets: Targets,
    /// Higher wins.
    pub priority: i32,
    /// First day (YYYY-MM-DD), inclusive.
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD), inclusive.
    pub until: Option<String>,
    /// Weekdays (`mon`..`sun`).
    pub weekdays: Option<Vec<String>>,
    /// Daily window start (HH:MM local).
    pub start: Option<String>,
    /// Daily window end (HH:MM local).
    pub end: Option<String>,
}

/// A registered screen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScreenRecord {
    /// Screen id (also its MQTT username).
    pub id: String,
    /// Name.
    pub name: String,
    /// Gate it stands at.
    pub gate: String,
    /// Language rotation.
    pub languages: Vec<String>,
    /// IANA timezone.
    pub timezone: String,
    /// MQTT password hash (mosquitto `$7$` format).
    pub mqtt_password_hash: String,
    /// Refused by the broker and skipped by publish when true.
    #[serde(default)]
    pub disabled: bool,
    /// Device public key (base64), set at enrolment.
    #[serde(default)]
    pub device_key: Option<String>,
    /// When it enrolled.
    #[serde(default)]
    pub enrolled_at: Option<String>,
    /// When it was registered.
    pub created_at: String,
}

/// A pending enrolment code (stored hashed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnrollCode {
    /// Screen id.
    pub screen: String,
    /// Hex SHA-256 of the code.
    pub code_hash: String,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
}

/// An API token (stored hashed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    /// Public id (part of the token).
    pub id: String,
    /// Role.
    pub role: Role,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: String,
    /// Creation time.
    pub created_at: String,
    /// Revoked tokens authenticate nothing.
    #[serde(default)]
    pub revoked: bool,
}

/// The current signed manifest of a screen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredManifest {
    /// Screen id.
    pub screen: String,
    /// Version.
    pub version: u64,
    /// SHA-256 of the content (everything but version and times), to detect "no change".
    pub content_hash: String,
    /// Media hashes it refers to.
    pub media: Vec<String>,
    /// Issue time (RFC 3339).
    pub issued_at: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// The exact DSSE envelope bytes as published (UTF-8 JSON).
    pub envelope: String,
}

/// An alert line in one language.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertTextRecord {
    /// Language tag.
    pub lang: String,
    /// Text.
    pub text: String,
}

/// An alert as created by an operator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertRecord {
    /// Id.
    pub id: String,
    /// Who sees it.
    pub targets: Targets,
    /// Higher wins.
    pub priority: i32,
    /// RFC 3339 expiry.
    pub expires_at: String,
    /// Texts.
    pub text: Vec<AlertTextRecord>,
    /// Optional media sha256.
    pub media: Option<String>,
    /// Cancelled alerts are no longer sent.
    #[serde(default)]
    pub cancelled: bool,
    /// Creation time.
    pub created_at: String,
}

/// The current signed alert set of a screen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredAlertSet {
    /// Screen id.
    pub screen: String,
    /// Version.
    pub version: u64,
    /// Alert ids it holds.
    pub alerts: Vec<String>,
    /// Media hashes it refers to.
    pub media: Vec<String>,
    /// Exact envelope bytes.
    pub envelope: String,
}

/// Last status of a screen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusRecord {
    /// Screen id.
    pub screen: String,
    /// The player's status JSON.
    pub status: serde_json::Value,
    /// When the controller received it (RFC 3339).
    pub received_at: String,
    /// Whether the screen counts as online.
    pub online: bool,
}

/// An online/offline transition (kept for compliance reports).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusTransition {
    /// Screen id.
    pub screen: String,
    /// New state.
    pub online: bool,
    /// When (RFC 3339).
    pub at: String,
}

/// A screen and the version published to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScreenVersion {
    /// Screen id.
    pub screen: String,
    /// Version.
    pub version: u64,
}

/// One entry of the operator action log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActionRecord {
    /// Sequence number (increasing).
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Token id of the actor (`cli` for command-line actions).
    pub actor: String,
    /// Actor's role (`None` for a screen enrolling itself).
    pub role: Option<Role>,
    /// What was done, e.g. `publish`, `media.upload`.
    pub action: String,
    /// Details (ids, targets).
    pub detail: serde_json::Value,
    /// Manifest or alert versions produced.
    #[serde(default)]
    pub versions: Vec<ScreenVersion>,
}

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
    manifests: sled::Tree,
    alerts: sled::Tree,
    alert_sets: sled::Tree,
    status: sled::Tree,
    history: sled::Tree,
    actions: sled::Tree,
    audit: AuditTrees,
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
        // A dropped sled instance releases its file lock only once its background writer
        // threads have finished, so a restart in the same process can find the lock still held
        // for a moment: a lock error is retried for up to 5 s; after that another process
        // holds it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut pause = std::time::Duration::from_millis(5);
        let db = loop {
            match sled::Config::new()
                .path(dir)
                .cache_capacity(32 * 1024 * 1024)
                .open()
            {
                Ok(db) => break db,
                Err(sled::Error::Io(ref io))
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked(dir.display().to_string()));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(StoreError::Db(e)),
            }
        };
        let t = |n: &str| db.open_tree(n);
        let store = Store {
            meta: t("meta")?,
            media: t("media")?,
            playlists: t("playlists")?,
            schedules: t("schedules")?,
            screens: t("screens")?,
            codes: t("enroll_codes")?,
            tokens: t("tokens")?,
            manifests: t("manifests")?,
            alerts: t("alerts")?,
            alert_sets: t("alert_sets")?,
            status: t("status")?,
            history: t("status_history")?,
            actions: t("actions")?,
            audit: AuditTrees::open(&db)?,
            db,
        };
        match store.meta.get("schema_version")? {
            Some(v) => {
                let found: u64 = decode("schema_version", &v)?;
                if found == 1 {
                    store.migrate_receipts_v1()?;
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

    // ---- media ----

    /// Metadata of one media hash (also deleted ones).
    pub fn media(&self, sha: &str) -> Result<Option<MediaRecord>> {
        Self::get(&self.media, "media", sha)
    }

    /// All media that are not deleted.
    pub fn media_list(&self) -> Result<Vec<MediaRecord>> {
        Ok(Self::all::<MediaRecord>(&self.media, "media")?
            .into_iter()
            .filter(|m| !m.deleted)
            .collect())
    }

    /// Stores media metadata.
    pub async fn put_media(&self, m: &MediaRecord) -> Result<()> {
        self.put(&self.media, &m.sha256, m).await
    }

    // ---- playlists ----

    /// One playlist.
    pub fn playlist(&self, id: &str) -> Result<Option<PlaylistRecord>> {
        Self::get(&self.playlists, "playlist", id)
    }

    /// All playlists.
    pub fn playlists(&self) -> Result<Vec<PlaylistRecord>> {
        Self::all(&self.playlists, "playlist")
    }

    /// Creates a playlist (fails if the id exists).
    pub async fn create_playlist(&self, p: &PlaylistRecord) -> Result<()> {
        self.create(&self.playlists, "playlist", &p.id, p).await
    }

    /// Creates or replaces a playlist.
    pub async fn put_playlist(&self, p: &PlaylistRecord) -> Result<()> {
        self.put(&self.playlists, &p.id, p).await
    }

    /// Deletes a playlist; true if it existed.
    pub async fn delete_playlist(&self, id: &str) -> Result<bool> {
        let had = self.playlists.remove(id)?.is_some();
        self.flush().await?;
        Ok(had)
    }

    // ---- schedules ----

    /// One schedule.
    pub fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>> {
        Self::get(&self.schedules, "schedule", id)
    }

    /// All schedules.
    pub fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        Self::all(&self.schedules, "schedule")
    }

    /// Creates a schedule (fails if the id exists).
    pub async fn create_schedule(&self, s: &ScheduleRecord) -> Result<()> {
        self.create(&self.schedules, "schedule", &s.id, s).await
    }

    /// Creates or replaces a schedule.
    pub async fn put_schedule(&self, s: &ScheduleRecord) -> Result<()> {
        self.put(&self.schedules, &s.id, s).await
    }

    /// Deletes a schedule; true if it existed.
    pub async fn delete_schedule(&self, id: &str) -> Result<bool> {
        let had = self.schedules.remove(id)?.is_some();
        self.flush().await?;
        Ok(had)
    }

    // ---- screens and enrolment ----

    /// One screen.
    pub fn screen(&self, id: &str) -> Result<Option<ScreenRecord>> {
        Self::get(&self.screens, "screen", id)
    }

    /// All screens.
    pub fn screens(&self) -> Result<Vec<ScreenRecord>> {
        Self::all(&self.screens, "screen")
    }

    /// Registers a screen with its first enrolment code, atomically (fails if the id exists).
    pub async fn create_screen(&self, s: &ScreenRecord, code: &EnrollCode) -> Result<()> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional as _;
        let res = (&self.screens, &self.codes).transaction(|(screens, codes)| {
            if screens.get(s.id.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(()));
            }
            screens.insert(s.id.as_bytes(), encode(s))?;
            codes.insert(s.id.as_bytes(), encode(code))?;
            Ok(())
        });
        match res {
            Ok(()) => self.flush().await,
            Err(TransactionError::Abort(())) => Err(StoreError::Exists {
                what: "screen",
                id: s.id.clone(),
            }),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Replaces a screen record.
    pub async fn put_screen(&self, s: &ScreenRecord) -> Result<()> {
        self.put(&self.screens, &s.id, s).await
    }

    /// Sets a new enrolment code for a screen (replacing any earlier one).
    pub async fn put_enroll_code(&self, code: &EnrollCode) -> Result<()> {
        self.put(&self.codes, &code.screen, code).await
    }

    /// The pending enrolment code of a screen.
    pub fn enroll_code(&self, screen: &str) -> Result<Option<EnrollCode>> {
        Self::get(&self.codes, "enrolment code", screen)
    }

    /// Consumes `code` if it is still the pending one; false if it was consumed meanwhile.
    pub async fn consume_enroll_code(&self, code: &EnrollCode) -> Result<bool> {
        let ok = self
            .codes
            .compare_and_swap(&code.screen, Some(encode(code)), None as Option<Vec<u8>>)?
            .is_ok();
        self.flush().await?;
        Ok(ok)
    }

    // ---- tokens ----

    /// One token record.
    pub fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        Self::get(&self.tokens, "token", id)
    }

    /// All tokens.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        Self::all(&self.tokens, "token")
    }

    /// Stores a token record.
    pub async fn put_token(&self, t: &TokenRecord) -> Result<()> {
        self.put(&self.tokens, &t.id, t).await
    }

    // ---- manifests and alert sets ----

    /// The current manifest of a screen.
    pub fn manifest(&self, screen: &str) -> Result<Option<StoredManifest>> {
        Self::get(&self.manifests, "manifest", screen)
    }

    /// Every screen's current manifest.
    pub fn manifests(&self) -> Result<Vec<StoredManifest>> {
        Self::all(&self.manifests, "manifest")
    }

    /// Stores a new manifest and flushes; refuses (Exists) a version that is not above the
    /// stored one, so a version is never reused even by concurrent publishers.
    pub async fn put_manifest(&self, m: &StoredManifest) -> Result<()> {
        self.put_manifest_unflushed(m)?;
        self.flush().await
    }

    /// Like [`Store::put_manifest`] but **without** the flush, for publishing to many screens
    /// with one flush: the caller must call [`Store::flush`] before sending the manifest (or
    /// acknowledging it in any way).
    pub fn put_manifest_unflushed(&self, m: &StoredManifest) -> Result<()> {
        let prev = self.manifests.get(&m.screen)?;
        if let Some(p) = &prev {
            let p: StoredManifest = decode("manifest", p)?;
            if p.version >= m.version {
                return Err(StoreError::Exists {
                    what: "manifest version",
                    id: format!("{}@{}", m.screen, m.version),
                });
            }
        }
        match self
            .manifests
            .compare_and_swap(&m.screen, prev, Some(encode(m)))?
        {
            Ok(()) => {
                self.audit
                    .manifest_history
                    .insert(history_key(&m.screen, m.version), encode(m))?;
                Ok(())
            }
            Err(_) => Err(StoreError::Exists {
                what: "manifest version",
                id: format!("{}@{}", m.screen, m.version),
            }),
        }
    }

    /// The current alert set of a screen.
    pub fn alert_set(&self, screen: &str) -> Result<Option<StoredAlertSet>> {
        Self::get(&self.alert_sets, "alert set", screen)
    }

    /// Every screen's current alert set.
    pub fn alert_sets(&self) -> Result<Vec<StoredAlertSet>> {
        Self::all(&self.alert_sets, "alert set")
    }

    /// Stores a new alert set; refuses a version not above the stored one.
    pub async fn put_alert_set(&self, a: &StoredAlertSet) -> Result<()> {
        let prev = self.alert_sets.get(&a.screen)?;
        if let Some(p) = &prev {
            let p: StoredAlertSet = decode("alert set", p)?;
            if p.version >= a.version {
                return Err(StoreError::Exists {
                    what: "alert set version",
                    id: format!("{}@{}", a.screen, a.version),
                });
            }
        }
        match self
            .alert_sets
            .compare_and_swap(&a.screen, prev, Some(encode(a)))?
        {
            Ok(()) => self.flush().await,
            Err(_) => Err(StoreError::Exists {
                what: "alert set version",
                id: format!("{}@{}", a.screen, a.version),
            }),
        }
    }

    /// One alert.
    pub fn alert(&self, id: &str) -> Result<Option<AlertRecord>> {
        Self::get(&self.alerts, "alert", id)
    }

    /// All alerts.
    pub fn alerts(&self) -> Result<Vec<AlertRecord>> {
        Self::all(&self.alerts, "alert")
    }

    /// Creates an alert (fails if the id exists).
    pub async fn create_alert(&self, a: &AlertRecord) -> Result<()> {
        self.create(&self.alerts, "alert", &a.id, a).await
    }

    /// Replaces an alert.
    pub async fn put_alert(&self, a: &AlertRecord) -> Result<()> {
        self.put(&self.alerts, &a.id, a).await
    }

    // ---- status ----

    /// Last status of a screen.
    pub fn status(&self, screen: &str) -> Result<Option<StatusRecord>> {
        Self::get(&self.status, "status", screen)
    }

    /// Stores a status; appends a history entry when online/offline changed. Returns the
    /// previous status.
    pub async fn put_status(&self, s: &StatusRecord) -> Result<Option<StatusRecord>> {
        let prev: Option<StatusRecord> = self.status(&s.screen)?;
        self.status.insert(&s.screen, encode(s))?;
        if prev.as_ref().map(|p| p.online) != Some(s.online) {
            let id = self.db.generate_id()?;
            let key = format!("{}/{:020}", s.screen, id);
            let t = StatusTransition {
                screen: s.screen.clone(),
                online: s.online,
                at: s.received_at.clone(),
            };
            self.history.insert(key, encode(&t))?;
        }
        self.flush().await?;
        Ok(prev)
    }

    /// Online/offline history of a screen, oldest first.
    pub fn status_history(&self, screen: &str) -> Result<Vec<StatusTransition>> {
        self.history
            .scan_prefix(format!("{screen}/"))
            .values()
            .map(|v| decode("status history", &v?))
            .collect()
    }

    // ---- action log ----

    /// Appends to the action log (seq is assigned here).
    /// The record's exact stored JSON bytes are also appended to the Merkle log as an
    /// `action` leaf, in the same transaction.
    pub async fn log_action(&self, mut a: ActionRecord) -> Result<ActionRecord> {
        a.seq = self.db.generate_id()? + 1;
        self.append_action_leaf(&a)?;
        self.flush().await?;
        Ok(a)
    }

    /// The action log, oldest first.
    pub fn actions(&self) -> Result<Vec<ActionRecord>> {
        Self::all(&self.actions, "action")
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

/// The embedded broker's login check: a screen by its stored `$7$` hash (disabled screens
/// refused), the controller's own user by the hash stored under [`CONTROLLER_HASH_KEY`].
impl gatecast_broker::CredentialCheck for Store {
    fn check(&self, username: &str, password: &str) -> bool {
        let stored = if username == crate::mqtt::CONTROLLER_USER {
            self.meta_get(CONTROLLER_HASH_KEY).ok().flatten()
        } else if playlists::manifest::is_valid_screen_id(username) {
            match self.screen(username) {
                Ok(Some(s)) if !s.disabled => Some(s.mqtt_password_hash),
                _ => None,
            }
        } else {
            None
        };
        stored.is_some_and(|h| crate::mqtt::password::verify_mqtt_password(password, &h))
    }
}

/// Everything the MQTT client republishes after each connect: every screen's current manifest
/// and alert set, exact stored bytes.
impl crate::mqtt::client::RetainedSource for Store {
    fn retained(&self) -> Vec<(String, Vec<u8>)> {
        use playlists::topics::{topic, Kind};
        let mut out = Vec::new();
        match self.manifests() {
            Ok(ms) => out.extend(
                ms.into_iter()
                    .map(|m| (topic(&m.screen, Kind::Manifest), m.envelope.into_bytes())),
            ),
            Err(e) => tracing::warn!("cannot read manifests to republish: {e}"),
        }
        match self.alert_sets() {
            Ok(a) => out.extend(
                a.into_iter()
                    .map(|a| (topic(&a.screen, Kind::Alert), a.envelope.into_bytes())),
            ),
            Err(e) => tracing::warn!("cannot read alert sets to republish: {e}"),
        }
        // The latest key rotation statement, on every screen's `rotation` topic.
        match crate::rotation::statements(self) {
            Ok(all) => {
                if let Some(last) = all.last() {
                    for s in self.screens().unwrap_or_default() {
                        out.push((topic(&s.id, Kind::Rotation), last.clone()));
                    }
                }
            }
            Err(e) => tracing::warn!("cannot read rotation statements to republish: {e}"),
        }
        out
    }
}

// ======================================================================================
// Receipts and the audit log
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
// | `receipt_rejections` | id(u64) | JSON [`RejectionRecord`] |
// | `receipt_conflicts` | id(u64) | JSON [`ConflictRecord`] (raw envelope as evidence) |
// | `manifest_history` | `screen` `/` version(u64) | JSON [`StoredManifest`] of every version published |
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

use playlists::merkle::Hash as LeafHash;
use playlists::receipt::{ChainTip, Receipt, VerifiedBatch};

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
    conflicts: sled::Tree,
    manifest_history: sled::Tree,
    log_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl AuditTrees {
    fn open(db: &sled::Db) -> Result<AuditTrees> {
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
            conflicts: t("receipt_conflicts")?,
            manifest_history: t("manifest_history")?,
            log_lock: Default::default(),
        })
    }
}

/// One stored receipt, as returned by the read API.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    /// The parsed receipt (parsed from `bytes`, never re-serialized).
    pub receipt: Receipt,
    /// The exact receipt bytes as signed by the device (what the next `prev` hashes).
    pub bytes: Vec<u8>,
    /// When the controller stored it (RFC 3339 UTC).
    pub received_at: String,
    /// Merkle log leaf index of the batch envelope that first brought this receipt.
    pub batch_index: u64,
}

/// The schema 1 form of a receipt (value of the old `receipts` tree), read only to migrate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ReceiptRow {
    /// The exact receipt text (receipts travel as JSON strings, so they are UTF-8).
    bytes: String,
    received_at: String,
    batch_index: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct TipRow {
    seq: u64,
    hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct BatchHashRow {
    screen: String,
    leaf: u64,
}

/// A rejected receipts batch, kept for auditors (`GET /api/v1/receipts/rejections`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RejectionRecord {
    /// Increasing id.
    pub id: u64,
    /// Screen id from the topic the batch arrived on.
    pub screen: String,
    /// Stable reason code (`bad_signature`, `seq_gap`, … as in docs/protocol.md §16).
    pub reason: String,
    /// Human sentence saying what was wrong.
    pub detail: String,
    /// When it arrived (RFC 3339 UTC).
    pub received_at: String,
    /// Lowercase hex SHA-256 of the envelope bytes.
    pub envelope_sha256: String,
    /// Size of the envelope in bytes.
    pub envelope_bytes: u64,
}

/// A batch rejected with `duplicate_conflict`: a stored seq arrived with other bytes. The raw
/// envelope is kept as evidence and never applied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConflictRecord {
    /// Increasing id (same sequence as [`RejectionRecord::id`]).
    pub id: u64,
    /// Screen id from the topic.
    pub screen: String,
    /// The conflicting seq.
    pub seq: u64,
    /// When it arrived (RFC 3339 UTC).
    pub received_at: String,
    /// The exact envelope bytes, standard base64.
    pub envelope: String,
}

/// What a Merkle log leaf holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeafKind {
    /// The exact bytes of a stored receipts envelope.
    Batch,
    /// The exact JSON bytes of an [`ActionRecord`] as stored.
    Action,
}

/// One leaf of the Merkle log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLeaf {
    /// Its index (0-based, in append order).
    pub index: u64,
    /// What it holds.
    pub kind: LeafKind,
    /// The exact leaf bytes (hashed with `playlists::merkle::leaf_hash`).
    pub data: Vec<u8>,
}

/// What [`Store::store_batch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStored {
    /// The new log leaf, or `None` when the batch held no new receipt (nothing stored).
    pub leaf: Option<u64>,
    /// How many receipts were new.
    pub new_receipts: usize,
    /// The screen's chain tip afterwards.
    pub tip: ChainTip,
}

fn receipt_key(screen: &str, seq: u64) -> Vec<u8> {
    seq_key(screen.as_bytes(), seq)
}

/// `screen` `/` seq(u64): the key of receipt runs and manifest history.
fn seq_key(screen: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(screen.len() + 9);
    k.extend_from_slice(screen);
    k.push(b'/');
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Splits a [`seq_key`] into the screen bytes and the seq.
fn split_seq_key(key: &[u8]) -> Result<(&[u8], u64)> {
    let split = key
        .len()
        .checked_sub(9)
        .ok_or_else(|| corrupt("receipt run", "short key"))?;
    Ok((&key[..split], be_u64("receipt run key", &key[split + 1..])?))
}

fn history_key(screen: &str, version: u64) -> Vec<u8> {
    receipt_key(screen, version)
}

/// Order-preserving encoding of a signed millisecond timestamp.
fn time_prefix(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1u64 << 63)).to_be_bytes()
}

/// The time-index key of the run at `key` ([`seq_key`]) whose least started_at is `ms`.
fn time_key(ms: i64, key: &[u8]) -> Vec<u8> {
    let mut k = time_prefix(ms).to_vec();
    k.extend_from_slice(key);
    k
}

/// Longest span of `started_at` inside one stored run of receipts (one hour).
pub const RUN_SPAN_MS: i64 = 3_600_000;

/// Format tag of a run value.
const RUN_FORMAT: u8 = 1;

/// Encodes a run: format byte, batch_index (u64), received_at (u16 length + UTF-8), receipt
/// count (u32), then each receipt as u32 length + exact bytes.
fn encode_run(received_at: &str, batch_index: u64, receipts: &[&[u8]]) -> Vec<u8> {
    let len = 15 + received_at.len() + receipts.iter().map(|r| 4 + r.len()).sum::<usize>();
    let mut v = Vec::with_capacity(len);
    v.push(RUN_FORMAT);
    v.extend_from_slice(&batch_index.to_be_bytes());
    v.extend_from_slice(&(received_at.len() as u16).to_be_bytes());
    v.extend_from_slice(received_at.as_bytes());
    v.extend_from_slice(&(receipts.len() as u32).to_be_bytes());
    for r in receipts {
        v.extend_from_slice(&(r.len() as u32).to_be_bytes());
        v.extend_from_slice(r);
    }
    v
}

/// A decoded run, borrowing the stored value.
struct Run<'a> {
    batch_index: u64,
    received_at: &'a str,
    receipts: Vec<&'a [u8]>,
}

fn decode_run(v: &[u8]) -> Result<Run<'_>> {
    let bad = |what: &str| corrupt("receipt run", what.to_string());
    let mut rest = v;
    let mut take = |n: usize| -> Result<&[u8]> {
        if rest.len() < n {
            return Err(bad("truncated"));
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Ok(a)
    };
    if take(1)? != [RUN_FORMAT] {
        return Err(bad("unknown format"));
    }
    let batch_index = u64::from_be_bytes(take(8)?.try_into().map_err(|_| bad("index"))?);
    let n = u16::from_be_bytes(take(2)?.try_into().map_err(|_| bad("length"))?) as usize;
    let received_at = std::str::from_utf8(take(n)?).map_err(|_| bad("received_at not UTF-8"))?;
    let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("count"))?) as usize;
    let mut receipts = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| bad("length"))?) as usize;
        receipts.push(take(n)?);
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(Run {
        batch_index,
        received_at,
        receipts,
    })
}

impl Run<'_> {
    fn stored(&self, i: usize) -> Result<StoredReceipt> {
        let bytes = self.receipts[i];
        let receipt = Receipt::parse(bytes).map_err(|e| corrupt("receipt", e))?;
        Ok(StoredReceipt {
            receipt,
            bytes: bytes.to_vec(),
            received_at: self.received_at.to_owned(),
            batch_index: self.batch_index,
        })
    }

    fn all(&self) -> Vec<Result<StoredReceipt>> {
        (0..self.receipts.len()).map(|i| self.stored(i)).collect()
    }
}

/// Cuts the new receipts of a batch into runs: consecutive seqs whose `started_at` stay within
/// [`RUN_SPAN_MS`] of each other. Returns `(first index, end index, least started ms)`.
fn cut_runs(items: &[(u64, i64)]) -> Vec<(usize, usize, i64)> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < items.len() {
        let (mut lo, mut hi) = (items[start].1, items[start].1);
        let mut end = start + 1;
        while end < items.len() {
            let (seq, ms) = items[end];
            let (nlo, nhi) = (lo.min(ms), hi.max(ms));
            if seq != items[end - 1].0 + 1 || nhi.saturating_sub(nlo) > RUN_SPAN_MS {
                break;
            }
            (lo, hi) = (nlo, nhi);
            end += 1;
        }
        runs.push((start, end, lo));
        start = end;
    }
    runs
}

/// A receipt waiting in [`TimeScan`]'s merge, ordered like the old per-receipt time index:
/// by started_at ms, then `screen` `/` seq bytes.
struct Pending {
    ms: i64,
    key: Vec<u8>,
    receipt: StoredReceipt,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.ms, &self.key) == (o.ms, &o.key)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ms, &self.key).cmp(&(o.ms, &o.key))
    }
}

/// Lazy time-ordered scan over the runs (see [`Store::receipts_between_upto`]): runs come in
/// order of their least `started_at`; a receipt is handed out once no later run can hold an
/// earlier one.
struct TimeScan<'a> {
    store: &'a Store,
    index: std::iter::Peekable<sled::Iter>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Pending>>,
    from_ms: i64,
    to_ms: i64,
    log_size: u64,
}

impl TimeScan<'_> {
    fn index_ms(k: &[u8]) -> Option<i64> {
        let p: [u8; 8] = k.get(..8)?.try_into().ok()?;
        Some((u64::from_be_bytes(p) ^ (1u64 << 63)) as i64)
    }

    fn load(&mut self, k: &[u8]) -> Result<()> {
        let rk = k.get(8..).unwrap_or_default();
        let v = self
            .store
            .audit
            .runs
            .get(rk)?
            .ok_or_else(|| corrupt("receipt time index", "points at a missing run"))?;
        let run = decode_run(&v)?;
        if run.batch_index >= self.log_size {
            return Ok(());
        }
        let (screen, first) = split_seq_key(rk)?;
        for i in 0..run.receipts.len() {
            let r = run.stored(i)?;
            let ms = r.receipt.started_at.as_millisecond();
            if ms < self.from_ms || ms >= self.to_ms {
                continue;
            }
            let key = seq_key(screen, first + i as u64);
            self.heap.push(std::cmp::Reverse(Pending {
                ms,
                key,
                receipt: r,
            }));
        }
        Ok(())
    }
}

impl Iterator for TimeScan<'_> {
    type Item = Result<StoredReceipt>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(std::cmp::Reverse(top)) = self.heap.peek() {
                let bound = match self.index.peek() {
                    None => i64::MAX,
                    Some(Ok((k, _))) => Self::index_ms(k).unwrap_or(i64::MIN),
                    Some(Err(_)) => i64::MIN,
                };
                if top.ms < bound {
                    return self.heap.pop().map(|p| Ok(p.0.receipt));
                }
            }
            match self.index.next()? {
                Err(e) => return Some(Err(e.into())),
                Ok((k, _)) => {
                    if let Err(e) = self.load(&k) {
                        return Some(Err(e));
                    }
                }
            }
        }
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

impl Store {
    fn migrate_audit(&self) -> Result<()> {
        // Every current manifest belongs in the history (databases from before the history).
        for m in self.manifests()? {
            let k = history_key(&m.screen, m.version);
            if self.audit.manifest_history.get(&k)?.is_none() {
                self.audit.manifest_history.insert(k, encode(&m))?;
            }
        }
        // Actions logged before the Merkle log existed become its first leaves.
        if self.audit.log_hashes.is_empty() && !self.actions.is_empty() {
            for a in Self::all::<ActionRecord>(&self.actions, "action")? {
                self.append_action_leaf(&a)?;
            }
        }
        self.db.flush()?;
        Ok(())
    }

    /// Converts a schema 1 database (one `receipts` row and one `receipt_time` key per receipt)
    /// to runs, then drops the old trees and records schema 2. Idempotent if interrupted: the
    /// old trees are only dropped after the runs are flushed.
    fn migrate_receipts_v1(&self) -> Result<()> {
        let old = self.db.open_tree("receipts")?;
        let mut count = 0u64;
        // Rows in key order: screen, then seq. Group consecutive seqs of one screen and one
        // batch into runs.
        let mut group: Vec<(Vec<u8>, ReceiptRow, u64, i64)> = Vec::new();
        let flush_group = |group: &mut Vec<(Vec<u8>, ReceiptRow, u64, i64)>| -> Result<()> {
            if group.is_empty() {
                return Ok(());
            }
            let items: Vec<(u64, i64)> = group.iter().map(|g| (g.2, g.3)).collect();
            for (a, b, lo) in cut_runs(&items) {
                let (screen, first) = (&group[a].0, group[a].2);
                let bytes: Vec<&[u8]> = group[a..b].iter().map(|g| g.1.bytes.as_bytes()).collect();
                let key = seq_key(screen, first);
                let v = encode_run(&group[a].1.received_at, group[a].1.batch_index, &bytes);
                self.audit.run_time.insert(time_key(lo, &key), &[][..])?;
                self.audit.runs.insert(key, v)?;
            }
            group.clear();
            Ok(())
        };
        for kv in old.iter() {
            let (k, v) = kv?;
            let row: ReceiptRow = decode("receipt", &v)?;
            let (screen, seq) = split_seq_key(&k)?;
            let screen = screen.to_vec();
            let ms = Receipt::parse(row.bytes.as_bytes())
                .map_err(|e| corrupt("receipt", e))?
                .started_at
                .as_millisecond();
            let joins = group.last().is_some_and(|g| {
                g.0 == screen && g.1.batch_index == row.batch_index && g.2 + 1 == seq
            });
            if !joins {
                flush_group(&mut group)?;
            }
            group.push((screen, row, seq, ms));
            count += 1;
        }
        flush_group(&mut group)?;
        self.db.flush()?;
        self.db.drop_tree("receipts")?;
        self.db.drop_tree("receipt_time")?;
        self.meta
            .insert("schema_version", encode(&SCHEMA_VERSION))?;
        self.db.flush()?;
        tracing::info!(
            receipts = count,
            "database converted from schema 1 to 2 (receipt runs)"
        );
        Ok(())
    }

    fn next_leaf_index(&self) -> Result<u64> {
        Ok(match self.audit.log_hashes.last()? {
            Some((k, _)) => be_u64("log leaf index", &k)? + 1,
            None => 0,
        })
    }

    /// Writes the action record and its log leaf in one transaction (not flushed).
    fn append_action_leaf(&self, a: &ActionRecord) -> Result<u64> {
        use sled::transaction::TransactionError;
        use sled::Transactional as _;
        let _guard = self
            .audit
            .log_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let index = self.next_leaf_index()?;
        let bytes = encode(a);
        let mut leaf = vec![1u8];
        leaf.extend_from_slice(&bytes);
        let hash = playlists::merkle::leaf_hash(&bytes);
        let a_trees = (
            &self.actions,
            &self.audit.log_leaves,
            &self.audit.log_hashes,
        );
        a_trees
            .transaction(|(actions, leaves, hashes)| {
                actions.insert(&a.seq.to_be_bytes(), bytes.as_slice())?;
                leaves.insert(&index.to_be_bytes(), leaf.as_slice())?;
                hashes.insert(&index.to_be_bytes(), &hash[..])?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Db(e),
                TransactionError::Abort(()) => corrupt("action log", "transaction aborted"),
            })?;
        Ok(index)
    }

    // ---- receipts: ingest (write side, used by crate::ingest) ----

    /// Runs `f` while holding the log lock, so that reading the chain tip, verifying a batch
    /// and [`Store::store_batch`] happen without another append in between. `f` gets a
    /// [`LogGuard`] to call [`LogGuard::store_batch`].
    pub fn with_log_lock<T>(&self, f: impl FnOnce(&LogGuard<'_>) -> T) -> T {
        let _guard = self
            .audit
            .log_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&LogGuard { store: self })
    }

    /// The chain tip of a screen: its highest contiguous stored seq and that receipt's hash.
    pub fn chain_tip(&self, screen: &str) -> Result<Option<ChainTip>> {
        Ok(
            Self::get::<TipRow>(&self.audit.chain_tips, "chain tip", screen)?.map(|t| ChainTip {
                seq: t.seq,
                hash: t.hash,
            }),
        )
    }

    /// `receipt_hash` of the stored receipt at (screen, seq), for `verify_batch`'s lookup.
    pub fn receipt_hash_at(&self, screen: &str, seq: u64) -> Result<Option<String>> {
        self.with_receipt(screen, seq, |run, i| {
            Ok(playlists::receipt::receipt_hash(run.receipts[i]))
        })
    }

    /// The run holding (screen, seq), if any: `(first seq, value)`.
    fn run_containing(&self, screen: &str, seq: u64) -> Result<Option<(u64, sled::IVec)>> {
        let lo = receipt_key(screen, 0);
        let hi = receipt_key(screen, seq);
        match self.audit.runs.range(lo..=hi).next_back() {
            Some(kv) => {
                let (k, v) = kv?;
                Ok(Some((split_seq_key(&k)?.1, v)))
            }
            None => Ok(None),
        }
    }

    /// Calls `f` with the run holding (screen, seq) and the receipt's index in it; `None` when
    /// no receipt is stored at that seq.
    fn with_receipt<T>(
        &self,
        screen: &str,
        seq: u64,
        f: impl FnOnce(&Run<'_>, usize) -> Result<T>,
    ) -> Result<Option<T>> {
        let Some((first, v)) = self.run_containing(screen, seq)? else {
            return Ok(None);
        };
        let run = decode_run(&v)?;
        let i = usize::try_from(seq - first).unwrap_or(usize::MAX);
        if i >= run.receipts.len() {
            return Ok(None);
        }
        f(&run, i).map(Some)
    }

    /// If exactly these envelope bytes were already stored for `screen`, the log leaf holding
    /// them (an exact resend: nothing to do but ack again).
    pub fn stored_batch(&self, screen: &str, envelope: &[u8]) -> Result<Option<u64>> {
        let h = playlists::merkle::leaf_hash(envelope);
        match self.audit.batch_hashes.get(h)? {
            Some(v) => {
                let row: BatchHashRow = decode("batch hash", &v)?;
                Ok((row.screen == screen).then_some(row.leaf))
            }
            None => Ok(None),
        }
    }

    /// Records a rejected batch for auditors (not flushed; the ingest flushes per group).
    pub fn record_rejection(&self, mut r: RejectionRecord) -> Result<RejectionRecord> {
        r.id = self.db.generate_id()? + 1;
        self.audit
            .rejections
            .insert(r.id.to_be_bytes(), encode(&r))?;
        Ok(r)
    }

    /// Keeps a conflicting envelope as evidence (not flushed).
    pub fn record_conflict(&self, mut c: ConflictRecord) -> Result<ConflictRecord> {
        c.id = self.db.generate_id()? + 1;
        self.audit
            .conflicts
            .insert(c.id.to_be_bytes(), encode(&c))?;
        Ok(c)
    }

    // ---- receipts: read API (for queries, reports and export) ----

    /// One stored receipt.
    pub fn receipt(&self, screen: &str, seq: u64) -> Result<Option<StoredReceipt>> {
        self.with_receipt(screen, seq, |run, i| run.stored(i))
    }

    /// The receipts of one screen with `seq >= from_seq`, in seq order (lazy).
    pub fn receipts_of(
        &self,
        screen: &str,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<StoredReceipt>> + '_ {
        // Start at the run holding `from_seq` (it may begin earlier).
        let (first, failed) = match self.run_containing(screen, from_seq) {
            Ok(Some((first, _))) => (first, None),
            Ok(None) => (from_seq, None),
            Err(e) => (u64::MAX, Some(Err(e))),
        };
        let start = receipt_key(screen, first);
        let end = receipt_key(screen, u64::MAX);
        let runs = self
            .audit
            .runs
            .range(start..=end)
            .flat_map(move |kv| -> Vec<Result<StoredReceipt>> {
                let (_, v) = match kv {
                    Ok(kv) => kv,
                    Err(e) => return vec![Err(e.into())],
                };
                match decode_run(&v) {
                    Ok(run) => run.all(),
                    Err(e) => vec![Err(e)],
                }
            })
            .filter(move |r| r.as_ref().map_or(true, |s| s.receipt.seq >= from_seq));
        failed.into_iter().chain(runs)
    }

    /// Every receipt stored when this is called whose `started_at` lies in `[from, to)`, ordered
    /// by `started_at` (then screen, then seq), read lazily through the time index (no full
    /// scan). A consistent snapshot: see [`Store::receipts_between_upto`], with the log size
    /// read now.
    pub fn receipts_between(
        &self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> impl Iterator<Item = Result<StoredReceipt>> + '_ {
        let (size, failed) = match self.log_size() {
            Ok(n) => (n, None),
            Err(e) => (0, Some(Err(e))),
        };
        failed
            .into_iter()
            .chain(self.receipts_between_upto(from, to, size))
    }

    /// Like [`Store::receipts_between`], but only the receipts brought by the first `log_size`
    /// leaves of the Merkle log (`batch_index < log_size`): the receipts stored when the log had
    /// that size, however many arrive while the caller reads.
    ///
    /// Why: the time index is not append-only. A screen that was offline uploads its backlog
    /// late, so its receipts land *behind* newer receipts of other screens. A plain lazy scan
    /// that has already passed that point misses them but still returns the same screen's
    /// later receipts, i.e. a gap in its `seq` that looks like lost receipts. Leaves (and the
    /// receipts they bring, in the same transaction) are appended in order, so everything with
    /// `batch_index < log_size` was already in the index when the log had that size, and
    /// nothing stored later shows up: for every screen the answer is the chain `1..=tip` as it
    /// stood then (within `[from, to)`). Paginated readers keep one `log_size` for all pages.
    pub fn receipts_between_upto(
        &self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
        log_size: u64,
    ) -> impl Iterator<Item = Result<StoredReceipt>> + '_ {
        let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
        let start = time_prefix(from_ms.saturating_sub(RUN_SPAN_MS));
        let end = time_prefix(to_ms);
        TimeScan {
            store: self,
            index: self.audit.run_time.range(start..end).peekable(),
            heap: Default::default(),
            from_ms,
            to_ms,
            log_size,
        }
    }

    /// Every screen that has stored receipts, with its chain tip.
    pub fn chain_tips(&self) -> Result<Vec<(String, ChainTip)>> {
        self.audit
            .chain_tips
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let t: TipRow = decode("chain tip", &v)?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    ChainTip {
                        seq: t.seq,
                        hash: t.hash,
                    },
                ))
            })
            .collect()
    }

    /// Rejected batches, oldest first.
    pub fn receipt_rejections(&self) -> Result<Vec<RejectionRecord>> {
        Self::all(&self.audit.rejections, "receipt rejection")
    }

    /// Conflicting envelopes kept as evidence, oldest first.
    pub fn receipt_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        Self::all(&self.audit.conflicts, "receipt conflict")
    }

    /// Every manifest version ever published to a screen, oldest first (exact envelopes).
    pub fn manifest_history(&self, screen: &str) -> Result<Vec<StoredManifest>> {
        let mut p = screen.as_bytes().to_vec();
        p.push(b'/');
        self.audit
            .manifest_history
            .scan_prefix(p)
            .values()
            .map(|v| decode("manifest history", &v?))
            .collect()
    }

    /// One published manifest version of a screen.
    pub fn manifest_version(&self, screen: &str, version: u64) -> Result<Option<StoredManifest>> {
        match self
            .audit
            .manifest_history
            .get(history_key(screen, version))?
        {
            Some(v) => Ok(Some(decode("manifest history", &v)?)),
            None => Ok(None),
        }
    }

    // ---- the Merkle log ----

    /// Number of leaves in the log.
    pub fn log_size(&self) -> Result<u64> {
        self.next_leaf_index()
    }

    /// One leaf.
    pub fn log_leaf(&self, index: u64) -> Result<Option<LogLeaf>> {
        match self.audit.log_leaves.get(index.to_be_bytes())? {
            Some(v) => {
                let kind = match v.first() {
                    Some(0) => LeafKind::Batch,
                    Some(1) => LeafKind::Action,
                    _ => return Err(corrupt("log leaf", format!("bad kind at {index}"))),
                };
                Ok(Some(LogLeaf {
                    index,
                    kind,
                    data: v[1..].to_vec(),
                }))
            }
            None => Ok(None),
        }
    }

    /// The leaf hashes of the first `size` leaves (fewer if the log is smaller).
    pub fn log_leaf_hashes(&self, size: u64) -> Result<Vec<LeafHash>> {
        self.audit
            .log_hashes
            .range(..size.to_be_bytes())
            .values()
            .map(|v| {
                let v = v?;
                <[u8; 32]>::try_from(&v[..]).map_err(|_| corrupt("log leaf hash", "not 32 bytes"))
            })
            .collect()
    }

    /// Stores a signed checkpoint (exact envelope bytes) for a tree of `size` leaves; flushed.
    pub async fn put_checkpoint(&self, size: u64, envelope: &[u8]) -> Result<()> {
        self.audit
            .checkpoints
            .insert(size.to_be_bytes(), envelope)?;
        self.flush().await
    }

    /// The latest checkpoint: `(size, exact envelope bytes)`.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        match self.audit.checkpoints.last()? {
            Some((k, v)) => Ok(Some((be_u64("checkpoint size", &k)?, v.to_vec()))),
            None => Ok(None),
        }
    }

    /// Every stored checkpoint `(size, envelope)`, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        self.audit
            .checkpoints
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((be_u64("checkpoint size", &k)?, v.to_vec()))
            })
            .collect()
    }
}

/// Proof that the caller holds the log lock ([`Store::with_log_lock`]).
pub struct LogGuard<'a> {
    store: &'a Store,
}

impl LogGuard<'_> {
    /// Stores a verified batch: its new receipts (exact bytes, time index), the new chain tip,
    /// and the exact envelope as a `batch` log leaf, in one transaction. Nothing is stored when
    /// the batch has no new receipt. **Not flushed**: the caller flushes ([`Store::flush`])
    /// before acknowledging (group commit).
    pub fn store_batch(
        &self,
        screen: &str,
        envelope: &[u8],
        batch: &VerifiedBatch,
        received_at: &str,
    ) -> Result<BatchStored> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional as _;
        let s = self.store;
        if batch.new.is_empty() {
            return Ok(BatchStored {
                leaf: None,
                new_receipts: 0,
                tip: batch.tip.clone(),
            });
        }
        let index = s.next_leaf_index()?;
        let items: Vec<(u64, i64)> = batch
            .new
            .iter()
            .map(|&i| {
                let r = &batch.receipts[i].0;
                (r.seq, r.started_at.as_millisecond())
            })
            .collect();
        let mut rows = Vec::new();
        for (a, b, lo) in cut_runs(&items) {
            let first = items[a].0;
            let bytes: Vec<&[u8]> = batch.new[a..b]
                .iter()
                .map(|&i| batch.receipts[i].1.as_slice())
                .collect();
            let key = receipt_key(screen, first);
            rows.push((
                time_key(lo, &key),
                key,
                encode_run(received_at, index, &bytes),
            ));
        }
        let tip = encode(&TipRow {
            seq: batch.tip.seq,
            hash: batch.tip.hash.clone(),
        });
        let mut leaf = vec![0u8];
        leaf.extend_from_slice(envelope);
        let hash = playlists::merkle::leaf_hash(envelope);
        let dedup = encode(&BatchHashRow {
            screen: screen.to_owned(),
            leaf: index,
        });
        let a = &s.audit;
        (
            &a.runs,
            &a.run_time,
            &a.chain_tips,
            &a.batch_hashes,
            &a.log_leaves,
            &a.log_hashes,
        )
            .transaction(|(receipts, times, tips, dups, leaves, hashes)| {
                for (tk, rk, v) in &rows {
                    receipts.insert(rk.as_slice(), v.as_slice())?;
                    times.insert(tk.as_slice(), &[][..])?;
                }
                tips.insert(screen.as_bytes(), tip.as_slice())?;
                dups.insert(&hash[..], dedup.as_slice())?;
                leaves.insert(&index.to_be_bytes(), leaf.as_slice())?;
                hashes.insert(&index.to_be_bytes(), &hash[..])?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Db(e),
                TransactionError::Abort(()) => corrupt("receipts", "transaction aborted"),
            })?;
        Ok(BatchStored {
            leaf: Some(index),
            new_receipts: items.len(),
            tip: batch.tip.clone(),
        })
    }
}
