//! A certificate replaced on disk is served without a restart; a self-signed certificate is
//! made once and kept.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use gatecast_testkit::{wait_until_async, TestDir, TestPki};
use gatecast_tls::{spki_sha256_hex, ClientTrust, ServerTls};

use crate::handshake::{connect, serve};

#[tokio::test]
async fn reload_swaps_the_certificate_for_new_connections_and_keeps_it_on_error() {
    let pki = TestPki::new(&["localhost"]);
    let dir = TestDir::new("reload");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::copy(&pki.server.cert, &cert).unwrap();
    std::fs::copy(&pki.server.key, &key).unwrap();
    let tls = ServerTls::from_files(&cert, &key).unwrap();
    let addr = serve(tls.clone()).await;
    let ca = ClientTrust::CaFile(pki.ca_pem.clone());
    assert_eq!(tls.pin_sha256(), pki.server.pin_sha256);

    // A key that does not match the certificate is refused, naming the key file.
    let next = pki.issue("next", &["localhost"]);
    std::fs::copy(&next.key, &key).unwrap();
    let err = tls.reload().unwrap_err().to_string();
    assert!(
        err.contains("key.pem") && err.contains("does not belong"),
        "{err}"
    );
    let leaf = connect(addr, "localhost", &ca).await.unwrap();
    assert_eq!(spki_sha256_hex(&leaf).unwrap(), pki.server.pin_sha256);

    std::fs::copy(&next.cert, &cert).unwrap();
    tls.reload().unwrap();
    let leaf = connect(addr, "localhost", &ca).await.unwrap();
    assert_eq!(spki_sha256_hex(&leaf).unwrap(), next.pin_sha256);
    assert_eq!(tls.pin_sha256(), next.pin_sha256);
}

#[tokio::test]
async fn watch_picks_up_a_renewed_certificate_on_disk() {
    let pki = TestPki::new(&["localhost"]);
    let dir = TestDir::new("watch");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::copy(&pki.server.cert, &cert).unwrap();
    std::fs::copy(&pki.server.key, &key).unwrap();
    let tls = ServerTls::from_files(&cert, &key).unwrap();
    let _watch = tls.watch();
    let addr = serve(tls.clone()).await;
    let renewed = pki.issue("renewed", &["localhost"]);
    // Write the new pair the way certbot's deploy does: each file replaced whole.
    let tmp = dir.path().join("tmp.pem");
    std::fs::copy(&renewed.key, &tmp).unwrap();
    std::fs::rename(&tmp, &key).unwrap();
    std::fs::copy(&renewed.cert, &tmp).unwrap();
    std::fs::rename(&tmp, &cert).unwrap();
    let ca = ClientTrust::CaFile(pki.ca_pem.clone());
    let pin = wait_until_async(
        "the renewed certificate served",
        Duration::from_secs(15),
        || async {
            let leaf = connect(addr, "localhost", &ca).await.unwrap();
            let pin = spki_sha256_hex(&leaf).unwrap();
            (pin == renewed.pin_sha256).then_some(pin)
        },
    )
    .await;
    assert_eq!(pin, renewed.pin_sha256);
    assert_eq!(tls.pin_sha256(), renewed.pin_sha256);
}

#[tokio::test]
async fn a_self_signed_certificate_is_made_once_with_a_private_key() {
    let dir = TestDir::new("self-signed");
    let data = dir.path().join("data");
    let tls = ServerTls::self_signed(&data, &["gate.example".to_string()]).unwrap();
    let mode = std::fs::metadata(tls.key_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = ServerTls::self_signed(&data, &[]).unwrap();
    assert_eq!(tls.pin_sha256(), again.pin_sha256());
    let addr = serve(tls.clone()).await;
    let pinned = ClientTrust::PinSha256(tls.pin_sha256());
    connect(addr, "localhost", &pinned).await.unwrap();
    // Its own certificate as a CA file works for the names it was made for.
    let ca = ClientTrust::CaFile(tls.cert_path().to_path_buf());
    for host in ["gate.example", "localhost", "127.0.0.1"] {
        connect(addr, host, &ca).await.unwrap();
    }
}
