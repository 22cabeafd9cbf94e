//! The controller over TLS, on real processes with certificates made by the test
//! (docs/security.md §3 rows 60–64): HTTPS with curl and openssl (TLS 1.3, 1.2, nothing
//! older), no plaintext port open, a certificate replaced on disk served without a restart,
//! `mosquitto_sub`/`mosquitto_pub` on the embedded broker's MQTTS listener, and the controller
//! against an external mosquitto with a TLS listener: publishing through it, and refusing a
//! broker with a wrong-CA or wrong-host certificate with the named error.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gatecast_testkit::TestPki;
use gatecast_tests::{
    free_port, require_program, wait_until, Controller, ControllerOptions, ControllerTls,
    Mosquitto, TestDir, DEADLINE,
};
use gatecast_tls::{rustls, spki_sha256_hex, ClientTrust};

fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A TLS handshake with `127.0.0.1:port` for `localhost`, trusting `ca`: the pin of the leaf
/// presented, or the problem in words.
fn presented_pin(port: u16, ca: &Path) -> Result<String, String> {
    let config =
        gatecast_tls::client_config(&ClientTrust::CaFile(ca.into())).map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| gatecast_tls::explain(&e))?;
    }
    let leaf = &conn.peer_certificates().expect("a certificate")[0];
    Ok(spki_sha256_hex(leaf).unwrap())
}

/// The TCP ports process `pid` listens on (its socket inodes matched in /proc/net/tcp{,6}).
fn listening_ports(pid: u32) -> HashSet<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the controller's fds")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().to_string();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(t) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in t.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && inodes.contains(f[9]) {
                let port = f[1].rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

fn tls_controller(dir: &Path, tls: ControllerTls) -> Controller {
    Controller::start(
        &dir.join("controller"),
        ControllerOptions {
            tls: Some(tls),
            ..ControllerOptions::default()
        },
    )
}

#[test]
fn tls_https_answers_curl_and_openssl_and_no_plaintext_port_is_open() {
    let test = "tls_https_answers_curl_and_openssl_and_no_plaintext_port_is_open";
    if !require_program(test, "curl", "curl") || !require_program(test, "openssl", "openssl") {
        return;
    }
    let dir = TestDir::new(test);
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let ctl = tls_controller(dir.path(), ControllerTls::from_pki(&pki));
    assert_eq!(ctl.mqtt, None, "no plain MQTT listener with TLS");
    let mqtts = ctl.mqtts.expect("an MQTTS listener").port();
    assert_eq!(
        ctl.pin_sha256.as_deref(),
        Some(pki.server.pin_sha256.as_str())
    );
    let https = ctl.http.port();

    // curl trusting the test CA: the API answers, with HSTS.
    let url = format!("https://localhost:{https}/healthz");
    let ca = pki.ca_pem.display().to_string();
    let o = run("curl", &["-sS", "-D", "-", "--cacert", &ca, &url]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.contains("strict-transport-security: max-age=31536000"),
        "{out}"
    );
    // curl trusting only the system roots refuses the test CA's certificate.
    let o = run("curl", &["-sS", &url]);
    assert!(
        !o.status.success(),
        "curl trusted a test certificate: {}",
        text(&o)
    );

    // openssl: TLS 1.3 by default, 1.2 when asked, 1.1 refused by the server (the client is
    // allowed to offer it with SECLEVEL=0).
    let connect = format!("127.0.0.1:{https}");
    let s_client = |extra: &[&str]| {
        let mut args = vec!["s_client", "-connect", &connect, "-servername", "localhost"];
        args.extend(["-brief", "-CAfile", &ca]);
        args.extend(extra);
        run("openssl", &args)
    };
    let o = s_client(&[]);
    let out = text(&o);
    assert!(out.contains("Protocol version: TLSv1.3"), "{out}");
    assert!(out.contains("Verification: OK"), "{out}");
    let out = text(&s_client(&["-tls1_2"]));
    assert!(out.contains("Protocol version: TLSv1.2"), "{out}");
    let o = s_client(&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(!out.contains("Protocol version: TLSv1.1"), "{out}");
    assert!(
        out.contains("protocol version") || out.contains("alert"),
        "{out}"
    );

    // Every port the controller listens on speaks TLS with the test certificate.
    let ports = listening_ports(ctl.pid().expect("running"));
    assert_eq!(ports, HashSet::from([https, mqtts]), "listening ports");
    for port in &ports {
        assert_eq!(
            presented_pin(*port, &pki.ca_pem).unwrap(),
            pki.server.pin_sha256,
            "port {port}"
        );
    }

    // Plain HTTP spoken to the HTTPS port: a clear 400, and the server keeps serving.
    let plain = gatecast_tests::http(ctl.http, "GET", "/healthz", &[], b"").unwrap();
    assert_eq!(plain.status, 400);
    assert!(plain.text().contains("use https://"), "{}", plain.text());
    // Plain MQTT spoken to the MQTTS port gets no session.
    let o = run(
        "mosquitto_sub",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &mqtts.to_string(),
            "-t",
            "x",
            "-C",
            "1",
            "-W",
            "3",
            "-u",
            "u",
            "-P",
            "p",
        ]
        .map(OsStr::new),
    );
    assert!(!o.status.success(), "plain MQTT accepted: {}", text(&o));
    assert!(ctl.healthz().is_some(), "the controller still answers");
}

#[test]
fn tls_mosquitto_clients_use_the_embedded_mqtts_listener() {
    let test = "tls_mosquitto_clients_use_the_embedded_mqtts_listener";
    if !require_program(test, "mosquitto_sub", "mosquitto-clients") {
        return;
    }
    let dir = TestDir::new(test);
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let ctl = tls_controller(dir.path(), ControllerTls::from_pki(&pki));
    let port = ctl.mqtts.unwrap().port().to_string();
    let password = std::fs::read_to_string(ctl.data().join("mqtt-controller.password")).unwrap();
    let topic = "gatecast/v1/screens/tls-probe/manifest";
    let common = |ca: &Path| -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = [
            "-h",
            "localhost",
            "-p",
            &port,
            "-u",
            "_controller",
            "-P",
            password.trim(),
            "-t",
            topic,
            "--cafile",
        ]
        .iter()
        .map(|s| s.into())
        .collect();
        a.push(ca.as_os_str().to_owned());
        a
    };
    let mut publish = common(&pki.ca_pem);
    publish.extend(["-r", "-q", "1", "-m", "hello over tls", "-i", "tls-pub"].map(Into::into));
    let o = Command::new("mosquitto_pub")
        .args(&publish)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "mosquitto_pub: {}", text(&o));
    let mut subscribe = common(&pki.ca_pem);
    subscribe.extend(["-C", "1", "-W", "10", "-i", "tls-sub"].map(Into::into));
    let o = Command::new("mosquitto_sub")
        .args(&subscribe)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "mosquitto_sub: {}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "hello over tls");
    // The same client trusting another CA refuses the broker.
    let mut wrong = common(&pki.wrong_ca_pem);
    wrong.extend(["-C", "1", "-W", "5", "-i", "tls-wrong"].map(Into::into));
    let o = Command::new("mosquitto_sub")
        .args(&wrong)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "a wrong CA was accepted: {}", text(&o));
}

#[test]
fn tls_a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let dir = TestDir::new("tls_certificate_replaced_on_disk");
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let cert = dir.path().join("live-cert.pem");
    let key = dir.path().join("live-key.pem");
    std::fs::copy(&pki.server.cert, &cert).unwrap();
    std::fs::copy(&pki.server.key, &key).unwrap();
    let mut ctl = tls_controller(
        dir.path(),
        ControllerTls {
            cert: cert.clone(),
            key: key.clone(),
            ..ControllerTls::from_pki(&pki)
        },
    );
    let https = ctl.http.port();
    let mqtts = ctl.mqtts.unwrap().port();
    assert_eq!(
        presented_pin(https, &pki.ca_pem).unwrap(),
        pki.server.pin_sha256
    );

    // A renewal as certbot's deploy hook does it: each file replaced whole.
    let renewed = pki.issue("renewed", &["localhost", "127.0.0.1"]);
    for (from, to) in [(&renewed.key, &key), (&renewed.cert, &cert)] {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
    for port in [https, mqtts] {
        wait_until(
            &format!("the renewed certificate on port {port}"),
            DEADLINE,
            || (presented_pin(port, &pki.ca_pem).ok()? == renewed.pin_sha256).then_some(()),
        );
    }
    let log = std::fs::read_to_string(ctl.log_path()).unwrap();
    assert!(
        log.contains("TLS certificate reloaded with a new key"),
        "{log}"
    );

    // SIGHUP re-reads the files even when nothing changed (the poll would not): one more
    // reload in the log, and the process keeps running.
    let reloads = || {
        std::fs::read_to_string(ctl.log_path())
            .unwrap_or_default()
            .matches("TLS certificate reloaded")
            .count()
    };
    let before = reloads();
    let pid = ctl.pid().expect("running").to_string();
    assert!(run("kill", &["-HUP", &pid]).status.success());
    wait_until("a reload on SIGHUP", DEADLINE, || {
        (reloads() > before).then_some(())
    });
    assert!(ctl.is_running());
    assert_eq!(ctl.starts(), 1, "no restart");
    assert!(ctl.healthz().is_some());
}

/// Sets up mosquitto with a TLS listener serving `server` (cert, key) for a controller
/// started with `--broker mqtts://localhost:PORT --broker-ca <test CA>`; returns both.
fn controller_behind_mosquitto_tls(
    dir: &Path,
    pki: &TestPki,
    server: &gatecast_testkit::CertFiles,
) -> (Controller, Mosquitto, u16) {
    let tls_port = free_port();
    let opts = ControllerOptions {
        broker: Some(format!("mqtts://localhost:{tls_port}")),
        extra_args: vec!["--broker-ca".into(), pki.ca_pem.display().to_string()],
        ..ControllerOptions::default()
    };
    let mut ctl = Controller::start(&dir.join("controller"), opts);
    ctl.stop();
    let files = dir.join("broker-files");
    gatecast_tests::broker_acl_with(
        ctl.data(),
        &files,
        &[
            OsStr::new("--tls-cert"),
            server.cert.as_os_str(),
            OsStr::new("--tls-key"),
            server.key.as_os_str(),
            OsStr::new("--mqtts-port"),
            OsStr::new(&tls_port.to_string()),
        ],
    );
    let conf = std::fs::read_to_string(files.join("tls-listener.conf")).unwrap();
    assert!(conf.contains(&format!("listener {tls_port}\n")), "{conf}");
    assert!(conf.contains("tls_version tlsv1.2"), "{conf}");
    let broker = Mosquitto::start(dir, &files, free_port());
    wait_until("mosquitto's TLS listener", DEADLINE, || {
        TcpStream::connect(("127.0.0.1", tls_port)).ok()
    });
    ctl.start_again();
    (ctl, broker, tls_port)
}

#[test]
fn tls_controller_publishes_through_mosquitto_over_mqtts() {
    let test = "tls_controller_publishes_through_mosquitto_over_mqtts";
    if !require_program(test, "mosquitto", "mosquitto")
        || !require_program(test, "mosquitto_sub", "mosquitto-clients")
    {
        return;
    }
    let dir = TestDir::new(test);
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let (ctl, broker, tls_port) = controller_behind_mosquitto_tls(dir.path(), &pki, &pki.server);
    wait_until(
        "controller connected to mosquitto over TLS",
        DEADLINE,
        || (ctl.healthz()?["mqtt_connected"] == true).then_some(()),
    );
    gatecast_tests::standard_content(&ctl, "lao-cai", 1000);
    ctl.register_screen("lc-a1", "lao-cai");
    let published = ctl.publish(&["lc-a1"]);
    assert!(
        published["published"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{published}"
    );
    // The retained manifest is on mosquitto, read over its TLS listener.
    let password = std::fs::read_to_string(ctl.data().join("mqtt-controller.password")).unwrap();
    let port = tls_port.to_string();
    let o = run(
        "mosquitto_sub",
        &[
            "-h",
            "localhost",
            "-p",
            &port,
            "--cafile",
            &pki.ca_pem.display().to_string(),
            "-u",
            "_controller",
            "-P",
            password.trim(),
            "-i",
            "tls-check",
            "-t",
            "gatecast/v1/screens/lc-a1/manifest",
            "-C",
            "1",
            "-W",
            "10",
        ]
        .map(OsStr::new),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\nmosquitto log:\n{}",
        text(&o),
        broker.log_tail()
    );
    assert!(
        out.contains("payloadType"),
        "not a manifest envelope: {out}"
    );
}

#[test]
fn attack_controller_refuses_a_broker_of_the_wrong_ca_or_host_by_name() {
    let test = "attack_controller_refuses_a_broker_of_the_wrong_ca_or_host_by_name";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let dir = TestDir::new(test);
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let (ctl, mut broker, _) =
        controller_behind_mosquitto_tls(dir.path(), &pki, &pki.wrong_ca_server);
    let warnings = |needle: &str| {
        std::fs::read_to_string(ctl.log_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(needle))
            .count()
    };
    wait_until("the named wrong-CA error in the log", DEADLINE, || {
        (warnings("unknown issuer") > 0).then_some(())
    });
    // It keeps retrying (backoff): mosquitto sees the handshakes the controller aborts; the
    // controller logs the same problem once.
    wait_until("three refused handshakes at mosquitto", DEADLINE, || {
        (broker.log_tail().matches("unknown ca").count() >= 3).then_some(())
    });
    assert_eq!(ctl.healthz().unwrap()["mqtt_connected"], false);
    assert_eq!(warnings("unknown issuer"), 1, "logged once per change");

    // A certificate of the right CA for another host name: named too.
    let files = dir.path().join("broker-files");
    let conf = std::fs::read_to_string(files.join("tls-listener.conf")).unwrap();
    let conf = conf
        .replace(
            &pki.wrong_ca_server.cert.display().to_string(),
            &pki.wrong_host.cert.display().to_string(),
        )
        .replace(
            &pki.wrong_ca_server.key.display().to_string(),
            &pki.wrong_host.key.display().to_string(),
        );
    std::fs::write(files.join("tls-listener.conf"), &conf).unwrap();
    broker.stop();
    let mut broker = Mosquitto::start(dir.path(), &files, broker.port);
    wait_until("the named wrong-host error in the log", DEADLINE, || {
        (warnings("wrong host name") > 0).then_some(())
    });
    let log = std::fs::read_to_string(ctl.log_path()).unwrap();
    assert!(
        log.contains(gatecast_testkit::pki::WRONG_HOST),
        "the names the certificate has"
    );

    // The right broker returns: the controller connects by itself.
    let conf = conf
        .replace(
            &pki.wrong_host.cert.display().to_string(),
            &pki.server.cert.display().to_string(),
        )
        .replace(
            &pki.wrong_host.key.display().to_string(),
            &pki.server.key.display().to_string(),
        );
    std::fs::write(files.join("tls-listener.conf"), &conf).unwrap();
    broker.stop();
    let _broker = Mosquitto::start(dir.path(), &files, broker.port);
    wait_until(
        "controller connected to the right broker",
        gatecast_tests::RECONNECT_DEADLINE,
        || (ctl.healthz()?["mqtt_connected"] == true).then_some(()),
    );
}
