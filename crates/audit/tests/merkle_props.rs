//! Property tests: over random tree sizes and positions, every inclusion and consistency proof
//! verifies, and a proof checked against a different tree fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use scif_audit::merkle::{self, Hash};

fn leaves(n: usize, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            let mut h = [salt; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            merkle::leaf_hash(&h)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_proofs_verify_and_only_for_their_tree(n in 1usize..3000, pick in any::<u64>(), other in 1usize..3000) {
        let l = leaves(n, 1);
        let i = (pick % n as u64) as usize;
        let root = merkle::root(&l);
        let p = merkle::inclusion_proof(&l, i).unwrap();
        prop_assert!(merkle::verify_inclusion(&l[i], i as u64, n as u64, &p, &root));
        // A different tree (other leaves, or another size) does not accept the proof.
        let d = leaves(other.max(i + 1), 2);
        prop_assert!(!merkle::verify_inclusion(&l[i], i as u64, d.len() as u64, &p, &merkle::root(&d)));
        // The compact tree (what checkpoints sign) agrees with the definition.
        let mut t = merkle::CompactTree::new();
        for k in 0..n {
            let mut h = [1u8; 32];
            h[..8].copy_from_slice(&(k as u64).to_le_bytes());
            t.push(&h);
        }
        prop_assert_eq!(t.root(), root);
    }

    #[test]
    fn consistency_proofs_verify_and_only_for_prefixes(n in 1usize..3000, pick in any::<u64>()) {
        let l = leaves(n, 3);
        let m = (pick % n as u64) as usize + 1;
        let p = merkle::consistency_proof(&l, m).unwrap();
        let (old, new) = (merkle::root(&l[..m]), merkle::root(&l));
        prop_assert!(merkle::verify_consistency(m as u64, n as u64, &p, &old, &new));
        // An old tree that is not a prefix (one leaf changed) fails.
        let mut forked = l[..m].to_vec();
        forked[(pick as usize) % m] = merkle::leaf_hash(&[9; 32]);
        prop_assert!(!merkle::verify_consistency(m as u64, n as u64, &p, &merkle::root(&forked), &new));
    }
}
