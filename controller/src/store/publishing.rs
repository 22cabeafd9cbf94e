//! What was published: each screen's current manifest and alert set, the alerts, and the
//! history of every manifest version.

use super::runs::receipt_key;
use super::{
    decode, encode, AlertRecord, Result, Store, StoreError, StoredAlertSet, StoredManifest,
};

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
                self.screen_changed(&m.screen);
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
