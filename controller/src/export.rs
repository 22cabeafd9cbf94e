//! The audit export bundle (`gatecast-audit-bundle/v1`, model in [`playlists::audit`]).
//!
//! `GET /api/v1/audit/export?from=&to=&screens=a,b&since_size=N` (any token; auditors
//! included) returns one JSON file holding, for the period `[from, to)` (RFC 3339, defaults:
//! the beginning of time and now) and the screens asked for (default: every enrolled screen):
//!
//! - one controller-signed statement per screen with its device key as registered;
//! - every receipts batch envelope (exact bytes) that stored a receipt of those screens whose
//!   `started_at` is in the period, as log leaves with inclusion proofs;
//! - every operator action whose `at` is in the period, as log leaves with inclusion proofs;
//! - a checkpoint issued for the whole log at export time (all proofs refer to its size);
//! - with `since_size`, a consistency proof from that older log size (an auditor who kept an
//!   older checkpoint checks that the history was not rewritten);
//! - the conflicting envelopes kept as evidence for those screens;
//! - the controller-signed manifests that governed those screens during the period (for each,
//!   the last one issued before `from` and every one issued before `to`): what the period
//!   report computes planned plays and titles from;
//! - the scope of all that, signed (`playlists::audit::Scope`, `docs/protocol.md` §15): the
//!   period, `generated_at`, the screens asked for (`selection`), the checkpoint size, per
//!   screen and device key the first and last seq and log index and the number of batches, the
//!   number of actions, the digest of the exported entries (`entries_sha256`) and each conflict
//!   entry's screen and SHA-256.
//!
//! A batch that brought a receipt of the period also carries the receipts before it in the same
//! envelope, so the bundle may start mid-chain and hold a few receipts from before `from`.
//! The response is streamed: the head (statements, checkpoint, scope) is prepared first — which
//! reads the log once to choose the leaves and describe them in the scope — then the chosen log
//! entries are read, proved and written one at a time on a blocking thread, in 64 KiB chunks
//! (memory: the leaf hashes and the chosen indexes plus one leaf). The HTTP handler is in `api::export`.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use playlists::audit::{
    batch_chain, Bundle, ConflictEntry, Consistency, EntryKind, LogEntry, LogSection, Period,
    ScopeBuilder, ScreenEntry, ScreenStatement, Selection, StatementEpoch, BUNDLE_FORMAT,
};
use playlists::keys::{PublicKey, SecretKey};
use playlists::merkle;

use crate::store::{ActionRecord, LeafKind, Store, StoreError};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Start of the period (inclusive).
    pub from: Timestamp,
    /// End of the period (exclusive).
    pub to: Timestamp,
    /// Screens to include (`None` = every enrolled screen).
    pub screens: Option<BTreeSet<String>>,
    /// Include a consistency proof from this older log size.
    pub since_size: Option<u64>,
}

/// Why an export could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request is invalid (names the parameter).
    #[error("{field}: {message}")]
    Invalid {
        /// The query parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the bundle failed.
    #[error("cannot write the bundle: {0}")]
    Io(#[from] std::io::Error),
}

/// A bundle ready to be written: everything but the log entries, which [`Prepared::write`]
/// reads from the store one at a time.
pub struct Prepared {
    head: Bundle,
    hashes: Vec<merkle::Hash>,
    batches: BTreeSet<u64>,
    actions: BTreeSet<u64>,
}

/// Issues a checkpoint for the current log, signs the screen statements and finds the
/// leaves to export.
pub async fn prepare(
    store: &Store,
    key: &SecretKey,
    req: &ExportRequest,
) -> Result<Prepared, ExportError> {
    if req.from >= req.to {
        // An empty period is refused: a signed scope's period is never empty (docs/protocol.md §15).
        return Err(ExportError::Invalid {
            field: "from",
            message: "from must be before to".into(),
        });
    }
    let (size, checkpoint) = crate::auditlog::issue_checkpoint(store, key).await?;
    if let Some(old) = req.since_size {
        if old > size {
            return Err(ExportError::Invalid {
                field: "since_size",
                message: format!("since_size {old} is larger than the log ({size} leaves)"),
            });
        }
    }
    let hashes = store.log_leaf_hashes(size)?;

    let period = Period {
        from: req.from.to_string(),
        to: req.to.to_string(),
    };
    let generated_at = format!("{:.3}", Timestamp::now());
    let mut scope = ScopeBuilder::new(period.clone(), size);
    scope
        .generated_at(&generated_at)
        .selection(match &req.screens {
            None => Selection::All,
            Some(w) => Selection::Screens(w.iter().cloned().collect()),
        });
    let mut statements = Vec::new();
    // Selected screens (those with a registered device key).
    let mut selected = BTreeSet::new();
    for s in store.screens()? {
        if req.screens.as_ref().is_some_and(|w| !w.contains(&s.id)) {
            continue;
        }
        let Some(device_key) = s.device_key.clone() else {
            continue;
        };
        PublicKey::from_base64(&device_key).map_err(|e| StoreError::Corrupt {
            what: format!("device key of screen {}", s.id),
            message: e.to_string(),
        })?;
        let st = ScreenStatement {
            screen: s.id.clone(),
            device_key,
            gate: s.gate.clone(),
            name: s.name.clone(),
            enrolled_at: s.enrolled_at.clone().unwrap_or_default(),
            // Every enrolment, so each epoch's batches verify under their own key
            // (docs/protocol.md §15).
            epochs: s
                .epochs()
                .into_iter()
                .map(|e| StatementEpoch {
                    epoch: e.epoch,
                    device_key: e.device_key,
                    enrolled_at: e.enrolled_at,
                })
                .collect(),
            timezone: Some(s.timezone.clone()),
            gate_name: store.gate_name(&s.gate)?,
        };
        statements.push(ScreenEntry::from_envelope_bytes(&st.sign(key).to_json()));
        scope.screen(&s.id);
        selected.insert(s.id);
    }
    if let Some(w) = &req.screens {
        if let Some(missing) = w.iter().find(|s| !selected.contains(*s)) {
            return Err(ExportError::Invalid {
                field: "screens",
                message: format!("screen {missing:?} is not registered or has no device key"),
            });
        }
    }

    // Batch leaf index -> screen, for every batch that stored a receipt of the period.
    let mut batch_screens = BTreeMap::new();
    for r in store.receipts_between(req.from, req.to) {
        let r = r?;
        if selected.contains(&r.receipt.screen) && r.batch_index < size {
            batch_screens.insert(r.batch_index, r.receipt.screen);
        }
    }
    // Reading every leaf below `size` takes a while on a large log: off the async threads.
    let (actions, mut scope, batch_screens) = {
        let (store, req) = (store.clone(), req.clone());
        tokio::task::spawn_blocking(move || {
            let mut scope = scope;
            select_leaves(&store, size, &req, &batch_screens, &mut scope)
                .map(|actions| (actions, scope, batch_screens))
        })
        .await
        .map_err(|e| std::io::Error::other(format!("reading the log for the export: {e}")))??
    };
    let consistency = req
        .since_size
        .map(|old| Consistency::new(old, &merkle::consistency_proof(&hashes, old as usize)));
    let mut conflicts = Vec::new();
    for c in store.receipt_conflicts()? {
        if !selected.contains(&c.screen) {
            continue;
        }
        // The scope signs each entry's screen and the SHA-256 of its exact bytes.
        let bytes = base64_decode(&c.envelope).map_err(|e| StoreError::Corrupt {
            what: format!("conflict evidence {} of screen {}", c.id, c.screen),
            message: format!("the envelope is not standard base64: {e}"),
        })?;
        scope.conflict(&c.screen, &bytes);
        conflicts.push(ConflictEntry {
            screen: c.screen,
            received_at: c.received_at,
            data: c.envelope,
            repeats: c.repeats,
        });
    }
    // The approvals behind the plays (docs/protocol.md §19), as exact envelope bytes; the
    // scope signs their counts and digests (§15).
    let policy = store.policy_chain()?;
    let approvals = store.approvals()?;
    scope.approvals(
        &policy.iter().map(|t| t.as_bytes()).collect::<Vec<_>>(),
        &approvals.iter().map(|t| t.as_bytes()).collect::<Vec<_>>(),
    );
    let manifests = governing_manifests(store, &selected, req)?;
    scope.manifests(&manifests.iter().map(|t| t.as_bytes()).collect::<Vec<_>>());
    let tickers = governing_tickers(store, &selected, req)?;
    scope.tickers(&tickers.iter().map(|t| t.as_bytes()).collect::<Vec<_>>());
    let pk = key.public();
    let head = Bundle {
        format: BUNDLE_FORMAT.to_string(),
        generated_at,
        period,
        controller_key: pk.to_base64(),
        controller_key_id: pk.key_id(),
        scope: Some(base64_std(&scope.finish().sign(key).to_json())),
        screens: statements,
        log: LogSection {
            checkpoint: base64_std(&checkpoint),
            entries: Vec::new(),
            consistency,
        },
        conflicts,
        policy: policy.iter().map(|t| base64_std(t.as_bytes())).collect(),
        approvals: approvals.iter().map(|t| base64_std(t.as_bytes())).collect(),
        manifests: manifests.iter().map(|t| base64_std(t.as_bytes())).collect(),
        tickers: tickers.iter().map(|t| base64_std(t.as_bytes())).collect(),
    };
    Ok(Prepared {
        head,
        hashes,
        batches: batch_screens.into_keys().collect(),
        actions,
    })
}

/// The exact envelopes of the manifests that governed `screens` during the period: a version
/// governs from its `issued_at` until the next version's (`docs/protocol.md` §15).
fn governing_manifests(
    store: &Store,
    screens: &BTreeSet<String>,
    req: &ExportRequest,
) -> Result<Vec<String>, ExportError> {
    let mut out = Vec::new();
    for screen in screens {
        let mut history = store.manifest_history(screen)?;
        history.sort_by_key(|m| m.version);
        let versions = history
            .into_iter()
            .map(|m| {
                let issued = m.issued_at.parse().map_err(|e| StoreError::Corrupt {
                    what: format!("manifest {screen}@{}", m.version),
                    message: format!("issued_at {:?}: {e}", m.issued_at),
                })?;
                Ok((issued, m.envelope))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.extend(current_in_period(versions, req));
    }
    Ok(out)
}

/// The exact envelopes of the ticker sets that were current on `screens` during the period,
/// chosen as the manifests are (`docs/protocol.md` §15, §20): what the period report tells
/// ticker turns apart from playlist plays by.
fn governing_tickers(
    store: &Store,
    screens: &BTreeSet<String>,
    req: &ExportRequest,
) -> Result<Vec<String>, ExportError> {
    let mut out = Vec::new();
    for screen in screens {
        let mut history = store.ticker_history(screen)?;
        history.sort_by_key(|t| t.version);
        let versions = history
            .into_iter()
            .map(|t| {
                let corrupt = |message: String| StoreError::Corrupt {
                    what: format!("ticker set {screen}@{}", t.version),
                    message,
                };
                let env = playlists::envelope::Envelope::parse(t.envelope.as_bytes())
                    .map_err(|e| corrupt(e.to_string()))?;
                let issued = playlists::manifest::TickerSet::from_json(&env.payload)
                    .map(|set| set.issued_at)
                    .map_err(|e| corrupt(e.to_string()))?;
                Ok((issued, t.envelope))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.extend(current_in_period(versions, req));
    }
    Ok(out)
}

/// Of one screen's versions (issued at, envelope; oldest first), those current at some time of
/// the period: each from its own `issued_at` until the next version's.
fn current_in_period(versions: Vec<(Timestamp, String)>, req: &ExportRequest) -> Vec<String> {
    let untils: Vec<Timestamp> = versions
        .iter()
        .skip(1)
        .map(|(t, _)| *t)
        .chain(std::iter::once(Timestamp::MAX))
        .collect();
    versions
        .into_iter()
        .zip(untils)
        .filter(|((issued, _), until)| *issued < req.to && *until > req.from)
        .map(|((_, env), _)| env)
        .collect()
}

/// Reads the log below `size` once: adds each exported batch (its receipts' seqs, read from
/// the stored envelope) to the scope, and returns the indexes of the actions of the period
/// (also added to the scope). Reading the leaves here rather than while writing is what lets
/// the scope, signed in the bundle's head, count them (`docs/protocol.md` §15).
fn select_leaves(
    store: &Store,
    size: u64,
    req: &ExportRequest,
    batch_screens: &BTreeMap<u64, String>,
    scope: &mut ScopeBuilder,
) -> Result<BTreeSet<u64>, ExportError> {
    let mut actions = BTreeSet::new();
    for index in 0..size {
        let leaf = read_leaf(store, index, size)?;
        match leaf.kind {
            LeafKind::Batch => {
                let Some(screen) = batch_screens.get(&index) else {
                    continue;
                };
                let not_a_batch = || StoreError::Corrupt {
                    what: "batch leaf".into(),
                    message: format!("leaf {index} is not a receipts envelope"),
                };
                // Keyed by the device key that signed it: one chain per enrolment epoch.
                let (signer, seqs) = batch_chain(&leaf.data).ok_or_else(not_a_batch)?;
                scope.batch(screen, &signer, index, seqs).entry(
                    index,
                    EntryKind::Batch,
                    &leaf.data,
                );
            }
            LeafKind::Action => {
                let a: ActionRecord =
                    serde_json::from_slice(&leaf.data).map_err(|e| StoreError::Corrupt {
                        what: "action leaf".into(),
                        message: e.to_string(),
                    })?;
                if matches!(a.at.parse::<Timestamp>(), Ok(at) if at >= req.from && at < req.to) {
                    actions.insert(index);
                    scope.action().entry(index, EntryKind::Action, &leaf.data);
                }
            }
        }
    }
    Ok(actions)
}

/// The leaf at `index`, which must exist below the log size `size`.
fn read_leaf(store: &Store, index: u64, size: u64) -> Result<crate::store::LogLeaf, StoreError> {
    store.log_leaf(index)?.ok_or_else(|| StoreError::Corrupt {
        what: "log leaf".into(),
        message: format!("leaf {index} below the log size {size} is missing"),
    })
}

impl Prepared {
    /// Writes the bundle JSON to `w`, reading and proving one log leaf at a time (memory: the
    /// leaf hashes plus one leaf).
    pub fn write(&self, store: &Store, w: &mut dyn std::io::Write) -> Result<(), ExportError> {
        let head = String::from_utf8(self.head.to_json()).expect("JSON is UTF-8");
        const MARK: &str = "\"entries\":[";
        let (before, after) = match head.split_once(MARK) {
            Some((b, a)) if !a.contains(MARK) && a.starts_with(']') => (b, a),
            _ => {
                return Err(ExportError::Invalid {
                    field: "screens",
                    message: "the bundle head cannot be split at its entries".into(),
                })
            }
        };
        w.write_all(before.as_bytes())?;
        w.write_all(MARK.as_bytes())?;
        let size = self.hashes.len() as u64;
        let mut proofs = merkle::ProofBuilder::new(&self.hashes);
        let mut first = true;
        for &index in self.batches.union(&self.actions) {
            let leaf = read_leaf(store, index, size)?;
            let kind = match leaf.kind {
                LeafKind::Batch => EntryKind::Batch,
                LeafKind::Action => EntryKind::Action,
            };
            let proof = proofs.inclusion(index as usize).unwrap_or_default();
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            serde_json::to_writer(&mut *w, &LogEntry::new(index, kind, &leaf.data, &proof))
                .map_err(std::io::Error::from)?;
        }
        w.write_all(after.as_bytes())?;
        w.flush()?;
        Ok(())
    }

    /// The file name offered for download.
    pub fn file_name(&self) -> String {
        format!(
            "gatecast-audit-{}.json",
            self.head.generated_at.replace([':', '.'], "")
        )
    }
}

fn base64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s)
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}
