//! MQTT topic names (DESIGN §3, fixed). Every topic string in gatecast is built here.
//!
//! All topics live under `gatecast/v1/screens/{screen_id}/`. Callers must pass a screen id that
//! passes [`crate::manifest::is_valid_screen_id`]; [`parse`] checks it on the way in.

/// Prefix of every per-screen topic.
pub const PREFIX: &str = "gatecast/v1/screens/";

/// The kinds of per-screen topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Signed manifest, controller → player, QoS 1, retained.
    Manifest,
    /// Signed alert set, controller → player, QoS 1, retained.
    Alert,
    /// Signed receipts batch, player → controller, QoS 1.
    Receipts,
    /// Signed ack, controller → player, QoS 1.
    Ack,
    /// JSON heartbeat, player → controller, QoS 1, retained; Last Will = offline.
    Status,
    /// Signed controller key rotation statement, controller → player, QoS 1, retained.
    Rotation,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 6] = [
        Kind::Manifest,
        Kind::Alert,
        Kind::Receipts,
        Kind::Ack,
        Kind::Status,
        Kind::Rotation,
    ];

    /// The topic suffix for this kind.
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::Manifest => "manifest",
            Kind::Alert => "alert",
            Kind::Receipts => "receipts",
            Kind::Ack => "ack",
            Kind::Status => "status",
            Kind::Rotation => "rotation",
        }
    }

    /// Whether messages of this kind are published with the retain flag.
    pub fn retained(self) -> bool {
        matches!(
            self,
            Kind::Manifest | Kind::Alert | Kind::Status | Kind::Rotation
        )
    }
}

/// The topic of `kind` for `screen`, e.g. `gatecast/v1/screens/lc-a1/manifest`.
pub fn topic(screen: &str, kind: Kind) -> String {
    format!("{PREFIX}{screen}/{}", kind.suffix())
}

/// A wildcard filter matching `kind` for every screen, e.g. `gatecast/v1/screens/+/status`.
pub fn all_screens(kind: Kind) -> String {
    format!("{PREFIX}+/{}", kind.suffix())
}

/// Splits a concrete topic into its screen id and kind; `None` if it is not a gatecast topic
/// or the screen id is not valid.
pub fn parse(topic: &str) -> Option<(&str, Kind)> {
    let rest = topic.strip_prefix(PREFIX)?;
    let (screen, suffix) = rest.split_once('/')?;
    if !crate::manifest::is_valid_screen_id(screen) {
        return None;
    }
    let kind = Kind::ALL.into_iter().find(|k| k.suffix() == suffix)?;
    Some((screen, kind))
}
