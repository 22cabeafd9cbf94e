//! What was published: each screen's current manifest and alert set, the alerts, and the
//! history of every manifest version.

use super::runs::receipt_key;
use super::{
    decode, encode, AlertRecord, Result, Store, StoreError, StoredAlertSet, StoredManifest,
};

/// The exact stored bytes of a record, as read for a compare-and-swap.
#[derive(Debug, Clone)]
pub struct StoredBytes(sled::IVec);

/// A new manifest encoded for [`Store::put_manifest_replacing`] (the encoding is most of the
/// cost of storing it, and can be done on any thread), with the stored bytes it replaces.
#[derive(Debug, Clone)]
pub struct EncodedManifest {
    screen: String,
    version: u64,
    bytes: sled::IVec,
    prev: Option<StoredBytes>,
}

impl EncodedManifest {
    /// Encodes `m`, which replaces `prev` (from [`Store::manifest_for_update`]).
    pub fn new(m: &StoredManifest, prev: Option<StoredBytes>) -> EncodedManifest {
        EncodedManifest {
            screen: m.screen.clone(),
            version: m.version,
            bytes: sled::IVec::from(encode(m)),
            prev,
        }
    }
}

/// `screen` `/` version(u64): the key of the manifest history.
pub(super) fn history_key(screen: &str, version: u64) -> Vec<u8> {
    receipt_key(screen, version)
}

impl Store {
    // ---- manifests and alert sets ----

    /// The current manifest of a screen.
    pub fn manifest(&self, screen: &str) -> Result<Option<StoredManifest>> {
        Self::get(&self.manifests, "manifest", screen)
    }

    /// The current manifest of a screen with the exact stored bytes, which a later
    /// [`Store::put_manifest_replacing`] must still find.
    pub fn manifest_for_update(
        &self,
        screen: &str,
    ) -> Result<Option<(StoredManifest, StoredBytes)>> {
        match self.manifests.get(screen)? {
            Some(v) => Ok(Some((decode("manifest", &v)?, StoredBytes(v)))),
            None => Ok(None),
        }
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

    /// [`Store::put_manifest`] without the flush: the stored manifest's version must be below
    /// `m`'s, then it is replaced by compare-and-swap ([`Store::put_manifest_replacing`]).
    fn put_manifest_unflushed(&self, m: &StoredManifest) -> Result<()> {
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
        self.put_manifest_replacing(&EncodedManifest::new(m, prev.map(StoredBytes)))
    }

    /// Stores a manifest prepared from [`Store::manifest_for_update`] **unflushed** (the caller
    /// must call [`Store::flush`] before sending it or acknowledging it in any way): only if the
    /// screen's manifest is still exactly the bytes it replaces (`None`: still none), else
    /// `Exists`, so concurrent publishers never reuse a version. The encoding was done by
    /// [`EncodedManifest::new`], on whatever thread prepared it.
    pub fn put_manifest_replacing(&self, m: &EncodedManifest) -> Result<()> {
        let prev = m.prev.as_ref().map(|p| p.0.clone());
        match self
            .manifests
            .compare_and_swap(&m.screen, prev, Some(m.bytes.clone()))?
        {
            Ok(()) => {
                self.screen_changed(&m.screen);
                self.audit
                    .manifest_history
                    .insert(history_key(&m.screen, m.version), m.bytes.clone())?;
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
}
