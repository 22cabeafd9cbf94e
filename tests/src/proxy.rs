//! A TCP proxy that can cut a link: a network outage between a player and its broker.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A TCP proxy on 127.0.0.1 in front of `target`. [`CutProxy::cut`] closes every connection
/// through it and refuses new ones (they are accepted and closed at once) until
/// [`CutProxy::restore`]: a network outage between a player and its broker.
pub struct CutProxy {
    /// The proxy's own port.
    pub port: u16,
    shared: Arc<ProxyShared>,
}

struct ProxyShared {
    cut: AtomicBool,
    stop: AtomicBool,
    refused: AtomicU64,
    accepted: AtomicU64,
    conns: Mutex<Vec<TcpStream>>,
}

impl CutProxy {
    /// Starts the proxy.
    pub fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(ProxyShared {
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                if sh.cut.load(Ordering::SeqCst) {
                    sh.refused.fetch_add(1, Ordering::SeqCst);
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                sh.accepted.fetch_add(1, Ordering::SeqCst);
                {
                    let mut conns = sh.conns.lock().unwrap_or_else(|e| e.into_inner());
                    if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
                        conns.push(a);
                        conns.push(b);
                    }
                }
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        CutProxy { port, shared }
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        let mut conns = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in conns.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Connections refused while cut.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections let through.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    #[test]
    fn proxy_cuts_and_restores() {
        let target = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = target.local_addr().unwrap();
        thread::spawn(move || {
            for c in target.incoming().map_while(Result::ok) {
                let mut w = c.try_clone().unwrap();
                thread::spawn(move || {
                    let mut r = c;
                    let _ = io::copy(&mut r, &mut w);
                });
            }
        });
        let proxy = CutProxy::start(addr);
        let echo = |msg: &[u8]| -> io::Result<Vec<u8>> {
            let mut s = TcpStream::connect(("127.0.0.1", proxy.port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(msg)?;
            let mut buf = vec![0; msg.len()];
            s.read_exact(&mut buf)?;
            Ok(buf)
        };
        assert_eq!(echo(b"hello").unwrap(), b"hello");
        proxy.cut();
        assert!(echo(b"x").is_err());
        assert_eq!(proxy.refused(), 1);
        proxy.restore();
        assert_eq!(echo(b"again").unwrap(), b"again");
    }
}
