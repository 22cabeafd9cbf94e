//! The CAP inbox (`docs/protocol.md` §22): every CAP message received, with the gates it
//! covers and what became of it. Tree `cap_inbox`, keyed by the entry id (a hash of the
//! message's `<sender>` and `<identifier>`, so a message delivered twice is one entry).

use serde::{Deserialize, Serialize};

use super::{AlertTextRecord, Result, Store};

/// A gate the message covers, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateMatch {
    /// The gate name.
    pub gate: String,
    /// Why, in words (English; the console words it in its own language from `how`).
    pub reason: String,
    /// `geocode`, `polygon` or `circle`.
    pub how: String,
    /// The `<areaDesc>` of the area that matched.
    pub area: String,
    /// For `circle`: the gate's distance from the centre in km (one decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// For `circle`: the radius in km; for `geocode`: absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_km: Option<f64>,
    /// For `geocode`: `valueName=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geocode: Option<String>,
}

/// What became of a CAP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapState {
    /// Waits for an operator's confirmation.
    Pending,
    /// Shown: an alert was made from it (`alert_id`).
    Shown,
    /// An operator dismissed it.
    Dismissed,
    /// It covers no configured gate: nothing to show.
    NoGate,
    /// A `Cancel` message: it ended the alerts of the messages it references.
    Cancel,
    /// Not an `Actual` alert (`Exercise`, `Test`, `System`, `Draft`) or an `Ack`/`Error`:
    /// kept for the record, never shown.
    NotShown,
}

fn default_display() -> crate::cap::Display {
    crate::cap::Display::Alert
}

/// One received CAP message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapRecord {
    /// Entry id (`cap-` and 16 hex digits).
    pub id: String,
    /// `<identifier>`.
    pub identifier: String,
    /// `<sender>`.
    pub sender: String,
    /// `<sent>` (RFC 3339).
    pub sent: String,
    /// `<status>`.
    pub status: String,
    /// `<msgType>`.
    pub msg_type: String,
    /// `<event>` of the first block.
    pub event: String,
    /// `<urgency>` and `<severity>` of the first block.
    pub urgency: String,
    /// See `urgency`.
    pub severity: String,
    /// The alert priority derived from them (`docs/protocol.md` §22).
    pub priority: i32,
    /// When it stops being shown (RFC 3339).
    pub expires_at: String,
    /// The text of each language, as the alert carries it.
    pub text: Vec<AlertTextRecord>,
    /// The `<areaDesc>`s.
    pub areas: Vec<String>,
    /// The gates it covers and why.
    pub matched: Vec<GateMatch>,
    /// Where it stands.
    pub state: CapState,
    /// Shown without confirmation: the sender is in `[cap] auto_senders`.
    pub auto: bool,
    /// The alert or ticker text made from it (both take the entry id).
    #[serde(default)]
    pub alert_id: Option<String>,
    /// How it was shown: `alert` or `ticker` (`docs/protocol.md` §22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown_as: Option<crate::cap::Display>,
    /// How it is shown unless the operator chooses otherwise.
    #[serde(default = "default_display")]
    pub default_as: crate::cap::Display,
    /// Who confirmed or dismissed it, and when.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// See `decided_by`.
    #[serde(default)]
    pub decided_at: Option<String>,
    /// When it arrived (RFC 3339).
    pub received_at: String,
    /// SHA-256 (hex) of the exact XML received.
    pub xml_sha256: String,
    /// The exact XML received.
    pub xml: String,
}

impl Store {
    /// A CAP inbox entry.
    pub fn cap(&self, id: &str) -> Result<Option<CapRecord>> {
        Self::get(&self.cap_inbox, "CAP inbox entry", id)
    }

    /// Every CAP inbox entry, newest received first.
    pub fn caps(&self) -> Result<Vec<CapRecord>> {
        let mut all: Vec<CapRecord> = Self::all(&self.cap_inbox, "CAP inbox entry")?;
        all.sort_by(|a, b| b.received_at.cmp(&a.received_at));
        Ok(all)
    }

    /// Stores a new entry (flushed); `Exists` when the id is taken.
    pub async fn create_cap(&self, r: &CapRecord) -> Result<()> {
        self.create(&self.cap_inbox, "CAP inbox entry", &r.id, r)
            .await
    }

    /// Replaces an entry (flushed).
    pub async fn put_cap(&self, r: &CapRecord) -> Result<()> {
        self.put(&self.cap_inbox, &r.id, r).await
    }
}
