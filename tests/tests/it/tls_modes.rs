//! The controller's other TLS modes, on real processes: a self-signed certificate made once
//! and pinned, the plain listener that only redirects, the plain MQTT listener opened beside
//! MQTTS only when asked (with a warning), and the controller's client naming TLS spoken to a
//! plain broker port and plain MQTT spoken to a TLS one (docs/security.md §3 rows 60, 62, 64).

use std::os::unix::fs::PermissionsExt;

use gatecast_testkit::TestPki;
use gatecast_tests::{wait_until, Controller, ControllerOptions, ControllerTls, TestDir, DEADLINE};
use gatecast_tls::{rustls, spki_sha256_hex, ClientTrust};

/// The pin of the leaf `127.0.0.1:port` presents, trusting exactly `pin` (host not checked).
fn pinned_handshake(port: u16, pin: &str) -> Result<String, String> {
    let config = gatecast_tls::client_config(&ClientTrust::PinSha256(pin.into()))
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| gatecast_tls::explain(&e))?;
    }
    Ok(spki_sha256_hex(&conn.peer_certificates().unwrap()[0]).unwrap())
}

fn log_of(ctl: &Controller) -> String {
    std::fs::read_to_string(ctl.log_path()).unwrap_or_default()
}

#[test]
fn tls_self_signed_certificate_is_made_once_pinned_and_redirected_to() {
    let dir = TestDir::new("tls_self_signed");
    let data = dir.path().join("controller");
    let mut ctl = Controller::start(
        &data,
        ControllerOptions {
            extra_args: [
                "--tls-self-signed",
                "--tls-host",
                "gate.example",
                "--http-redirect",
                "127.0.0.1:0",
            ]
            .map(String::from)
            .to_vec(),
            ..ControllerOptions::default()
        },
    );
    let pin = ctl
        .pin_sha256
        .clone()
        .expect("pin_sha256= on the listening line");
    assert!(
        log_of(&ctl).contains(&format!("--pin-sha256 {pin}")),
        "the pin is printed"
    );
    let key = std::fs::metadata(data.join("tls-key.pem")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(pinned_handshake(ctl.http.port(), &pin).unwrap(), pin);

    // Trusting the certificate file as a CA works for the names it was made for.
    let cert = data.join("tls-cert.pem");
    let ok = gatecast_tests::https(
        "localhost",
        ctl.http.port(),
        &cert,
        "GET",
        "/healthz",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(ok.status, 200);

    // The redirect listener: 301 to the same host and path on the HTTPS port.
    let redirect = ctl.redirect.expect("redirect= on the listening line");
    let r = gatecast_tests::http(
        redirect,
        "GET",
        "/console/?lang=vi",
        &[("Host", "gate.example:80")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("https://gate.example:{}/console/?lang=vi", ctl.http.port()).as_str())
    );

    // A restart keeps the certificate, so pinned players keep trusting it.
    ctl.restart();
    assert_eq!(ctl.pin_sha256.as_deref(), Some(pin.as_str()));
    assert_eq!(pinned_handshake(ctl.http.port(), &pin).unwrap(), pin);
}

#[test]
fn attack_controller_names_tls_to_a_plain_broker_port_and_plain_to_a_tls_one() {
    let dir = TestDir::new("tls_plain_vs_tls");
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    // Both listeners: MQTTS, and the plain one asked for by name, with a loud warning.
    let broker_ctl = Controller::start(
        &dir.path().join("broker-ctl"),
        ControllerOptions {
            tls: Some(ControllerTls::from_pki(&pki)),
            extra_args: vec!["--mqtt".into(), "127.0.0.1:0".into()],
            ..ControllerOptions::default()
        },
    );
    let plain = broker_ctl.mqtt.expect("the plain listener asked for");
    let tls = broker_ctl.mqtts.expect("the TLS listener");
    assert!(log_of(&broker_ctl).contains("PLAINTEXT MQTT listener open"));

    let client = |name: &str, url: String| {
        Controller::start(
            &dir.path().join(name),
            ControllerOptions {
                broker: Some(url),
                extra_args: vec!["--broker-ca".into(), pki.ca_pem.display().to_string()],
                ..ControllerOptions::default()
            },
        )
    };
    let tls_to_plain = client(
        "tls-to-plain",
        format!("mqtts://localhost:{}", plain.port()),
    );
    wait_until("TLS to a plain port named", DEADLINE, || {
        log_of(&tls_to_plain)
            .contains(gatecast_tls::NOT_TLS_WORDS)
            .then_some(())
    });
    let plain_to_tls = Controller::start(
        &dir.path().join("plain-to-tls"),
        ControllerOptions {
            broker: Some(format!("mqtt://127.0.0.1:{}", tls.port())),
            ..ControllerOptions::default()
        },
    );
    wait_until("plain MQTT to a TLS port named", DEADLINE, || {
        log_of(&plain_to_tls)
            .contains(gatecast_tls::IS_TLS_WORDS)
            .then_some(())
    });
    assert!(
        broker_ctl.healthz().is_some(),
        "the broker's controller keeps serving"
    );
}
