//! MQTT for the controller: the controller's own client and the MQTT password format shared
//! with mosquitto.
//!
//! The embedded broker is the `gatecast-broker` crate ([`gatecast_broker`]): our own MQTT 3.1.1
//! broker on its own OS thread; every CONNECT is checked by a
//! [`gatecast_broker::CredentialCheck`] supplied by the caller (the store), and a per-screen
//! topic ACL confines each screen to its own topics.
//!
//! - [`client`]: the controller's rumqttc 0.25 client (persistent session, backoff with jitter,
//!   resubscribe and republish of all retained content after every connect).
//! - [`password`]: mosquitto-compatible `$7$` PBKDF2-SHA512 hashes of MQTT passwords.
//!
//! Topic names are never built here: they come from [`playlists::topics`].
//!
//! The broker is not trusted (`docs/security.md`): every decision rests on signatures; the
//! topic ACLs (embedded broker, or mosquitto with the files from [`crate::acl`]) are defence in
//! depth.
//!
//! The account and size constants are re-exported from where they are defined: the
//! controller's MQTT user and client id are protocol constants of [`playlists::topics`], the
//! packet limits are the embedded broker's.

pub mod client;
pub mod password;

pub use gatecast_broker::{MAX_PACKET_SIZE, MAX_PAYLOAD_SIZE};
pub use playlists::topics::{CONTROLLER_CLIENT_ID, CONTROLLER_USER};
