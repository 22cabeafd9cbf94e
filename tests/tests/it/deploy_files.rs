//! The example files in deploy/ stay valid: the player example parses with the player's own
//! configuration loader (fixed keys, unknown keys refused), and the systemd units keep the
//! settings operations.md promises.

use gatecast_tests::workspace_root;

fn read(path: &str) -> String {
    let p = workspace_root().join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn player_example_config_parses() {
    let text = read("deploy/player.example.toml");
    let cfg = gatecast_player::config::PlayerConfig::from_toml(&text)
        .unwrap_or_else(|e| panic!("deploy/player.example.toml: {e}"));
    assert_eq!(cfg.screen, "lao-cai-road-a1");
    assert_eq!(cfg.mqtt_username, cfg.screen);
    // The example speaks TLS on every link (docs/security.md row 65).
    assert!(cfg.broker_addr().unwrap().tls, "{}", cfg.broker);
    assert!(
        cfg.plaintext_links().is_empty(),
        "{:?}",
        cfg.plaintext_links()
    );
    assert_eq!(
        cfg.data_dir,
        std::path::Path::new("/var/lib/gatecast-player")
    );
}

#[test]
fn systemd_units_run_as_a_dedicated_user_and_restart() {
    for unit in [
        "deploy/gatecast-controller.service",
        "deploy/gatecast-player.service",
    ] {
        let text = read(unit);
        for want in [
            "User=gatecast",
            "Restart=always",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
        ] {
            assert!(
                text.lines().any(|l| l.trim() == want),
                "{unit} lacks {want}"
            );
        }
    }
    let ctl = read("deploy/gatecast-controller.service");
    assert!(ctl.contains(
        "ExecStart=/usr/local/bin/gatecast-controller serve --config /etc/gatecast/controller.toml"
    ));
    assert!(ctl.contains("StateDirectory=gatecast"));
    // The player tells systemd it is alive (gatecast_support::notify); a stalled one restarts.
    let player = read("deploy/gatecast-player.service");
    for want in ["Type=notify", "NotifyAccess=main", "WatchdogSec=30"] {
        assert!(
            player.lines().any(|l| l.trim() == want),
            "player unit lacks {want}"
        );
    }
}

#[test]
fn mosquitto_example_uses_the_generated_files() {
    let conf = read("deploy/mosquitto/gatecast.conf");
    // The one MQTT payload limit of every gatecast party (docs/protocol.md §6, "Sizes").
    let size_limit = format!(
        "message_size_limit {}",
        playlists::envelope::MAX_MQTT_PAYLOAD_BYTES
    );
    for want in [
        "allow_anonymous false",
        "password_file /etc/mosquitto/gatecast/passwords",
        "acl_file /etc/mosquitto/gatecast/acl",
        size_limit.as_str(),
        "use_username_as_clientid true",
    ] {
        assert!(conf.lines().any(|l| l.trim() == want), "lacks {want}");
    }
}
