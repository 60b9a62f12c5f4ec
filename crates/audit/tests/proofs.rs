//! Proofs from the tree's level files equal proofs from the segments, and verify; the level
//! files are repaired at open after a crash cut them short or they were deleted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use scif_audit::merkle::{self, Note};
use scif_audit::*;

fn ev(i: u64) -> Event {
    Event {
        time: "2026-12-03T00:00:00.000Z".into(),
        action: "invoke_model".into(),
        decision: "allow".into(),
        principal: Some(format!("p{i}")),
        ..Event::default()
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn write(dir: &std::path::Path, from: u64, n: u64) {
    let mut cfg = TrailConfig::new(dir, "n1");
    cfg.checkpoint_every_events = 7;
    cfg.durability = Durability::FlushEvery(Duration::from_secs(1));
    let (trail, _) = Trail::open(cfg, key()).unwrap();
    let receipts: Vec<_> = (from..from + n).map(|i| trail.append(ev(i))).collect();
    for r in receipts {
        r.wait().unwrap();
    }
    trail.close().unwrap();
}

fn hash(hex_str: &str) -> merkle::Hash {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn check_all(dir: &std::path::Path) -> Vec<String> {
    let (size, note) = latest_tree_checkpoint(dir).unwrap().unwrap();
    let note = Note::parse(&note).unwrap();
    assert!(note.signed_by(&key().verifying_key()));
    let mut out = Vec::new();
    for seq in 1..=size {
        let p = prove(dir, seq, Some(size)).unwrap();
        let proof: Vec<_> = p.proof.iter().map(|h| hash(h)).collect();
        let leaf = merkle::leaf_hash(&hash(&p.record_hash));
        assert!(
            merkle::verify_inclusion(&leaf, seq - 1, size, &proof, &note.root),
            "seq {seq}"
        );
        out.push(serde_json::to_string(&p).unwrap());
    }
    out
}

#[test]
fn level_files_give_the_same_proofs_as_the_segments_and_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 0, 60);
    let fast = check_all(dir.path());
    let tree = dir.path().join("tree");
    assert!(tree.join("level-00.bin").exists());
    // Without the level files: the same proofs, from the segments.
    std::fs::rename(&tree, dir.path().join("tree-aside")).unwrap();
    assert_eq!(check_all(dir.path()), fast);
    std::fs::rename(dir.path().join("tree-aside"), &tree).unwrap();
    // A crash left the level files short: the next open repairs them.
    let l0 = tree.join("level-00.bin");
    let len = std::fs::metadata(&l0).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&l0)
        .unwrap()
        .set_len(len - 32 * 5)
        .unwrap();
    let _ = std::fs::remove_file(tree.join("level-02.bin"));
    write(dir.path(), 60, 30);
    let after = check_all(dir.path());
    assert_eq!(
        after.len() as u64,
        latest_tree_checkpoint(dir.path()).unwrap().unwrap().0
    );
    std::fs::remove_dir_all(&tree).unwrap();
    assert_eq!(
        check_all(dir.path()),
        after,
        "the repaired files agree with the segments"
    );
    // Consistency between every pair of checkpointed sizes, from the files and without them.
    write(dir.path(), 90, 1); // rebuilds the level files
    let text: Vec<(u64, String)> = std::fs::read_to_string(tree.join("checkpoints.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["size"].as_u64().unwrap(),
                v["note"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(text.len() >= 2);
    for (m, old) in &text {
        for (n, new) in &text {
            if m > n {
                continue;
            }
            let c = consistency(dir.path(), *m, *n).unwrap();
            let proof: Vec<_> = c.proof.iter().map(|h| hash(h)).collect();
            let (a, b) = (Note::parse(old).unwrap(), Note::parse(new).unwrap());
            assert!(
                merkle::verify_consistency(*m, *n, &proof, &a.root, &b.root),
                "{m} -> {n}"
            );
        }
    }
    if let Err((b, _)) = verify(dir.path(), None, Some(&key().verifying_key())) {
        panic!("{b}");
    }
}
