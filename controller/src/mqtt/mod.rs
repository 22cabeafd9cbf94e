//! MQTT for the controller: the embedded broker, the controller's own client and the MQTT
//! password format shared with mosquitto.
//!
//! - [`broker`]: our own embedded MQTT 3.1.1 broker (rumqttc's codec, exact-topic routing
//!   index) on its own OS thread; every CONNECT is checked by a [`broker::CredentialCheck`]
//!   supplied by the caller (the store), and a per-screen topic ACL confines each screen to
//!   its own topics.
//! - [`client`]: the controller's rumqttc 0.25 client (persistent session, backoff with jitter,
//!   resubscribe and republish of all retained content after every connect).
//! - [`password`]: mosquitto-compatible `$7$` PBKDF2-SHA512 hashes of MQTT passwords.
//!
//! Topic names are never built here: they come from [`playlists::topics`].
//!
//! The broker is not trusted (DESIGN §3): every decision rests on signatures; the topic ACLs
//! (embedded broker, or mosquitto with the files from [`crate::acl`]) are defence in depth.

pub mod broker;
pub mod client;
pub mod password;

/// MQTT username of the controller's own account. A screen id can never start with `_`,
/// so it cannot collide with a screen.
pub const CONTROLLER_USER: &str = "_controller";

/// MQTT client id of the controller's persistent session. The embedded broker only accepts it
/// from [`CONTROLLER_USER`], so no screen can take over the controller's session.
pub const CONTROLLER_CLIENT_ID: &str = "gatecast-controller";

/// Largest MQTT payload gatecast sends or accepts: 8 MiB (manifests and receipt batches are far
/// smaller; this is headroom, not a target).
pub const MAX_PAYLOAD_SIZE: usize = 8 * 1024 * 1024;

/// Largest MQTT packet on the wire: [`MAX_PAYLOAD_SIZE`] plus room for the fixed header, the
/// topic and the packet id. Used as the broker's limit and as rumqttc's limit both ways.
pub const MAX_PACKET_SIZE: usize = MAX_PAYLOAD_SIZE + 64 * 1024;
