//! A consistent copy of the whole database for online backups (`docs/operations.md`, "Backups
//! and restore"), and loading such a copy into a new database.
//!
//! Consistency: every Merkle-log append (a receipts batch with its receipts and chain tip, or
//! an action with its record) is one transaction under the log lock, so a copy taken while
//! holding that lock has a log whose leaves, receipts and chain tips agree. Trees outside the
//! log (status, screens, tokens) are rows of their own; a copy reads each as it is at that
//! moment. Checkpoints only name leaves that exist, so every copied checkpoint verifies.
//!
//! Receipt runs and batch leaves kept in the value log (`values.rs`) are written as the values
//! themselves, so a copy is complete on its own and loads as inline values.
//!
//! Format (all integers big-endian): per tree `u32` name length, name, `u64` entry count, then
//! per entry `u32` key length, key, `u32` value length, value. Readers check every length
//! against what is left.

use std::io::{Read, Write};
use std::path::Path;

use super::{Result, Store, StoreError};

/// What a dump holds, for the backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    /// Trees written.
    pub trees: u64,
    /// Entries written, all trees.
    pub entries: u64,
    /// Merkle log leaves in the copy.
    pub log_size: u64,
    /// The newest checkpoint in the copy: `(tree size, exact envelope bytes)`.
    pub checkpoint: Option<(u64, Vec<u8>)>,
}

fn io_err(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        message: e.to_string(),
    }
}

fn put_bytes(out: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(b.len()).map_err(std::io::Error::other)?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(b)
}

impl Store {
    /// Writes every tree to `out` while holding the log lock (see the module docs). Ingest and
    /// the action log wait for it; everything else goes on.
    pub fn dump(&self, out: &mut impl Write) -> Result<DumpSummary> {
        self.with_log_lock(|_| {
            let mut summary = DumpSummary {
                trees: 0,
                entries: 0,
                log_size: self.log_size()?,
                checkpoint: self.latest_checkpoint()?,
            };
            for name in self.db.tree_names() {
                let tree = self.db.open_tree(&name)?;
                // The copy holds values, never references into this database's value log.
                let in_value_log = [&self.audit.runs, &self.audit.log_leaves]
                    .iter()
                    .any(|t| t.name() == name);
                let w = |e| io_err("backup output", e);
                put_bytes(out, &name).map_err(w)?;
                out.write_all(&(tree.len() as u64).to_be_bytes())
                    .map_err(w)?;
                let mut n = 0u64;
                for kv in tree.iter() {
                    let (k, mut v) = kv?;
                    if in_value_log {
                        v = self.audit.values.resolve(v)?;
                    }
                    put_bytes(out, &k).map_err(w)?;
                    put_bytes(out, &v).map_err(w)?;
                    n += 1;
                }
                if n != tree.len() as u64 {
                    return Err(StoreError::Corrupt {
                        what: format!("tree {}", String::from_utf8_lossy(&name)),
                        message: format!("counted {} entries, read {n}", tree.len()),
                    });
                }
                summary.trees += 1;
                summary.entries += n;
            }
            out.flush().map_err(|e| io_err("backup output", e))?;
            Ok(summary)
        })
    }

    /// Makes a new database in `dir` (which must not hold one) from a [`Store::dump`] copy read
    /// from `input`, flushes it and opens it (checking its schema). Returns the entry count.
    pub fn load_dump(dir: &Path, input: &mut impl Read) -> Result<(Store, u64)> {
        let db = gatecast_support::db::open(dir, 32 * 1024 * 1024)?;
        let mut entries = 0u64;
        let r = |e| io_err("backup database copy", e);
        loop {
            let Some(name) = read_bytes(input, true).map_err(r)? else {
                break;
            };
            let tree = db.open_tree(&name)?;
            let mut count = [0u8; 8];
            input.read_exact(&mut count).map_err(r)?;
            for _ in 0..u64::from_be_bytes(count) {
                let k = read_bytes(input, false).map_err(r)?.unwrap_or_default();
                let v = read_bytes(input, false).map_err(r)?.unwrap_or_default();
                tree.insert(k, v)?;
                entries += 1;
            }
        }
        db.flush()?;
        drop(db);
        Ok((Store::open(dir)?, entries))
    }
}

/// One length-prefixed field; `None` at a clean end of input when `eof_ok`.
fn read_bytes(input: &mut impl Read, eof_ok: bool) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Err(e) if eof_ok && e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r?,
    }
    let len = u32::from_be_bytes(len) as u64;
    let mut buf = Vec::new();
    input.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the copy ends inside a record",
        ));
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Role, TokenRecord};

    #[tokio::test]
    async fn a_dump_loads_into_an_equal_database_and_a_cut_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a")).unwrap();
        let t = TokenRecord {
            id: "0123456789abcdef".into(),
            role: Role::Auditor,
            secret_hash: "00".into(),
            created_at: "2026-12-07T00:00:00Z".into(),
            revoked: false,
            owner: None,
            label: None,
        };
        store.put_token(&t).await.unwrap();
        let mut bytes = Vec::new();
        let s = store.dump(&mut bytes).unwrap();
        assert!(s.trees > 10 && s.entries >= 2, "{s:?}");
        let (copy, n) = Store::load_dump(&dir.path().join("b"), &mut &bytes[..]).unwrap();
        assert_eq!(n, s.entries);
        assert_eq!(copy.token(&t.id).unwrap(), Some(t));
        let cut = &bytes[..bytes.len() - 3];
        let e = Store::load_dump(&dir.path().join("c"), &mut &cut[..])
            .err()
            .unwrap();
        assert!(e.to_string().contains("backup database copy"), "{e}");
    }
}
