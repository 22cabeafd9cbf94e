//! HTTPS for the API, console and media (docs/security.md §3 rows 60–64): the certificate
//! ([`load`]), each connection's TLS handshake ([`handshake`], with plain HTTP spoken to the
//! port answered in words), HSTS, and the optional plain listener that only redirects
//! ([`start_redirect`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use gatecast_tls::ServerTls;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use super::{ServeError, HEADER_READ_TIMEOUT};
use crate::config::{Config, TlsSource};

/// The `Strict-Transport-Security` value of every HTTPS response: one year.
pub const HSTS: &str = "max-age=31536000";

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// The certificate configured for HTTPS and MQTTS, read or made (self-signed, once, in the
/// data directory). Logs its pin (SHA-256 of the public key) for `--pin-sha256`.
pub fn load(config: &Config) -> Result<Option<Arc<ServerTls>>, ServeError> {
    let tls = match &config.tls {
        None => return Ok(None),
        Some(TlsSource::Files { cert, key }) => ServerTls::from_files(cert, key)?,
        Some(TlsSource::SelfSigned { hosts }) => {
            let mut hosts = hosts.clone();
            let ip = config.http_addr.ip();
            if !ip.is_unspecified() {
                hosts.push(ip.to_string());
            }
            std::fs::create_dir_all(&config.data_dir).map_err(|e| ServeError::Data {
                path: config.data_dir.clone(),
                message: e.to_string(),
            })?;
            let tls = ServerTls::self_signed(&config.data_dir, &hosts)?;
            info!(
                cert = %tls.cert_path().display(),
                pin_sha256 = %tls.pin_sha256(),
                "serving a self-signed TLS certificate: enrol players with --pin-sha256 {}",
                tls.pin_sha256()
            );
            tls
        }
    };
    info!(cert = %tls.cert_path().display(), pin_sha256 = %tls.pin_sha256(), "TLS certificate loaded; re-read on SIGHUP and when the files change");
    Ok(Some(tls))
}

/// With TLS: the certificate watcher (SIGHUP and file changes) and, when configured, the
/// redirect listener. Returns their tasks and the redirect listener's bound address.
pub async fn start_tasks(
    tls: Option<&Arc<ServerTls>>,
    config: &Config,
    https_addr: SocketAddr,
    limiter: &Arc<crate::api::connections::ConnectionLimiter>,
) -> Result<(Vec<tokio::task::JoinHandle<()>>, Option<SocketAddr>), ServeError> {
    let Some(tls) = tls else {
        return Ok((Vec::new(), None));
    };
    let mut tasks = vec![tls.watch()];
    let mut redirect = None;
    if let Some(addr) = config.http_redirect {
        let (task, bound) = start_redirect(addr, https_addr.port(), limiter.clone()).await?;
        tasks.push(task);
        redirect = Some(bound);
    }
    Ok((tasks, redirect))
}

/// The TLS handshake of one HTTPS connection, within [`HEADER_READ_TIMEOUT`]. A client that
/// speaks plain HTTP is answered with a 400 that says to use `https://`, then closed; a
/// failed handshake is logged at debug level with its reason. `None`: the connection is done.
pub async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let attempt = async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] != TLS_HANDSHAKE => {
                refuse_plain_http(stream).await;
                debug!(client = %peer, "plain HTTP on the HTTPS port: answered 400");
                return None;
            }
            Ok(0) | Err(_) => return None,
            _ => {}
        }
        match acceptor.accept(stream).await {
            Ok(s) => Some(s),
            Err(e) => {
                debug!(client = %peer, error = %gatecast_tls::explain(&e), "TLS handshake failed");
                None
            }
        }
    };
    match tokio::time::timeout(HEADER_READ_TIMEOUT, attempt).await {
        Ok(s) => s,
        Err(_) => {
            debug!(client = %peer, "TLS handshake not finished in time; closed");
            None
        }
    }
}

/// Answers a plain HTTP request on the HTTPS port with a 400 naming the problem.
pub async fn refuse_plain_http(mut stream: TcpStream) {
    const BODY: &str = "This port speaks HTTPS: use https:// in the address.\n";
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Starts the plain listener on `addr` that answers every request with `301` to the same
/// host and path on HTTPS port `https_port`, under the same connection caps. Returns its task
/// and bound address.
pub async fn start_redirect(
    addr: SocketAddr,
    https_port: u16,
    limiter: Arc<crate::api::connections::ConnectionLimiter>,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Http { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Http { addr, source })?;
    info!(addr = %bound, "plain HTTP listener redirecting to HTTPS");
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    warn!("HTTP redirect accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = limiter.admit(peer.ip()) else {
                continue;
            };
            tokio::spawn(async move {
                use hyper_util::rt::{TokioIo, TokioTimer};
                let svc = warp::hyper::service::service_fn(move |req| async move {
                    Ok::<_, Infallible>(redirect(&req, https_port))
                });
                let conn = warp::hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), svc);
                if let Err(e) = conn.await {
                    debug!(client = %peer, "HTTP redirect connection ended: {e}");
                }
                drop(slot);
            });
        }
    });
    Ok((task, bound))
}

/// `301` to `https://<host>[:port]<path and query>`, or `400` without a usable `Host`.
fn redirect<B>(req: &warp::http::Request<B>, https_port: u16) -> warp::http::Response<String> {
    use warp::http::{header, Response, StatusCode};
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_without_port);
    let Some(host) = host else {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body("A Host header is needed to redirect to HTTPS.\n".to_string())
            .expect("static response");
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    };
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, location)
        .body(String::new())
        .unwrap_or_else(|_| {
            Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body("Bad request target.\n".to_string())
                .expect("static response")
        })
}

/// The host of a `Host` header (`name`, `name:port`, `[v6]:port`), if it is made only of the
/// characters a host name or address may have.
fn host_without_port(value: &str) -> Option<&str> {
    let host = if value.starts_with('[') {
        &value[..=value.find(']')?]
    } else {
        value.rsplit_once(':').map_or(value, |(h, _)| h)
    };
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_host_path_and_query_and_refuse_odd_hosts() {
        let req = |host: &str, uri: &str| {
            warp::http::Request::builder()
                .uri(uri)
                .header("host", host)
                .body(())
                .unwrap()
        };
        let r = redirect(&req("gate.example:8080", "/console/?x=1"), 8443);
        assert_eq!(r.status(), 301);
        assert_eq!(
            r.headers()["location"],
            "https://gate.example:8443/console/?x=1"
        );
        let r = redirect(&req("[::1]:80", "/"), 443);
        assert_eq!(r.headers()["location"], "https://[::1]/");
        let r = redirect(&req("evil.example/x", "/"), 443);
        assert_eq!(r.status(), 400);
    }
}
