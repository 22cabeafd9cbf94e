//! The player's status heartbeat (`docs/protocol.md` §12, fixed field names), published retained on the
//! screen's `status` topic every 30 s and on every change; the Last Will is the same document
//! with `state: "offline"`.

use serde::Serialize;

/// The agent's version, reported as `agent_version`.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the player is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Showing content.
    Playing,
    /// Downloading media for a pending manifest (and playing the active one if it has one).
    Syncing,
    /// Nothing to play.
    Idle,
    /// Not connected (Last Will, or a clean shutdown).
    Offline,
}

/// Why the last manifest or alert set was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRejection {
    /// The refused version, if it could be read.
    pub version: Option<u64>,
    /// Machine-readable reason: `bad_envelope`, `unknown_key`, `bad_signature`, `wrong_type`,
    /// `wrong_screen`, `not_newer`, `expired`, `invalid_content` or `not_approved`.
    pub reason: String,
    /// Extra: what exactly was wrong, for a person.
    pub detail: String,
    /// Extra: `manifest`, `alert`, `rotation` or `policy` (from the policy topic, §19).
    pub what: String,
}

/// Whether the screen enforces approvals (`docs/protocol.md` §19): the status' `approvals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApprovalStatus {
    /// A policy root is pinned: manifests and alert sets need approvals.
    pub enforced: bool,
    /// The pinned root key ids (empty when not enforced).
    pub pinned_roots: Vec<String>,
    /// Version of the policy held, if any.
    pub policy_version: Option<u64>,
}

/// Cache progress towards the pending (or active) manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheCounts {
    /// Verified bytes present.
    pub have_bytes: u64,
    /// Bytes the manifest needs in total.
    pub need_bytes: u64,
}

/// The status document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// `playing`, `syncing`, `idle` or `offline`.
    pub state: State,
    /// The device public key, standard base64.
    pub device_key: String,
    /// Version of the active manifest.
    pub manifest_version: Option<u64>,
    /// Version of the pending manifest (accepted, media still syncing).
    pub pending_version: Option<u64>,
    /// The last rejection, or null.
    pub last_rejection: Option<LastRejection>,
    /// Receipts written but not yet acknowledged.
    pub journal_backlog: u64,
    /// Cache progress.
    pub cache: CacheCounts,
    /// sha256 of the media on screen, or null.
    pub current: Option<String>,
    /// Whether the system clock is synchronised (see [`crate::clock`]).
    pub clock_synced: bool,
    /// Agent version.
    pub agent_version: String,
    /// When this status was made (RFC 3339 UTC).
    pub at: String,
    /// Extra: the backlog has passed the warning threshold.
    pub backlog_warning: bool,
    /// Extra: the active manifest is past its `expires_at` (still played: offline rule of §4).
    pub manifest_expired: bool,
    /// Extra: the last error worth a person's attention (download, mpv, …), or null.
    pub last_error: Option<String>,
    /// Extra: version of the active alert set, if any.
    pub alert_version: Option<u64>,
    /// Extra: key id of the controller key the player pins now (changes after a key
    /// rotation; `None` until the agent sets it).
    pub controller_key_id: Option<String>,
    /// Extra: whether approvals are enforced, the pinned roots and the held policy version
    /// (`enforced: false`: a screen enrolled without `--policy-root` takes any content the
    /// controller signs).
    pub approvals: ApprovalStatus,
}

impl Status {
    /// A fresh status for a player with `device_key` (base64) that has nothing yet.
    pub fn new(device_key: String) -> Status {
        Status {
            state: State::Idle,
            device_key,
            manifest_version: None,
            pending_version: None,
            last_rejection: None,
            journal_backlog: 0,
            cache: CacheCounts::default(),
            current: None,
            clock_synced: false,
            agent_version: AGENT_VERSION.to_owned(),
            at: jiff::Timestamp::now().to_string(),
            backlog_warning: false,
            manifest_expired: false,
            last_error: None,
            alert_version: None,
            controller_key_id: None,
            approvals: ApprovalStatus::default(),
        }
    }

    /// Whether two statuses say the same thing (everything but `at`).
    pub fn same_content(&self, other: &Status) -> bool {
        Status {
            at: String::new(),
            ..self.clone()
        } == Status {
            at: String::new(),
            ..other.clone()
        }
    }

    /// This status as state `offline` (for the Last Will and a clean shutdown).
    pub fn offline(&self) -> Status {
        Status {
            state: State::Offline,
            current: None,
            ..self.clone()
        }
    }

    /// The JSON bytes to publish, with `at` set to `now`.
    pub fn to_json(&self, now: jiff::Timestamp) -> Vec<u8> {
        let s = Status {
            at: now.to_string(),
            ..self.clone()
        };
        serde_json::to_vec(&s).expect("status always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_field_names_are_present() {
        let s = Status::new("a2V5".into());
        let v: serde_json::Value =
            serde_json::from_slice(&s.to_json(jiff::Timestamp::UNIX_EPOCH)).unwrap();
        for k in [
            "state",
            "device_key",
            "manifest_version",
            "pending_version",
            "last_rejection",
            "journal_backlog",
            "cache",
            "current",
            "clock_synced",
            "agent_version",
            "at",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["state"], "idle");
        assert_eq!(v["at"], "1970-01-01T00:00:00Z");
        assert_eq!(v["cache"]["have_bytes"], 0);
        assert_eq!(s.offline().state, State::Offline);
    }

    #[test]
    fn same_content_ignores_at() {
        let a = Status::new("k".into());
        let mut b = a.clone();
        b.at = "later".into();
        assert!(a.same_content(&b));
        b.journal_backlog = 1;
        assert!(!a.same_content(&b));
    }
}
