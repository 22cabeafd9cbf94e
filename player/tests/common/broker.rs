//! A real MQTT broker for tests: rumqttd in-process on a free port, plus a proxy in front of
//! it that a test can cut to simulate an outage of the broker or of the gate's link.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running rumqttd (it lives until the test process exits).
pub struct TestBroker {
    /// Port it listens on (127.0.0.1).
    pub port: u16,
}

impl TestBroker {
    /// Starts rumqttd on a free port and waits until it accepts connections.
    pub fn start() -> TestBroker {
        let port = super::free_port();
        let listen: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = ServerSettings {
            name: "v4-test".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 8 * 1024 * 1024,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = Config {
            id: 0,
            router: RouterConfig {
                max_connections: 100,
                max_outgoing_packet_count: 200,
                max_segment_size: 16 * 1024 * 1024,
                max_segment_count: 10,
                ..Default::default()
            },
            v4: Some(HashMap::from([("1".to_owned(), server)])),
            ..Default::default()
        };
        std::thread::spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("test broker stopped: {e}");
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(listen).is_err() {
            assert!(
                Instant::now() < deadline,
                "test broker did not come up on {listen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TestBroker { port }
    }

    /// `mqtt://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// A TCP proxy to a broker that can be cut (all connections dropped, new ones refused) and
/// restored: from the player's side this is exactly a broker outage.
pub struct CutProxy {
    /// Port the proxy listens on.
    pub port: u16,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    refused: Arc<std::sync::atomic::AtomicU64>,
}

impl CutProxy {
    /// Starts a proxy to `127.0.0.1:target`.
    pub async fn start(target: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cut_rx) = watch::channel(0u64);
        let up2 = up.clone();
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let refused2 = refused.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    refused2.fetch_add(1, Ordering::SeqCst);
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                cut_rx.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        CutProxy {
            port,
            up,
            cut,
            refused,
        }
    }

    /// `mqtt://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|g| *g += 1);
    }

    /// Connection attempts refused while cut.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
