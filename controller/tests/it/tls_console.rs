//! The web console over HTTPS in a real headless Chromium that trusts exactly the test
//! certificate's key (`--ignore-certificate-errors-spki-list` with its pin, not a blanket
//! ignore): an admin signs in and sees a registered screen in Vietnamese; a browser pinned to
//! another key is refused. Screenshot: `target/console-screenshots/tls-01-console-https.png`.

use crate::console_support;

use console_support::{browser_available, screenshot_dir, start_driver, wait_for, Session};
use gatecast_controller::config::{BrokerMode, Config, TlsSource};
use gatecast_testkit::TestPki;
use gatecast_tls::ClientTrust;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_console_opens_over_https_in_chromium_trusting_the_pin() {
    let test = "tls_console_opens_over_https_in_chromium_trusting_the_pin";
    if !browser_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let mut config = Config::with_data_dir(dir.path().join("controller"));
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.broker = BrokerMode::Embedded("127.0.0.1:0".parse().unwrap());
    config.tls = Some(TlsSource::Files {
        cert: pki.server.cert.clone(),
        key: pki.server.key.clone(),
    });
    config.mqtts_addr = Some("127.0.0.1:0".parse().unwrap());
    config.mqtt_plain = false;
    let running = gatecast_controller::serve::start(config)
        .await
        .expect("controller starts");
    assert_eq!(running.mqtt_addr, None);
    let base = format!("https://localhost:{}", running.http_addr.port());
    let admin = std::fs::read_to_string(&running.admin_token_path)
        .unwrap()
        .trim()
        .to_string();

    // A screen with a Vietnamese name, registered over HTTPS trusting the test CA.
    let tls = gatecast_tls::client_config(&ClientTrust::CaFile(pki.ca_pem.clone())).unwrap();
    let http = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/screens"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(json!({"id": "lc-tls-1", "name": "Cửa khẩu quốc tế Lào Cai", "gate": "Lào Cai", "languages": ["vi"], "timezone": "Asia/Ho_Chi_Minh"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    // Pinned to another key: the certificate is refused.
    let wrong = Session::with_args(
        &driver,
        &dir.path().join("profile-wrong"),
        dir.path(),
        1366,
        768,
        &[format!(
            "--ignore-certificate-errors-spki-list={}",
            pki.wrong_ca_server.pin_sha256_base64
        )],
    )
    .await;
    let refused = wrong.try_goto(&format!("{base}/")).await;
    let signin = wrong.find("#signin").await;
    assert!(
        refused.is_err() || signin.is_none(),
        "a browser pinned to another key opened the console: {refused:?}"
    );
    wrong.quit().await;

    let s = Session::with_args(
        &driver,
        &dir.path().join("profile"),
        dir.path(),
        1366,
        768,
        &[format!(
            "--ignore-certificate-errors-spki-list={}",
            pki.server.pin_sha256_base64
        )],
    )
    .await;
    crate::console_browser::sign_in(&s, &base, &admin).await;
    s.wait(".card[data-screen='lc-tls-1']").await;
    assert_eq!(s.js("return location.protocol", vec![]).await, "https:");
    let text = wait_for(20, "the screen card's text", || async {
        let t = s.text().await;
        t.contains("Cửa khẩu quốc tế Lào Cai").then_some(t)
    })
    .await;
    assert!(text.contains("Ngoại tuyến"), "{text}");
    let shot = screenshot_dir().join("tls-01-console-https.png");
    s.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());
    s.quit().await;
    running.shutdown().await;
}
