//! Conversions of older databases, run by [`Store::open`].

use playlists::receipt::Receipt;
use serde::{Deserialize, Serialize};

use super::publishing::history_key;
use super::runs::{cut_runs, encode_run, seq_key, split_seq_key, time_key};
use super::{corrupt, decode, encode, ActionRecord, Result, Store, SCHEMA_VERSION};

/// The schema 1 form of a receipt (value of the old `receipts` tree), read only to migrate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ReceiptRow {
    /// The exact receipt text (receipts travel as JSON strings, so they are UTF-8).
    bytes: String,
    received_at: String,
    batch_index: u64,
}

impl Store {
    pub(super) fn migrate_audit(&self) -> Result<()> {
        // Every current manifest belongs in the history (databases from before the history).
        for m in self.manifests()? {
            let k = history_key(&m.screen, m.version);
            if self.audit.manifest_history.get(&k)?.is_none() {
                self.audit.manifest_history.insert(k, encode(&m))?;
            }
        }
        // The same for the current ticker sets (databases from before the ticker history).
        for t in self.ticker_sets()? {
            let k = history_key(&t.screen, t.version);
            if self.audit.ticker_history.get(&k)?.is_none() {
                self.audit.ticker_history.insert(k, encode(&t))?;
            }
        }
        // Actions logged before the Merkle log existed become its first leaves.
        if self.audit.log_hashes.is_empty() && !self.actions.is_empty() {
            for a in Self::all::<ActionRecord>(&self.actions, "action")? {
                self.append_action_leaf(&a)?;
            }
        }
        self.db.flush()?;
        Ok(())
    }

    /// Converts a schema 1 database (one `receipts` row and one `receipt_time` key per receipt)
    /// to runs, then drops the old trees and records schema 2. Idempotent if interrupted: the
    /// old trees are only dropped after the runs are flushed.
    pub(super) fn migrate_receipts_v1(&self) -> Result<()> {
        let old = self.db.open_tree("receipts")?;
        let mut count = 0u64;
        // Rows in key order: screen, then seq. Group consecutive seqs of one screen and one
        // batch into runs.
        let mut group: Vec<(Vec<u8>, ReceiptRow, u64, i64)> = Vec::new();
        let flush_group = |group: &mut Vec<(Vec<u8>, ReceiptRow, u64, i64)>| -> Result<()> {
            if group.is_empty() {
                return Ok(());
            }
            let items: Vec<(u64, i64)> = group.iter().map(|g| (g.2, g.3)).collect();
            for (a, b, lo) in cut_runs(&items) {
                let (screen, first) = (&group[a].0, group[a].2);
                let bytes: Vec<&[u8]> = group[a..b].iter().map(|g| g.1.bytes.as_bytes()).collect();
                let key = seq_key(screen, first);
                let v = encode_run(&group[a].1.received_at, group[a].1.batch_index, &bytes);
                self.audit.run_time.insert(time_key(lo, &key), &[][..])?;
                self.audit.runs.insert(key, v)?;
            }
            group.clear();
            Ok(())
        };
        for kv in old.iter() {
            let (k, v) = kv?;
            let row: ReceiptRow = decode("receipt", &v)?;
            let (screen, seq) = split_seq_key(&k)?;
            let screen = screen.to_vec();
            let ms = Receipt::parse(row.bytes.as_bytes())
                .map_err(|e| corrupt("receipt", e))?
                .started_at
                .as_millisecond();
            let joins = group.last().is_some_and(|g| {
                g.0 == screen && g.1.batch_index == row.batch_index && g.2 + 1 == seq
            });
            if !joins {
                flush_group(&mut group)?;
            }
            group.push((screen, row, seq, ms));
            count += 1;
        }
        flush_group(&mut group)?;
        self.db.flush()?;
        self.db.drop_tree("receipts")?;
        self.db.drop_tree("receipt_time")?;
        self.meta
            .insert("schema_version", encode(&SCHEMA_VERSION))?;
        self.db.flush()?;
        tracing::info!(
            receipts = count,
            "database converted from schema 1 to 2 (receipt runs)"
        );
        Ok(())
    }
}
