//! The embedded broker's topic ACL: [`playlists::topics`]' rules for screens, the same ones the
//! controller renders as a mosquitto ACL file.
//!
//! A screen (MQTT username = screen id) may publish only its own `receipts` and `status`, and
//! subscribe only to its own `manifest`, `alert`, `ack`, `rotation` and `screenshot` (exact topics, no
//! wildcards). The controller ([`CONTROLLER_USER`]) may publish and subscribe to anything.

use playlists::topics::{self, CONTROLLER_USER};

/// Whether `username` may publish to `topic`.
pub fn may_publish(username: &str, topic: &str) -> bool {
    username == CONTROLLER_USER || topics::screen_may_publish(username, topic)
}

/// Whether `username` may subscribe to `filter`.
pub fn may_subscribe(username: &str, filter: &str) -> bool {
    username == CONTROLLER_USER || topics::screen_may_subscribe(username, filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use playlists::topics::{topic, Kind};

    #[test]
    fn mqtt_broker_acl_screens_use_only_their_own_topics() {
        for kind in [Kind::Receipts, Kind::Status] {
            assert!(may_publish("lc-a1", &topic("lc-a1", kind)));
            assert!(!may_publish("lc-a1", &topic("lc-b2", kind)));
            assert!(!may_subscribe("lc-a1", &topic("lc-a1", kind)));
        }
        for kind in [
            Kind::Manifest,
            Kind::Alert,
            Kind::Ack,
            Kind::Rotation,
            Kind::Screenshot,
            Kind::Ticker,
        ] {
            assert!(may_subscribe("lc-a1", &topic("lc-a1", kind)));
            assert!(!may_subscribe("lc-a1", &topic("lc-b2", kind)));
            assert!(!may_publish("lc-a1", &topic("lc-a1", kind)));
        }
        assert!(!may_subscribe("lc-a1", "gatecast/v1/screens/lc-a1/#"));
        assert!(!may_subscribe("lc-a1", "#"));
        assert!(!may_publish("lc-a1", "other/topic"));
        assert!(may_publish(
            CONTROLLER_USER,
            &topic("lc-a1", Kind::Manifest)
        ));
        assert!(may_subscribe(CONTROLLER_USER, "#"));
    }
}
