//! Shared helpers of the `api_*` tests: an in-process controller on free ports with a temp
//! data dir, HTTP helpers and an MQTT test client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gatecast_controller::config::{BrokerMode, Config};
use gatecast_controller::serve::{self, Running};
use rumqttc::{AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

/// A controller running in-process.
pub struct Ctl {
    pub running: Running,
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
}

/// Test configuration: free ports, `dir` as data dir.
pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::with_data_dir(dir);
    c.http_addr = "127.0.0.1:0".parse().unwrap();
    c.broker = BrokerMode::Embedded("127.0.0.1:0".parse().unwrap());
    c
}

pub async fn start(config: Config) -> Ctl {
    let running = serve::start(config).await.expect("controller starts");
    let admin = std::fs::read_to_string(&running.admin_token_path)
        .unwrap()
        .trim()
        .to_string();
    Ctl {
        base: format!("http://{}", running.http_addr),
        running,
        admin,
        // No connection reuse: several tests make the server refuse a body and close the
        // connection, and a pooled connection closed that way must not fail the next request.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("HTTP client"),
    }
}

impl Ctl {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn mqtt_addr(&self) -> SocketAddr {
        self.running.mqtt_addr.expect("embedded broker")
    }

    /// JSON request with a token; returns status and parsed body (Null if not JSON).
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// POST of a JSON body with a token; returns status, content type and the raw body.
    pub async fn post_raw(&self, path: &str, token: &str, body: Value) -> (u16, String, Vec<u8>) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, ct, resp.bytes().await.unwrap().to_vec())
    }

    pub async fn admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.req(method, path, Some(&self.admin.clone()), Some(body))
            .await
    }

    /// Creates a token of `role` through the API.
    pub async fn token(&self, role: &str) -> String {
        let (s, v) = self
            .admin("POST", "/api/v1/tokens", json!({"role": role}))
            .await;
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// Uploads bytes as media; returns (status, body).
    pub async fn upload(&self, bytes: Vec<u8>, mime: &str, query: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(&format!("/api/v1/media?{query}")))
            .bearer_auth(&self.admin)
            .header("content-type", mime)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        (
            s,
            serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null),
        )
    }
}

/// A small valid PNG-looking file (the controller only checks the magic bytes).
pub fn png(seed: u8, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

/// Connects an MQTT client; Ok once CONNACK accepted, Err(code) if refused.
pub async fn mqtt_connect(
    addr: SocketAddr,
    id: &str,
    user: &str,
    pw: &str,
) -> Result<(AsyncClient, EventLoop), String> {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_credentials(user, pw)
        .set_keep_alive(Duration::from_secs(10))
        .set_max_packet_size(
            playlists::envelope::MAX_MQTT_PACKET_BYTES,
            playlists::envelope::MAX_MQTT_PACKET_BYTES,
        );
    let (client, mut el) = AsyncClient::new(o, 16);
    let res = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(a))) => {
                    return if a.code == ConnectReturnCode::Success {
                        Ok(())
                    } else {
                        Err(format!("{:?}", a.code))
                    };
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| "timeout waiting for CONNACK".to_string())?;
    res.map(|_| (client, el))
}

/// Subscribes to `topic` and waits for the first message on it.
pub async fn first_message(client: &AsyncClient, el: &mut EventLoop, topic: &str) -> Vec<u8> {
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    next_message(el, topic).await
}

/// The next message on `topic` (the subscription must already be made), within 15 s.
pub async fn next_message(el: &mut EventLoop, topic: &str) -> Vec<u8> {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = el.poll().await.expect("mqtt poll") {
                if p.topic == topic {
                    return p.payload.to_vec();
                }
            }
        }
    })
    .await
    .expect("a message within 15 s")
}

/// Standard content: one screen `lc-a1` at gate `lao-cai`, one slide, playlist `p1`, schedule
/// `s1`. Returns the registration answer.
pub async fn seed(ctl: &Ctl) -> Value {
    let (s, reg) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":"lc-a1","name":"Lao Cai A1","gate":"lao-cai","languages":["vi","en"],"timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let (s, m) = ctl
        .upload(
            png(1, 1000),
            "image/png",
            "kind=slide&lang=vi&title=Welcome",
        )
        .await;
    assert_eq!(s, 201, "{m}");
    let sha = m["sha256"].as_str().unwrap().to_string();
    let (s, v) = ctl
        .admin(
            "POST",
            "/api/v1/playlists",
            json!({"id":"p1","name":"Main","items":[{"media": sha, "duration_ms": 10000}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = ctl
        .admin(
            "POST",
            "/api/v1/schedules",
            json!({"id":"s1","playlist":"p1","targets":{"gates":["lao-cai"]},"priority":10}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    reg
}

/// The text of `/metrics`.
pub async fn metrics(ctl: &Ctl) -> String {
    ctl.http
        .get(ctl.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
