//! MQTT topic names and who may use them (`docs/protocol.md` §6, fixed). Every topic string in
//! gatecast is built here, and the topic rules are written here once.
//!
//! All topics live under `gatecast/v1/screens/{screen_id}/`. Callers must pass a screen id that
//! passes [`crate::manifest::is_valid_screen_id`]; [`parse`] checks it on the way in.
//!
//! **Topic rules.** Each [`Kind`] has one [`Direction`]: a screen (MQTT username = screen id)
//! subscribes only to its own topics of the kinds the controller publishes
//! ([`screen_reads`]: manifest, alert, ack, rotation, screenshot, ticker) and publishes only to its own topics of
//! the kinds it sends ([`screen_writes`]: receipts, status); [`screen_may_publish`] and
//! [`screen_may_subscribe`] decide one topic. The controller's own account
//! ([`CONTROLLER_USER`]) is not confined by them. The embedded broker enforces these rules and
//! the controller renders them as a mosquitto ACL file, so both say the same.

/// Prefix of every per-screen topic.
pub const PREFIX: &str = "gatecast/v1/screens/";

/// The one per-deployment topic (`docs/protocol.md` §6, §19): the controller's current
/// approval policy chain, retained; only the controller publishes it, every screen may read
/// it ([`screen_may_subscribe`]). Screens check it themselves under the chain rule of §19.
pub const POLICY_TOPIC: &str = "gatecast/v1/policy";

/// MQTT username of the controller's own account (`docs/protocol.md` §6). A screen id can
/// never start with `_`, so it cannot collide with a screen.
pub const CONTROLLER_USER: &str = "_controller";

/// MQTT client id of the controller's persistent session (`docs/protocol.md` §6). The embedded
/// broker only accepts it from [`CONTROLLER_USER`], so no screen can take over the controller's
/// session.
pub const CONTROLLER_CLIENT_ID: &str = "gatecast-controller";

/// Who publishes a kind of topic (the "direction" column of `docs/protocol.md` §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Controller → player: the screen only subscribes.
    ToScreen,
    /// Player → controller: the screen only publishes.
    FromScreen,
}

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
    /// Signed screenshot command, controller → player, QoS 1, not retained
    /// (`docs/protocol.md` §18): a command is for now, never for a screen that connects later.
    Screenshot,
    /// Signed ticker set, controller → player, QoS 1, retained (`docs/protocol.md` §20).
    Ticker,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 8] = [
        Kind::Manifest,
        Kind::Alert,
        Kind::Receipts,
        Kind::Ack,
        Kind::Status,
        Kind::Rotation,
        Kind::Screenshot,
        Kind::Ticker,
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
            Kind::Screenshot => "screenshot",
            Kind::Ticker => "ticker",
        }
    }

    /// Who publishes messages of this kind.
    pub fn direction(self) -> Direction {
        match self {
            Kind::Manifest
            | Kind::Alert
            | Kind::Ack
            | Kind::Rotation
            | Kind::Screenshot
            | Kind::Ticker => Direction::ToScreen,
            Kind::Receipts | Kind::Status => Direction::FromScreen,
        }
    }

    /// Whether messages of this kind are published with the retain flag.
    pub fn retained(self) -> bool {
        matches!(
            self,
            Kind::Manifest | Kind::Alert | Kind::Status | Kind::Rotation | Kind::Ticker
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

/// The kinds a screen subscribes to on its own topics, in [`Kind::ALL`] order
/// (manifest, alert, ack, rotation, screenshot, ticker).
pub fn screen_reads() -> impl Iterator<Item = Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| k.direction() == Direction::ToScreen)
}

/// The kinds a screen publishes on its own topics, in [`Kind::ALL`] order (receipts, status).
pub fn screen_writes() -> impl Iterator<Item = Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| k.direction() == Direction::FromScreen)
}

/// Whether the screen `screen` (its MQTT username) may publish to `topic`: only to its own
/// topics of a kind in [`screen_writes`].
pub fn screen_may_publish(screen: &str, topic: &str) -> bool {
    matches!(parse(topic), Some((owner, kind)) if owner == screen && kind.direction() == Direction::FromScreen)
}

/// Whether the screen `screen` (its MQTT username) may subscribe to the filter `filter`: only
/// to its own topics of a kind in [`screen_reads`] and to [`POLICY_TOPIC`], exactly (no `+` or
/// `#` wildcard). No screen may publish to [`POLICY_TOPIC`] ([`screen_may_publish`]).
pub fn screen_may_subscribe(screen: &str, filter: &str) -> bool {
    if filter.contains(['+', '#']) {
        return false;
    }
    if filter == POLICY_TOPIC {
        return true;
    }
    matches!(parse(filter), Some((owner, kind)) if owner == screen && kind.direction() == Direction::ToScreen)
}
