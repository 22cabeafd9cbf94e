//! MQTT topic names and topic rules (`docs/protocol.md` §6, fixed).

use playlists::topics::{
    all_screens, parse, screen_may_publish, screen_may_subscribe, screen_reads, screen_writes,
    topic, Kind, PREFIX,
};

#[test]
fn topics_have_the_fixed_names() {
    let expected = [
        (Kind::Manifest, "gatecast/v1/screens/lc-a1/manifest"),
        (Kind::Alert, "gatecast/v1/screens/lc-a1/alert"),
        (Kind::Receipts, "gatecast/v1/screens/lc-a1/receipts"),
        (Kind::Ack, "gatecast/v1/screens/lc-a1/ack"),
        (Kind::Status, "gatecast/v1/screens/lc-a1/status"),
        (Kind::Rotation, "gatecast/v1/screens/lc-a1/rotation"),
        (Kind::Screenshot, "gatecast/v1/screens/lc-a1/screenshot"),
        (Kind::Ticker, "gatecast/v1/screens/lc-a1/ticker"),
    ];
    for (kind, name) in expected {
        assert_eq!(topic("lc-a1", kind), name);
        assert!(name.starts_with(PREFIX));
    }
    assert_eq!(Kind::ALL.len(), expected.len());
}

#[test]
fn retained_kinds_are_manifest_alert_status_and_rotation() {
    let retained: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.retained()).collect();
    assert_eq!(
        retained,
        [
            Kind::Manifest,
            Kind::Alert,
            Kind::Status,
            Kind::Rotation,
            Kind::Ticker
        ]
    );
}

#[test]
fn screens_read_what_the_controller_sends_and_write_receipts_and_status() {
    assert_eq!(
        screen_reads().collect::<Vec<_>>(),
        [
            Kind::Manifest,
            Kind::Alert,
            Kind::Ack,
            Kind::Rotation,
            Kind::Screenshot,
            Kind::Ticker
        ]
    );
    assert_eq!(
        screen_writes().collect::<Vec<_>>(),
        [Kind::Receipts, Kind::Status]
    );
    for kind in screen_reads() {
        assert!(screen_may_subscribe("lc-a1", &topic("lc-a1", kind)));
        assert!(!screen_may_subscribe("lc-a1", &topic("lc-b2", kind)));
        assert!(!screen_may_publish("lc-a1", &topic("lc-a1", kind)));
    }
    for kind in screen_writes() {
        assert!(screen_may_publish("lc-a1", &topic("lc-a1", kind)));
        assert!(!screen_may_publish("lc-a1", &topic("lc-b2", kind)));
        assert!(!screen_may_subscribe("lc-a1", &topic("lc-a1", kind)));
    }
    assert!(!screen_may_subscribe(
        "lc-a1",
        "gatecast/v1/screens/lc-a1/#"
    ));
    assert!(!screen_may_subscribe(
        "lc-a1",
        "gatecast/v1/screens/+/manifest"
    ));
    assert!(!screen_may_publish("lc-a1", "other/topic"));
    // The per-deployment policy topic: every screen reads it, none writes it.
    assert!(screen_may_subscribe(
        "lc-a1",
        playlists::topics::POLICY_TOPIC
    ));
    assert!(!screen_may_publish(
        "lc-a1",
        playlists::topics::POLICY_TOPIC
    ));
    assert!(!screen_may_subscribe("lc-a1", "gatecast/v1/policy/x"));
}

#[test]
fn wildcard_filters_cover_every_screen() {
    assert_eq!(all_screens(Kind::Status), "gatecast/v1/screens/+/status");
    assert_eq!(
        all_screens(Kind::Receipts),
        "gatecast/v1/screens/+/receipts"
    );
}

#[test]
fn parse_inverts_topic() {
    for kind in Kind::ALL {
        for screen in ["a", "lc-a1", "0", &"z".repeat(63)] {
            assert_eq!(parse(&topic(screen, kind)), Some((screen, kind)));
        }
    }
}

#[test]
fn parse_rejects_foreign_and_malformed_topics() {
    for bad in [
        "",
        "gatecast/v1/screens/",
        "gatecast/v1/screens/lc-a1",
        "gatecast/v1/screens/lc-a1/",
        "gatecast/v1/screens/lc-a1/manifests",
        "gatecast/v1/screens/lc-a1/manifest/extra",
        "gatecast/v2/screens/lc-a1/manifest",
        "other/v1/screens/lc-a1/manifest",
        "gatecast/v1/screens/+/status",
        "gatecast/v1/screens/#/status",
        "gatecast/v1/screens/LC-A1/status",
        "gatecast/v1/screens/-lc/status",
        "gatecast/v1/screens/../status",
        "gatecast/v1/screens//status",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
    let too_long = format!("gatecast/v1/screens/{}/ack", "a".repeat(64));
    assert_eq!(parse(&too_long), None);
}
