//! What the tests ask a running controller over HTTP (with its admin token wherever the API
//! needs one): requests, uploads, screens, publishing, statuses, receipts, health and metrics.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::{broker_acl, Controller};
use crate::checks::{assert_contiguous, metric_sum, metric_value};
use crate::harness::{wait_until, DEADLINE, RECONNECT_DEADLINE};
use crate::http::{http, https, HttpResponse};
use crate::player::Player;

impl Controller {
    /// Any HTTP request to the controller, with the admin token.
    pub fn request(&self, method: &str, path: &str, ctype: &str, body: &[u8]) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        let headers = [("Authorization", auth.as_str()), ("Content-Type", ctype)];
        match self.tls_ca() {
            Some(ca) => https(
                "localhost",
                self.http.port(),
                ca,
                method,
                path,
                &headers,
                body,
            ),
            None => http(self.http, method, path, &headers, body),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A JSON request with the admin token; panics unless the status is `want`.
    pub fn api(&self, method: &str, path: &str, body: Value, want: u16) -> Value {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).expect("json")
        };
        let r = self.request(method, path, "application/json", &bytes);
        assert_eq!(
            r.status,
            want,
            "{method} {path} {body}: answered {} {}",
            r.status,
            r.text()
        );
        r.json()
    }

    /// `GET path` with the admin token, JSON, expecting 200.
    pub fn get(&self, path: &str) -> Value {
        self.api("GET", path, Value::Null, 200)
    }

    /// Uploads media (`POST /api/v1/media?kind=…&lang=…&title=…`); returns its record.
    pub fn upload(&self, bytes: &[u8], mime: &str, kind: &str, lang: &str, title: &str) -> Value {
        let path = format!("/api/v1/media?kind={kind}&lang={lang}&title={title}");
        let r = self.request("POST", &path, mime, bytes);
        assert_eq!(r.status, 201, "upload {title}: {} {}", r.status, r.text());
        r.json()
    }

    /// Registers a screen at `gate`; returns its enrolment code.
    pub fn register_screen(&self, id: &str, gate: &str) -> String {
        let v = self.api(
            "POST",
            "/api/v1/screens",
            json!({"id": id, "name": format!("Screen {id}"), "gate": gate,
                   "languages": ["vi", "en"], "timezone": "Asia/Ho_Chi_Minh"}),
            201,
        );
        v["enrollment_code"]
            .as_str()
            .expect("enrollment_code in the registration answer")
            .to_string()
    }

    /// Publishes to `screens`; returns the answer.
    pub fn publish(&self, screens: &[&str]) -> Value {
        self.api("POST", "/api/v1/publish", json!({"screens": screens}), 200)
    }

    /// The version `publish` gave `screen`.
    pub fn publish_version(&self, screens: &[&str], screen: &str) -> u64 {
        let v = self.publish(screens);
        v["published"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["screen"] == screen))
            .and_then(|p| p["version"].as_u64())
            .unwrap_or_else(|| panic!("no version for {screen} in {v}"))
    }

    /// The screen's record (`GET /api/v1/screens/{id}`).
    pub fn screen(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/screens/{id}"))
    }

    /// The last status the controller received from `screen`, if any.
    pub fn status(&self, screen: &str) -> Option<Value> {
        let s = self.screen(screen);
        let st = s.get("status")?;
        (!st.is_null()).then(|| st.clone())
    }

    /// Waits until the controller holds a status of `screen` that satisfies `pred`; returns it.
    pub fn wait_status(&self, screen: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_status_within(screen, what, DEADLINE, pred)
    }

    /// [`Controller::wait_status`] after a player's link comes back: the player may be in its
    /// longest reconnect wait ([`RECONNECT_DEADLINE`]).
    pub fn wait_status_after_reconnect(
        &self,
        screen: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_status_within(screen, what, RECONNECT_DEADLINE, pred)
    }

    /// [`Controller::wait_status`] with its own deadline.
    pub fn wait_status_within(
        &self,
        screen: &str,
        what: &str,
        deadline: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = None;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(what, deadline, || {
                let st = self.status(screen)?;
                let ok = pred(&st);
                last = Some(st.clone());
                ok.then_some(st)
            })
        }));
        r.unwrap_or_else(|_| {
            panic!(
                "{screen}: no status with {what}; last status: {last:?}; controller log:\n{}",
                self.log_tail()
            )
        })
    }

    /// A fresh enrolment code for the registered `screen` (a replaced device).
    pub fn new_enrollment_code(&self, screen: &str) -> String {
        self.api(
            "POST",
            &format!("/api/v1/screens/{screen}/enrollment-code"),
            json!({}),
            201,
        )["enrollment_code"]
            .as_str()
            .expect("enrollment_code")
            .to_string()
    }

    /// Registers `screen` at `gate` and enrols `device`'s public key for it over HTTP (no player
    /// process: for tests that speak MQTT as the screen themselves); returns the enrolment
    /// answer (`mqtt_password`, `epoch`, …).
    pub fn enrol_key(
        &self,
        screen: &str,
        gate: &str,
        device: &playlists::keys::SecretKey,
    ) -> Value {
        let code = self.register_screen(screen, gate);
        self.api(
            "POST",
            "/api/v1/enroll",
            json!({"screen": screen, "code": code, "device_key": device.public().to_base64()}),
            200,
        )
    }

    /// Registers `screen` at `gate`, enrols a player for it in `dir` with `gatecast-player
    /// enroll`, and shortens its batch delay to 100 ms so acks follow plays closely.
    pub fn enrol_player(&self, screen: &str, gate: &str, dir: &Path) -> Player {
        let code = self.register_screen(screen, gate);
        let p = Player::enroll(self, screen, &code, dir);
        p.edit_config(|c| c.batch_max_delay_ms = 100);
        p
    }

    /// Checks the receipts the controller stored for `screen` (receipts API): every seq from 1
    /// up exactly once; and in `/metrics` no conflicts and no rejected batches. Returns the
    /// highest seq.
    pub fn assert_receipts_contiguous(&self, screen: &str) -> u64 {
        let rows = self
            .receipts(screen)
            .expect("the controller has GET /api/v1/receipts");
        for r in &rows {
            assert_eq!(r["screen"], screen, "a receipt of another screen: {r}");
            assert_eq!(r["backend"], "null", "null-backend receipts say so: {r}");
        }
        let top = assert_contiguous(&rows);
        let m = self.metrics();
        assert_eq!(
            metric_sum(&m, "gatecast_receipt_conflicts_total"),
            Some(0.0),
            "conflicting receipts at the controller:\n{m}"
        );
        assert_eq!(
            metric_sum(&m, "gatecast_receipt_batches_rejected_total"),
            Some(0.0),
            "rejected receipt batches at the controller:\n{m}"
        );
        top
    }

    /// `GET path` without a token, over HTTPS when the controller serves it.
    pub fn get_anonymous(&self, path: &str) -> std::io::Result<HttpResponse> {
        match self.tls_ca() {
            Some(ca) => https("localhost", self.http.port(), ca, "GET", path, &[], b""),
            None => http(self.http, "GET", path, &[], b""),
        }
    }

    /// `GET /healthz`.
    pub fn healthz(&self) -> Option<Value> {
        self.get_anonymous("/healthz")
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.json())
    }

    /// The Prometheus text of `GET /metrics`.
    pub fn metrics(&self) -> String {
        let r = self.get_anonymous("/metrics").expect("GET /metrics");
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        r.text()
    }

    /// One sample of `GET /metrics` (the line `name value`, without labels).
    pub fn metric(&self, name: &str) -> Option<f64> {
        metric_value(&self.metrics(), name)
    }

    /// Every stored receipt of `screen` through `GET /api/v1/receipts` (all pages), as the
    /// API's rows. `None` if the controller has no receipts API (404/405).
    pub fn receipts(&self, screen: &str) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/receipts?screen={screen}&limit=10000");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let r = self.request("GET", &path, "application/json", b"");
            if r.status == 404 || r.status == 405 {
                return None;
            }
            assert_eq!(r.status, 200, "GET {path}: {}", r.text());
            let v = r.json();
            out.extend(v["receipts"].as_array().cloned().unwrap_or_default());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Some(out),
            }
        }
    }

    /// Writes the mosquitto password and ACL files with
    /// `gatecast-controller broker-acl mosquitto --out DIR` (the controller must be stopped:
    /// the command opens the database, which `serve` keeps locked).
    pub fn broker_acl(&self, out: &Path) {
        broker_acl(&self.data, out);
    }
}
