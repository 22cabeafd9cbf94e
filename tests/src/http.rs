//! A blocking HTTP/1.1 client for the controller's API in tests (reqwest's blocking client):
//! plain HTTP ([`http`]) or HTTPS trusting one CA file ([`https`]), no proxy, no redirects, no
//! decompression, a fresh connection per request, and the answer as status, headers and the
//! raw body bytes, whatever the status.

use std::collections::HashMap;
use std::error::Error as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::Value;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, sending the body and reading the answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers (names in lower case).
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// The one client of the test process. Never dropped: a blocking client must not be dropped
/// inside an async runtime, and a test may call [`http`] from anywhere.
fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| builder().build().expect("building the tests' HTTP client"))
}

fn builder() -> reqwest::blocking::ClientBuilder {
    Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(0)
}

/// The HTTPS client trusting exactly the CA certificates in `ca` (one per file, never dropped,
/// like [`client`]).
fn tls_client(ca: &Path) -> Client {
    static CLIENTS: OnceLock<Mutex<HashMap<PathBuf, Client>>> = OnceLock::new();
    let mut clients = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    clients
        .entry(ca.to_path_buf())
        .or_insert_with(|| {
            let tls = gatecast_tls::client_config(&gatecast_tls::ClientTrust::CaFile(ca.into()))
                .expect("test CA file");
            builder()
                .use_preconfigured_tls((*tls).clone())
                .build()
                .expect("building the tests' HTTPS client")
        })
        .clone()
}

/// Like [`http`], over HTTPS to `https://{host}:{port}` trusting the CA certificates in `ca`;
/// an error carries the TLS problem in the words of [`gatecast_tls::explain`].
pub fn https(
    host: &str,
    port: u16,
    ca: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    send(
        &tls_client(ca),
        &format!("https://{host}:{port}{path}"),
        method,
        headers,
        body,
    )
}

/// One HTTP/1.1 request (`Connection: close`, the body sent with its `Content-Length`) to
/// `addr`: enough for the controller's API in tests. Any status is an answer; an error is a
/// request that could not be sent or an answer that could not be read in time.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    send(
        client(),
        &format!("http://{addr}{path}"),
        method,
        headers,
        body,
    )
}

fn send(
    client: &Client,
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut req = client
        .request(method, url)
        .header(reqwest::header::CONNECTION, "close");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.body(body.to_vec()).send().map_err(io_error)?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).trim().to_string();
            (k.as_str().to_string(), value)
        })
        .collect();
    let body = resp.bytes().map_err(io_error)?.to_vec();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A reqwest error as an `io::Error` whose message carries the whole chain of causes (the
/// top-level message alone rarely says what went wrong).
fn io_error(e: reqwest::Error) -> io::Error {
    let kind = if e.is_timeout() {
        io::ErrorKind::TimedOut
    } else {
        io::ErrorKind::Other
    };
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    let tls = gatecast_tls::explain(&e);
    if !msg.contains(&tls) {
        msg.push_str(&format!(" ({tls})"));
    }
    io::Error::new(kind, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;

    /// Serves `raw` as the answer to one request on a fresh port and reads it with [`http`].
    fn parse_response(raw: &'static [u8]) -> io::Result<HttpResponse> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(raw);
        });
        let r = http(addr, "GET", "/", &[], b"");
        server.join().unwrap();
        r
    }

    #[test]
    fn parses_plain_and_chunked_responses() {
        let r = parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"{}"[..]));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
