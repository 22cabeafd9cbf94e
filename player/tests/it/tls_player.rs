//! The player over TLS (`docs/protocol.md` §7, `docs/security.md` rows 65–69): an `mqtts://`
//! broker and an `https://` mirror (TLS fronts with certificates of a test CA before the
//! in-process broker and media server), then men in the middle on each link — a certificate
//! of another CA, one of the right CA for another host name, another key against a pin, TLS
//! against a plain port — refused with the problem named in the log and the status, while the
//! player keeps playing its cached content and recovers when the right server is back.

use crate::common;

use std::time::Duration;

use common::harness::{self, PlayerProc, PlayerSpec, Rig};
use gatecast_testkit::tls_front::TlsFront;
use gatecast_testkit::TestPki;
use playlists::receipt::Receipt;

const T: Duration = Duration::from_secs(40);

/// Waits until the player's log contains `what`; the log is shown when it never does.
async fn wait_log(player: &PlayerProc, what: &str) {
    let deadline = tokio::time::Instant::now() + T;
    while !player.log().contains(what) {
        if tokio::time::Instant::now() > deadline {
            let log = player.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "no {what:?} in the player's log after {T:?}; its end:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_player_mitm_on_broker_and_mirror_is_named_and_recovered() {
    let rig = Rig::start().await;
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let broker_front = TlsFront::start(&pki.server, ([127, 0, 0, 1], rig.broker.port).into());
    let media_addr: std::net::SocketAddr =
        rig.media.url.trim_start_matches("http://").parse().unwrap();
    let mirror = TlsFront::start(&pki.server, media_addr);
    let (a, a_bytes) = harness::slide(1, 1000, 1000);
    let (b, b_bytes) = harness::slide(2, 1000, 1000);
    rig.media.put(&a.sha256, a_bytes);
    rig.media.put(&b.sha256, b_bytes);

    let dir = tempfile::tempdir().unwrap();
    let spec = PlayerSpec {
        broker_url: format!("mqtts://localhost:{}", broker_front.port()),
        media_base: format!("https://localhost:{}", mirror.port()),
        controller_key: rig.key.public(),
        extra_toml: format!("tls_ca_file = \"{}\"\n", pki.ca_pem.display()),
        null_speed: 20.0,
    };
    let player = PlayerProc::start(dir.path(), &spec);
    let c = &rig.controller;
    c.wait_status("first status over mqtts", T, |s| s["state"] == "idle")
        .await;
    c.publish_manifest(harness::sign_manifest(
        &harness::manifest(harness::SCREEN, 1, &[a.clone(), b.clone()]),
        &rig.key,
    ))
    .await;
    c.wait_status("playing media fetched over https", T, |s| {
        s["state"] == "playing" && s["manifest_version"] == 1
    })
    .await;
    assert!(
        rig.media.requests_for(&a.sha256).len() == 1,
        "a came through the https mirror"
    );
    assert!(
        !player.log().contains("plaintext link"),
        "no plaintext warning for an all-TLS configuration:\n{}",
        player.log()
    );

    // A man in the middle on the broker link: another CA, then the right CA for another name.
    let mitm_from = jiff::Timestamp::now();
    broker_front.present(&pki.wrong_ca_server);
    wait_log(&player, "unknown issuer").await;
    broker_front.present(&pki.wrong_host);
    wait_log(&player, "wrong host name: the server's certificate is for").await;
    assert!(
        player.log().contains("wrong-host.invalid"),
        "the names the certificate has are given:\n{}",
        player.log()
    );
    let mitm_to = jiff::Timestamp::now();
    // The proxy counts a failed handshake once its side of it ends, which can be after the
    // player has logged why it gave up.
    gatecast_testkit::wait::wait_until_async("both lying handshakes counted", T, || async {
        (broker_front.handshakes_failed() >= 2).then_some(())
    })
    .await;

    // The right server is back: the player reconnects and what it played meanwhile arrives.
    broker_front.present(&pki.server);
    c.wait_received("receipts played during the man in the middle", T, |r| {
        r.receipts.values().any(|b| {
            let rc = Receipt::parse(b).unwrap();
            rc.started_at > mitm_from && rc.ended_at < mitm_to
        })
    })
    .await;

    // A man in the middle on the mirror: the new manifest waits, the old one keeps playing,
    // and the status names the problem.
    let (n, n_bytes) = harness::slide(3, 1000, 1000);
    rig.media.put(&n.sha256, n_bytes);
    mirror.present(&pki.wrong_ca_server);
    c.publish_manifest(harness::sign_manifest(
        &harness::manifest(harness::SCREEN, 2, std::slice::from_ref(&n)),
        &rig.key,
    ))
    .await;
    let st = c
        .wait_status("the mirror's wrong CA in last_error", T, |s| {
            s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("unknown issuer"))
        })
        .await;
    assert_eq!(
        st["manifest_version"], 1,
        "still playing the cached manifest"
    );
    assert_eq!(st["pending_version"], 2);
    assert_eq!(st["state"], "syncing");
    assert!(
        rig.media.requests_for(&n.sha256).is_empty(),
        "nothing reached the real mirror"
    );
    mirror.present(&pki.server);
    c.wait_status("the new manifest plays once the mirror is right", T, |s| {
        s["manifest_version"] == 2 && s["state"] == "playing" && s["last_error"].is_null()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_player_pin_mismatch_names_both_pins() {
    let rig = Rig::start().await;
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let front = TlsFront::start(&pki.server, ([127, 0, 0, 1], rig.broker.port).into());
    let dir = tempfile::tempdir().unwrap();
    // Pinned: the host name is not checked (127.0.0.1 here), the key is.
    let spec = PlayerSpec {
        broker_url: format!("mqtts://127.0.0.1:{}", front.port()),
        media_base: rig.media.url.clone(),
        controller_key: rig.key.public(),
        extra_toml: format!("tls_pin_sha256 = \"{}\"\n", pki.server.pin_sha256),
        null_speed: 20.0,
    };
    let player = PlayerProc::start(dir.path(), &spec);
    let c = &rig.controller;
    c.wait_status("pinned link up", T, |s| s["state"] == "idle")
        .await;
    // Only the plaintext mirror is warned about, once.
    assert_eq!(
        player.log().matches("plaintext link").count(),
        1,
        "{}",
        player.log()
    );
    // Same CA, same names, another key: refused by the pin.
    let other = pki.issue("other-key", &["localhost", "127.0.0.1"]);
    front.present(&other);
    let expect = format!(
        "certificate pin mismatch: expected {}, server presented {}",
        pki.server.pin_sha256, other.pin_sha256
    );
    wait_log(&player, &expect).await;
    let ok = front.handshakes_ok();
    front.present(&pki.server);
    common::wait_for("back on the pinned server", T, || {
        (front.handshakes_ok() > ok).then_some(())
    })
    .await;
    c.wait_status("online again", T, |s| s["state"] == "idle")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_player_tls_and_plain_ports_mixed_up_are_named() {
    let rig = Rig::start().await;
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let front = TlsFront::start(&pki.server, ([127, 0, 0, 1], rig.broker.port).into());
    let ca = format!("tls_ca_file = \"{}\"\n", pki.ca_pem.display());
    // mqtts:// to the plain broker port.
    let d1 = tempfile::tempdir().unwrap();
    let tls_to_plain = PlayerProc::start(
        d1.path(),
        &PlayerSpec {
            broker_url: format!("mqtts://localhost:{}", rig.broker.port),
            media_base: rig.media.url.clone(),
            controller_key: rig.key.public(),
            extra_toml: ca.clone(),
            null_speed: 1.0,
        },
    );
    // mqtt:// to the TLS port.
    let d2 = tempfile::tempdir().unwrap();
    let plain_to_tls = PlayerProc::start(
        d2.path(),
        &PlayerSpec {
            broker_url: format!("mqtt://localhost:{}", front.port()),
            media_base: rig.media.url.clone(),
            controller_key: rig.key.public(),
            extra_toml: String::new(),
            null_speed: 1.0,
        },
    );
    wait_log(&tls_to_plain, gatecast_tls::NOT_TLS_WORDS).await;
    wait_log(&plain_to_tls, gatecast_tls::IS_TLS_WORDS).await;
}
