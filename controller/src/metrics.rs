//! The controller's counters, exported at `/metrics` (`docs/operations.md`): one bottom module
//! below `api`, `status`, `inbound` and `ingest`, so each of them counts into the same
//! [`Metrics`] without importing a layer above it (`docs/architecture.md`, "Layers inside the
//! controller").

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters exported at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Manifests published (one per screen and version).
    pub publishes: AtomicU64,
    /// Alert sets published.
    pub alert_publishes: AtomicU64,
    /// HTTP answers with status >= 400.
    pub http_errors: AtomicU64,
    /// Manifest rejections reported by players (`last_rejection` changes in status).
    pub manifests_rejected: AtomicU64,
    /// MQTT messages that failed to publish.
    pub publish_failures: AtomicU64,
    /// Receipt ingest counters (shared with [`crate::ingest::Ingest`]).
    pub ingest: Arc<IngestMetrics>,
    /// Status ingest counters ([`crate::status`]).
    pub status: StatusMetrics,
    /// Inbound routing counters ([`crate::inbound`]).
    pub inbound: InboundMetrics,
    /// Screen MQTT logins whose password was checked against its stored verifier (or `$7$`
    /// hash) by the embedded broker: a login flood shows here (`docs/security.md` §3 row 44).
    pub mqtt_password_checks: Arc<AtomicU64>,
}

/// Counters of the ingest, exported at `/metrics` by [`IngestMetrics::render`].
#[derive(Debug, Default)]
pub struct IngestMetrics {
    /// Batches whose receipts were stored (at least one new receipt).
    pub batches_stored: AtomicU64,
    /// Receipts stored.
    pub receipts_stored: AtomicU64,
    /// Batches that brought nothing new (exact resends and overlapping resends).
    pub batches_duplicate: AtomicU64,
    /// Acks handed to the MQTT client.
    pub acks_sent: AtomicU64,
    /// Acks the MQTT client refused (the player resends and is acked then).
    pub ack_failures: AtomicU64,
    /// Flushes (one per group).
    pub flushes: AtomicU64,
    /// Conflicting envelopes kept as evidence.
    pub conflicts: AtomicU64,
    /// Rejected batches by reason code.
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
}

/// Every rejection reason code (docs/protocol.md §16), so `/metrics` shows zeros too.
pub const REJECTION_REASONS: [&str; 11] = [
    "bad_envelope",
    "bad_signature",
    "unknown_epoch",
    "epoch_closed",
    "wrong_screen",
    "seq_gap",
    "prev_mismatch",
    "duplicate_conflict",
    "malformed",
    "too_many_receipts",
    "store_inconsistent",
];

impl IngestMetrics {
    /// How many batches were rejected for `reason`.
    pub fn rejected(&self, reason: &str) -> u64 {
        let m = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        m.get(reason).copied().unwrap_or(0)
    }

    pub(crate) fn reject(&self, reason: &'static str) {
        let mut m = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    /// Appends the ingest counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let mut put = |name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        };
        put(
            "gatecast_receipt_batches_stored_total",
            "Receipt batches that brought new receipts (stored and logged).",
            &self.batches_stored,
        );
        put(
            "gatecast_receipts_stored_total",
            "Receipts stored.",
            &self.receipts_stored,
        );
        put(
            "gatecast_receipt_batches_duplicate_total",
            "Receipt batches that brought nothing new (resends); acknowledged again.",
            &self.batches_duplicate,
        );
        put(
            "gatecast_receipt_conflicts_total",
            "Batches with a stored seq but different bytes, kept as evidence.",
            &self.conflicts,
        );
        put(
            "gatecast_acks_sent_total",
            "Acks published.",
            &self.acks_sent,
        );
        put(
            "gatecast_ack_failures_total",
            "Acks the MQTT client did not accept.",
            &self.ack_failures,
        );
        put(
            "gatecast_receipt_flushes_total",
            "Database flushes of the receipt ingest (one per group of batches).",
            &self.flushes,
        );
        let name = "gatecast_receipt_batches_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} Rejected receipt batches by reason.\n# TYPE {name} counter"
        );
        let m = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        for reason in REJECTION_REASONS {
            let v = m.get(reason).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {v}");
        }
    }
}

/// Every reason of [`StatusError::reason`], so `/metrics` shows zeros too.
pub const STATUS_REJECTION_REASONS: [&str; 6] = [
    "too_large",
    "not_json",
    "bad_field",
    "unknown_screen",
    "disabled",
    "store",
];

/// Status ingest counters.
#[derive(Debug, Default)]
pub struct StatusMetrics {
    /// Statuses recorded.
    pub stored: AtomicU64,
    /// Statuses replaced by a newer one of the same screen before they were recorded.
    pub coalesced: AtomicU64,
    /// Refused statuses by reason.
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
}

impl StatusMetrics {
    pub(crate) fn reject(&self, reason: &'static str) {
        let mut m = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    /// Appends the counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        for (name, help, v) in [
            (
                "gatecast_statuses_stored_total",
                "Statuses recorded (at most one per screen per second).",
                &self.stored,
            ),
            (
                "gatecast_statuses_coalesced_total",
                "Statuses replaced by a newer one of the same screen before being recorded.",
                &self.coalesced,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let name = "gatecast_status_rejected_total";
        let _ = writeln!(
            out,
            "# HELP {name} Statuses refused, by reason.\n# TYPE {name} counter"
        );
        let m = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        for reason in STATUS_REJECTION_REASONS {
            let n = m.get(reason).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
        }
    }
}

/// Counters of the inbound routing.
#[derive(Debug, Default)]
pub struct InboundMetrics {
    /// Receipt batches dropped because their screen (or all screens) had too many waiting.
    pub receipts_dropped: AtomicU64,
}

impl InboundMetrics {
    /// Appends the counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let name = "gatecast_receipt_batches_dropped_total";
        let _ = writeln!(
            out,
            "# HELP {name} Receipt batches dropped before ingest: too many waiting from their screen or in all (the player resends).\n# TYPE {name} counter\n{name} {}",
            self.receipts_dropped.load(Ordering::Relaxed)
        );
    }
}
