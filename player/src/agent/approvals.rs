//! Approval enforcement on the screen (`docs/protocol.md` §19), without I/O.
//!
//! A screen enrolled with `--policy-root` pins the root key ids; it then accepts a manifest or
//! alert set or ticker set only with the approvals its policy asks for
//! ([`Guard::check_manifest`], [`Guard::check_alerts`], [`Guard::check_ticker`]); the policy itself travels in the same payload and is adopted
//! only once it verifies against the held one (or the pinned ids) and the content it came with
//! is accepted. The held policy is not stored apart: at start it is the newest policy of the
//! stored manifests and alert set, whose chains verified when they were accepted. A screen
//! without pinned roots has no guard and behaves as before (its status says so).

use jiff::Timestamp;
use playlists::approval::{Attachments, Enforcement};
use playlists::envelope::Envelope;
use playlists::manifest::{AlertSet, Manifest, Rejection, TickerSet};
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
    /// A `policy_chain` stored from the policy topic counts as well.
    pub fn restore(
        pinned: &[String],
        gate: &str,
        stored: &[&[u8]],
        policy_chain: Option<&[u8]>,
    ) -> Option<Guard> {
        if pinned.is_empty() {
            return None;
        }
        let mut held: Option<Policy> = None;
        let topic_chain: Option<Vec<String>> =
            policy_chain.and_then(|b| serde_json::from_slice(b).ok());
        let chains = stored
            .iter()
            .filter_map(|bytes| payload(bytes).and_then(|p| Attachments::from_payload(&p).ok()))
            .map(|att| att.policy)
            .chain(topic_chain);
        for chain in chains {
            // Accepted before: walk the chain from the pinned ids again, without expiry.
            if let Ok(Some((p, _))) =
                playlists::policy::verify_chain(&chain, pinned, None, Timestamp::MIN)
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

    /// As [`Guard::check_alerts`] for a ticker set (`docs/protocol.md` §20).
    pub fn check_ticker(
        &self,
        bytes: &[u8],
        set: &TickerSet,
        now: Timestamp,
    ) -> Result<Option<Policy>, Rejection> {
        let p = payload(bytes).unwrap_or_default();
        let ok = self.enforcement().ticker(&p, set, now)?;
        Ok(ok.new_policy.map(|(p, _)| p))
    }

    /// A policy chain received on the policy topic (`playlists::topics::POLICY_TOPIC`,
    /// `docs/protocol.md` §19): the payload is the JSON array of the chain's exact envelope
    /// texts, oldest first. Its newest policy is held from now on only if it verifies under the
    /// chain rule (from the held policy's root threshold, or the pinned ids when none is held)
    /// with a higher version; returns that version. An older or equal chain, or one that does
    /// not verify, is refused with the reason, and the held policy stays.
    /// The refusal is `(reason, detail)`: `not_newer` for an older or equal chain,
    /// `invalid_content` for a payload that is no chain, `not_approved` otherwise.
    pub fn offer_policy(
        &mut self,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<u64, (&'static str, String)> {
        let chain: Vec<String> = serde_json::from_slice(payload).map_err(|e| {
            (
                "invalid_content",
                format!("policy topic payload is not a JSON array of policy envelopes: {e}"),
            )
        })?;
        let held = self.held.as_ref().map(|p| p.version);
        match playlists::policy::verify_chain(&chain, &self.pinned, self.held.as_ref(), now) {
            Ok(Some((p, _))) => {
                let v = p.version;
                self.adopt(Some(p));
                Ok(v)
            }
            Ok(None) => Err((
                "not_newer",
                format!(
                    "policy refused: not newer than the held version {}",
                    held.unwrap_or_default()
                ),
            )),
            Err(e @ playlists::policy::PolicyError::NotNewer { .. }) => {
                Err(("not_newer", format!("policy refused: {e}")))
            }
            Err(e) => Err(("not_approved", format!("policy refused: {e}"))),
        }
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

#[cfg(test)]
mod offer_tests {
    use super::*;
    use playlists::keys::SecretKey;
    use playlists::policy::{add_signature, sign_policy, Approver, RootKey};

    fn root(n: u8) -> SecretKey {
        SecretKey::from_seed([31 + n; 32])
    }
    fn now() -> Timestamp {
        "2030-01-01T08:00:00Z".parse().unwrap()
    }
    /// Policy `version` with roots 0 and 1 (threshold 2), approvers `approvers`, signed by `by`.
    fn policy(version: u64, approvers: &[u8], by: &[u8]) -> String {
        let p = Policy {
            version,
            issued_at: now() - jiff::SignedDuration::from_hours(1),
            expires_at: now() + jiff::SignedDuration::from_hours(24 * 365),
            root_keys: (0..2)
                .map(|n| RootKey {
                    key_id: root(n).key_id(),
                    public_key: root(n).public().to_base64(),
                })
                .collect(),
            root_threshold: 2,
            approvers: approvers
                .iter()
                .map(|n| {
                    let k = SecretKey::from_seed([40 + n; 32]);
                    Approver {
                        key_id: k.key_id(),
                        public_key: k.public().to_base64(),
                        name: format!("Người duyệt {n}"),
                        roles: vec![],
                    }
                })
                .collect(),
            media_threshold: 1,
            alert_threshold: 1,
        };
        let mut env = sign_policy(&p, &root(by[0]));
        for n in &by[1..] {
            add_signature(&mut env, &root(*n));
        }
        String::from_utf8(env.to_json()).unwrap()
    }
    fn chain(links: &[String]) -> Vec<u8> {
        serde_json::to_vec(links).unwrap()
    }

    #[test]
    fn attack_policy_topic_takes_only_a_newer_chain_signed_by_the_root_threshold() {
        let pinned = vec![root(0).key_id(), root(1).key_id()];
        let mut g = Guard::restore(&pinned, "gate-a1", &[], None).unwrap();
        let (v1, v2) = (policy(1, &[1, 2], &[0, 1]), policy(2, &[1], &[0, 1]));
        assert_eq!(
            g.offer_policy(&chain(std::slice::from_ref(&v1)), now()),
            Ok(1)
        );
        // The rotation that removes approver 2 is taken from the topic.
        assert_eq!(
            g.offer_policy(&chain(&[v1.clone(), v2.clone()]), now()),
            Ok(2)
        );
        assert_eq!(Guard::status(Some(&g)).policy_version, Some(2));
        // A replayed older chain and the same one again are refused, named; v2 stays.
        let (r, e) = g
            .offer_policy(&chain(std::slice::from_ref(&v1)), now())
            .unwrap_err();
        assert_eq!(r, "not_newer", "{e}");
        let (r, e) = g
            .offer_policy(&chain(&[v1.clone(), v2]), now())
            .unwrap_err();
        assert_eq!(r, "not_newer", "{e}");
        assert!(e.contains("not newer than the held version 2"), "{e}");
        // Version 3 signed by one root where two are needed: refused.
        let (r, e) = g
            .offer_policy(&chain(&[policy(3, &[1, 2], &[0])]), now())
            .unwrap_err();
        assert_eq!(r, "not_approved", "{e}");
        assert!(e.starts_with("policy refused"), "{e}");
        let (r, e) = g.offer_policy(b"{}", now()).unwrap_err();
        assert_eq!(r, "invalid_content", "{e}");
        assert_eq!(Guard::status(Some(&g)).policy_version, Some(2));
    }
}
