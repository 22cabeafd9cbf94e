//! The embedded broker's listeners: the plain one, the TLS (MQTTS) one, or both.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::{conn, BrokerConfig, BrokerError, Shared};

/// The TLS listener of the embedded broker.
#[derive(Clone)]
pub struct BrokerTls {
    /// Address to listen on with TLS; port 0 picks a free port (see
    /// [`crate::EmbeddedBroker::tls_addr`]).
    pub listen: SocketAddr,
    /// The handshake (certificate, versions).
    pub acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for BrokerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerTls")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// The bound listeners (std, before the broker's runtime exists).
pub(crate) struct Listeners {
    plain: Option<(std::net::TcpListener, SocketAddr)>,
    tls: Option<(std::net::TcpListener, SocketAddr, tokio_rustls::TlsAcceptor)>,
}

/// The listeners on the broker's runtime.
pub(crate) struct Serving {
    plain: Option<tokio::net::TcpListener>,
    tls: Option<(tokio::net::TcpListener, tokio_rustls::TlsAcceptor)>,
}

/// Connections the kernel keeps waiting for `accept` (capped by `net.core.somaxconn`). std's
/// bind asks for 128: in a reconnect storm of thousands of screens the queue overflows, SYNs
/// are dropped and each dropped screen waits for its SYN retransmit (1 s, 3 s, 7 s, …)
/// although the broker has time for it (`docs/BENCHMARKS.md`).
pub(crate) const LISTEN_BACKLOG: i32 = 4096;

fn bind(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), BrokerError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind_err = |source| BrokerError::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(bind_err)?;
    // As std's bind: a restarted broker may bind while old connections are in TIME_WAIT.
    socket.set_reuse_address(true).map_err(bind_err)?;
    socket.bind(&addr.into()).map_err(bind_err)?;
    socket.listen(LISTEN_BACKLOG).map_err(bind_err)?;
    socket.set_nonblocking(true).map_err(bind_err)?;
    let listener: std::net::TcpListener = socket.into();
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

impl Listeners {
    /// Binds the plain listener (unless [`BrokerConfig::plain`] is off) and the TLS one.
    pub(crate) fn bind(cfg: &BrokerConfig) -> Result<Listeners, BrokerError> {
        let plain = if cfg.plain {
            Some(bind(cfg.listen)?)
        } else {
            None
        };
        let tls = match &cfg.tls {
            Some(t) => {
                let (l, a) = bind(t.listen)?;
                Some((l, a, t.acceptor.clone()))
            }
            None => None,
        };
        Ok(Listeners { plain, tls })
    }

    pub(crate) fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain.as_ref().map(|(_, a)| *a)
    }

    pub(crate) fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(_, a, _)| *a)
    }

    /// Hands the listeners to the current (the broker's) runtime.
    pub(crate) fn into_tokio(self) -> std::io::Result<Serving> {
        let plain = self
            .plain
            .map(|(l, _)| tokio::net::TcpListener::from_std(l))
            .transpose()?;
        let tls = self
            .tls
            .map(|(l, _, acceptor)| tokio::net::TcpListener::from_std(l).map(|l| (l, acceptor)))
            .transpose()?;
        Ok(Serving { plain, tls })
    }
}

impl Serving {
    /// Accepts on every listener until dropped.
    pub(crate) async fn accept(self, shared: Arc<Shared>) {
        let plain = async {
            match self.plain {
                Some(l) => conn::accept_loop(l, shared.clone(), None).await,
                None => std::future::pending().await,
            }
        };
        let tls = async {
            match self.tls {
                Some((l, acceptor)) => conn::accept_loop(l, shared.clone(), Some(acceptor)).await,
                None => std::future::pending().await,
            }
        };
        tokio::join!(plain, tls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reconnect storm finds room in the kernel's queue while the broker is busy: 600
    /// connections complete against a listener that accepts none of them (with std's backlog of
    /// 128, all but 129 would wait for SYN retransmits and time out).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listener_queues_a_storm_of_connections_before_accepting() {
        let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut storm = tokio::task::JoinSet::new();
        for _ in 0..600 {
            storm.spawn(tokio::time::timeout(
                std::time::Duration::from_secs(10),
                tokio::net::TcpStream::connect(addr),
            ));
        }
        let mut connected = Vec::new();
        while let Some(r) = storm.join_next().await {
            if let Ok(Ok(Ok(s))) = r {
                connected.push(s);
            }
        }
        // The kernel caps the backlog at `net.core.somaxconn` (4096 on current kernels).
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        let room = somaxconn.min(LISTEN_BACKLOG as usize) + 1;
        assert_eq!(
            connected.len(),
            room.min(600),
            "connections queued without an accept (net.core.somaxconn = {somaxconn})"
        );
        drop(listener);
    }
}
