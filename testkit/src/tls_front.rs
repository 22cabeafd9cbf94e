//! TLS servers for tests, on 127.0.0.1 port 0, each on a runtime thread of its own so that
//! blocking and async tests use them alike:
//! - [`TlsFront`]: terminates TLS with a certificate from [`crate::pki`] and forwards the
//!   plaintext to a TCP port: an `mqtts://` broker in front of a plain one, an `https://`
//!   mirror in front of a plain HTTP server, or — presenting a wrong certificate — a man in
//!   the middle. [`TlsFront::present`] swaps the certificate and drops the live connections.
//! - [`HttpsFileServer`]: an `https://` media mirror serving `GET /media/<name>` from a
//!   directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gatecast_tls::tokio_rustls::TlsAcceptor;
use gatecast_tls::ServerTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::pki::CertFiles;
use crate::TestDir;

/// Counters and live connections shared with the server's tasks.
#[derive(Default)]
struct Shared {
    handshakes_ok: AtomicU64,
    handshakes_failed: AtomicU64,
    live: Mutex<Vec<AbortHandle>>,
}

/// A TLS server with a swappable certificate, its runtime thread and its counters.
struct Server {
    port: u16,
    tls: Arc<ServerTls>,
    files: (PathBuf, PathBuf),
    shared: Arc<Shared>,
    acceptor: Arc<Mutex<TlsAcceptor>>,
    stop: Option<oneshot::Sender<()>>,
    _dir: TestDir,
}

impl Server {
    /// Binds 127.0.0.1:0 and serves each handshaken connection with `serve`.
    fn start<F, Fut>(cert: &CertFiles, serve: F) -> Server
    where
        F: Fn(gatecast_tls::tokio_rustls::server::TlsStream<TcpStream>) -> Fut
            + Send
            + Sync
            + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let dir = TestDir::new("tls-front");
        let files = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        copy_cert(cert, &files);
        let tls = ServerTls::from_files(&files.0, &files.1).expect("test certificate loads");
        let acceptor = Arc::new(Mutex::new(tls.acceptor()));
        let acceptor_ = acceptor.clone();
        let shared = Arc::new(Shared::default());
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let sh = shared.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tls front runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                port_tx
                    .send(listener.local_addr().expect("addr").port())
                    .expect("port");
                let serve = Arc::new(serve);
                let accept = async {
                    loop {
                        let Ok((sock, _)) = listener.accept().await else {
                            continue;
                        };
                        let acceptor = acceptor_.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        let (sh2, serve) = (sh.clone(), serve.clone());
                        let task = tokio::spawn(async move {
                            match acceptor.accept(sock).await {
                                Ok(tls) => {
                                    sh2.handshakes_ok.fetch_add(1, Ordering::SeqCst);
                                    serve(tls).await;
                                }
                                Err(_) => {
                                    sh2.handshakes_failed.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        });
                        let mut live = sh.live.lock().unwrap_or_else(|e| e.into_inner());
                        live.retain(|h| !h.is_finished());
                        live.push(task.abort_handle());
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        let port = port_rx.recv().expect("tls front started");
        Server {
            port,
            tls,
            files,
            shared,
            acceptor,
            stop: Some(stop),
            _dir: dir,
        }
    }

    fn present(&self, cert: &CertFiles) {
        copy_cert(cert, &self.files);
        self.tls.reload().expect("the new certificate loads");
        // A new server configuration, so a new session cache: a client cannot resume a session
        // of the old certificate (a real man in the middle has none of its sessions either).
        *self.acceptor.lock().unwrap_or_else(|e| e.into_inner()) = self.tls.acceptor();
        let mut live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        for h in live.drain(..) {
            h.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let mut live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        for h in live.drain(..) {
            h.abort();
        }
    }
}

fn copy_cert(cert: &CertFiles, to: &(PathBuf, PathBuf)) {
    std::fs::copy(&cert.cert, &to.0).expect("copy certificate");
    std::fs::copy(&cert.key, &to.1).expect("copy key");
}

/// A TLS-terminating TCP forwarder; see the module documentation.
pub struct TlsFront {
    server: Server,
}

impl TlsFront {
    /// Presents `cert` on a free port and forwards every connection to `target`.
    pub fn start(cert: &CertFiles, target: SocketAddr) -> TlsFront {
        let server = Server::start(cert, move |mut tls| async move {
            if let Ok(mut up) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            }
        });
        TlsFront { server }
    }

    /// Like [`TlsFront::start`], but speaks TLS to `target` too (trusting `upstream`, for the
    /// name `server_name`): a man in the middle before a TLS-only server, such as a controller
    /// whose embedded broker listens only with `--mqtts`.
    pub fn start_tls_upstream(
        cert: &CertFiles,
        target: SocketAddr,
        upstream: Arc<gatecast_tls::rustls::ClientConfig>,
        server_name: &str,
    ) -> TlsFront {
        let name = gatecast_tls::rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .expect("a valid server name");
        let connector = gatecast_tls::tokio_rustls::TlsConnector::from(upstream);
        let server = Server::start(cert, move |mut tls| {
            let (connector, name) = (connector.clone(), name.clone());
            async move {
                let Ok(tcp) = TcpStream::connect(target).await else {
                    return;
                };
                if let Ok(mut up) = connector.connect(name, tcp).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            }
        });
        TlsFront { server }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// From the next handshake on, presents `cert`; the connections made under the old one are
    /// closed (a man in the middle appears, or goes away).
    pub fn present(&self, cert: &CertFiles) {
        self.server.present(cert);
    }

    /// Handshakes that completed.
    pub fn handshakes_ok(&self) -> u64 {
        self.server.shared.handshakes_ok.load(Ordering::SeqCst)
    }

    /// Handshakes the client (or the server) gave up.
    pub fn handshakes_failed(&self) -> u64 {
        self.server.shared.handshakes_failed.load(Ordering::SeqCst)
    }
}

/// An `https://` media mirror: `GET /media/<name>` answers the file `<dir>/<name>` (200 with
/// its length) or 404; one request per connection, nothing else supported.
pub struct HttpsFileServer {
    server: Server,
    requests: Arc<AtomicU64>,
}

impl HttpsFileServer {
    /// Serves `dir` over HTTPS with `cert` on a free port.
    pub fn start(cert: &CertFiles, dir: &Path) -> HttpsFileServer {
        let dir = dir.to_path_buf();
        let requests = Arc::new(AtomicU64::new(0));
        let count = requests.clone();
        let server = Server::start(cert, move |tls| {
            let (dir, count) = (dir.clone(), count.clone());
            async move {
                let _ = serve_file(tls, &dir, &count).await;
            }
        });
        HttpsFileServer { server, requests }
    }

    /// `https://localhost:PORT` (use a certificate with `localhost` among its names).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.server.port)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// Presents `cert` from the next handshake on (see [`TlsFront::present`]).
    pub fn present(&self, cert: &CertFiles) {
        self.server.present(cert);
    }

    /// Requests answered with a file.
    pub fn files_served(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Handshakes the client (or the server) gave up.
    pub fn handshakes_failed(&self) -> u64 {
        self.server.shared.handshakes_failed.load(Ordering::SeqCst)
    }
}

async fn serve_file(
    mut tls: gatecast_tls::tokio_rustls::server::TlsStream<TcpStream>,
    dir: &Path,
    served: &AtomicU64,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or("");
    let file = path
        .strip_prefix("/media/")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|n| dir.join(n));
    let opened = match file {
        Some(f) => tokio::fs::File::open(f).await.ok(),
        None => None,
    };
    match opened {
        Some(mut body) => {
            served.fetch_add(1, Ordering::SeqCst);
            let len = body.metadata().await?.len();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {len}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n"
            );
            tls.write_all(head.as_bytes()).await?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = body.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).await?;
            }
        }
        _ => {
            tls.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await?;
        }
    }
    tls.shutdown().await
}
