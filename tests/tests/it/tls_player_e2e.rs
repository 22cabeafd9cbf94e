//! TLS on real processes, the player's side (`docs/protocol.md` §7, `docs/security.md` rows
//! 65–69), with certificates made by the test (`gatecast_testkit::pki`):
//! - a player enrolled over HTTPS with `--pin-sha256` gets its manifest over `mqtts://` from
//!   the embedded broker and its media from an `https://` mirror (a test HTTPS file server
//!   with a certificate of the test CA); the controller has no plaintext port (checked by
//!   connecting);
//! - a man in the middle on the player's `mqtts://` link (a TLS proxy presenting a certificate
//!   of a wrong CA, then one of the right CA for a wrong host name) is refused with the named
//!   error; the player keeps playing and recovers when the right server is back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use gatecast_player::config::MediaBase;
use gatecast_testkit::tls_front::{HttpsFileServer, TlsFront};
use gatecast_testkit::TestPki;
use gatecast_tests::{
    standard_content, wait_until, Controller, ControllerOptions, Player, TestDir, DEADLINE,
};

/// What a plaintext client gets from `addr` after sending `hello`: the first bytes answered
/// (empty when the server closed).
fn plain_answer(addr: SocketAddr, hello: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("the port accepts TCP");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(hello).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    buf.truncate(n);
    buf
}

fn tls_controller(tmp: &TestDir, pki: &TestPki) -> Controller {
    let opts = ControllerOptions {
        tls: Some(gatecast_tests::controller::ControllerTls::from_pki(pki)),
        ..ControllerOptions::default()
    };
    Controller::start(&tmp.path().join("controller"), opts)
}

#[test]
fn tls_player_pinned_over_mqtts_with_an_https_mirror_and_no_plaintext_port() {
    let tmp = TestDir::new("tls_player_pinned");
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let mut ctl = tls_controller(&tmp, &pki);
    let pin = ctl
        .pin_sha256
        .clone()
        .expect("the listening line names the pin");
    assert_eq!(pin, pki.server.pin_sha256);
    assert_eq!(ctl.mqtt, None, "no plaintext MQTT listener with TLS");
    let mqtts = ctl.mqtts.expect("an MQTTS listener");

    // No plaintext port: HTTP spoken to the HTTPS port and MQTT CONNECT to the MQTTS port get
    // no HTTP answer and no CONNACK.
    // (The HTTPS port answers plain HTTP only with a 400 saying to use https://.)
    let http = plain_answer(ctl.http, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let http = String::from_utf8_lossy(&http);
    assert!(
        http.is_empty() || http.starts_with("HTTP/1.1 400"),
        "plain HTTP served: {http}"
    );
    let connect = [
        0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30, 0, 4, b't', b'e', b's', b't',
    ];
    let mqtt = plain_answer(mqtts, &connect);
    assert!(
        mqtt.first() != Some(&0x20),
        "plain MQTT got a CONNACK: {mqtt:?}"
    );

    let content = standard_content(&ctl, "lao-cai", 1000);
    let code = ctl.register_screen("lc-a1", "lao-cai");
    let dir = tmp.path().join("lc-a1");
    let mut player = Player::enroll_with(&ctl, "lc-a1", &code, &dir, &["--pin-sha256", &pin]);
    let cfg = player.config();
    assert!(cfg.broker.starts_with("mqtts://"), "{}", cfg.broker);
    assert_eq!(cfg.tls_pin_sha256.as_deref(), Some(pin.as_str()));

    // The media only on an https:// mirror with another certificate of the test CA, which
    // the player trusts through tls_ca_file (its broker link stays pinned).
    let mirror_dir = tmp.path().join("mirror");
    std::fs::create_dir_all(&mirror_dir).unwrap();
    for (sha, bytes) in &content.media {
        std::fs::write(mirror_dir.join(sha), bytes).unwrap();
    }
    let mirror_cert = pki.issue("mirror", &["localhost"]);
    let mirror = HttpsFileServer::start(&mirror_cert, &mirror_dir);
    player.edit_config(|c| {
        c.media_base = MediaBase::One(mirror.url());
        c.tls_ca_file = Some(pki.ca_pem.clone());
        c.batch_max_delay_ms = 100;
    });
    player.null_speed = 4.0;
    player.start();
    ctl.wait_status("lc-a1", "online over mqtts", |s| s["state"] == "idle");
    let version = ctl.publish_version(&["lc-a1"], "lc-a1");
    ctl.wait_status("lc-a1", "playing media from the https mirror", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    for (sha, bytes) in &content.media {
        assert_eq!(&std::fs::read(player.cache_file(sha)).unwrap(), bytes);
    }
    assert!(mirror.files_served() >= content.media.len() as u64);
    wait_until("receipts over mqtts", DEADLINE, || {
        (ctl.receipts("lc-a1")?.len() >= 3).then_some(())
    });
    assert!(
        !std::fs::read_to_string(player.log_path())
            .unwrap()
            .contains("plaintext link"),
        "an all-TLS player warns about nothing:\n{}",
        player.log_tail()
    );
    player.stop();
    ctl.stop();
}

#[test]
fn attack_tls_mitm_on_the_players_mqtts_link_is_named_and_recovered() {
    let tmp = TestDir::new("tls_mitm");
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let ctl = tls_controller(&tmp, &pki);
    let mqtts = ctl.mqtts.expect("an MQTTS listener");
    let upstream =
        gatecast_tls::client_config(&gatecast_tls::ClientTrust::CaFile(pki.ca_pem.clone()))
            .unwrap();
    let front = TlsFront::start_tls_upstream(&pki.server, mqtts, upstream, "localhost");
    standard_content(&ctl, "lao-cai", 1000);
    let code = ctl.register_screen("lc-a1", "lao-cai");
    let dir = tmp.path().join("lc-a1");
    let ca = pki.ca_pem.display().to_string();
    let mut player = Player::enroll_with(&ctl, "lc-a1", &code, &dir, &["--ca-file", &ca]);
    assert_eq!(
        player.config().tls_pin_sha256.as_deref(),
        Some(pki.server.pin_sha256.as_str()),
        "enrolled with a CA over HTTPS: the embedded broker's pin comes with the answer"
    );
    // CA-checked instead of pinned (docs/operations.md), through the proxy.
    player.edit_config(|c| {
        c.tls_pin_sha256 = None;
        c.broker = format!("mqtts://localhost:{}", front.port());
        c.batch_max_delay_ms = 100;
    });
    player.null_speed = 4.0;
    player.start();
    ctl.wait_status("lc-a1", "online through the TLS proxy", |s| {
        s["state"] == "idle"
    });
    let version = ctl.publish_version(&["lc-a1"], "lc-a1");
    ctl.wait_status("lc-a1", "playing", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });

    let log_has = |what: &str| {
        std::fs::read_to_string(player.log_path())
            .unwrap_or_default()
            .contains(what)
            .then_some(())
    };
    let from = jiff::Timestamp::now();
    front.present(&pki.wrong_ca_server);
    wait_until(
        "the wrong CA is named in the player's log",
        DEADLINE,
        || log_has("unknown issuer"),
    );
    front.present(&pki.wrong_host);
    wait_until("the wrong host name is named", DEADLINE, || {
        log_has("wrong host name: the server's certificate is for")
    });
    let to = jiff::Timestamp::now();
    // The proxy counts a failed handshake once its side of it ends, which can be after the
    // player has logged why it gave up.
    wait_until(
        "both lying handshakes counted by the proxy",
        DEADLINE,
        || (front.handshakes_failed() >= 2).then_some(()),
    );
    assert!(player.is_running(), "the player keeps running");

    front.present(&pki.server);
    // Plays made while the proxy lied arrive once the right server is back.
    wait_until(
        "receipts played during the man in the middle",
        DEADLINE,
        || {
            ctl.receipts("lc-a1")?
                .iter()
                .any(|r| {
                    let at = r["started_at_utc"]
                        .as_str()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
                    at.is_some_and(|t| t > from && t < to)
                })
                .then_some(())
        },
    );
    ctl.wait_status("lc-a1", "playing again", |s| s["state"] == "playing");
}

#[test]
fn tls_player_through_mosquitto_tls_listener_with_the_generated_acl() {
    let test = "tls_player_through_mosquitto_tls_listener_with_the_generated_acl";
    if !gatecast_tests::require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let tmp = TestDir::new("tls_player_mosquitto");
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let ca = pki.ca_pem.display().to_string();
    let tls_port = gatecast_tests::free_port();
    let opts = ControllerOptions {
        broker: Some(format!("mqtts://localhost:{tls_port}")),
        extra_args: vec!["--broker-ca".into(), ca.clone()],
        tls: Some(gatecast_tests::controller::ControllerTls::from_pki(&pki)),
        ..ControllerOptions::default()
    };
    let mut ctl = Controller::start(&tmp.path().join("controller"), opts);
    let content = standard_content(&ctl, "lao-cai", 1000);
    let code = ctl.register_screen("lc-a1", "lao-cai");
    let mut player = Player::enroll_with(
        &ctl,
        "lc-a1",
        &code,
        &tmp.path().join("lc-a1"),
        &["--ca-file", &ca],
    );
    let cfg = player.config();
    assert_eq!(cfg.broker, format!("mqtts://localhost:{tls_port}"));
    assert_eq!(
        cfg.tls_pin_sha256, None,
        "an external broker's certificate is another: no pin in the answer"
    );
    assert_eq!(cfg.tls_ca_file.as_deref(), Some(pki.ca_pem.as_path()));

    // The operator's sequence: stop, write the broker files with the TLS listener, start
    // mosquitto, start the controller again.
    ctl.stop();
    let files = tmp.path().join("broker-files");
    gatecast_tests::controller::broker_acl_with(
        ctl.data(),
        &files,
        &[
            std::ffi::OsStr::new("--tls-cert"),
            pki.server.cert.as_os_str(),
            std::ffi::OsStr::new("--tls-key"),
            pki.server.key.as_os_str(),
            std::ffi::OsStr::new("--mqtts-port"),
            std::ffi::OsStr::new(&tls_port.to_string()),
        ],
    );
    let acl = std::fs::read_to_string(files.join("acl")).unwrap();
    assert!(
        acl.contains("%u"),
        "the generated ACL confines screens: {acl}"
    );
    let broker = gatecast_tests::Mosquitto::start(tmp.path(), &files, gatecast_tests::free_port());
    wait_until("mosquitto's TLS listener", DEADLINE, || {
        TcpStream::connect(("127.0.0.1", tls_port)).ok()
    });
    ctl.start_again();
    wait_until("the controller on mosquitto over TLS", DEADLINE, || {
        (ctl.healthz()?["mqtt_connected"] == true).then_some(())
    });
    player.edit_config(|c| c.batch_max_delay_ms = 100);
    player.null_speed = 4.0;
    player.start();
    ctl.wait_status("lc-a1", "online through mosquitto's TLS listener", |s| {
        s["state"] == "idle"
    });
    let version = ctl.publish_version(&["lc-a1"], "lc-a1");
    ctl.wait_status("lc-a1", "playing through mosquitto over TLS", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    for (sha, bytes) in &content.media {
        assert_eq!(&std::fs::read(player.cache_file(sha)).unwrap(), bytes);
    }
    wait_until("receipts through mosquitto over TLS", DEADLINE, || {
        (ctl.receipts("lc-a1")?.len() >= 3).then_some(())
    });
    assert!(
        broker
            .log_tail()
            .lines()
            .all(|l| !l.contains("OpenSSL Error")),
        "{}",
        broker.log_tail()
    );
}
