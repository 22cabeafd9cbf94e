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
//! - the conflicting envelopes kept as evidence for those screens.
//!
//! A batch that brought a receipt of the period also carries the receipts before it in the same
//! envelope, so the bundle may start mid-chain and hold a few receipts from before `from`.
//! The bundle is built in memory (one leaf's bytes at most 1 MiB; proofs are 32 bytes × log
//! depth each).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use playlists::audit::{
    Bundle, ConflictEntry, Consistency, EntryKind, LogEntry, LogSection, Period, ScreenEntry,
    ScreenStatement, BUNDLE_FORMAT,
};
use playlists::keys::SecretKey;
use playlists::merkle;
use warp::http::{header, StatusCode};
use warp::reply::Response;

use crate::api::{ApiError, AppState, Request, READ};
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
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        match e {
            ExportError::Invalid { field, message } => ApiError::field(field, message),
            ExportError::Store(e) => e.into(),
        }
    }
}

/// Builds a bundle from the store; issues a checkpoint for the current log first.
pub async fn build_bundle(
    store: &Store,
    key: &SecretKey,
    req: &ExportRequest,
) -> Result<Bundle, ExportError> {
    if req.from > req.to {
        return Err(ExportError::Invalid {
            field: "from",
            message: "from must not be after to".into(),
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

    let mut statements = Vec::new();
    let mut selected = BTreeSet::new();
    for s in store.screens()? {
        if req.screens.as_ref().is_some_and(|w| !w.contains(&s.id)) {
            continue;
        }
        let Some(device_key) = s.device_key.clone() else {
            continue;
        };
        let st = ScreenStatement {
            screen: s.id.clone(),
            device_key,
            gate: s.gate.clone(),
            name: s.name.clone(),
            enrolled_at: s.enrolled_at.clone().unwrap_or_default(),
        };
        statements.push(ScreenEntry::from_envelope_bytes(&st.sign(key).to_json()));
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

    let mut leaves: BTreeMap<u64, EntryKind> = BTreeMap::new();
    for r in store.receipts_between(req.from, req.to) {
        let r = r?;
        if selected.contains(&r.receipt.screen) && r.batch_index < size {
            leaves.insert(r.batch_index, EntryKind::Batch);
        }
    }
    let mut entries = Vec::new();
    let mut proofs = crate::auditlog::ProofBuilder::new(&hashes);
    for index in 0..size {
        let wanted = leaves.contains_key(&index);
        let Some(leaf) = store.log_leaf(index)? else {
            return Err(StoreError::Corrupt {
                what: "log leaf".into(),
                message: format!("leaf {index} below the log size {size} is missing"),
            }
            .into());
        };
        let kind = match leaf.kind {
            LeafKind::Batch if wanted => EntryKind::Batch,
            LeafKind::Batch => continue,
            LeafKind::Action => {
                let a: ActionRecord =
                    serde_json::from_slice(&leaf.data).map_err(|e| StoreError::Corrupt {
                        what: "action leaf".into(),
                        message: e.to_string(),
                    })?;
                match a.at.parse::<Timestamp>() {
                    Ok(at) if at >= req.from && at < req.to => EntryKind::Action,
                    _ => continue,
                }
            }
        };
        let proof = proofs.inclusion(index as usize).unwrap_or_default();
        entries.push(LogEntry::new(index, kind, &leaf.data, &proof));
    }
    let consistency = req
        .since_size
        .map(|old| Consistency::new(old, &merkle::consistency_proof(&hashes, old as usize)));
    let conflicts = store
        .receipt_conflicts()?
        .into_iter()
        .filter(|c| selected.contains(&c.screen))
        .map(|c| ConflictEntry {
            screen: c.screen,
            received_at: c.received_at,
            data: c.envelope,
        })
        .collect();
    let pk = key.public();
    Ok(Bundle {
        format: BUNDLE_FORMAT.to_string(),
        generated_at: format!("{:.3}", Timestamp::now()),
        period: Period {
            from: req.from.to_string(),
            to: req.to.to_string(),
        },
        controller_key: pk.to_base64(),
        controller_key_id: pk.key_id(),
        screens: statements,
        log: LogSection {
            checkpoint: base64_std(&checkpoint),
            entries,
            consistency,
        },
        conflicts,
    })
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn parse_ts(req: &Request, field: &'static str) -> Result<Option<Timestamp>, ApiError> {
    match req.query.get(field) {
        None => Ok(None),
        Some(v) => v.parse::<Timestamp>().map(Some).map_err(|e| {
            ApiError::field(
                field,
                format!("{field} must be an RFC 3339 timestamp such as 2026-01-05T00:00:00Z: {e}"),
            )
        }),
    }
}

/// `GET /api/v1/audit/export`.
pub async fn get_export(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let from = parse_ts(&req, "from")?.unwrap_or(Timestamp::UNIX_EPOCH);
    let to = parse_ts(&req, "to")?.unwrap_or_else(Timestamp::now);
    let screens = match req.query.get("screens") {
        None => None,
        Some(list) => {
            let set: BTreeSet<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(bad) = set
                .iter()
                .find(|s| !playlists::manifest::is_valid_screen_id(s))
            {
                return Err(ApiError::field(
                    "screens",
                    format!("{bad:?} is not a valid screen id"),
                ));
            }
            Some(set)
        }
    };
    let since_size = match req.query.get("since_size") {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            ApiError::field("since_size", "since_size must be a non-negative integer")
        })?),
    };
    let bundle = build_bundle(
        &state.store,
        &state.key,
        &ExportRequest {
            from,
            to,
            screens,
            since_size,
        },
    )
    .await?;
    let name = format!(
        "gatecast-audit-{}.json",
        bundle.generated_at.replace([':', '.'], "")
    );
    Ok(warp::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .body(bundle.to_json().into())
        .expect("valid response"))
}
