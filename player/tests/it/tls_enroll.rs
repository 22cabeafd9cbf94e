//! `enroll` over HTTPS against a fake controller (warp behind a TLS front with a certificate
//! of a test CA): the trust given (`--pin-sha256`, `--ca-file`) is written into the
//! configuration, the answer's `tls_pin_sha256` pins the broker link only when the enrolment
//! went over a checked TLS link, and a wrong certificate is refused by name with nothing
//! written (`docs/protocol.md` §7, `docs/security.md` rows 67, 69).

use std::path::Path;

use gatecast_player::config::{BackendKind, PlayerConfig};
use gatecast_player::enroll::{enroll, EnrollError, EnrollOptions};
use gatecast_testkit::tls_front::TlsFront;
use gatecast_testkit::TestPki;
use playlists::keys::SecretKey;
use warp::Filter;

/// The pin the fake controller hands out (its "embedded broker's" certificate).
const ANSWER_PIN: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A fake controller on plain HTTP whose answer carries `tls_pin_sha256`; returns its address.
async fn fake_controller() -> std::net::SocketAddr {
    let key = SecretKey::from_seed([9; 32]).public();
    let route = warp::post()
        .and(warp::path!("api" / "v1" / "enroll"))
        .map(move || {
            warp::reply::json(&serde_json::json!({
                "broker": "mqtts://localhost:8883",
                "mqtt_username": "lc-a1",
                "mqtt_password": "pw-lc-a1-secret",
                "controller_key": key.to_base64(),
                "controller_key_id": key.key_id(),
                "media_base": "https://localhost:8443",
                "tls_pin_sha256": ANSWER_PIN,
            }))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    addr
}

fn options(url: String, dir: &Path) -> EnrollOptions {
    EnrollOptions {
        controller: url,
        screen: "lc-a1".into(),
        code: "123456".into(),
        expect_key_id: None,
        policy_root: Vec::new(),
        config_path: dir.join("etc/player.toml"),
        data_dir: dir.join("data"),
        backend: BackendKind::Null,
        ca_file: None,
        pin_sha256: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_over_https_writes_the_trust_and_pins_the_broker() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let front = TlsFront::start(&pki.server, fake_controller().await);
    let url = format!("https://localhost:{}", front.port());

    // --pin-sha256 (upper case with colons, as openssl prints it): pinned everywhere.
    let d = tempfile::tempdir().unwrap();
    let spaced: Vec<String> = pki
        .server
        .pin_sha256
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    let mut o = options(url.clone(), d.path());
    o.pin_sha256 = Some(spaced.join(":"));
    let cfg = enroll(&o).await.expect("enrolment over a pinned link");
    assert_eq!(cfg.tls_pin_sha256.as_deref(), Some(ANSWER_PIN));
    assert_eq!(cfg.tls_ca_file, None);
    assert_eq!(PlayerConfig::load(&o.config_path).unwrap(), cfg);

    // --ca-file: the CA is kept for the mirrors, the answer's pin pins the broker link.
    let d = tempfile::tempdir().unwrap();
    let mut o = options(url.clone(), d.path());
    o.ca_file = Some(pki.ca_pem.clone());
    let cfg = enroll(&o).await.expect("enrolment over a CA-checked link");
    assert_eq!(cfg.tls_ca_file.as_deref(), Some(pki.ca_pem.as_path()));
    assert_eq!(cfg.tls_pin_sha256.as_deref(), Some(ANSWER_PIN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_enrol_pin_learned_over_plain_http_is_not_trusted() {
    let d = tempfile::tempdir().unwrap();
    let addr = fake_controller().await;
    let o = options(format!("http://{addr}"), d.path());
    let cfg = enroll(&o).await.expect("plaintext enrolment still works");
    assert_eq!(
        cfg.tls_pin_sha256, None,
        "a pin that crossed the network in clear must not pin the broker link"
    );
    assert_eq!(cfg.tls_ca_file, None);
    // And the TLS options need an https:// controller.
    let mut o = options(format!("http://{addr}"), d.path());
    o.pin_sha256 = Some(ANSWER_PIN.into());
    let err = enroll(&o).await.unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_enrol_to_a_wrong_certificate_is_refused_by_name_and_writes_nothing() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let front = TlsFront::start(&pki.wrong_ca_server, fake_controller().await);
    let url = format!("https://localhost:{}", front.port());
    let cases = [
        (None, Some(pki.ca_pem.clone()), "unknown issuer".to_string()),
        (
            Some(pki.server.pin_sha256.clone()),
            None,
            format!(
                "certificate pin mismatch: expected {}, server presented {}",
                pki.server.pin_sha256, pki.wrong_ca_server.pin_sha256
            ),
        ),
    ];
    for (pin, ca, named) in cases {
        let d = tempfile::tempdir().unwrap();
        let mut o = options(url.clone(), d.path());
        o.pin_sha256 = pin;
        o.ca_file = ca;
        let err = enroll(&o).await.unwrap_err();
        assert!(matches!(err, EnrollError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains(&named), "{named:?} not in {err}");
        assert!(
            !o.config_path.exists(),
            "a refused enrolment writes nothing"
        );
        assert!(!o.data_dir.join("device.key").exists());
    }
}
