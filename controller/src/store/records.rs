//! The records the store keeps as JSON: the operator's data (media, playlists, schedules,
//! screens, tokens, alerts), what was published and what screens reported.

use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Content, publish, alerts (and reading them).
    Operator,
    /// Read-only: screens, receipts, reports, exports, action log.
    Auditor,
}

impl Role {
    /// Name as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "auditor" => Ok(Role::Auditor),
            other => Err(format!(
                "unknown role {other:?}; use admin, operator or auditor"
            )),
        }
    }
}

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
    /// Picture width in pixels, read from the file on upload (video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Picture height in pixels, read from the file on upload (video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// True when a poster thumbnail was drawn (`GET /media/{sha256}/poster`).
    #[serde(default)]
    pub poster: bool,
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
    /// MQTT password hash (mosquitto `$7$` format), for mosquitto's password file and for the
    /// embedded broker when [`ScreenRecord::mqtt_login_sha256`] is absent.
    pub mqtt_password_hash: String,
    /// The embedded broker's fast verifier of the same password
    /// ([`crate::mqtt::password::login_verifier`]); absent in records written before it, whose
    /// logins are checked against the `$7$` hash until the next enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt_login_sha256: Option<String>,
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
    /// Every enrolment epoch, oldest first; the last is the current one (`device_key`,
    /// `enrolled_at`). Empty in records written before epochs: see [`ScreenRecord::epochs`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub epochs: Vec<EpochRecord>,
}

/// One enrolment of a screen (docs/protocol.md §7): each starts a new receipts chain at seq 1,
/// signed by that enrolment's device key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: u64,
    /// The device public key (base64) enrolled then.
    pub device_key: String,
    /// When (RFC 3339 UTC).
    pub enrolled_at: String,
}

impl ScreenRecord {
    /// Every enrolment epoch, oldest first. A record from before epochs that has a device key
    /// has one epoch, 1, with that key (docs/protocol.md §13: data without `epoch` is epoch 1).
    pub fn epochs(&self) -> Vec<EpochRecord> {
        if !self.epochs.is_empty() {
            return self.epochs.clone();
        }
        match &self.device_key {
            Some(k) => vec![EpochRecord {
                epoch: playlists::receipt::FIRST_EPOCH,
                device_key: k.clone(),
                enrolled_at: self.enrolled_at.clone().unwrap_or_default(),
            }],
            None => Vec::new(),
        }
    }

    /// The current enrolment epoch (0 before the first enrolment).
    pub fn epoch(&self) -> u64 {
        self.epochs().last().map_or(0, |e| e.epoch)
    }

    /// Records a new enrolment with `device_key` at `at`: the next epoch becomes current.
    /// Returns its number.
    pub fn enrol(&mut self, device_key: String, at: String) -> u64 {
        let mut epochs = self.epochs();
        let epoch = epochs
            .last()
            .map_or(playlists::receipt::FIRST_EPOCH, |e| e.epoch + 1);
        epochs.push(EpochRecord {
            epoch,
            device_key: device_key.clone(),
            enrolled_at: at.clone(),
        });
        self.epochs = epochs;
        self.device_key = Some(device_key);
        self.enrolled_at = Some(at);
        epoch
    }
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
    /// The login of the user the token belongs to (named in the action log); `None` for
    /// tokens made before accounts existed and the first admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// What the token is for, in the admin's words (unique among live tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
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

/// A ready-made alert text an admin keeps for emergencies (`/api/v1/alert-templates`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertTemplate {
    /// Id (a valid id, as a playlist's).
    pub id: String,
    /// Name shown in the Vietnamese console.
    pub name_vi: String,
    /// Name shown in the English console.
    pub name_en: String,
    /// The alert text per language.
    pub text: Vec<AlertTextRecord>,
    /// Suggested duration in hours.
    pub hours: u32,
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

impl AlertRecord {
    /// Its title for people: the first line of its text in `lang` (else of its first text),
    /// at most 120 characters. Alerts have no title field; their first line is their headline.
    pub fn title(&self, lang: Option<&str>) -> String {
        let text = lang
            .and_then(|l| self.text.iter().find(|t| t.lang == l))
            .or_else(|| self.text.first())
            .map(|t| t.text.as_str())
            .unwrap_or_default();
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        line.chars().take(120).collect()
    }
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

impl StatusRecord {
    /// When the screen went silent, if it did: its last status said it was online, but the
    /// controller has heard nothing from it for more than `stale_after` at `now` while it was
    /// listening (a player reports at least every 30 s, `docs/protocol.md` §12; a player that
    /// died while no broker or controller heard its Last Will never says `offline`). The
    /// silence counts from the later of its last status and `listening_since`, the start of
    /// the controller's current run ([`crate::store::Store::listening_since`]): while the
    /// controller was down, the screen's silence is no evidence that it was dark.
    pub fn silent_since(
        &self,
        now: jiff::Timestamp,
        stale_after: std::time::Duration,
        listening_since: Option<jiff::Timestamp>,
    ) -> Option<jiff::Timestamp> {
        if !self.online {
            return None;
        }
        let heard: jiff::Timestamp = self.received_at.parse().ok()?;
        let from = listening_since.map_or(heard, |l| l.max(heard));
        let limit = jiff::SignedDuration::try_from(stale_after).ok()?;
        (now.duration_since(from) > limit).then_some(from)
    }

    /// Whether the screen counts as online at `now`: its last status said so and it is not
    /// silent (see [`StatusRecord::silent_since`]).
    pub fn online_at(
        &self,
        now: jiff::Timestamp,
        stale_after: std::time::Duration,
        listening_since: Option<jiff::Timestamp>,
    ) -> bool {
        self.online
            && self
                .silent_since(now, stale_after, listening_since)
                .is_none()
    }
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

#[cfg(test)]
impl ScreenRecord {
    /// A registered, never enrolled screen `id` at gate `lao-cai` (unit tests set what they
    /// need on top).
    pub(crate) fn for_test(id: &str) -> ScreenRecord {
        ScreenRecord {
            id: id.into(),
            name: id.into(),
            gate: "lao-cai".into(),
            languages: vec![],
            timezone: "Asia/Ho_Chi_Minh".into(),
            mqtt_password_hash: String::new(),
            mqtt_login_sha256: None,
            disabled: false,
            device_key: None,
            enrolled_at: None,
            created_at: String::new(),
            epochs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(device_key: Option<&str>) -> ScreenRecord {
        ScreenRecord {
            name: "A1".into(),
            gate: "g".into(),
            timezone: "UTC".into(),
            device_key: device_key.map(str::to_owned),
            enrolled_at: device_key.map(|_| "2026-01-01T00:00:00Z".to_owned()),
            ..ScreenRecord::for_test("lc-a1")
        }
    }

    #[test]
    fn enrolments_are_numbered_epochs_and_old_records_are_epoch_1() {
        let mut s = screen(None);
        assert_eq!((s.epoch(), s.epochs().len()), (0, 0));
        assert_eq!(s.enrol("k1".into(), "t1".into()), 1);
        assert_eq!(s.enrol("k2".into(), "t2".into()), 2);
        assert_eq!(s.device_key.as_deref(), Some("k2"));
        let keys: Vec<(u64, &str)> = s
            .epochs
            .iter()
            .map(|e| (e.epoch, e.device_key.as_str()))
            .collect();
        assert_eq!(keys, [(1, "k1"), (2, "k2")]);
        // A record written before epochs: its enrolment is epoch 1, the next one epoch 2.
        let json = serde_json::to_string(&screen(Some("old"))).unwrap();
        assert!(!json.contains("epochs"), "{json}");
        let mut old: ScreenRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(old.epoch(), 1);
        assert_eq!(old.epochs()[0].device_key, "old");
        assert_eq!(old.enrol("new".into(), "t".into()), 2);
        assert_eq!(old.epochs().len(), 2);
    }
}
