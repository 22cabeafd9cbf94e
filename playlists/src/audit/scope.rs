//! The signed scope of an export bundle (`docs/protocol.md` §15 "Bundle scope"): what the
//! controller put in the bundle, so that the offline verifier can tell a complete bundle from
//! one with batches, screens, actions, conflict evidence removed, swapped or relabelled, or its
//! period rewritten.
//!
//! The bundle member `"scope"` is the standard base64 of a DSSE [`SCOPE_TYPE`] envelope signed
//! by the controller key; its payload is a [`Scope`] (the example of `docs/protocol.md` §15 is
//! the scope of the standard test bundle).
//!
//! One chain per device key of a screen, keyed by the key id of the device key the batches are
//! signed with. A chain's seqs are those of every receipt in its exported batch envelopes
//! (a batch may carry receipts from before the period); its indexes are the log indexes of its
//! first and last exported batch. `entries_sha256` binds every exported log entry (index, kind
//! and leaf hash, see [`entries_digest`]); `conflicts` binds each conflict evidence entry by its
//! screen and the SHA-256 of its exact envelope bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{EntryKind, Period};
use crate::envelope::{Envelope, EnvelopeError, RECEIPTS_TYPE};
use crate::keys::{KeySet, SecretKey};
use crate::merkle::{leaf_hash, Hash};
use crate::receipt::Receipt;

/// payloadType of a bundle scope: the controller states what the bundle holds.
pub const SCOPE_TYPE: &str = "application/vnd.gatecast.scope+json";

/// The payload of a [`SCOPE_TYPE`] envelope. Unknown members are ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The period the bundle was exported for (equal to the bundle's `period`).
    pub period: Period,
    /// When the bundle was generated (equal to the bundle's `generated_at`).
    pub generated_at: String,
    /// The screens the export was asked for: every enrolled screen, or a list.
    pub selection: Selection,
    /// The size of the checkpoint the bundle's proofs refer to.
    pub checkpoint_size: u64,
    /// Every screen of the bundle (one statement each), sorted by screen id.
    pub screens: Vec<ScreenScope>,
    /// Number of `action` log entries in the bundle.
    pub actions: u64,
    /// Lowercase hex SHA-256 of the bundle's log entries, see [`entries_digest`].
    pub entries_sha256: String,
    /// One per `conflicts` entry of the bundle, sorted by screen then digest.
    pub conflicts: Vec<ConflictScope>,
    /// The approval policy chain and approvals the bundle carries (`docs/protocol.md` §19);
    /// absent when the bundle carries neither (and in scopes of older builds, which had no
    /// `policy` or `approvals` section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalsScope>,
    /// The controller-signed manifests the bundle carries (`docs/protocol.md` §15
    /// `manifests`): absent when it carries none (and in scopes of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<ManifestsScope>,
    /// The controller-signed ticker sets the bundle carries (`docs/protocol.md` §15
    /// `tickers`): absent when it carries none (and in scopes of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tickers: Option<TickersScope>,
}

/// The `tickers` section of a bundle as the controller signs it in its [`Scope`]: how many
/// ticker set envelopes it holds and [`approvals_digest`] of their exact bytes (sorted), so
/// that removing, adding or altering one (to hide or invent a ticker correction in the period
/// report) is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickersScope {
    /// Number of ticker set envelopes.
    pub tickers: u64,
    /// Lowercase hex SHA-256 over the sorted SHA-256 of each envelope's exact bytes.
    pub tickers_sha256: String,
}

impl TickersScope {
    /// The statement of a bundle's `tickers`, as exact envelope bytes.
    pub fn of(sets: &[&[u8]]) -> TickersScope {
        TickersScope {
            tickers: sets.len() as u64,
            tickers_sha256: approvals_digest(sets.iter().copied()),
        }
    }
}

/// The `manifests` section of a bundle as the controller signs it in its [`Scope`]: how many
/// manifest envelopes it holds and [`approvals_digest`] of their exact bytes (sorted), so that
/// removing, adding or altering any one of them (to change the planned plays of the period
/// report) is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestsScope {
    /// Number of manifest envelopes.
    pub manifests: u64,
    /// Lowercase hex SHA-256 over the sorted SHA-256 of each envelope's exact bytes.
    pub manifests_sha256: String,
}

impl ManifestsScope {
    /// The statement of a bundle's `manifests`, as exact envelope bytes.
    pub fn of(manifests: &[&[u8]]) -> ManifestsScope {
        ManifestsScope {
            manifests: manifests.len() as u64,
            manifests_sha256: approvals_digest(manifests.iter().copied()),
        }
    }
}

/// The `policy` and `approvals` sections of a bundle as the controller signs them in its
/// [`Scope`]: how many envelopes each holds and a digest of their exact bytes (see
/// [`policy_digest`] and [`approvals_digest`]), so that removing, adding or altering any one
/// of them is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalsScope {
    /// Number of policy envelopes (the chain, oldest first).
    pub policies: u64,
    /// [`policy_digest`] of the chain.
    pub policies_sha256: String,
    /// Number of approval envelopes.
    pub approvals: u64,
    /// [`approvals_digest`] of the approvals.
    pub approvals_sha256: String,
}

/// Which screens an export was asked for (`"all"` in JSON, or the sorted list of screen ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every enrolled screen (no `screens` parameter).
    All,
    /// Only these screens (`?screens=`), sorted.
    Screens(Vec<String>),
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selection::All => f.write_str("all enrolled screens"),
            Selection::Screens(s) => f.write_str(&s.join(", ")),
        }
    }
}

impl Serialize for Selection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Selection::All => s.serialize_str("all"),
            Selection::Screens(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            List(Vec<String>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "all" => Ok(Selection::All),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "selection must be \"all\" or a list of screen ids, not {w:?}"
            ))),
            Raw::List(l) => Ok(Selection::Screens(l)),
        }
    }
}

/// One screen of a [`Scope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenScope {
    /// Screen id.
    pub screen: String,
    /// One chain per device key that signed exported batches of the screen (empty when the
    /// screen has no batch in the bundle), sorted by key id.
    pub chains: Vec<ChainScope>,
}

/// The exported batches of one screen signed by one device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainScope {
    /// key_id of the device key that signed the batches.
    pub device_key_id: String,
    /// Lowest receipt seq in the chain's exported batches.
    pub first_seq: u64,
    /// Highest receipt seq in the chain's exported batches.
    pub last_seq: u64,
    /// Log index of the chain's first exported batch.
    pub first_index: u64,
    /// Log index of the chain's last exported batch.
    pub last_index: u64,
    /// Number of exported batches of the chain.
    pub batches: u64,
}

/// One conflict evidence entry of a [`Scope`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConflictScope {
    /// The screen the entry names.
    pub screen: String,
    /// Lowercase hex SHA-256 of the entry's exact envelope bytes.
    pub sha256: String,
}

/// Why a scope was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The envelope did not verify under the controller key.
    #[error("bundle scope envelope rejected: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a valid scope.
    #[error("bundle scope payload is malformed: {0}")]
    Malformed(String),
    /// The payload parses but does not hold together ([`Scope::validate`]).
    #[error("bundle scope does not hold together: {0}")]
    Inconsistent(String),
}

impl Scope {
    /// Payload JSON (compact, members in declaration order).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a scope cannot fail")
    }

    /// Sign as a DSSE [`SCOPE_TYPE`] envelope with the controller key.
    pub fn sign(&self, controller_key: &SecretKey) -> Envelope {
        Envelope::sign(SCOPE_TYPE, self.to_json(), controller_key)
    }

    /// Checks that the scope holds together, as the exporter writes it: the period is two
    /// RFC 3339 timestamps with `from` before `to`; screens sorted by id and chains by key id,
    /// without duplicates; a listed selection is sorted and names exactly the screens; per
    /// chain `first_seq <= last_seq`, `first_index <= last_index < checkpoint_size` and
    /// `1 <= batches <= last_index - first_index + 1`; the digests are lowercase hex SHA-256
    /// and the conflicts sorted.
    pub fn validate(&self) -> Result<(), ScopeError> {
        let bad = |m: String| Err(ScopeError::Inconsistent(m));
        let (from, to) = (&self.period.from, &self.period.to);
        match (
            from.parse::<jiff::Timestamp>(),
            to.parse::<jiff::Timestamp>(),
        ) {
            (Ok(f), Ok(t)) if f < t => {}
            (Ok(_), Ok(_)) => {
                return bad(format!(
                    "period {from} .. {to} is empty: from must be before to"
                ))
            }
            _ => {
                return bad(format!(
                    "period {from} .. {to} is not two RFC 3339 timestamps"
                ))
            }
        }
        let ids: Vec<&str> = self.screens.iter().map(|s| s.screen.as_str()).collect();
        if !strictly_sorted(&ids) {
            return bad("screens must be sorted by screen id, without duplicates".into());
        }
        if let Selection::Screens(list) = &self.selection {
            if !list.iter().map(String::as_str).eq(ids.iter().copied()) {
                return bad(format!(
                    "selection {list:?} is not the sorted list of the scope's screens {ids:?}"
                ));
            }
        }
        for s in &self.screens {
            let keys: Vec<&str> = s.chains.iter().map(|c| c.device_key_id.as_str()).collect();
            if !strictly_sorted(&keys) {
                return bad(format!(
                    "screen {}: chains must be sorted by device_key_id, without duplicates",
                    s.screen
                ));
            }
            for c in &s.chains {
                c.validate(self.checkpoint_size).map_err(|m| {
                    ScopeError::Inconsistent(format!(
                        "screen {} chain {}: {m}",
                        s.screen, c.device_key_id
                    ))
                })?;
            }
        }
        if !crate::hex::is_lower_hex(&self.entries_sha256, 32) {
            return bad("entries_sha256 must be 64 lowercase hex characters".into());
        }
        if let Some(c) = self
            .conflicts
            .iter()
            .find(|c| !crate::hex::is_lower_hex(&c.sha256, 32))
        {
            return bad(format!(
                "conflicts of screen {}: sha256 must be 64 lowercase hex characters",
                c.screen
            ));
        }
        if self.conflicts.windows(2).any(|w| w[0] > w[1]) {
            return bad("conflicts must be sorted by screen, then sha256".into());
        }
        if let Some(a) = &self.approvals {
            if !crate::hex::is_lower_hex(&a.policies_sha256, 32)
                || !crate::hex::is_lower_hex(&a.approvals_sha256, 32)
            {
                return bad(
                    "approvals: policies_sha256 and approvals_sha256 must be 64 lowercase hex characters"
                        .into(),
                );
            }
        }
        if let Some(m) = &self.manifests {
            if !crate::hex::is_lower_hex(&m.manifests_sha256, 32) {
                return bad(
                    "manifests: manifests_sha256 must be 64 lowercase hex characters".into(),
                );
            }
        }
        if let Some(t) = &self.tickers {
            if !crate::hex::is_lower_hex(&t.tickers_sha256, 32) {
                return bad("tickers: tickers_sha256 must be 64 lowercase hex characters".into());
            }
        }
        Ok(())
    }
}

impl ChainScope {
    fn validate(&self, checkpoint_size: u64) -> Result<(), String> {
        let c = self;
        if c.first_seq > c.last_seq {
            return Err(format!(
                "first_seq {} is above last_seq {}",
                c.first_seq, c.last_seq
            ));
        }
        if c.first_index > c.last_index {
            return Err(format!(
                "first_index {} is above last_index {}",
                c.first_index, c.last_index
            ));
        }
        if c.last_index >= checkpoint_size {
            return Err(format!(
                "last_index {} is not below checkpoint_size {checkpoint_size}",
                c.last_index
            ));
        }
        let span = c.last_index - c.first_index + 1;
        if c.batches == 0 || c.batches > span {
            return Err(format!(
                "batches {} must be between 1 and the {span} log entries from first_index to last_index",
                c.batches
            ));
        }
        Ok(())
    }
}

fn strictly_sorted(v: &[&str]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// Verify a scope envelope (exact bytes) under `trusted` controller keys, parse its payload
/// and check that it holds together ([`Scope::validate`]).
pub fn verify_scope(bytes: &[u8], trusted: &KeySet) -> Result<Scope, ScopeError> {
    let v = crate::envelope::verify(bytes, SCOPE_TYPE, trusted)?;
    let scope: Scope =
        serde_json::from_slice(&v.payload).map_err(|e| ScopeError::Malformed(e.to_string()))?;
    scope.validate()?;
    Ok(scope)
}

/// The `entries_sha256` of a scope: lowercase hex SHA-256 over the exported log entries in
/// increasing index order, each as its index (8 bytes, big-endian), its kind (1 byte: 0 for
/// `batch`, 1 for `action`) and its RFC 6962 leaf hash (32 bytes) (`docs/protocol.md` §15).
pub fn entries_digest(entries: &[(u64, EntryKind, Hash)]) -> String {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|e| e.0);
    let mut h = Sha256::new();
    for (index, kind, leaf) in sorted {
        h.update(index.to_be_bytes());
        h.update([match kind {
            EntryKind::Batch => 0u8,
            EntryKind::Action => 1u8,
        }]);
        h.update(leaf);
    }
    crate::hex::encode(&h.finalize())
}

/// The `policies_sha256` of a scope: lowercase hex SHA-256 over the SHA-256 (32 bytes) of each
/// policy envelope's exact bytes, in chain order (oldest first) (`docs/protocol.md` §15).
pub fn policy_digest<'a>(policies: impl IntoIterator<Item = &'a [u8]>) -> String {
    digest_of_digests(policies.into_iter().map(|p| Sha256::digest(p).into()))
}

/// The `approvals_sha256` of a scope: lowercase hex SHA-256 over the SHA-256 (32 bytes) of
/// each approval envelope's exact bytes, sorted bytewise (the order of the `approvals` section
/// carries no meaning) (`docs/protocol.md` §15).
pub fn approvals_digest<'a>(approvals: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut each: Vec<[u8; 32]> = approvals
        .into_iter()
        .map(|a| Sha256::digest(a).into())
        .collect();
    each.sort_unstable();
    digest_of_digests(each.into_iter())
}

fn digest_of_digests(each: impl Iterator<Item = [u8; 32]>) -> String {
    let mut h = Sha256::new();
    for d in each {
        h.update(d);
    }
    crate::hex::encode(&h.finalize())
}

impl ApprovalsScope {
    /// The statement of a bundle's `policy` chain and `approvals`, as exact envelope bytes.
    pub fn of<'a>(policies: &[&'a [u8]], approvals: &[&'a [u8]]) -> ApprovalsScope {
        ApprovalsScope {
            policies: policies.len() as u64,
            policies_sha256: policy_digest(policies.iter().copied()),
            approvals: approvals.len() as u64,
            approvals_sha256: approvals_digest(approvals.iter().copied()),
        }
    }
}

/// Builds the [`Scope`] of a bundle while its parts are chosen; the exporter and test
/// fixtures use it, so that both describe a bundle the same way.
#[derive(Debug, Clone)]
pub struct ScopeBuilder {
    period: Period,
    generated_at: String,
    selection: Selection,
    checkpoint_size: u64,
    screens: BTreeMap<String, BTreeMap<String, ChainScope>>,
    actions: u64,
    entries: Vec<(u64, EntryKind, Hash)>,
    conflicts: Vec<ConflictScope>,
    approvals: Option<ApprovalsScope>,
    manifests: Option<ManifestsScope>,
    tickers: Option<TickersScope>,
}

impl ScopeBuilder {
    /// An empty scope for `period` and the checkpoint of `checkpoint_size` leaves (selection
    /// `all`, `generated_at` empty until set).
    pub fn new(period: Period, checkpoint_size: u64) -> ScopeBuilder {
        ScopeBuilder {
            period,
            generated_at: String::new(),
            selection: Selection::All,
            checkpoint_size,
            screens: BTreeMap::new(),
            actions: 0,
            entries: Vec::new(),
            conflicts: Vec::new(),
            approvals: None,
            manifests: None,
            tickers: None,
        }
    }

    /// The bundle's `generated_at`.
    pub fn generated_at(&mut self, at: &str) -> &mut Self {
        self.generated_at = at.to_owned();
        self
    }

    /// The screens the export was asked for.
    pub fn selection(&mut self, selection: Selection) -> &mut Self {
        self.selection = selection;
        self
    }

    /// A screen with a statement in the bundle (with or without batches).
    pub fn screen(&mut self, screen: &str) -> &mut Self {
        self.screens.entry(screen.to_owned()).or_default();
        self
    }

    /// An exported batch of `screen`, at log `index`, signed by `device_key_id`, holding the
    /// receipts `seqs`. Batches may be added in any order. A batch without receipts adds the
    /// screen but no chain statement (it has no seqs to state; its entry is still in
    /// `entries_sha256`).
    pub fn batch(
        &mut self,
        screen: &str,
        device_key_id: &str,
        index: u64,
        seqs: impl IntoIterator<Item = u64>,
    ) -> &mut Self {
        let seqs: Vec<u64> = seqs.into_iter().collect();
        let chains = self.screens.entry(screen.to_owned()).or_default();
        let (Some(&lo), Some(&hi)) = (seqs.iter().min(), seqs.iter().max()) else {
            return self;
        };
        let c = chains
            .entry(device_key_id.to_owned())
            .or_insert_with(|| ChainScope {
                device_key_id: device_key_id.to_owned(),
                first_seq: lo,
                last_seq: hi,
                first_index: index,
                last_index: index,
                batches: 0,
            });
        c.first_seq = c.first_seq.min(lo);
        c.last_seq = c.last_seq.max(hi);
        c.first_index = c.first_index.min(index);
        c.last_index = c.last_index.max(index);
        c.batches += 1;
        self
    }

    /// An exported `action` log entry.
    pub fn action(&mut self) -> &mut Self {
        self.actions += 1;
        self
    }

    /// An exported log entry (batch or action) at `index` with its exact bytes `data`, for
    /// `entries_sha256`.
    pub fn entry(&mut self, index: u64, kind: EntryKind, data: &[u8]) -> &mut Self {
        self.entries.push((index, kind, leaf_hash(data)));
        self
    }

    /// A `conflicts` entry of the bundle for `screen`, with the exact envelope bytes.
    pub fn conflict(&mut self, screen: &str, envelope: &[u8]) -> &mut Self {
        self.conflicts.push(ConflictScope {
            screen: screen.to_owned(),
            sha256: crate::hex::sha256_hex(envelope),
        });
        self
    }

    /// The bundle's `policy` chain and `approvals` (exact envelope bytes). When both are
    /// empty the scope has no `approvals` member, as a bundle of an older build.
    pub fn approvals(&mut self, policies: &[&[u8]], approvals: &[&[u8]]) -> &mut Self {
        self.approvals = (!policies.is_empty() || !approvals.is_empty())
            .then(|| ApprovalsScope::of(policies, approvals));
        self
    }

    /// The bundle's `manifests` (exact envelope bytes). When empty the scope has no
    /// `manifests` member, as a bundle of an older build.
    pub fn manifests(&mut self, manifests: &[&[u8]]) -> &mut Self {
        self.manifests = (!manifests.is_empty()).then(|| ManifestsScope::of(manifests));
        self
    }

    /// The bundle's `tickers` (exact ticker set envelope bytes). When empty the scope has no
    /// `tickers` member, as a bundle of an older build.
    pub fn tickers(&mut self, sets: &[&[u8]]) -> &mut Self {
        self.tickers = (!sets.is_empty()).then(|| TickersScope::of(sets));
        self
    }

    /// The scope.
    pub fn finish(&self) -> Scope {
        let mut conflicts = self.conflicts.clone();
        conflicts.sort();
        Scope {
            period: self.period.clone(),
            generated_at: self.generated_at.clone(),
            selection: self.selection.clone(),
            checkpoint_size: self.checkpoint_size,
            screens: self
                .screens
                .iter()
                .map(|(screen, chains)| ScreenScope {
                    screen: screen.clone(),
                    chains: chains.values().cloned().collect(),
                })
                .collect(),
            actions: self.actions,
            entries_sha256: entries_digest(&self.entries),
            conflicts,
            approvals: self.approvals.clone(),
            manifests: self.manifests.clone(),
            tickers: self.tickers.clone(),
        }
    }
}

/// The key id of the (first) signature of a receipts envelope and the seqs of its receipts,
/// read from one parse **without verifying** it (for the exporter, which reads its own log and
/// keys each chain of its scope by the device key that signed its batches, so a re-enrolled
/// screen has one chain per enrolment: `docs/protocol.md` §15; the verifier checks signatures
/// itself). `None` when the bytes are not a receipts envelope with well-formed receipts.
pub fn batch_chain(envelope: &[u8]) -> Option<(String, Vec<u64>)> {
    #[derive(Deserialize)]
    struct Payload {
        receipts: Vec<String>,
    }
    let env = Envelope::parse(envelope).ok()?;
    if env.payload_type != RECEIPTS_TYPE {
        return None;
    }
    let p: Payload = serde_json::from_slice(&env.payload).ok()?;
    let seqs = p
        .receipts
        .iter()
        .map(|t| Receipt::parse(t.as_bytes()).ok().map(|r| r.seq))
        .collect::<Option<Vec<u64>>>()?;
    Some((env.signatures.into_iter().next()?.keyid, seqs))
}

/// The seqs of the receipts in a receipts envelope ([`batch_chain`]).
pub fn batch_seqs(envelope: &[u8]) -> Option<Vec<u64>> {
    batch_chain(envelope).map(|(_, seqs)| seqs)
}

/// Whether `data` is an operator action record (a JSON object with the string members `at`,
/// `actor` and `action`, as the controller stores it, and no `payloadType`) rather than
/// anything else, such as a receipts envelope relabelled as an action or a JSON array.
pub fn is_action_record(data: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(data) else {
        return false;
    };
    ["at", "actor", "action"]
        .iter()
        .all(|k| m.get(*k).is_some_and(serde_json::Value::is_string))
        && !m.contains_key("payloadType")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::PAYLOAD_TYPE_PREFIX;

    fn period() -> Period {
        Period {
            from: "2026-01-05T00:00:00Z".into(),
            to: "2026-01-06T00:00:00Z".into(),
        }
    }

    #[test]
    fn scope_type_is_a_gatecast_type() {
        assert!(SCOPE_TYPE.starts_with(PAYLOAD_TYPE_PREFIX) && SCOPE_TYPE.ends_with("+json"));
    }

    #[test]
    fn builder_merges_batches_per_chain_in_any_order() {
        let mut b = ScopeBuilder::new(period(), 9);
        b.screen("b1")
            .batch("a1", "k1", 5, [4, 5, 6])
            .batch("a1", "k1", 0, [1, 2, 3])
            .batch("a1", "k2", 7, [1])
            .action()
            .conflict("a1", b"x")
            .conflict("a1", b"x");
        let s = b.finish();
        assert_eq!(s.screens.len(), 2);
        assert_eq!(s.screens[0].screen, "a1");
        assert!(s.screens[1].chains.is_empty());
        let k1 = &s.screens[0].chains[0];
        assert_eq!(
            (
                k1.first_seq,
                k1.last_seq,
                k1.first_index,
                k1.last_index,
                k1.batches
            ),
            (1, 6, 0, 5, 2)
        );
        assert_eq!(s.screens[0].chains[1].device_key_id, "k2");
        assert_eq!((s.actions, s.conflicts.len(), s.checkpoint_size), (1, 2, 9));
    }

    #[test]
    fn scope_round_trips_and_binds_type_and_key() {
        let controller = SecretKey::from_seed([1; 32]);
        let trusted = KeySet::from_keys([controller.public()]);
        let scope = ScopeBuilder::new(period(), 3).finish();
        let bytes = scope.sign(&controller).to_json();
        assert_eq!(verify_scope(&bytes, &trusted).unwrap(), scope);
        let other = scope.sign(&SecretKey::from_seed([2; 32])).to_json();
        assert!(matches!(
            verify_scope(&other, &trusted),
            Err(ScopeError::Envelope(EnvelopeError::UnknownKey { .. }))
        ));
        // the same payload signed as a screen statement is not a scope
        let as_statement = Envelope::sign(super::super::SCREEN_TYPE, scope.to_json(), &controller);
        assert!(matches!(
            verify_scope(&as_statement.to_json(), &trusted),
            Err(ScopeError::Envelope(EnvelopeError::WrongType { .. }))
        ));
    }

    #[test]
    fn selection_is_all_or_a_list() {
        let all: Selection = serde_json::from_str(r#""all""#).unwrap();
        assert_eq!(all, Selection::All);
        assert_eq!(serde_json::to_string(&all).unwrap(), r#""all""#);
        let some: Selection = serde_json::from_str(r#"["a1","b2"]"#).unwrap();
        assert_eq!(some, Selection::Screens(vec!["a1".into(), "b2".into()]));
        assert_eq!(some.to_string(), "a1, b2");
        let e = serde_json::from_str::<Selection>(r#""some""#).unwrap_err();
        assert!(e.to_string().contains("\"all\" or a list"), "{e}");
        // a listed selection must name exactly the scope's screens
        let mut b = ScopeBuilder::new(period(), 1);
        b.screen("a1").selection(some);
        let e = b.finish().validate().unwrap_err();
        assert!(e.to_string().contains("selection"), "{e}");
    }

    #[test]
    fn action_records_and_batches_are_told_apart() {
        let action = br#"{"seq":1,"at":"2026-01-05T07:00:00.000Z","actor":"cli","role":null,"action":"publish","detail":{}}"#;
        assert!(is_action_record(action));
        let device = SecretKey::from_seed([3; 32]);
        let batch = crate::receipt::sign_batch("a1", &[], &device).to_json();
        assert!(!is_action_record(&batch));
        assert_eq!(batch_seqs(&batch), Some(vec![]));
        assert_eq!(batch_seqs(action), None);
    }
}
