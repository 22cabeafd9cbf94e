//! Reading an export bundle (`crate::audit`) into a [`ReportBuilder`] as a stream: the log
//! entries are parsed and fed one at a time, so memory holds one entry, not the bundle.
//!
//! This reads, it does not verify: `gatecast-audit verify` checks the signatures, chains and
//! proofs of the same bundle (`docs/auditing.md`).

use std::fmt;
use std::io::Read;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Evidence, Figures, ReportBuilder, ReportRequest, ScreenInfo};
use crate::audit::{ConflictEntry, EntryKind, LogEntry, Period, ScreenEntry, ScreenStatement};
use crate::envelope::{Envelope, CHECKPOINT_TYPE, MANIFEST_TYPE, RECEIPTS_TYPE, TICKER_TYPE};
use crate::keys::b64_decode;
use crate::manifest::{Manifest, TickerSet};
use crate::merkle::Checkpoint;
use crate::receipt::{Receipt, FIRST_EPOCH};

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bytes are not a bundle.
    #[error("not a gatecast audit bundle: {0}")]
    Malformed(String),
}

/// Read `bundle` (the exact bytes of an export, streamed) and compute the figures of `req`.
pub fn read_bundle<R: Read>(bundle: R, req: ReportRequest) -> Result<Figures, BundleError> {
    let mut reader = HashingReader {
        inner: bundle,
        hash: Sha256::new(),
    };
    let mut state = State {
        builder: ReportBuilder::new(req),
        evidence: Evidence::default(),
    };
    {
        let mut de = serde_json::Deserializer::from_reader(&mut reader);
        BundleSeed(&mut state)
            .deserialize(&mut de)
            .map_err(|e| BundleError::Malformed(e.to_string()))?;
        de.end()
            .map_err(|e| BundleError::Malformed(e.to_string()))?;
    }
    // Whatever follows the JSON (nothing, or whitespace) is part of the file's hash.
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| BundleError::Malformed(e.to_string()))?;
    state.evidence.bundle_sha256 = crate::hex::encode(&reader.hash.finalize());
    let as_of = state
        .evidence
        .generated_at
        .parse()
        .map_err(|e| BundleError::Malformed(format!("generated_at: {e}")))?;
    let mut builder = state.builder;
    builder.evidence(state.evidence);
    Ok(builder.finish(as_of))
}

struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

struct State {
    builder: ReportBuilder,
    evidence: Evidence,
}

impl State {
    fn statement(&mut self, e: &ScreenEntry) -> Result<(), String> {
        let env = Envelope::parse(&b64_decode(&e.statement).map_err(|e| e.to_string())?)
            .map_err(|e| format!("screen statement: {e}"))?;
        let s: ScreenStatement =
            serde_json::from_slice(&env.payload).map_err(|e| format!("screen statement: {e}"))?;
        let first = s
            .epochs
            .first()
            .map_or(s.enrolled_at.as_str(), |e| e.enrolled_at.as_str());
        let registered_at = first
            .parse()
            .map_err(|e| format!("screen {}: enrolled_at {first:?}: {e}", s.screen))?;
        self.builder.screen(ScreenInfo {
            screen: s.screen.clone(),
            name: s.name.clone(),
            gate: s.gate.clone(),
            gate_name: s.gate_name.clone().filter(|n| !n.trim().is_empty()),
            timezone: s.timezone.clone().unwrap_or_else(|| "UTC".into()),
            registered_at,
        });
        Ok(())
    }

    fn entry(&mut self, e: &LogEntry) -> Result<(), String> {
        let data = b64_decode(&e.data).map_err(|err| format!("entry {}: {err}", e.index))?;
        match e.kind {
            EntryKind::Action => {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) {
                    self.builder.action(&v);
                }
            }
            EntryKind::Batch => {
                #[derive(Deserialize)]
                struct Payload {
                    epoch: Option<u64>,
                    receipts: Vec<String>,
                }
                let env =
                    Envelope::parse(&data).map_err(|err| format!("entry {}: {err}", e.index))?;
                if env.payload_type != RECEIPTS_TYPE {
                    return Err(format!("entry {}: not a receipts batch", e.index));
                }
                let p: Payload = serde_json::from_slice(&env.payload)
                    .map_err(|err| format!("entry {}: {err}", e.index))?;
                let epoch = p.epoch.unwrap_or(FIRST_EPOCH);
                for text in &p.receipts {
                    let r = Receipt::parse(text.as_bytes())
                        .map_err(|err| format!("entry {}: {err}", e.index))?;
                    self.builder.receipt(epoch, &r);
                }
            }
        }
        Ok(())
    }

    /// A manifest of the bundle's `manifests` (read, not verified: `gatecast-audit verify`
    /// checks them against the signed scope).
    fn manifest(&mut self, i: usize, b64: &str) -> Result<(), String> {
        let bytes = b64_decode(b64).map_err(|e| format!("manifests[{i}]: {e}"))?;
        let env = Envelope::parse(&bytes).map_err(|e| format!("manifests[{i}]: {e}"))?;
        if env.payload_type != MANIFEST_TYPE {
            return Err(format!("manifests[{i}]: not a manifest envelope"));
        }
        let m = Manifest::from_json(&env.payload).map_err(|e| format!("manifests[{i}]: {e}"))?;
        self.builder.manifest(m);
        Ok(())
    }

    /// A ticker set of the bundle's `tickers` (read, not verified, as the manifests).
    fn ticker_set(&mut self, i: usize, b64: &str) -> Result<(), String> {
        let bytes = b64_decode(b64).map_err(|e| format!("tickers[{i}]: {e}"))?;
        let env = Envelope::parse(&bytes).map_err(|e| format!("tickers[{i}]: {e}"))?;
        if env.payload_type != TICKER_TYPE {
            return Err(format!("tickers[{i}]: not a ticker set envelope"));
        }
        let t = TickerSet::from_json(&env.payload).map_err(|e| format!("tickers[{i}]: {e}"))?;
        self.builder.ticker_set(&t);
        Ok(())
    }

    fn checkpoint(&mut self, b64: &str) -> Result<(), String> {
        let env = Envelope::parse(&b64_decode(b64).map_err(|e| e.to_string())?)
            .map_err(|e| format!("checkpoint: {e}"))?;
        if env.payload_type != CHECKPOINT_TYPE {
            return Err("checkpoint: wrong payloadType".into());
        }
        let c: Checkpoint =
            serde_json::from_slice(&env.payload).map_err(|e| format!("checkpoint: {e}"))?;
        self.evidence.checkpoint_size = c.size;
        self.evidence.checkpoint_root = c.root;
        Ok(())
    }
}

struct BundleSeed<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for BundleSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BundleSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a gatecast audit bundle object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let mut format = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => format = Some(map.next_value::<String>()?),
                "generated_at" => self.0.evidence.generated_at = map.next_value()?,
                "period" => {
                    let p: Period = map.next_value()?;
                    self.0.evidence.export_from = p.from;
                    self.0.evidence.export_to = p.to;
                }
                "screens" => {
                    for s in map.next_value::<Vec<ScreenEntry>>()? {
                        self.0.statement(&s).map_err(A::Error::custom)?;
                    }
                }
                "log" => map.next_value_seed(LogSeed(self.0))?,
                "manifests" => {
                    for (i, m) in map.next_value::<Vec<String>>()?.iter().enumerate() {
                        self.0.manifest(i, m).map_err(A::Error::custom)?;
                    }
                }
                "tickers" => {
                    for (i, t) in map.next_value::<Vec<String>>()?.iter().enumerate() {
                        self.0.ticker_set(i, t).map_err(A::Error::custom)?;
                    }
                }
                "conflicts" => {
                    for c in map.next_value::<Vec<ConflictEntry>>()? {
                        self.0
                            .builder
                            .conflict(&c.screen, &c.received_at, c.repeats);
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if format.as_deref() != Some(crate::audit::BUNDLE_FORMAT) {
            return Err(A::Error::custom(format!(
                "format is {format:?}, not {:?}",
                crate::audit::BUNDLE_FORMAT
            )));
        }
        Ok(())
    }
}

struct LogSeed<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for LogSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LogSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the log section of a bundle")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "checkpoint" => {
                    let c: String = map.next_value()?;
                    self.0.checkpoint(&c).map_err(A::Error::custom)?;
                }
                "entries" => map.next_value_seed(EntriesSeed(self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct EntriesSeed<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the log entries of a bundle")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde::de::Error;
        while let Some(e) = seq.next_element::<LogEntry>()? {
            self.0.entry(&e).map_err(A::Error::custom)?;
        }
        Ok(())
    }
}
