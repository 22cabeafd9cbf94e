//! Trust decisions and the words [`gatecast_tls::explain`] finds for each refusal.

use std::net::SocketAddr;
use std::sync::Arc;

use gatecast_testkit::pki::WRONG_HOST;
use gatecast_testkit::{CertFiles, TestPki};
use gatecast_tls::rustls::pki_types::ServerName;
use gatecast_tls::{client_config, explain, ClientTrust, ServerTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TLS server answering "ok" to every connection; returns its address.
pub async fn serve(tls: Arc<ServerTls>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut s) = acceptor.accept(tcp).await {
                    let _ = s.write_all(b"ok").await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    addr
}

/// Connects with `trust` to `host` at `addr`; returns the leaf the server presented, or the
/// explained error.
pub async fn connect(addr: SocketAddr, host: &str, trust: &ClientTrust) -> Result<Vec<u8>, String> {
    let config = client_config(trust).map_err(|e| e.to_string())?;
    let connector = gatecast_tls::tokio_rustls::TlsConnector::from(config);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut s = connector
        .connect(name, tcp)
        .await
        .map_err(|e| explain(&e))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(|e| explain(&e))?;
    assert_eq!(buf, b"ok");
    Ok(s.get_ref().1.peer_certificates().unwrap()[0].to_vec())
}

async fn serve_files(files: &CertFiles) -> SocketAddr {
    serve(ServerTls::from_files(&files.cert, &files.key).unwrap()).await
}

#[tokio::test]
async fn a_ca_file_trusts_its_server_and_names_every_refusal() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let ca = ClientTrust::CaFile(pki.ca_pem.clone());

    let good = serve_files(&pki.server).await;
    let leaf = connect(good, "localhost", &ca).await.unwrap();
    assert_eq!(
        gatecast_tls::spki_sha256_hex(&leaf).unwrap(),
        pki.server.pin_sha256
    );
    connect(good, "127.0.0.1", &ca).await.unwrap();

    let wrong_ca = serve_files(&pki.wrong_ca_server).await;
    let err = connect(wrong_ca, "localhost", &ca).await.unwrap_err();
    assert!(err.starts_with("unknown issuer"), "{err}");

    let wrong_host = serve_files(&pki.wrong_host).await;
    let err = connect(wrong_host, "localhost", &ca).await.unwrap_err();
    assert!(
        err.contains("wrong host name") && err.contains(WRONG_HOST) && err.contains("localhost"),
        "{err}"
    );

    let expired = serve_files(&pki.expired).await;
    let err = connect(expired, "localhost", &ca).await.unwrap_err();
    assert!(err.contains("has expired"), "{err}");

    let early = serve_files(&pki.not_yet_valid).await;
    let err = connect(early, "localhost", &ca).await.unwrap_err();
    assert!(err.contains("not yet valid"), "{err}");
}

#[tokio::test]
async fn a_pin_trusts_exactly_its_key_and_names_both_pins() {
    let pki = TestPki::new(&["localhost"]);
    let good = serve_files(&pki.server).await;
    // Host name is not checked for a pin: the key is what is trusted.
    let pinned = ClientTrust::PinSha256(pki.server.pin_sha256.to_uppercase());
    connect(good, "any-name.example", &pinned).await.unwrap();

    let mitm = serve_files(&pki.wrong_ca_server).await;
    let err = connect(mitm, "localhost", &pinned).await.unwrap_err();
    assert_eq!(
        err,
        format!(
            "certificate pin mismatch: expected {}, server presented {}",
            pki.server.pin_sha256, pki.wrong_ca_server.pin_sha256
        )
    );
    let bad = client_config(&ClientTrust::PinSha256("12ab".into())).unwrap_err();
    assert!(bad.to_string().contains("64 hex digits"), "{bad}");
}

#[tokio::test]
async fn a_pin_or_chain_trusts_the_pinned_key_or_the_ca_for_the_name() {
    let pki = TestPki::new(&["localhost"]);
    // Pinned to a self-signed-like server of another CA; mirrors chain to the test CA.
    let trust = ClientTrust::PinOrChain {
        pin: pki.wrong_ca_server.pin_sha256.clone(),
        ca: Some(pki.ca_pem.clone()),
    };
    let pinned = serve_files(&pki.wrong_ca_server).await;
    connect(pinned, "any-name.example", &trust).await.unwrap();
    let mirror = serve_files(&pki.server).await;
    connect(mirror, "localhost", &trust).await.unwrap();
    // Neither the pin nor a chain for the name dialled.
    let wrong_host = serve_files(&pki.wrong_host).await;
    let err = connect(wrong_host, "localhost", &trust).await.unwrap_err();
    assert!(err.contains("wrong host name"), "{err}");
    // No usable CA: the pin alone.
    let pin_only = ClientTrust::PinOrChain {
        pin: pki.wrong_ca_server.pin_sha256.clone(),
        ca: Some(pki.server.key.clone()),
    };
    connect(pinned, "localhost", &pin_only).await.unwrap();
    let err = connect(mirror, "localhost", &pin_only).await.unwrap_err();
    assert!(err.contains("certificate pin mismatch"), "{err}");
}

#[tokio::test]
async fn tls_to_a_plain_port_is_named() {
    // A plain HTTP server: answers a ClientHello with a 400.
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = http.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    // A plain MQTT broker: closes on a packet it does not understand.
    let mqtt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mqtt_addr = mqtt.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = mqtt.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = tcp.read(&mut buf).await;
        }
    });
    let pki = TestPki::new(&["localhost"]);
    let ca = ClientTrust::CaFile(pki.ca_pem.clone());
    for addr in [http_addr, mqtt_addr] {
        let err = connect(addr, "localhost", &ca).await.unwrap_err();
        assert_eq!(err, gatecast_tls::NOT_TLS_WORDS, "{addr}");
    }
}

#[tokio::test]
async fn tls_13_is_preferred_and_12_still_spoken() {
    use gatecast_tls::rustls::{self, ProtocolVersion};
    let pki = TestPki::new(&["localhost"]);
    let addr = serve_files(&pki.server).await;
    let ca = client_config(&ClientTrust::CaFile(pki.ca_pem.clone())).unwrap();
    let only_12 = rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
        .with_root_certificates(ca_roots(&pki))
        .with_no_client_auth();
    for (config, want) in [
        (ca, ProtocolVersion::TLSv1_3),
        (Arc::new(only_12), ProtocolVersion::TLSv1_2),
    ] {
        let connector = gatecast_tls::tokio_rustls::TlsConnector::from(config);
        let tcp = TcpStream::connect(addr).await.unwrap();
        let s = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(s.get_ref().1.protocol_version(), Some(want));
    }
}

fn ca_roots(pki: &TestPki) -> gatecast_tls::rustls::RootCertStore {
    let mut roots = gatecast_tls::rustls::RootCertStore::empty();
    roots.add_parsable_certificates(gatecast_tls::load_certs(&pki.ca_pem).unwrap());
    roots
}
