//! A client session of the embedded broker: its outgoing queue and QoS 1 messages in flight.
//!
//! The queue is the same whether the client is connected or not: the router only appends to it
//! (short lock, never waits on a socket) and wakes the connection's writer, which moves
//! messages into flight (at most `max_inflight` unacknowledged) and writes them. While the
//! client is away a persistent session keeps collecting QoS 1 messages; on reconnect the
//! messages in flight are sent again with DUP set, then the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rumqttc::mqttbytes::v4::Publish;
use rumqttc::mqttbytes::QoS;
use tokio::sync::Notify;
use tracing::warn;

/// Most QoS 1 messages a session keeps queued (connected or not); beyond it the oldest is
/// dropped.
pub const MAX_QUEUED: usize = 10_000;

/// Queue length above which QoS 0 messages are dropped for a slow (or absent) consumer.
pub const MAX_QUEUED_QOS0: usize = 1_000;

/// Most bytes (payload + topic) a session keeps queued and in flight, connected or not; beyond
/// it the oldest queued message is dropped. Two of the largest packets
/// ([`crate::MAX_PACKET_SIZE`]): a full-size manifest always fits while another one is still
/// being written, and one screen flooding a topic (`docs/security.md` §3) costs a subscriber
/// at most this much memory, not [`MAX_QUEUED`] × the packet limit.
pub const MAX_QUEUED_BYTES: usize = 2 * crate::MAX_PACKET_SIZE;

/// A session, shared between the router (which appends) and its connection (which drains).
#[derive(Debug)]
pub struct Session {
    /// Unique id of this session (a new one for every clean start).
    pub id: u64,
    /// The client id.
    pub client_id: String,
    /// The MQTT username that owns the session (for the topic ACL).
    pub username: String,
    /// Whether the session ends with its connection.
    pub clean: bool,
    /// Set once the session is discarded; no subscription may be added after that.
    removed: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Waiting to be sent. Entries with a non-zero pkid are resends of messages in flight.
    pending: VecDeque<Publish>,
    /// Sent QoS 1 messages not yet acknowledged.
    inflight: VecDeque<Publish>,
    next_pkid: u16,
    /// The connection attached now: its id and its writer's wake-up.
    conn: Option<(u64, Arc<Notify>)>,
    dropped: u64,
    /// Bytes ([`weight`]) of the messages in `pending` and `inflight`.
    bytes: usize,
}

/// What a message counts against [`MAX_QUEUED_BYTES`].
fn weight(p: &Publish) -> usize {
    p.payload.len() + p.topic.len()
}

/// What [`Session::take`] hands the writer.
#[derive(Debug)]
pub enum Take {
    /// Messages to write now (possibly none: all in flight or nothing queued).
    Send(Vec<Publish>),
    /// This connection no longer owns the session: stop writing.
    Detached,
}

impl Session {
    /// A new, empty session.
    pub fn new(id: u64, client_id: String, username: String, clean: bool) -> Session {
        Session {
            id,
            client_id,
            username,
            clean,
            removed: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                next_pkid: 1,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot leave the queue half-changed; keep going after a panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the session discarded.
    pub fn mark_removed(&self) {
        self.removed.store(true, Ordering::SeqCst);
    }

    /// Whether the session was discarded.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// Attaches connection `conn` (taking over from any earlier one): messages in flight are
    /// queued again in front, with DUP set, and QoS 0 leftovers are dropped.
    pub fn attach(&self, conn: u64, wake: Arc<Notify>) {
        let mut inner = self.lock();
        let inflight = std::mem::take(&mut inner.inflight);
        let qos0: usize = inner
            .pending
            .iter()
            .filter(|p| p.qos == QoS::AtMostOnce)
            .map(weight)
            .sum();
        inner.bytes -= qos0;
        inner.pending.retain(|p| p.qos != QoS::AtMostOnce);
        for mut p in inflight.into_iter().rev() {
            p.dup = true;
            inner.pending.push_front(p);
        }
        inner.conn = Some((conn, wake.clone()));
        drop(inner);
        wake.notify_one();
    }

    /// Detaches connection `conn` if it is still the attached one; `true` if it was.
    pub fn detach(&self, conn: u64) -> bool {
        let mut inner = self.lock();
        if inner.conn.as_ref().map(|(c, _)| *c) == Some(conn) {
            inner.conn = None;
            true
        } else {
            false
        }
    }

    /// Queues `publish` (its pkid is assigned when it is sent) and wakes the writer.
    pub fn enqueue(&self, publish: Publish) {
        let mut inner = self.lock();
        if publish.qos == QoS::AtMostOnce
            && (inner.conn.is_none() || inner.pending.len() >= MAX_QUEUED_QOS0)
        {
            return;
        }
        let size = weight(&publish);
        while inner.pending.len() >= MAX_QUEUED
            || (inner.bytes + size > MAX_QUEUED_BYTES && !inner.pending.is_empty())
        {
            // Drop the oldest message that is not a resend of one in flight.
            let Some(at) = inner.pending.iter().position(|p| p.pkid == 0) else {
                break;
            };
            if let Some(old) = inner.pending.remove(at) {
                inner.bytes -= weight(&old);
            }
            inner.dropped += 1;
            if inner.dropped == 1 || inner.dropped.is_power_of_two() {
                warn!(
                    client_id = %self.client_id,
                    dropped = inner.dropped,
                    "MQTT session queue full ({MAX_QUEUED} messages or {MAX_QUEUED_BYTES} bytes); dropped the oldest"
                );
            }
        }
        inner.bytes += size;
        inner.pending.push_back(publish);
        if let Some((_, wake)) = &inner.conn {
            wake.notify_one();
        }
    }

    /// For connection `conn`'s writer: the next messages to write, moving QoS 1 ones into
    /// flight while fewer than `max_inflight` are unacknowledged. At most `max_batch` at once.
    pub fn take(&self, conn: u64, max_inflight: usize, max_batch: usize) -> Take {
        let mut inner = self.lock();
        if inner.conn.as_ref().map(|(c, _)| *c) != Some(conn) {
            return Take::Detached;
        }
        let mut out = Vec::new();
        while out.len() < max_batch {
            let Some(front) = inner.pending.front() else {
                break;
            };
            if front.qos != QoS::AtMostOnce
                && (inner.inflight.len() >= max_inflight
                    || (!inner.inflight.is_empty()
                        && inflight_bytes(&inner) + weight(front) > MAX_QUEUED_BYTES))
            {
                break;
            }
            let Some(mut p) = inner.pending.pop_front() else {
                break;
            };
            if p.qos == QoS::AtMostOnce {
                inner.bytes -= weight(&p);
            } else {
                if p.pkid == 0 {
                    p.pkid = next_free_pkid(&mut inner);
                }
                inner.inflight.push_back(p.clone());
            }
            out.push(p);
        }
        Take::Send(out)
    }

    /// The client acknowledged `pkid`; wakes the writer if more is queued.
    pub fn acked(&self, pkid: u16) {
        let mut inner = self.lock();
        if let Some(i) = inner.inflight.iter().position(|p| p.pkid == pkid) {
            if let Some(done) = inner.inflight.remove(i) {
                inner.bytes -= weight(&done);
            }
            if !inner.pending.is_empty() {
                if let Some((_, wake)) = &inner.conn {
                    wake.notify_one();
                }
            }
        }
    }

    /// Bytes queued and in flight (see [`MAX_QUEUED_BYTES`]).
    pub fn backlog_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Messages queued and in flight (for tests and logs).
    pub fn backlog(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.pending.len(), inner.inflight.len())
    }
}

/// Bytes of the messages in flight (at most `max_inflight` of them).
fn inflight_bytes(inner: &Inner) -> usize {
    inner.inflight.iter().map(weight).sum()
}

/// The next packet id not in flight (ids in `pending` resends are also in use).
fn next_free_pkid(inner: &mut Inner) -> u16 {
    loop {
        let id = inner.next_pkid;
        inner.next_pkid = inner.next_pkid.wrapping_add(1);
        if inner.next_pkid == 0 {
            inner.next_pkid = 1;
        }
        let used = inner.inflight.iter().any(|p| p.pkid == id)
            || inner
                .pending
                .iter()
                .take_while(|p| p.pkid != 0)
                .any(|p| p.pkid == id);
        if !used {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u8, qos: QoS) -> Publish {
        Publish::new("t", qos, vec![n])
    }

    fn sent(take: Take) -> Vec<(u8, u16, bool)> {
        match take {
            Take::Send(v) => v.iter().map(|p| (p.payload[0], p.pkid, p.dup)).collect(),
            Take::Detached => panic!("detached"),
        }
    }

    #[test]
    fn mqtt_session_inflight_limit_ack_and_resend() {
        let s = Session::new(1, "c".into(), "u".into(), false);
        s.attach(7, Arc::new(Notify::new()));
        for n in 0..5 {
            s.enqueue(msg(n, QoS::AtLeastOnce));
        }
        assert_eq!(sent(s.take(7, 2, 100)), vec![(0, 1, false), (1, 2, false)]);
        assert!(sent(s.take(7, 2, 100)).is_empty(), "window full");
        s.acked(1);
        assert_eq!(sent(s.take(7, 2, 100)), vec![(2, 3, false)]);
        assert!(matches!(s.take(8, 2, 100), Take::Detached));

        // The client goes away with 2 and 3 unacknowledged; a QoS 0 message is not kept.
        assert!(s.detach(7));
        s.enqueue(msg(9, QoS::AtMostOnce));
        s.enqueue(msg(5, QoS::AtLeastOnce));
        s.attach(8, Arc::new(Notify::new()));
        assert!(
            !s.detach(7),
            "the old connection no longer owns the session"
        );
        assert_eq!(
            sent(s.take(8, 10, 100)),
            vec![
                (1, 2, true),
                (2, 3, true),
                (3, 4, false),
                (4, 5, false),
                (5, 6, false)
            ]
        );
        assert_eq!(s.backlog(), (0, 5));
    }

    #[test]
    fn mqtt_session_queue_is_bounded() {
        let s = Session::new(1, "c".into(), "u".into(), false);
        for n in 0..(MAX_QUEUED + 3) {
            s.enqueue(msg((n % 250) as u8, QoS::AtLeastOnce));
        }
        assert_eq!(s.backlog(), (MAX_QUEUED, 0));
        s.attach(1, Arc::new(Notify::new()));
        let first = sent(s.take(1, 1, 1));
        assert_eq!(first[0].0, 3, "the 3 oldest were dropped");
    }

    #[test]
    fn mqtt_session_queue_is_bounded_in_bytes() {
        let s = Session::new(1, "c".into(), "u".into(), false);
        let big = 1 << 20;
        for n in 0..40u8 {
            s.enqueue(Publish::new("t", QoS::AtLeastOnce, vec![n; big]));
        }
        let bytes = s.backlog_bytes();
        assert!(bytes <= MAX_QUEUED_BYTES, "{bytes}");
        assert!(bytes > MAX_QUEUED_BYTES - big - 2, "{bytes}");
        s.attach(1, Arc::new(Notify::new()));
        let Take::Send(first) = s.take(1, 1000, 1000) else {
            panic!("detached")
        };
        assert_eq!(first.last().unwrap().payload[0], 39, "the newest is kept");
        for p in &first {
            s.acked(p.pkid);
        }
        assert_eq!(s.backlog_bytes(), 0);
    }
}
