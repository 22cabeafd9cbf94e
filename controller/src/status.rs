//! Status ingest, kept apart from receipt ingest (`docs/security.md` §3 rows 48 and 50).
//!
//! A status is small (`docs/protocol.md` §12: a few hundred bytes), so one over
//! [`MAX_STATUS_BYTES`] is refused before it is parsed or queued. What is left is handed to a
//! [`StatusQueue`] that keeps only the latest status per screen (the latest wins) and to the
//! [`run`] task, which records at most one status per screen per [`STATUS_INTERVAL`]: a screen
//! publishing statuses at full speed costs one small map entry and one database write a second,
//! and never delays receipt acks, which go through their own queue and task. Before it is
//! stored, a status is parsed and every known field checked against its type in §12
//! ([`validate`]); a refused status is logged (at most once per screen per
//! [`STATUS_INTERVAL`]) and counted by reason in `gatecast_status_rejected_total`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::warn;

pub use crate::metrics::{Metrics, StatusMetrics, STATUS_REJECTION_REASONS};
use crate::store::{StatusRecord, Store};

/// Largest status accepted, in bytes (the payload as published).
pub const MAX_STATUS_BYTES: usize = 8 * 1024;

/// At most one status per screen is recorded per this interval; later ones replace the one
/// waiting (the latest wins).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// Why a status was refused (the reason label of `gatecast_status_rejected_total`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// Larger than [`MAX_STATUS_BYTES`].
    #[error("status of {0} bytes is above the limit of {MAX_STATUS_BYTES} bytes")]
    TooLarge(usize),
    /// Not a JSON object.
    #[error("status is not a JSON object: {0}")]
    NotJson(String),
    /// A field of `docs/protocol.md` §12 with another type.
    #[error("status field {field}: {problem}")]
    BadField {
        /// The field (a dotted path for nested ones).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The topic names no registered screen.
    #[error("unknown screen")]
    UnknownScreen,
    /// The screen is disabled.
    #[error("screen is disabled")]
    Disabled,
    /// The database failed.
    #[error("status not stored: {0}")]
    Store(String),
}

impl StatusError {
    /// The stable reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            StatusError::TooLarge(_) => "too_large",
            StatusError::NotJson(_) => "not_json",
            StatusError::BadField { .. } => "bad_field",
            StatusError::UnknownScreen => "unknown_screen",
            StatusError::Disabled => "disabled",
            StatusError::Store(_) => "store",
        }
    }
}

fn bad(field: &str, problem: &str) -> StatusError {
    StatusError::BadField {
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

fn is_u64(v: &Value) -> bool {
    v.as_u64().is_some()
}

/// Checks `field` of `obj` (when present) with `ok`; `want` names the type for the error.
fn check(
    obj: &serde_json::Map<String, Value>,
    prefix: &str,
    field: &str,
    want: &str,
    ok: impl Fn(&Value) -> bool,
) -> Result<(), StatusError> {
    match obj.get(field) {
        Some(v) if !ok(v) => Err(bad(
            &format!("{prefix}{field}"),
            &format!("must be {want}, not {}", kind(v)),
        )),
        _ => Ok(()),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks the known fields of a status against their types in `docs/protocol.md` §12 (absent
/// fields and extra fields are allowed; the Last Will carries fewer fields).
pub fn validate(status: &Value) -> Result<(), StatusError> {
    let obj = status
        .as_object()
        .ok_or_else(|| StatusError::NotJson(format!("it is {}", kind(status))))?;
    let null_or = |f: fn(&Value) -> bool| move |v: &Value| v.is_null() || f(v);
    let string = |v: &Value| v.is_string();
    let boolean = |v: &Value| v.is_boolean();
    check(obj, "", "state", "a string", string)?;
    check(obj, "", "device_key", "a base64 string", string)?;
    check(obj, "", "agent_version", "a string", string)?;
    check(obj, "", "at", "a timestamp string", |v| {
        v.as_str()
            .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok())
    })?;
    for f in ["manifest_version", "pending_version", "alert_version"] {
        check(obj, "", f, "an unsigned integer or null", null_or(is_u64))?;
    }
    check(obj, "", "journal_backlog", "an unsigned integer", is_u64)?;
    for f in ["clock_synced", "backlog_warning", "manifest_expired"] {
        check(obj, "", f, "a boolean", boolean)?;
    }
    check(
        obj,
        "",
        "last_error",
        "a string or null",
        null_or(|v| v.is_string()),
    )?;
    check(
        obj,
        "",
        "current",
        "a SHA-256 (64 hex digits) or null",
        |v| {
            v.is_null()
                || v.as_str()
                    .is_some_and(|s| playlists::hex::is_lower_hex(s, 32))
        },
    )?;
    if let Some(cache) = obj.get("cache") {
        let c = cache
            .as_object()
            .ok_or_else(|| bad("cache", &format!("must be an object, not {}", kind(cache))))?;
        for f in ["have_bytes", "need_bytes"] {
            check(c, "cache.", f, "an unsigned integer", is_u64)?;
        }
    }
    match obj.get("last_rejection") {
        None | Some(Value::Null) => {}
        Some(Value::Object(r)) => {
            check(
                r,
                "last_rejection.",
                "version",
                "an unsigned integer or null",
                null_or(is_u64),
            )?;
            for f in ["reason", "detail", "what"] {
                check(r, "last_rejection.", f, "a string", string)?;
            }
        }
        Some(other) => {
            return Err(bad(
                "last_rejection",
                &format!("must be an object or null, not {}", kind(other)),
            ))
        }
    }
    Ok(())
}

/// The latest not yet recorded status of each screen, and when each screen's last one was
/// recorded. Holds at most one payload (≤ [`MAX_STATUS_BYTES`]) per screen.
#[derive(Default)]
pub struct StatusQueue {
    inner: Mutex<QueueInner>,
    notify: Notify,
}

#[derive(Default)]
struct QueueInner {
    waiting: HashMap<String, Vec<u8>>,
    last_done: HashMap<String, Instant>,
    last_warned: HashMap<String, (Instant, u64)>,
}

impl StatusQueue {
    /// Offers a status: refused (counted and logged) when too large, otherwise it replaces the
    /// one waiting for the same screen. Never waits.
    pub fn offer(&self, metrics: &StatusMetrics, screen: &str, payload: Vec<u8>) {
        if payload.len() > MAX_STATUS_BYTES {
            self.refuse(metrics, screen, &StatusError::TooLarge(payload.len()));
            return;
        }
        let mut q = self.lock();
        if q.waiting.insert(screen.to_string(), payload).is_some() {
            metrics.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        drop(q);
        self.notify.notify_one();
    }

    /// Refuses a status the MQTT client did not keep because it was over
    /// [`MAX_STATUS_BYTES`] (`bytes` long): counted and logged like one offered.
    pub fn refuse_too_large(&self, metrics: &StatusMetrics, screen: &str, bytes: usize) {
        self.refuse(metrics, screen, &StatusError::TooLarge(bytes));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a refused status and logs it, at most once per screen per [`STATUS_INTERVAL`]
    /// (with how many were refused meanwhile).
    fn refuse(&self, metrics: &StatusMetrics, screen: &str, e: &StatusError) {
        metrics.reject(e.reason());
        let now = Instant::now();
        let mut q = self.lock();
        let entry = q
            .last_warned
            .entry(screen.to_string())
            .or_insert((now - STATUS_INTERVAL, 0));
        if now.duration_since(entry.0) >= STATUS_INTERVAL {
            let suppressed = entry.1;
            *entry = (now, 0);
            drop(q);
            warn!(%screen, reason = e.reason(), suppressed, "status refused: {e}");
        } else {
            entry.1 += 1;
        }
    }

    /// The statuses whose screen may be recorded now (taken out of the queue), and when the
    /// next waiting one may be.
    fn take_ready(&self, now: Instant) -> (Vec<(String, Vec<u8>)>, Option<Instant>) {
        let mut q = self.lock();
        let QueueInner {
            waiting, last_done, ..
        } = &mut *q;
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        waiting.retain(|screen, payload| {
            match last_done.get(screen).map(|t| *t + STATUS_INTERVAL) {
                Some(at) if at > now => {
                    next = Some(next.map_or(at, |n| n.min(at)));
                    true
                }
                _ => {
                    ready.push((screen.clone(), std::mem::take(payload)));
                    false
                }
            }
        });
        for (screen, _) in &ready {
            last_done.insert(screen.clone(), now);
        }
        // Forget screens that have been quiet for a while (keeps both maps small).
        last_done.retain(|_, t| now.duration_since(*t) < STATUS_INTERVAL * 2);
        q.last_warned
            .retain(|_, (t, n)| *n > 0 || now.duration_since(*t) < STATUS_INTERVAL * 2);
        (ready, next)
    }
}

/// Records what the queue holds, at most one status per screen per [`STATUS_INTERVAL`], until
/// the task is dropped. A screen silent for longer than `stale_after` before a status is recorded
/// as offline since its previous one ([`Store::put_status`]).
pub async fn run(
    store: Store,
    metrics: Arc<Metrics>,
    queue: Arc<StatusQueue>,
    stale_after: std::time::Duration,
) {
    loop {
        let (ready, next) = queue.take_ready(Instant::now());
        for (screen, payload) in &ready {
            match ingest_status(&store, &metrics, screen, payload, stale_after).await {
                Ok(()) => {
                    metrics.status.stored.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => queue.refuse(&metrics.status, screen, &e),
            }
        }
        if !ready.is_empty() {
            continue;
        }
        match next {
            Some(at) => {
                tokio::select! {
                    _ = queue.notify.notified() => {}
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            None => queue.notify.notified().await,
        }
    }
}

/// Records a player's status (never panics on bad input: the error says what is wrong).
async fn ingest_status(
    store: &Store,
    metrics: &Metrics,
    screen: &str,
    payload: &[u8],
    stale_after: std::time::Duration,
) -> Result<(), StatusError> {
    match store
        .screen(screen)
        .map_err(|e| StatusError::Store(e.to_string()))?
    {
        None => return Err(StatusError::UnknownScreen),
        Some(s) if s.disabled => return Err(StatusError::Disabled),
        Some(_) => {}
    }
    let status: Value =
        serde_json::from_slice(payload).map_err(|e| StatusError::NotJson(e.to_string()))?;
    validate(&status)?;
    let online = status.get("state").and_then(|s| s.as_str()) != Some("offline");
    let rec = StatusRecord {
        screen: screen.to_string(),
        status: status.clone(),
        received_at: jiff::Timestamp::now().to_string(),
        online,
    };
    let prev = store
        .put_status(&rec, stale_after)
        .await
        .map_err(|e| StatusError::Store(e.to_string()))?;
    let rejection = status.get("last_rejection").filter(|r| !r.is_null());
    let prev_rejection = prev
        .as_ref()
        .and_then(|p| p.status.get("last_rejection").cloned());
    if let Some(r) = rejection {
        if prev_rejection.as_ref() != Some(r) {
            metrics.manifests_rejected.fetch_add(1, Ordering::Relaxed);
            warn!(%screen, rejection = %r, "player rejected a manifest");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_protocol_example_and_the_last_will_pass() {
        let example = json!({"state":"syncing","device_key":"PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=",
            "manifest_version":7,"pending_version":8,
            "last_rejection":{"version":6,"reason":"not_newer","detail":"version 6 is not newer","what":"manifest"},
            "journal_backlog":3,"cache":{"have_bytes":52428800,"need_bytes":73400320},
            "current":"2cb97ae0e1f728fb96d20e0310aaffd1eb49fda49551de8228ffdb992c560f11",
            "clock_synced":true,"agent_version":"0.1.0","at":"2026-01-05T08:01:00Z",
            "backlog_warning":false,"manifest_expired":false,"last_error":null,"alert_version":3,
            "extra_field": [1, 2]});
        assert_eq!(validate(&example), Ok(()));
        assert_eq!(validate(&json!({"state":"offline","current":null})), Ok(()));
    }

    #[test]
    fn wrong_types_are_named() {
        for (status, field) in [
            (json!({"current": 12345}), "current"),
            (json!({"current": "abc"}), "current"),
            (json!({"state": 1}), "state"),
            (json!({"manifest_version": "7"}), "manifest_version"),
            (json!({"manifest_version": -1}), "manifest_version"),
            (json!({"cache": "full"}), "cache"),
            (json!({"cache": {"have_bytes": "1"}}), "cache.have_bytes"),
            (json!({"last_rejection": [1]}), "last_rejection"),
            (
                json!({"last_rejection": {"reason": 5}}),
                "last_rejection.reason",
            ),
            (json!({"journal_backlog": null}), "journal_backlog"),
            (json!({"clock_synced": "yes"}), "clock_synced"),
            (json!({"at": "yesterday"}), "at"),
            (json!({"last_error": 5}), "last_error"),
        ] {
            match validate(&status) {
                Err(StatusError::BadField { field: f, .. }) => assert_eq!(f, field, "{status}"),
                other => panic!("{status}: {other:?}"),
            }
        }
        assert_eq!(validate(&json!([1])).unwrap_err().reason(), "not_json");
    }

    #[tokio::test]
    async fn the_latest_status_wins_and_big_ones_are_refused() {
        let q = StatusQueue::default();
        let m = StatusMetrics::default();
        q.offer(&m, "a", b"1".to_vec());
        q.offer(&m, "a", b"2".to_vec());
        q.offer(&m, "b", vec![b' '; MAX_STATUS_BYTES + 1]);
        let now = Instant::now();
        let (ready, next) = q.take_ready(now);
        assert_eq!(ready, vec![("a".to_string(), b"2".to_vec())]);
        assert_eq!(next, None);
        assert_eq!(m.coalesced.load(Ordering::Relaxed), 1);
        assert_eq!(m.rejected.lock().unwrap().get("too_large"), Some(&1));
        // Within the interval the next one waits.
        q.offer(&m, "a", b"3".to_vec());
        let (ready, next) = q.take_ready(now + Duration::from_millis(10));
        assert!(ready.is_empty());
        assert_eq!(next, Some(now + STATUS_INTERVAL));
        let (ready, _) = q.take_ready(now + STATUS_INTERVAL);
        assert_eq!(ready, vec![("a".to_string(), b"3".to_vec())]);
    }
}
