//! Ticker texts, each screen's current signed ticker set, and each screen's layout
//! (`docs/protocol.md` §20).

use serde::{Deserialize, Serialize};

use super::publishing::history_key;
use super::records::{AlertTextRecord, Targets};
use super::{decode, encode, Result, Store, StoreError};

/// A ticker text as created by an operator (`POST /api/v1/ticker`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TickerRecord {
    /// Id.
    pub id: String,
    /// Who sees it.
    pub targets: Targets,
    /// Higher scrolls first.
    pub priority: i32,
    /// RFC 3339 start of its validity window; absent = at once.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339 end of its validity window.
    pub expires_at: String,
    /// Texts, one per language.
    pub text: Vec<AlertTextRecord>,
    /// Removed texts are no longer sent.
    #[serde(default)]
    pub cancelled: bool,
    /// Creation time.
    pub created_at: String,
}

/// The current signed ticker set of a screen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredTickerSet {
    /// Screen id.
    pub screen: String,
    /// Version.
    pub version: u64,
    /// Ticker ids it holds.
    pub items: Vec<String>,
    /// Exact envelope bytes.
    pub envelope: String,
}

impl Store {
    /// One ticker text.
    pub fn ticker(&self, id: &str) -> Result<Option<TickerRecord>> {
        Self::get(&self.tickers, "ticker text", id)
    }

    /// Every ticker text (removed ones included).
    pub fn tickers(&self) -> Result<Vec<TickerRecord>> {
        Self::all(&self.tickers, "ticker text")
    }

    /// Creates a ticker text (fails if the id exists).
    pub async fn create_ticker(&self, t: &TickerRecord) -> Result<()> {
        self.create(&self.tickers, "ticker text", &t.id, t).await
    }

    /// Replaces a ticker text.
    pub async fn put_ticker(&self, t: &TickerRecord) -> Result<()> {
        self.put(&self.tickers, &t.id, t).await
    }

    /// The current ticker set of a screen.
    pub fn ticker_set(&self, screen: &str) -> Result<Option<StoredTickerSet>> {
        Self::get(&self.ticker_sets, "ticker set", screen)
    }

    /// Every screen's current ticker set.
    pub fn ticker_sets(&self) -> Result<Vec<StoredTickerSet>> {
        Self::all(&self.ticker_sets, "ticker set")
    }

    /// Stores new ticker sets with one flush for all of them (a correction to many screens
    /// waits for one disk write, not one per screen); refuses a version not above the stored
    /// one (the sets before it are stored, unflushed until the next write).
    pub async fn put_ticker_sets(&self, sets: &[StoredTickerSet]) -> Result<()> {
        for t in sets {
            let taken = || StoreError::Exists {
                what: "ticker set version",
                id: format!("{}@{}", t.screen, t.version),
            };
            let prev = self.ticker_sets.get(&t.screen)?;
            if let Some(p) = &prev {
                let p: StoredTickerSet = decode("ticker set", p)?;
                if p.version >= t.version {
                    return Err(taken());
                }
            }
            self.ticker_sets
                .compare_and_swap(&t.screen, prev, Some(encode(t)))?
                .map_err(|_| taken())?;
            // Every version stays: the audit export carries those of its period.
            self.audit
                .ticker_history
                .insert(history_key(&t.screen, t.version), encode(t))?;
        }
        self.flush().await
    }

    /// Every ticker set version ever published to a screen, oldest first (exact envelopes).
    pub fn ticker_history(&self, screen: &str) -> Result<Vec<StoredTickerSet>> {
        let mut p = screen.as_bytes().to_vec();
        p.push(b'/');
        self.audit
            .ticker_history
            .scan_prefix(p)
            .values()
            .map(|v| decode("ticker history", &v?))
            .collect()
    }

    /// The layout of a screen (`docs/protocol.md` §20); `None` = full screen.
    pub fn screen_layout(&self, screen: &str) -> Result<Option<playlists::manifest::Layout>> {
        Self::get(&self.layouts, "screen layout", screen)
    }

    /// Sets (or with `None` removes) the layout of a screen.
    pub async fn put_screen_layout(
        &self,
        screen: &str,
        layout: Option<&playlists::manifest::Layout>,
    ) -> Result<()> {
        match layout {
            Some(l) => self.put(&self.layouts, screen, l).await,
            None => {
                self.layouts.remove(screen)?;
                self.flush().await
            }
        }
    }
}
