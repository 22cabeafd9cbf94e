//! Approval enforcement on the screen (`docs/protocol.md` §19), without I/O.
//!
//! A screen enrolled with `--policy-root` pins the root key ids; it then accepts a manifest or
//! alert set only with the approvals its policy asks for ([`Guard::check_manifest`],
//! [`Guard::check_alerts`]); the policy itself travels in the same payload and is adopted
//! only once it verifies against the held one (or the pinned ids) and the content it came with
//! is accepted. The held policy is not stored apart: at start it is the newest policy of the
//! stored manifests and alert set, whose chains verified when they were accepted. A screen
//! without pinned roots has no guard and behaves as before (its status says so).

use jiff::Timestamp;
use playlists::approval::{Attachments, Enforcement};
use playlists::envelope::Envelope;
use playlists::manifest::{AlertSet, Manifest, Rejection};
use playlists::policy::Policy;

use crate::status::ApprovalStatus;

/// What a screen with pinned roots knows.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pinned: Vec<String>,
    gate: String,
    held: Option<Policy>,
}

fn payload(bytes: &[u8]) -> Option<Vec<u8>> {
    Envelope::parse(bytes).ok().map(|e| e.payload)
}

impl Guard {
    /// The guard of a screen with `pinned` roots (none: `None`, approvals not enforced) of
    /// `gate`; the held policy is the newest one the `stored` envelopes carry.
    pub fn restore(pinned: &[String], gate: &str, stored: &[&[u8]]) -> Option<Guard> {
        if pinned.is_empty() {
            return None;
        }
        let mut held: Option<Policy> = None;
        for bytes in stored {
            let Some(att) = payload(bytes).and_then(|p| Attachments::from_payload(&p).ok()) else {
                continue;
            };
            // Accepted before: walk the chain from the pinned ids again, without expiry.
            if let Ok(Some((p, _))) =
                playlists::policy::verify_chain(&att.policy, pinned, None, Timestamp::MIN)
            {
                if held.as_ref().is_none_or(|h| h.version < p.version) {
                    held = Some(p);
                }
            }
        }
        Some(Guard {
            pinned: pinned.to_vec(),
            gate: gate.to_owned(),
            held,
        })
    }

    fn enforcement(&self) -> Enforcement<'_> {
        Enforcement {
            pinned: &self.pinned,
            held: self.held.as_ref(),
            gate: &self.gate,
        }
    }

    /// Approvals of a manifest whose envelope (`bytes`) verified: the newer policy it
    /// carries, if any (adopt it with [`Guard::adopt`] once the manifest is accepted).
    pub fn check_manifest(
        &self,
        bytes: &[u8],
        m: &Manifest,
        now: Timestamp,
    ) -> Result<Option<Policy>, Rejection> {
        let p = payload(bytes).unwrap_or_default();
        let ok = self.enforcement().manifest(&p, m, now)?;
        tracing::info!(
            version = m.version,
            items = ok.coverage.len(),
            "manifest approvals cover every media item"
        );
        Ok(ok.new_policy.map(|(p, _)| p))
    }

    /// As [`Guard::check_manifest`] for an alert set.
    pub fn check_alerts(
        &self,
        bytes: &[u8],
        set: &AlertSet,
        now: Timestamp,
    ) -> Result<Option<Policy>, Rejection> {
        let p = payload(bytes).unwrap_or_default();
        let ok = self.enforcement().alerts(&p, set, now)?;
        Ok(ok.new_policy.map(|(p, _)| p))
    }

    /// Hold `policy` from now on (it verified against the held one).
    pub fn adopt(&mut self, policy: Option<Policy>) {
        if let Some(p) = policy {
            tracing::info!(
                version = p.version,
                approvers = p.approvers.len(),
                "approval policy accepted"
            );
            self.held = Some(p);
        }
    }

    /// The status' `approvals` member of a screen with this guard, or without one.
    pub fn status(guard: Option<&Guard>) -> ApprovalStatus {
        match guard {
            None => ApprovalStatus {
                enforced: false,
                pinned_roots: Vec::new(),
                policy_version: None,
            },
            Some(g) => ApprovalStatus {
                enforced: true,
                pinned_roots: g.pinned.clone(),
                policy_version: g.held.as_ref().map(|p| p.version),
            },
        }
    }
}
