//! The polled CAP feed (`[[cap.feeds]]`, `docs/protocol.md` §22) against a real local HTTP
//! server: a new message appears in the inbox, the same feed again adds nothing (and is asked
//! conditionally), a broken document is reported as the feed's state and the next good one
//! still comes in; an Atom feed's entries are followed to their CAP documents. The attacks
//! (huge body, DTD, redirect to another host, a body that never ends) are `attack_cap_feed`.
//!
//! The server is a minimal HTTP/1.1 server on a tokio TCP listener bound on port 0: the
//! attacks need answers no framework sends on purpose (a body that never ends, one that
//! overruns any limit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::api_cap::{cap_config, flood, screens};
use crate::api_support::*;
use gatecast_controller::cap::feed::FeedSettings;
use gatecast_testkit::wait::wait_until_async;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the test server answers on a path.
#[derive(Clone)]
pub enum Answer {
    /// 200 with this XML and an `ETag`; 304 when asked with that `ETag`.
    Xml(String),
    /// A body without a length that runs past any limit (8 MiB).
    Huge,
    /// A `302` to this URL.
    Redirect(String),
    /// Headers, then one byte every 200 ms, never finishing.
    Endless,
}

#[derive(Default)]
struct Shared {
    answers: HashMap<String, Answer>,
    hits: HashMap<String, u64>,
    not_modified: u64,
}

/// A local HTTP server whose answers the test sets per path.
pub struct FeedServer {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The port.
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FeedServer {
    /// Starts the server on 127.0.0.1, port 0.
    pub async fn start() -> FeedServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, s.clone()));
            }
        });
        FeedServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            shared,
            task,
        }
    }

    /// Sets the answer on `path`.
    pub fn set(&self, path: &str, a: Answer) {
        self.shared.lock().unwrap().answers.insert(path.into(), a);
    }

    /// Requests served on `path` so far.
    pub fn hits(&self, path: &str) -> u64 {
        *self.shared.lock().unwrap().hits.get(path).unwrap_or(&0)
    }

    /// `304 Not Modified` answers so far.
    pub fn not_modified(&self) -> u64 {
        self.shared.lock().unwrap().not_modified
    }
}

async fn serve(mut conn: tokio::net::TcpStream, shared: Arc<Mutex<Shared>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let if_none_match = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("if-none-match:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let answer = {
        let mut s = shared.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        s.answers.get(&path).cloned()
    };
    let _ = match answer {
        None => {
            conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await
        }
        Some(Answer::Xml(xml)) => {
            let etag = format!("\"{}\"", playlists::hex::sha256_hex(xml.as_bytes()));
            if if_none_match == etag.to_ascii_lowercase() {
                shared.lock().unwrap().not_modified += 1;
                conn.write_all(
                    format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
            } else {
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    xml.len()
                );
                let _ = conn.write_all(h.as_bytes()).await;
                conn.write_all(xml.as_bytes()).await
            }
        }
        Some(Answer::Redirect(to)) => {
            conn.write_all(
                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
        }
        Some(Answer::Huge) => {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n<feed>")
                .await;
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..128 {
                if conn.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            Ok(())
        }
        Some(Answer::Endless) => {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n")
                .await;
            let mut every = tokio::time::interval(Duration::from_millis(200));
            loop {
                every.tick().await;
                if conn.write_all(b" ").await.is_err() {
                    break;
                }
            }
            Ok(())
        }
    };
}

/// The controller of `api_cap` with one feed polled every second.
pub async fn feed_ctl(dir: &std::path::Path, url: String, timeout_secs: Option<u64>) -> Ctl {
    let mut c = cap_config(dir, &[]);
    c.cap.feeds = vec![FeedSettings {
        url,
        every_secs: Some(1),
        timeout_secs,
        allow_hosts: Vec::new(),
    }];
    start(c).await
}

/// The inbox as `GET /api/v1/cap` answers it.
pub async fn inbox(ctl: &Ctl) -> Value {
    let (s, v) = ctl.admin("GET", "/api/v1/cap", Value::Null).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Waits (≤ 30 s) until the first feed's state satisfies `cond`; returns the state.
pub async fn wait_feed(ctl: &Ctl, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    wait_until_async(what, Duration::from_secs(30), || async {
        let v = inbox(ctl).await;
        let f = v["feeds"][0].clone();
        cond(&f).then_some(f)
    })
    .await
}

/// A CAP message of its own identifier.
fn message(n: u32) -> String {
    flood().replace("LCI-KTTV-2026-0907-01", &format!("LCI-KTTV-2026-0907-F{n}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_brings_a_new_message_once_and_survives_a_broken_one() {
    let server = FeedServer::start().await;
    let first = message(1);
    server.set("/cap.xml", Answer::Xml(first.clone()));
    let dir = tempfile::tempdir().unwrap();
    let ctl = feed_ctl(dir.path(), format!("{}/cap.xml", server.base), None).await;
    screens(&ctl).await;

    let f = wait_feed(&ctl, "the feed's message in the inbox", |f| f["taken"] == 1).await;
    assert!(f["error"].is_null(), "{f}");
    assert!(f["last_ok"].is_string(), "{f}");
    let v = inbox(&ctl).await;
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{v}");
    assert_eq!(entries[0]["identifier"], "LCI-KTTV-2026-0907-F1");
    assert_eq!(entries[0]["state"], "pending", "the same rule as POST: {v}");

    // The same feed again, twice: asked conditionally, nothing added.
    let hits = server.hits("/cap.xml");
    wait_until_async("two more polls", Duration::from_secs(30), || async {
        (server.hits("/cap.xml") >= hits + 2).then_some(())
    })
    .await;
    assert!(
        server.not_modified() >= 1,
        "the feed was not asked with its ETag"
    );
    let v = inbox(&ctl).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["feeds"][0]["error"].is_null(), "{v}");
    assert_eq!(v["feeds"][0]["taken"], 1, "{v}");

    // The same message again in other bytes (a new ETag, so read whole): not taken twice.
    server.set(
        "/cap.xml",
        Answer::Xml(format!("{first}\n<!-- again -->\n")),
    );
    let hits = server.hits("/cap.xml");
    wait_until_async(
        "the changed document read",
        Duration::from_secs(30),
        || async { (server.hits("/cap.xml") >= hits + 2).then_some(()) },
    )
    .await;
    let v = inbox(&ctl).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["feeds"][0]["taken"], 1, "{v}");
    assert!(v["feeds"][0]["error"].is_null(), "{v}");

    // A broken document: reported as the feed's state, the loop goes on.
    server.set(
        "/cap.xml",
        Answer::Xml(message(2).replace("<sender>canhbao@kttv-laocai.example.vn</sender>", "")),
    );
    let f = wait_feed(&ctl, "the broken document reported", |f| {
        f["error"]["code"] == "cap_invalid"
    })
    .await;
    let msg = f["error"]["message"].as_str().unwrap();
    assert!(msg.contains("/cap.xml"), "the error names the URL: {msg}");
    assert!(f["failures"].as_u64().unwrap() >= 1, "{f}");

    server.set("/cap.xml", Answer::Xml(message(3)));
    let f = wait_feed(&ctl, "the next good message", |f| f["taken"] == 2).await;
    assert!(f["error"].is_null(), "{f}");
    let ids: Vec<String> = inbox(&ctl).await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["identifier"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids.contains(&"LCI-KTTV-2026-0907-F3".to_string()),
        "{ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atom_feed_entries_are_followed_to_their_cap_documents() {
    let server = FeedServer::start().await;
    let atom = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>KTTV Lào Cai</title><id>urn:x</id>
  <entry><id>urn:1</id><title>1</title><link rel="alternate" type="text/html" href="/page/1.html"/>
    <link rel="related" type="application/cap+xml" href="/cap/1.xml"/></entry>
  <entry><id>urn:2</id><title>2</title><link href="{}/cap/2.xml"/></entry>
</feed>"#,
        server.base
    );
    server.set("/feed.atom", Answer::Xml(atom));
    server.set("/cap/1.xml", Answer::Xml(message(11)));
    server.set("/cap/2.xml", Answer::Xml(message(12)));
    let dir = tempfile::tempdir().unwrap();
    let ctl = feed_ctl(dir.path(), format!("{}/feed.atom", server.base), None).await;

    wait_feed(&ctl, "both entries taken", |f| f["taken"] == 2).await;
    // The next polls do not fetch the taken documents again.
    let feed_hits = server.hits("/feed.atom");
    wait_until_async("two more polls", Duration::from_secs(30), || async {
        (server.hits("/feed.atom") >= feed_hits + 2).then_some(())
    })
    .await;
    assert_eq!(server.hits("/cap/1.xml"), 1);
    assert_eq!(
        server.hits("/page/1.html"),
        0,
        "the CAP-typed link is taken"
    );
    assert_eq!(inbox(&ctl).await["entries"].as_array().unwrap().len(), 2);
}
