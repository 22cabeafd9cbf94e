//! Durable state in sled 0.34.7. This is the only module that touches sled.
//!
//! Every method that writes and returns `Ok` has flushed the write to disk first, so nothing is
//! acknowledged to a caller that a crash could lose. Values are JSON; keys are ids. Trees:
//! `meta` (schema version), `media`, `playlists`, `schedules`, `screens`, `enroll_codes`, `tokens`,
//! `manifests` (exact signed bytes + version per screen), `alerts`, `alert_sets` (exact signed
//! bytes + version per screen), `status` (last status per screen), `status_history`
//! (online/offline transitions), `actions` (operator action log).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::Role;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u64 = 1;

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
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(32 * 1024 * 1024)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Locked(dir.display().to_string())
                }
                sled::Error::Io(ref io) if io.to_string().contains("lock") => {
                    StoreError::Locked(dir.display().to_string())
                }
                e => StoreError::Db(e),
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
            manifests: t("manifests")?,
            alerts: t("alerts")?,
            alert_sets: t("alert_sets")?,
            status: t("status")?,
            history: t("status_history")?,
            actions: t("actions")?,
            db,
        };
        match store.meta.get("schema_version")? {
            Some(v) => {
                let found: u64 = decode("schema_version", &v)?;
                if found != SCHEMA_VERSION {
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

    /// Stores a new manifest; refuses (Exists) a version that is not above the stored one, so
    /// a version is never reused even by concurrent publishers.
    pub async fn put_manifest(&self, m: &StoredManifest) -> Result<()> {
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
            Ok(()) => self.flush().await,
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
    pub async fn log_action(&self, mut a: ActionRecord) -> Result<ActionRecord> {
        a.seq = self.db.generate_id()? + 1;
        self.actions.insert(a.seq.to_be_bytes(), encode(&a))?;
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
impl crate::mqtt::broker::CredentialCheck for Store {
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
        out
    }
}
