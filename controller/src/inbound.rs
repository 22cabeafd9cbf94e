//! Routing what screens publish (`docs/security.md` §3 row 48): statuses to the
//! [`crate::status::StatusQueue`], receipt batches through a [`ReceiptQueue`] to the receipt
//! ingest. Neither path ever waits on the other, so a screen flooding its `status` topic
//! cannot delay any screen's acks.
//!
//! The [`ReceiptQueue`] is fair and bounded: at most [`MAX_PENDING_PER_SCREEN`] batches and
//! [`MAX_PENDING_BYTES_PER_SCREEN`] bytes per screen and [`MAX_PENDING_BYTES`] in all wait in
//! it (a batch over the envelope limit is never queued: it is recorded as a `bad_envelope`
//! rejection at once, without its bytes), and screens are served in turn (one
//! batch each), so one screen's flood of batches costs another screen at most one batch of
//! that screen per turn. A batch that does not fit is dropped and counted
//! (`gatecast_receipt_batches_dropped_total`): a player resends until acknowledged
//! (`docs/protocol.md` §14).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

pub use crate::metrics::{InboundMetrics, Metrics};
use crate::mqtt::client::{Inbound, InboundBytes};
use crate::status::StatusQueue;
use crate::store::Store;
use playlists::envelope::MAX_ENVELOPE_BYTES;

/// Receipt batches of one screen waiting for the ingest, at most.
pub const MAX_PENDING_PER_SCREEN: usize = 4;

/// Bytes of receipt batches waiting for the ingest, at most (all screens).
pub const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;

/// Bytes of receipt batches of one screen waiting for the ingest, at most: one batch of the
/// largest size the protocol allows ([`MAX_ENVELOPE_BYTES`]) fits, and one screen never holds
/// more than an eighth of [`MAX_PENDING_BYTES`].
pub const MAX_PENDING_BYTES_PER_SCREEN: usize = MAX_PENDING_BYTES / 8;

/// Bytes of payload the MQTT client's inbound queue may hold
/// ([`crate::mqtt::client::InboundBytes`]; given back as each message is routed).
pub const INBOUND_QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// Receipt batches waiting for the ingest, per screen, served in turn.
#[derive(Default)]
pub struct ReceiptQueue {
    inner: Mutex<Pending>,
    notify: Notify,
}

/// One screen's waiting batches and their size.
#[derive(Default)]
struct ScreenBatches {
    batches: VecDeque<Vec<u8>>,
    bytes: usize,
}

#[derive(Default)]
struct Pending {
    /// Screens with batches waiting, in serving order.
    turn: VecDeque<String>,
    batches: HashMap<String, ScreenBatches>,
    bytes: usize,
    closed: bool,
}

/// Why [`ReceiptQueue::push`] dropped a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    /// The screen already has [`MAX_PENDING_PER_SCREEN`] batches waiting.
    #[error("{MAX_PENDING_PER_SCREEN} batches of this screen are already waiting")]
    ScreenFull,
    /// [`MAX_PENDING_BYTES_PER_SCREEN`] would be passed for this screen.
    #[error("{MAX_PENDING_BYTES_PER_SCREEN} bytes of this screen's batches are already waiting")]
    ScreenBytesFull,
    /// [`MAX_PENDING_BYTES`] would be passed.
    #[error("{MAX_PENDING_BYTES} bytes of batches are already waiting")]
    BytesFull,
    /// The batch is over [`MAX_ENVELOPE_BYTES`]: the ingest would refuse it anyway
    /// (`bad_envelope`), so it is never queued.
    #[error("the batch is over the envelope limit of {MAX_ENVELOPE_BYTES} bytes")]
    TooLarge,
}

impl ReceiptQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a batch of `screen`, or says why it was dropped. Never waits.
    pub fn push(&self, screen: &str, payload: Vec<u8>) -> Result<(), Dropped> {
        let len = payload.len();
        if len > MAX_ENVELOPE_BYTES {
            return Err(Dropped::TooLarge);
        }
        let mut guard = self.lock();
        let p = &mut *guard;
        if p.bytes + len > MAX_PENDING_BYTES {
            return Err(Dropped::BytesFull);
        }
        let q = p.batches.entry(screen.to_string()).or_default();
        if q.batches.len() >= MAX_PENDING_PER_SCREEN {
            return Err(Dropped::ScreenFull);
        }
        if q.bytes + len > MAX_PENDING_BYTES_PER_SCREEN {
            return Err(Dropped::ScreenBytesFull);
        }
        q.batches.push_back(payload);
        q.bytes += len;
        if q.batches.len() == 1 {
            p.turn.push_back(screen.to_string());
        }
        p.bytes += len;
        drop(guard);
        self.notify.notify_one();
        Ok(())
    }

    /// No more batches will be pushed: [`ReceiptQueue::pop`] returns `None` once empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    /// The next batch in turn, if one is waiting.
    pub fn try_pop(&self) -> Option<(String, Vec<u8>)> {
        let mut guard = self.lock();
        let p = &mut *guard;
        let screen = p.turn.pop_front()?;
        let q = p.batches.get_mut(&screen)?;
        let batch = q.batches.pop_front()?;
        q.bytes -= batch.len();
        if q.batches.is_empty() {
            p.batches.remove(&screen);
        } else {
            p.turn.push_back(screen.clone());
        }
        p.bytes -= batch.len();
        Some((screen, batch))
    }

    /// The next batch: the next screen in turn gives one.
    pub async fn pop(&self) -> Option<(String, Vec<u8>)> {
        loop {
            if let Some(b) = self.try_pop() {
                return Some(b);
            }
            if self.lock().closed {
                return None;
            }
            self.notify.notified().await;
        }
    }
}

/// Closes the [`ReceiptQueue`] when the inbound task ends, however it ends.
struct CloseOnDrop(Arc<ReceiptQueue>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Routes inbound messages: statuses to `statuses` (its own task records them), receipt
/// batches into `queue`, which the ingest takes them from ([`crate::ingest::run`]). Dropping
/// the task stops both parts and closes `queue`, so the ingest drains it and stops.
/// `status_stale_after` is the heartbeat age past which a screen counts as silent
/// (`docs/protocol.md` §12). Each message's bytes are given back to `inbound_bytes` once it is
/// routed.
pub fn spawn(
    store: Store,
    metrics: Arc<Metrics>,
    mut inbound_rx: mpsc::Receiver<Inbound>,
    inbound_bytes: Option<InboundBytes>,
    queue: Arc<ReceiptQueue>,
    status_stale_after: std::time::Duration,
) -> JoinHandle<()> {
    let statuses = Arc::new(StatusQueue::default());
    let closer = CloseOnDrop(queue.clone());
    let status_task = crate::status::run(
        store.clone(),
        metrics.clone(),
        statuses.clone(),
        status_stale_after,
    );
    let router = async move {
        while let Some(msg) = inbound_rx.recv().await {
            let routed = msg.payload_len();
            match msg {
                Inbound::Status { screen, payload } => {
                    statuses.offer(&metrics.status, &screen, payload);
                }
                Inbound::StatusTooLarge { screen, bytes } => {
                    statuses.refuse_too_large(&metrics.status, &screen, bytes);
                }
                Inbound::Receipts { screen, payload } => {
                    let bytes = payload.len();
                    debug!(%screen, bytes, "receipts batch received");
                    if bytes > MAX_ENVELOPE_BYTES {
                        // Never queued: recorded by its hash and size, then the bytes are gone.
                        if let Err(e) = crate::ingest::refuse_oversized(
                            &store,
                            &metrics.ingest,
                            &screen,
                            &payload,
                        ) {
                            warn!(%screen, bytes, "oversized receipts batch not recorded: {e}");
                        }
                    } else if let Err(why) = queue.push(&screen, payload) {
                        metrics
                            .inbound
                            .receipts_dropped
                            .fetch_add(1, Ordering::Relaxed);
                        debug!(%screen, bytes, "receipts batch dropped (the player resends): {why}");
                    }
                }
            }
            if let Some(b) = &inbound_bytes {
                b.release(routed);
            }
        }
    };
    tokio::spawn(async move {
        let _closer = closer;
        tokio::select! {
            _ = router => {}
            _ = status_task => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn screens_are_served_in_turn_and_bounded() {
        let q = ReceiptQueue::default();
        for i in 0..MAX_PENDING_PER_SCREEN {
            q.push("flood", vec![i as u8]).unwrap();
        }
        assert_eq!(q.push("flood", vec![9]), Err(Dropped::ScreenFull));
        q.push("other", vec![7]).unwrap();
        assert_eq!(q.pop().await, Some(("flood".into(), vec![0])));
        // The other screen is next, ahead of the flood's remaining batches.
        assert_eq!(q.pop().await, Some(("other".into(), vec![7])));
        assert_eq!(q.pop().await, Some(("flood".into(), vec![1])));
        // All screens together: at most MAX_PENDING_BYTES.
        let full = ReceiptQueue::default();
        for i in 0..MAX_PENDING_BYTES / MAX_PENDING_BYTES_PER_SCREEN {
            full.push(&format!("s{i}"), vec![0; MAX_PENDING_BYTES_PER_SCREEN])
                .unwrap();
        }
        assert_eq!(full.push("one-more", vec![0]), Err(Dropped::BytesFull));
        q.close();
        assert_eq!(q.pop().await, Some(("flood".into(), vec![2])));
        assert_eq!(q.pop().await, Some(("flood".into(), vec![3])));
        assert_eq!(q.pop().await, None);
    }

    #[tokio::test]
    async fn attack_one_screen_cannot_fill_the_receipt_queue() {
        let q = ReceiptQueue::default();
        let over = playlists::envelope::MAX_ENVELOPE_BYTES + 1;
        assert_eq!(q.push("flood", vec![0; over]), Err(Dropped::TooLarge));
        // The flood's batches up to the limit fill at most its share of the bytes.
        let mut queued = 0;
        for _ in 0..MAX_PENDING_PER_SCREEN {
            if q.push("flood", vec![0; over - 1]).is_ok() {
                queued += over - 1;
            }
        }
        assert!(
            queued <= MAX_PENDING_BYTES / 8,
            "one screen queued {queued} bytes"
        );
        assert_eq!(q.push("flood", vec![0; 1]), Err(Dropped::ScreenBytesFull));
        q.push("other", vec![0; over - 1]).unwrap();
        assert_eq!(
            q.pop().await.map(|(s, b)| (s, b.len())),
            Some(("flood".into(), over - 1))
        );
        assert_eq!(
            q.pop().await.map(|(s, b)| (s, b.len())),
            Some(("other".into(), over - 1))
        );
    }
}
