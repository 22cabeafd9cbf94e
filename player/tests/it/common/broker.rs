//! A real MQTT broker for tests: gatecast's embedded broker in-process on a free port, plus a
//! proxy in front of it that a test can cut to simulate an outage of the broker or of the
//! gate's link.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gatecast_broker::{BrokerConfig, CredentialCheck, EmbeddedBroker};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Username and password the test clients standing in for the controller log in with (the
/// test broker lets every login in; the username is the controller's, so its topics are not
/// confined).
pub const TEST_LOGIN: (&str, &str) = (playlists::topics::CONTROLLER_USER, "test-password");

/// Lets every login in: the player tests are about the player, not about broker accounts.
struct AllowAll;

impl CredentialCheck for AllowAll {
    fn check(&self, _username: &str, _password: &str) -> bool {
        true
    }
}

/// A running embedded broker (it stops when this value is dropped).
pub struct TestBroker {
    /// Port it listens on (127.0.0.1).
    pub port: u16,
    _broker: EmbeddedBroker,
}

impl TestBroker {
    /// Starts the broker on a free port (port 0, bound by the broker itself), accepting every
    /// login and without the per-screen topic ACL, as the player tests' clients are not all
    /// screens.
    pub fn start() -> TestBroker {
        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
        let mut config = BrokerConfig::new(listen);
        config.topic_acl = false;
        let broker = EmbeddedBroker::start(config, Arc::new(AllowAll)).expect("test broker starts");
        TestBroker {
            port: broker.local_addr().port(),
            _broker: broker,
        }
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
