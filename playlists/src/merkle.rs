//! RFC 6962 Merkle tree hashing for the append-only receipt log, with inclusion and consistency
//! proofs and signed checkpoints.
//!
//! * leaf hash = SHA-256(0x00 ‖ leaf bytes), node hash = SHA-256(0x01 ‖ left ‖ right);
//! * the root of the empty tree is SHA-256 of the empty string;
//! * a tree of n > 1 leaves splits at k, the largest power of two smaller than n (RFC 6962 §2.1);
//! * proofs are made as in RFC 6962 §2.1.1 (PATH) and §2.1.2 (SUBPROOF), and verified with the
//!   algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! Functions taking `leaves` take the **leaf hashes** (the output of [`leaf_hash`]), in log order.
//! A [`Checkpoint`] `{origin, size, root}` (root in lowercase hex) is published as a DSSE
//! envelope of type [`CHECKPOINT_TYPE`].

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::envelope::{self, Envelope, EnvelopeError, CHECKPOINT_TYPE};
use crate::keys::{KeySet, SecretKey};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Longest accepted checkpoint `origin`, in bytes.
pub const MAX_ORIGIN_LEN: usize = 256;

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: SHA-256("").
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// Merkle Tree Hash (RFC 6962 §2.1) of the given leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Audit path (RFC 6962 §2.1.1) for the leaf at `index`. Returns an empty proof when
/// `index >= leaves.len()`; see [`try_inclusion_proof`] to tell that case apart.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    try_inclusion_proof(leaves, index).unwrap_or_default()
}

/// Audit path for the leaf at `index`, or `None` if `index` is outside the tree.
pub fn try_inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    ProofBuilder::new(leaves).inclusion(index)
}

/// Inclusion proofs for many leaves of one tree, sharing subtree hashes: each proof is the
/// RFC 6962 audit path, but a subtree's hash is computed once, so k proofs over n leaves cost
/// O(n + k log n) hashes instead of O(k n) (an audit export proves every leaf it carries).
pub struct ProofBuilder<'a> {
    leaves: &'a [Hash],
    memo: std::collections::HashMap<(usize, usize), Hash>,
}

impl<'a> ProofBuilder<'a> {
    /// A builder over the leaf hashes of one tree.
    pub fn new(leaves: &'a [Hash]) -> Self {
        ProofBuilder {
            leaves,
            memo: Default::default(),
        }
    }

    /// Hash of the subtree of `len` leaves starting at `start`.
    fn subtree(&mut self, start: usize, len: usize) -> Hash {
        match len {
            0 => empty_root(),
            1 => self.leaves[start],
            n => {
                if let Some(h) = self.memo.get(&(start, n)) {
                    return *h;
                }
                let k = split(n);
                let l = self.subtree(start, k);
                let r = self.subtree(start + k, n - k);
                let h = node_hash(&l, &r);
                self.memo.insert((start, n), h);
                h
            }
        }
    }

    /// The audit path of leaf `index` (RFC 6962 §2.1.1), or `None` if it is outside the tree.
    pub fn inclusion(&mut self, index: usize) -> Option<Vec<Hash>> {
        if index >= self.leaves.len() {
            return None;
        }
        let mut out = Vec::new();
        let (mut start, mut n, mut m) = (0usize, self.leaves.len(), index);
        // Walk down, collecting siblings; the path lists them bottom-up.
        while n > 1 {
            let k = split(n);
            if m < k {
                out.push(self.subtree(start + k, n - k));
                n = k;
            } else {
                out.push(self.subtree(start, k));
                start += k;
                m -= k;
                n -= k;
            }
        }
        out.reverse();
        Some(out)
    }
}

/// Verify an inclusion proof (RFC 9162 §2.1.3.2): `leaf` (a leaf hash) is at `index` in the tree
/// of `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// Consistency proof (RFC 6962 §2.1.2) between the first `old_size` leaves and all of `leaves`.
/// Empty when `old_size` is 0, equal to `leaves.len()`, or larger (see [`try_consistency_proof`]).
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Vec<Hash> {
    try_consistency_proof(leaves, old_size).unwrap_or_default()
}

/// Consistency proof, or `None` if `old_size > leaves.len()`.
pub fn try_consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    if old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(old_size, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !whole {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], whole, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Verify a consistency proof (RFC 9162 §2.1.4.2): the tree of `old_size` leaves with root
/// `old_root` is a prefix of the tree of `new_size` leaves with root `new_root`.
/// For `old_size == 0` the proof must be empty and `old_root` the empty-tree root.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old_root && sr == *new_root && snode == 0
}

/// Lowercase hex of a hash.
pub fn hash_to_hex(h: &Hash) -> String {
    crate::hex::encode(h)
}

/// Parse 64 lowercase hex characters into a hash.
pub fn hash_from_hex(s: &str) -> Option<Hash> {
    if !crate::hex::is_lower_hex(s, 32) {
        return None;
    }
    crate::hex::decode(s)?.try_into().ok()
}

/// A signed statement "the log named `origin` has `size` leaves and this `root`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Name of the log (e.g. the controller's identity); 1..=[`MAX_ORIGIN_LEN`] bytes.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Root hash, 64 lowercase hex characters.
    pub root: String,
}

/// Why a checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The envelope did not verify.
    #[error("checkpoint envelope rejected: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a valid checkpoint.
    #[error("checkpoint payload is malformed: {0}")]
    Malformed(String),
}

impl Checkpoint {
    /// A checkpoint for the given tree.
    pub fn for_leaves(origin: &str, leaves: &[Hash]) -> Checkpoint {
        Checkpoint {
            origin: origin.to_owned(),
            size: leaves.len() as u64,
            root: hash_to_hex(&root(leaves)),
        }
    }

    /// The root as bytes, if it is well-formed.
    pub fn root_hash(&self) -> Option<Hash> {
        hash_from_hex(&self.root)
    }

    /// Check field bounds: non-empty printable origin within bounds, root 64 lowercase hex.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() || self.origin.len() > MAX_ORIGIN_LEN {
            return Err(CheckpointError::Malformed(format!(
                "origin must be 1 to {MAX_ORIGIN_LEN} bytes"
            )));
        }
        if self.origin.chars().any(char::is_control) {
            return Err(CheckpointError::Malformed(
                "origin must not contain control characters".into(),
            ));
        }
        if self.root_hash().is_none() {
            return Err(CheckpointError::Malformed(
                "root must be 64 lowercase hex characters".into(),
            ));
        }
        if self.size == 0 && self.root_hash() != Some(empty_root()) {
            return Err(CheckpointError::Malformed(
                "an empty log must have the empty-tree root".into(),
            ));
        }
        Ok(())
    }

    /// The payload JSON: `{"origin":…,"size":…,"root":…}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a checkpoint cannot fail")
    }

    /// Sign as a DSSE [`CHECKPOINT_TYPE`] envelope.
    pub fn sign(&self, key: &SecretKey) -> Envelope {
        Envelope::sign(CHECKPOINT_TYPE, self.to_json(), key)
    }
}

/// Verify a checkpoint envelope against `trusted` keys, then parse and validate its payload.
pub fn verify_checkpoint(bytes: &[u8], trusted: &KeySet) -> Result<Checkpoint, CheckpointError> {
    let v = envelope::verify(bytes, CHECKPOINT_TYPE, trusted)?;
    let cp: Checkpoint = serde_json::from_slice(&v.payload)
        .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    cp.validate()?;
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight leaves of the certificate-transparency reference test data.
    fn ct_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| leaf_hash(&unhex(h)))
        .collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).expect("hex")
    }

    // Roots cross-checked with an independent Python hashlib computation.
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn empty_tree_root_is_sha256_of_empty_string() {
        assert_eq!(
            hash_to_hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn known_roots_of_ct_reference_trees() {
        let leaves = ct_leaves();
        for (n, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(
                hash_to_hex(&root(&leaves[..n + 1])),
                *want,
                "size {}",
                n + 1
            );
        }
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let l = leaf_hash(b"");
        assert_eq!(
            hash_to_hex(&l),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let mut concat = Vec::from(l);
        concat.extend_from_slice(&l);
        assert_ne!(leaf_hash(&concat), node_hash(&l, &l));
    }

    /// The named nodes of the 7-leaf example tree of RFC 6962 §2.1.3.
    struct Rfc7 {
        d: Vec<Hash>,
        g: Hash,
        h: Hash,
        i: Hash,
        j: Hash,
        k: Hash,
        l: Hash,
    }

    fn rfc7() -> Rfc7 {
        let d: Vec<Hash> = ct_leaves()[..7].to_vec();
        let g = node_hash(&d[0], &d[1]);
        let h = node_hash(&d[2], &d[3]);
        let i = node_hash(&d[4], &d[5]);
        let j = d[6];
        let k = node_hash(&g, &h);
        let l = node_hash(&i, &j);
        Rfc7 {
            d,
            g,
            h,
            i,
            j,
            k,
            l,
        }
    }

    #[test]
    fn rfc6962_example_audit_paths() {
        let t = rfc7();
        let r = root(&t.d);
        assert_eq!(r, node_hash(&t.k, &t.l));
        let (b, c, f) = (t.d[1], t.d[2], t.d[5]);
        let cases = [
            (0, vec![b, t.h, t.l]),
            (3, vec![c, t.g, t.l]),
            (4, vec![f, t.j, t.k]),
            (6, vec![t.i, t.k]),
        ];
        for (idx, want) in cases {
            assert_eq!(inclusion_proof(&t.d, idx), want, "leaf {idx}");
            assert!(verify_inclusion(&t.d[idx], idx as u64, 7, &want, &r));
        }
    }

    #[test]
    fn rfc6962_example_consistency_proofs() {
        let t = rfc7();
        let (c, d) = (t.d[2], t.d[3]);
        assert_eq!(consistency_proof(&t.d, 3), vec![c, d, t.g, t.l]);
        assert_eq!(consistency_proof(&t.d, 4), vec![t.l]);
        assert_eq!(consistency_proof(&t.d, 6), vec![t.i, t.j, t.k]);
        let r = root(&t.d);
        for m in [3usize, 4, 6] {
            let p = consistency_proof(&t.d, m);
            assert!(verify_consistency(m as u64, 7, &root(&t.d[..m]), &r, &p));
        }
    }

    #[test]
    fn all_proofs_of_small_trees_verify() {
        let l = ct_leaves();
        for n in 1..=8usize {
            let r = root(&l[..n]);
            for i in 0..n {
                let p = inclusion_proof(&l[..n], i);
                assert!(verify_inclusion(&l[i], i as u64, n as u64, &p, &r));
            }
            for m in 1..=n {
                let p = consistency_proof(&l[..n], m);
                assert!(verify_consistency(
                    m as u64,
                    n as u64,
                    &root(&l[..m]),
                    &r,
                    &p
                ));
            }
        }
    }

    #[test]
    fn one_proof_builder_serves_every_leaf_of_a_tree() {
        let leaves: Vec<Hash> = (0..40u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 1..=leaves.len() {
            let tree = &leaves[..n];
            let r = root(tree);
            let mut b = ProofBuilder::new(tree);
            // Backwards, so later proofs reuse subtrees memoised by earlier ones.
            for i in (0..n).rev() {
                let p = b.inclusion(i).unwrap();
                assert!(
                    verify_inclusion(&tree[i], i as u64, n as u64, &p, &r),
                    "n={n} i={i}"
                );
                assert_eq!(
                    p,
                    ProofBuilder::new(tree).inclusion(i).unwrap(),
                    "n={n} i={i}"
                );
            }
            assert!(b.inclusion(n).is_none());
        }
    }

    #[test]
    fn inclusion_rejects_out_of_range_and_wrong_inputs() {
        let l = ct_leaves();
        let r = root(&l);
        let p = inclusion_proof(&l, 2);
        assert!(!verify_inclusion(&l[2], 8, 8, &p, &r));
        assert!(!verify_inclusion(&l[2], 3, 8, &p, &r));
        assert!(!verify_inclusion(&l[3], 2, 8, &p, &r));
        // The size is bound by the shape of the path: 8 leaves need 3 hashes, 4 leaves only 2.
        assert!(!verify_inclusion(&l[2], 2, 4, &p, &r));
        assert!(!verify_inclusion(&l[2], 2, 8, &p[..2], &r));
        let mut longer = p.clone();
        longer.push(l[0]);
        assert!(!verify_inclusion(&l[2], 2, 8, &longer, &r));
        assert!(inclusion_proof(&l, 8).is_empty());
        assert!(try_inclusion_proof(&l, 8).is_none());
    }

    #[test]
    fn consistency_edge_cases() {
        let l = ct_leaves();
        let r8 = root(&l);
        let r4 = root(&l[..4]);
        assert!(verify_consistency(0, 8, &empty_root(), &r8, &[]));
        assert!(!verify_consistency(0, 8, &r4, &r8, &[]));
        assert!(verify_consistency(8, 8, &r8, &r8, &[]));
        assert!(!verify_consistency(8, 8, &r8, &r4, &[]));
        assert!(!verify_consistency(8, 8, &r8, &r8, &[r4]));
        assert!(!verify_consistency(5, 4, &r8, &r4, &[]));
        assert!(!verify_consistency(4, 8, &r4, &r8, &[]));
        assert!(try_consistency_proof(&l, 9).is_none());
        let p = consistency_proof(&l, 4);
        assert!(verify_consistency(4, 8, &r4, &r8, &p));
        assert!(!verify_consistency(4, 8, &r8, &r8, &p));
        assert!(!verify_consistency(4, 12, &r4, &r8, &p));
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let h = leaf_hash(b"x");
        assert_eq!(hash_from_hex(&hash_to_hex(&h)), Some(h));
        assert!(hash_from_hex(&hash_to_hex(&h).to_uppercase()).is_none());
        assert!(hash_from_hex("00").is_none());
        assert!(hash_from_hex(&"g".repeat(64)).is_none());
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    #[test]
    fn checkpoint_sign_verify_and_rejections() {
        let cp = Checkpoint::for_leaves("gatecast-controller", &ct_leaves());
        assert_eq!(cp.size, 8);
        assert_eq!(cp.root, CT_ROOTS[7]);
        let trusted = KeySet::from_keys([key(1).public()]);
        let bytes = cp.sign(&key(1)).to_json();
        assert_eq!(verify_checkpoint(&bytes, &trusted).unwrap(), cp);
        assert!(matches!(
            verify_checkpoint(&bytes, &KeySet::from_keys([key(2).public()])),
            Err(CheckpointError::Envelope(EnvelopeError::UnknownKey { .. }))
        ));
        let other = Envelope::sign(crate::envelope::ACK_TYPE, cp.to_json(), &key(1)).to_json();
        assert!(matches!(
            verify_checkpoint(&other, &trusted),
            Err(CheckpointError::Envelope(EnvelopeError::WrongType { .. }))
        ));
        for bad in [
            Checkpoint {
                root: "AB".repeat(32),
                ..cp.clone()
            },
            Checkpoint {
                origin: String::new(),
                ..cp.clone()
            },
            Checkpoint {
                origin: "a\nb".into(),
                ..cp.clone()
            },
            Checkpoint {
                size: 0,
                ..cp.clone()
            },
        ] {
            let b = Envelope::sign(CHECKPOINT_TYPE, bad.to_json(), &key(1)).to_json();
            assert!(
                matches!(
                    verify_checkpoint(&b, &trusted),
                    Err(CheckpointError::Malformed(_))
                ),
                "accepted {bad:?}"
            );
        }
        let garbage = Envelope::sign(CHECKPOINT_TYPE, b"[1]".to_vec(), &key(1)).to_json();
        assert!(matches!(
            verify_checkpoint(&garbage, &trusted),
            Err(CheckpointError::Malformed(_))
        ));
    }
}
