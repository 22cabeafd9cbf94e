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

fn bind(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), BrokerError> {
    let bind_err = |source| BrokerError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
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
