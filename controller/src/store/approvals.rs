//! The approval policy chain and the approvals (`docs/protocol.md` §19): envelopes exactly as
//! accepted, which the controller stores and hands out but cannot make (it holds no root or
//! approver key). The chain is one `meta` record (oldest first); approvals are the `approvals`
//! tree, keyed by the SHA-256 of the envelope text.

use super::{encode, Result, Store};

/// `meta` key of the policy chain.
const POLICY_CHAIN_KEY: &str = "policy_chain";

impl Store {
    /// The accepted policy envelopes, oldest first (empty: no policy, approvals not required).
    pub fn policy_chain(&self) -> Result<Vec<String>> {
        Ok(Self::get(&self.meta, "policy chain", POLICY_CHAIN_KEY)?.unwrap_or_default())
    }

    /// Appends an accepted policy envelope to the chain (flushed).
    pub async fn push_policy(&self, envelope: String) -> Result<()> {
        let mut chain = self.policy_chain()?;
        chain.push(envelope);
        self.put(&self.meta, POLICY_CHAIN_KEY, &chain).await
    }

    /// Every stored approval envelope, in key order.
    pub fn approvals(&self) -> Result<Vec<String>> {
        Self::all(&self.approvals, "approval")
    }

    /// Stores an approval envelope under `id` (flushed); false when it was stored already.
    pub async fn put_approval(&self, id: &str, envelope: &str) -> Result<bool> {
        if self.approvals.contains_key(id)? {
            return Ok(false);
        }
        self.approvals.insert(id, encode(&envelope))?;
        self.flush().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chain_and_approvals_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            assert!(s.policy_chain().unwrap().is_empty());
            s.push_policy("p1".into()).await.unwrap();
            s.push_policy("p2".into()).await.unwrap();
            assert!(s.put_approval("a", "env-a").await.unwrap());
            assert!(!s.put_approval("a", "env-a").await.unwrap());
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.policy_chain().unwrap(), ["p1", "p2"]);
        assert_eq!(s.approvals().unwrap(), ["env-a"]);
    }
}
