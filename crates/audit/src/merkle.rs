//! A Merkle tree over the trail's records (RFC 6962 / RFC 9162 hashing), the C2SP
//! `tlog-checkpoint` signed note that commits to its root, and inclusion and consistency proofs.
//!
//! Leaf `i` (0-based) is record `seq = i + 1`; its leaf hash is `SHA-256(0x00 || h)` where `h`
//! is the record's 32-byte hash (the `hash` member, decoded from hex). An interior node is
//! `SHA-256(0x01 || left || right)`. The tree of `n` leaves is RFC 9162's MTH: split at the
//! largest power of two below `n`. The empty tree's root is `SHA-256("")`.
//!
//! A checkpoint note (C2SP `tlog-checkpoint` in a C2SP `signed-note`) is:
//!
//! ```text
//! <origin>\n<tree size>\n<base64 root>\n\n— <origin> <base64(key id (4 bytes) || Ed25519 signature)>\n
//! ```
//!
//! signed over the first three lines (each with its `\n`); the key id is the first four bytes
//! of `SHA-256(<origin> || "\n" || 0x01 || public key)`. The origin is `scif.audit/<node>`.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || record hash)`.
pub fn leaf_hash(record_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(record_hash);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The tree built one leaf at a time, keeping only the roots of its perfect subtrees (one per
/// set bit of the size, largest first): what the writer keeps, and what a checkpoint stores so
/// that a restart need not read the whole trail again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    peaks: Vec<Hash>,
}

impl CompactTree {
    pub fn new() -> CompactTree {
        CompactTree::default()
    }

    /// From a stored size and peaks; `None` when they do not fit together.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Option<CompactTree> {
        (size.count_ones() as usize == peaks.len()).then_some(CompactTree { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends the leaf for a record whose hash is `record_hash`.
    pub fn push(&mut self, record_hash: &Hash) {
        self.push_with(record_hash, &mut |_, _| {});
    }

    /// [`CompactTree::push`], telling `emit` each perfect subtree it completes: the leaf at
    /// level 0, then each merge at its level (what the tree store keeps for fast proofs).
    pub fn push_with(&mut self, record_hash: &Hash, emit: &mut dyn FnMut(u32, &Hash)) {
        let mut node = leaf_hash(record_hash);
        emit(0, &node);
        let mut size = self.size;
        let mut level = 0;
        // Merge with the peaks of equal size: one per trailing set bit.
        while size & 1 == 1 {
            let Some(left) = self.peaks.pop() else { break };
            node = node_hash(&left, &node);
            level += 1;
            emit(level, &node);
            size >>= 1;
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The root over every leaf pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// RFC 9162's MTH over `leaves` (leaf hashes).
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

/// The largest power of two below `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 2.1.3.1: the inclusion proof of leaf `index` in the tree of `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    (index < leaves.len()).then(|| path(index, leaves))
}

fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = split(d.len());
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(root(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(root(&d[..k]));
        p
    }
}

/// RFC 9162 2.1.4.1: the consistency proof between the first `old` leaves and all of `leaves`.
pub fn consistency_proof(leaves: &[Hash], old: usize) -> Option<Vec<Hash>> {
    if old == 0 || old > leaves.len() {
        return None;
    }
    Some(subproof(old, leaves, true))
}

fn subproof(m: usize, d: &[Hash], complete: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if complete { Vec::new() } else { vec![root(d)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], complete);
        p.push(root(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(root(&d[..k]));
        p
    }
}

/// Where proofs read subtree hashes from: any range of leaves `[lo, hi)`.
pub trait Nodes {
    /// The MTH of leaves `lo..hi` (`lo < hi`); `None` when it cannot be read.
    fn range(&self, lo: u64, hi: u64) -> Option<Hash>;
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves of `nodes`.
pub fn inclusion_proof_with(nodes: &dyn Nodes, index: u64, size: u64) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    fn go(n: &dyn Nodes, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Option<()> {
        if hi - lo <= 1 {
            return Some(());
        }
        let k = split((hi - lo) as usize) as u64;
        if m < k {
            go(n, m, lo, lo + k, out)?;
            out.push(n.range(lo + k, hi)?);
        } else {
            go(n, m - k, lo + k, hi, out)?;
            out.push(n.range(lo, lo + k)?);
        }
        Some(())
    }
    let mut out = Vec::new();
    go(nodes, index, 0, size, &mut out)?;
    Some(out)
}

/// The consistency proof between the first `old` and the first `new` leaves of `nodes`.
pub fn consistency_proof_with(nodes: &dyn Nodes, old: u64, new: u64) -> Option<Vec<Hash>> {
    if old == 0 || old > new {
        return None;
    }
    fn go(
        n: &dyn Nodes,
        m: u64,
        lo: u64,
        hi: u64,
        complete: bool,
        out: &mut Vec<Hash>,
    ) -> Option<()> {
        if m == hi - lo {
            if !complete {
                out.push(n.range(lo, hi)?);
            }
            return Some(());
        }
        let k = split((hi - lo) as usize) as u64;
        if m <= k {
            go(n, m, lo, lo + k, complete, out)?;
            out.push(n.range(lo + k, hi)?);
        } else {
            go(n, m - k, lo + k, hi, false, out)?;
            out.push(n.range(lo, lo + k)?);
        }
        Some(())
    }
    let mut out = Vec::new();
    go(nodes, old, 0, new, true, &mut out)?;
    Some(out)
}

/// Leaf hashes in memory as a node source.
pub struct InMemory<'a>(pub &'a [Hash]);

impl Nodes for InMemory<'_> {
    fn range(&self, lo: u64, hi: u64) -> Option<Hash> {
        self.0.get(lo as usize..hi as usize).map(root)
    }
}

/// RFC 9162 2.1.3.2: does `proof` show `leaf` (a leaf hash) at `index` in the tree of `size`
/// with `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// RFC 9162 2.1.4.2: does `proof` show the tree of `old` leaves with `old_root` is a prefix of
/// the tree of `new` leaves with `new_root`?
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut proof: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == *old_root && s_r == *new_root && s_n == 0
}

/// The origin line of a node's checkpoints.
pub fn origin(node: &str) -> String {
    format!("scif.audit/{node}")
}

/// The C2SP signed-note key id of `public` under `name`.
pub fn key_id(name: &str, public: &ed25519_dalek::VerifyingKey) -> [u8; 4] {
    typed_key_id(name, 0x01, public)
}

/// A C2SP signed-note key id: `SHA-256(name || "\n" || type || public key)[..4]` (type 0x01
/// for an Ed25519 note signer, 0x04 for a cosignature).
pub(crate) fn typed_key_id(name: &str, kind: u8, public: &ed25519_dalek::VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(public.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The checkpoint body: origin, size, base64 root, each line ending in `\n`.
pub fn note_body(origin: &str, size: u64, root: &Hash) -> String {
    use base64::Engine as _;
    format!(
        "{origin}\n{size}\n{}\n",
        base64::engine::general_purpose::STANDARD.encode(root)
    )
}

/// A signed checkpoint note.
pub fn sign_note(key: &ed25519_dalek::SigningKey, origin: &str, size: u64, root: &Hash) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let body = note_body(origin, size, root);
    let sig = key.sign(body.as_bytes());
    let mut blob = key_id(origin, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&sig.to_bytes());
    format!(
        "{body}\n\u{2014} {origin} {}\n",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// A parsed checkpoint note: origin, size, root, and whether `key` signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Signature lines by keys with the origin's name: (key id, signature bytes).
    pub signatures: Vec<([u8; 4], Vec<u8>)>,
}

impl Note {
    /// Parses a signed note in the checkpoint shape; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Note> {
        use base64::Engine as _;
        let (body, sigs) = text.split_once("\n\n")?;
        let mut lines = body.split('\n');
        let origin = lines.next()?.to_owned();
        let size = lines.next()?.parse().ok()?;
        let root: Hash = base64::engine::general_purpose::STANDARD
            .decode(lines.next()?)
            .ok()?
            .try_into()
            .ok()?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n').filter(|l| !l.is_empty()) {
            let rest = line.strip_prefix("\u{2014} ")?;
            let (name, b64) = rest.rsplit_once(' ')?;
            let blob = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            if name == origin && blob.len() > 4 {
                signatures.push(([blob[0], blob[1], blob[2], blob[3]], blob[4..].to_vec()));
            }
        }
        Some(Note {
            origin,
            size,
            root,
            signatures,
        })
    }

    /// Whether `key` signed this note (under the note's origin).
    pub fn signed_by(&self, key: &ed25519_dalek::VerifyingKey) -> bool {
        let id = key_id(&self.origin, key);
        let body = note_body(&self.origin, self.size, &self.root);
        self.signatures.iter().any(|(kid, sig)| {
            *kid == id
                && ed25519_dalek::Signature::from_slice(sig)
                    .is_ok_and(|s| key.verify_strict(body.as_bytes(), &s).is_ok())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&Sha256::digest(i.to_le_bytes()).into()))
            .collect()
    }

    #[test]
    fn the_compact_tree_agrees_with_the_recursive_definition() {
        let mut t = CompactTree::new();
        assert_eq!(t.root(), empty_root());
        for n in 1..=130usize {
            t.push(&Sha256::digest((n - 1).to_le_bytes()).into());
            assert_eq!(t.root(), root(&leaves(n)), "n = {n}");
            let again = CompactTree::from_parts(t.size(), t.peaks().to_vec()).unwrap();
            assert_eq!(again.root(), t.root());
        }
        assert!(CompactTree::from_parts(3, vec![[0; 32]]).is_none());
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other() {
        for n in 1..=40usize {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = inclusion_proof(&l, i).unwrap();
                assert!(
                    verify_inclusion(&l[i], i as u64, n as u64, &p, &r),
                    "{i} of {n}"
                );
                // Another leaf, another index, another size or another root fails.
                let other = leaf_hash(&[7; 32]);
                assert!(!verify_inclusion(&other, i as u64, n as u64, &p, &r));
                if n > 1 {
                    assert!(!verify_inclusion(
                        &l[i],
                        ((i + 1) % n) as u64,
                        n as u64,
                        &p,
                        &r
                    ));
                }
                assert!(!verify_inclusion(
                    &l[i],
                    i as u64,
                    n as u64,
                    &p,
                    &root(&leaves(n + 1))
                ));
            }
            assert!(inclusion_proof(&l, n).is_none());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_no_other() {
        for n in 1..=40usize {
            let l = leaves(n);
            let new_root = root(&l);
            for m in 1..=n {
                let old_root = root(&l[..m]);
                let p = consistency_proof(&l, m).unwrap();
                assert!(
                    verify_consistency(m as u64, n as u64, &p, &old_root, &new_root),
                    "{m} -> {n}"
                );
                // A different old tree (not a prefix) fails.
                let mut forked = l[..m].to_vec();
                forked[m - 1] = leaf_hash(&[9; 32]);
                assert!(!verify_consistency(
                    m as u64,
                    n as u64,
                    &p,
                    &root(&forked),
                    &new_root
                ));
                if m < n {
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &p,
                        &old_root,
                        &root(&leaves(n + 1))
                    ));
                }
            }
        }
    }

    #[test]
    fn proofs_from_a_node_source_equal_the_in_memory_ones() {
        for n in 1..=33usize {
            let l = leaves(n);
            for i in 0..n {
                assert_eq!(
                    inclusion_proof_with(&InMemory(&l), i as u64, n as u64),
                    inclusion_proof(&l, i)
                );
            }
            for m in 1..=n {
                assert_eq!(
                    consistency_proof_with(&InMemory(&l), m as u64, n as u64),
                    consistency_proof(&l, m)
                );
            }
        }
    }

    #[test]
    fn notes_round_trip_and_name_their_signer() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        let text = sign_note(&key, &origin("n1"), 42, &[3; 32]);
        assert!(text.starts_with("scif.audit/n1\n42\n"));
        let note = Note::parse(&text).unwrap();
        assert_eq!((note.size, note.root), (42, [3; 32]));
        assert!(note.signed_by(&key.verifying_key()));
        assert!(!note.signed_by(&other.verifying_key()));
        let forged = text.replace("\n42\n", "\n41\n");
        assert!(!Note::parse(&forged)
            .unwrap()
            .signed_by(&key.verifying_key()));
    }
}
