//! The value log: large audit values (receipt runs, receipts envelopes as log leaves) appended
//! to segment files beside the database, with only a small reference in sled's trees.
//!
//! Why: sled keeps values inside its B-tree nodes and splits a leaf node past 16 entries, so a
//! tree of 30–50 KB values rewrites hundreds of kilobytes on every split and consolidation; that
//! was most of the ingest's cost (docs/BENCHMARKS.md, "Ingest"). An append here writes each
//! value once.
//!
//! Format: files `values/NNNNNNNN.seg`, each a sequence of records `crc32(u32) len(u32) bytes`
//! (big-endian; the CRC covers `bytes`). A [`ValueRef`] names a record by segment, offset and
//! length and is stored in sled as [`REF_TAG`] followed by those three numbers.
//!
//! Durability rule: a reference is written to sled only after its record is synced
//! ([`ValueLog::sync`]), so no crash can leave sled pointing at bytes that are not on disk. A
//! crash between an append and its reference leaves unreferenced bytes at the end of a segment;
//! they are never read.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{corrupt, Result, StoreError};

/// First byte of a tree value that is a [`ValueRef`] rather than the value itself. Inline
/// receipt runs start with their format byte 1, inline log leaves with their kind 0 or 1.
pub(super) const REF_TAG: u8 = 2;

/// Length of an encoded reference: tag, segment (u32), offset (u64), length (u32).
const REF_LEN: usize = 17;

/// Record header: CRC-32 and length.
const HEADER: u64 = 8;

/// A segment is closed and the next one started past this size.
const SEGMENT_BYTES: u64 = 1 << 30;

/// Where one value lives in the value log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ValueRef {
    segment: u32,
    offset: u64,
    len: u32,
}

impl ValueRef {
    /// The tree value that stands for the record: [`REF_TAG`] and the three numbers.
    pub(super) fn encode(&self) -> [u8; REF_LEN] {
        let mut v = [0u8; REF_LEN];
        v[0] = REF_TAG;
        v[1..5].copy_from_slice(&self.segment.to_be_bytes());
        v[5..13].copy_from_slice(&self.offset.to_be_bytes());
        v[13..17].copy_from_slice(&self.len.to_be_bytes());
        v
    }

    /// The reference a tree value holds, if it is one.
    fn decode(v: &[u8]) -> Option<ValueRef> {
        if v.len() != REF_LEN || v[0] != REF_TAG {
            return None;
        }
        Some(ValueRef {
            segment: u32::from_be_bytes(v[1..5].try_into().ok()?),
            offset: u64::from_be_bytes(v[5..13].try_into().ok()?),
            len: u32::from_be_bytes(v[13..17].try_into().ok()?),
        })
    }
}

struct Writer {
    segment: u32,
    file: Arc<File>,
    len: u64,
    /// Bytes appended since the last sync.
    unsynced: bool,
}

/// The segment files of one database (see the module docs).
pub(super) struct ValueLog {
    dir: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<HashMap<u32, Arc<File>>>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    corrupt("value log", format!("{what} {}: {e}", path.display()))
}

fn segment_name(segment: u32) -> String {
    format!("{segment:08}.seg")
}

/// [`gatecast_support::fs::sync_dir`], its failure named as a value log error.
fn sync_dir(dir: &Path) -> Result<()> {
    gatecast_support::fs::sync_dir(dir).map_err(|e| io("syncing directory", dir, e))
}

impl ValueLog {
    /// Opens the value log in `dir` (created if missing), appending to its last segment.
    pub(super) fn open(dir: &Path) -> Result<ValueLog> {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let last = std::fs::read_dir(dir)
            .map_err(|e| io("listing", dir, e))?
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".seg")?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(1u32);
        let writer = Self::open_segment(dir, last)?;
        Ok(ValueLog {
            dir: dir.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(HashMap::new()),
        })
    }

    fn open_segment(dir: &Path, segment: u32) -> Result<Writer> {
        let path = dir.join(segment_name(segment));
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| io("opening", &path, e))?;
        if !existed {
            sync_dir(dir)?;
        }
        let len = file
            .metadata()
            .map_err(|e| io("reading the size of", &path, e))?
            .len();
        Ok(Writer {
            segment,
            file: Arc::new(file),
            len,
            unsynced: false,
        })
    }

    /// Appends `parts` (concatenated) as one record; **not synced**: call [`ValueLog::sync`]
    /// before writing the returned reference anywhere durable.
    pub(super) fn append(&self, parts: &[&[u8]]) -> Result<ValueRef> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(total).map_err(|_| {
            corrupt(
                "value log",
                format!("a value of {total} bytes is too large"),
            )
        })?;
        let mut crc = crc32fast::Hasher::new();
        let mut record = Vec::with_capacity(HEADER as usize + total);
        record.extend_from_slice(&[0; 8]);
        for p in parts {
            crc.update(p);
            record.extend_from_slice(p);
        }
        record[..4].copy_from_slice(&crc.finalize().to_be_bytes());
        record[4..8].copy_from_slice(&len.to_be_bytes());

        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if w.len > 0 && w.len + record.len() as u64 > SEGMENT_BYTES {
            if w.unsynced {
                self.sync_writer(&mut w)?;
            }
            *w = Self::open_segment(&self.dir, w.segment + 1)?;
        }
        let offset = w.len;
        // Appended (the file is opened for appending); a short write fails the whole append
        // and the offset is re-read from the file so the next record starts after it.
        if let Err(e) = (&*w.file).write_all(&record) {
            w.len = w.file.metadata().map(|m| m.len()).unwrap_or(w.len);
            return Err(io(
                "appending to",
                &self.dir.join(segment_name(w.segment)),
                e,
            ));
        }
        w.len += record.len() as u64;
        w.unsynced = true;
        Ok(ValueRef {
            segment: w.segment,
            offset,
            len,
        })
    }

    fn sync_writer(&self, w: &mut Writer) -> Result<()> {
        w.file
            .sync_data()
            .map_err(|e| io("syncing", &self.dir.join(segment_name(w.segment)), e))?;
        w.unsynced = false;
        Ok(())
    }

    /// Makes every record appended so far durable.
    pub(super) fn sync(&self) -> Result<()> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if w.unsynced {
            self.sync_writer(&mut w)?;
        }
        Ok(())
    }

    fn reader(&self, segment: u32) -> Result<Arc<File>> {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = readers.get(&segment) {
            return Ok(f.clone());
        }
        let path = self.dir.join(segment_name(segment));
        let f = Arc::new(File::open(&path).map_err(|e| io("opening", &path, e))?);
        readers.insert(segment, f.clone());
        Ok(f)
    }

    /// The record `r` names, checked against its length and CRC.
    fn read(&self, r: ValueRef) -> Result<Vec<u8>> {
        let f = self.reader(r.segment)?;
        let mut buf = vec![0u8; HEADER as usize + r.len as usize];
        f.read_exact_at(&mut buf, r.offset).map_err(|e| {
            corrupt(
                "value log",
                format!(
                    "record at {}:{} ({} bytes) cannot be read: {e}",
                    segment_name(r.segment),
                    r.offset,
                    r.len
                ),
            )
        })?;
        let crc = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let data = buf.split_off(HEADER as usize);
        if len != r.len || crc32fast::hash(&data) != crc {
            return Err(corrupt(
                "value log",
                format!(
                    "record at {}:{} does not match its reference or its checksum",
                    segment_name(r.segment),
                    r.offset
                ),
            ));
        }
        Ok(data)
    }

    /// A tree value as it was written: `v` itself, or the record it refers to.
    pub(super) fn resolve(&self, v: sled::IVec) -> Result<sled::IVec> {
        match ValueRef::decode(&v) {
            Some(r) => Ok(self.read(r)?.into()),
            None => Ok(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_across_a_reopen_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let log = ValueLog::open(&dir.path().join("values")).unwrap();
        let a = log.append(&[b"\x00", b"first envelope"]).unwrap();
        let b = log.append(&[&[7u8; 40_000]]).unwrap();
        log.sync().unwrap();
        assert_eq!(
            &*log.resolve(a.encode().to_vec().into()).unwrap(),
            b"\x00first envelope"
        );
        drop(log);

        let log = ValueLog::open(&dir.path().join("values")).unwrap();
        let c = log.append(&[b"after reopen"]).unwrap();
        assert!(c.offset > b.offset, "appends continue after what is there");
        assert_eq!(
            log.resolve(b.encode().to_vec().into()).unwrap().len(),
            40_000
        );
        // A value that is not a reference is itself.
        assert_eq!(
            &*log.resolve(b"\x01inline"[..].into()).unwrap(),
            b"\x01inline"
        );

        // A flipped byte is found by the checksum.
        let path = dir.path().join("values").join(segment_name(1));
        let mut bytes = std::fs::read(&path).unwrap();
        let at = usize::try_from(a.offset + HEADER).unwrap() + 3;
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let log = ValueLog::open(&dir.path().join("values")).unwrap();
        let err = log.resolve(a.encode().to_vec().into()).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        // A reference past the end is named too.
        let far = ValueRef {
            offset: 1 << 40,
            ..a
        };
        let err = log.resolve(far.encode().to_vec().into()).unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
}
