//! Inclusion and consistency proofs over a trail on disk, with the signed checkpoint notes they
//! are checked against (see [`crate::merkle`] for the hashing, and `docs/audit-proofs.md` for
//! checking them offline).

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::merkle::{self, Hash};
use crate::record::{decode_hash, parse_line, parse_record_fast, Line};
use crate::{list_segments, AuditError};

/// A record's inclusion in a checkpointed tree.
#[derive(Debug, Clone, Serialize)]
pub struct InclusionProof {
    pub seq: u64,
    /// 0-based: `seq - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The record's line as it is in the trail (its hash is recomputable from it).
    pub record: String,
    /// The record's hash (hex): the leaf's data.
    pub record_hash: String,
    /// Hex node hashes, leaf to root.
    pub proof: Vec<String>,
    /// The signed checkpoint note for `tree_size`.
    pub checkpoint: String,
}

/// That the tree of `old_size` records is a prefix of the tree of `new_size`.
#[derive(Debug, Clone, Serialize)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub proof: Vec<String>,
    pub old_checkpoint: String,
    pub new_checkpoint: String,
}

struct Scan {
    /// Record hashes, seq 1 first, and the raw lines when asked for one.
    hashes: Vec<Hash>,
    line: Option<String>,
    /// (tree size, signed note) of every checkpoint with a Merkle note.
    notes: Vec<(u64, String)>,
}

fn scan(dir: &Path, want_line: Option<u64>) -> Result<Scan, AuditError> {
    let mut out = Scan {
        hashes: Vec::new(),
        line: None,
        notes: Vec::new(),
    };
    for (_, path) in list_segments(dir)? {
        let data =
            fs::read(&path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let (seq, hash) = if let Some(r) = parse_record_fast(line) {
                (r.seq, decode_hash(r.hash))
            } else {
                match parse_line(line) {
                    Ok(Line::Record { record, .. }) => (record.seq, decode_hash(&record.hash)),
                    Ok(Line::Checkpoint(cp)) => {
                        if let Some(t) = cp.tlog {
                            out.notes.push((cp.seq, t.note));
                        }
                        continue;
                    }
                    Err(_) => continue,
                }
            };
            if seq != out.hashes.len() as u64 + 1 {
                return Err(AuditError::Corrupt(format!(
                    "record {seq} out of order (expected {})",
                    out.hashes.len() + 1
                )));
            }
            let hash =
                hash.ok_or_else(|| AuditError::Corrupt(format!("record {seq}: bad hash")))?;
            out.hashes.push(hash);
            if want_line == Some(seq) {
                out.line = Some(String::from_utf8_lossy(line).into_owned());
            }
        }
    }
    Ok(out)
}

/// Every signed tree note in the trail, by size (for rebuilding the tree store's index).
pub(crate) fn checkpoint_notes(dir: &Path) -> Result<Vec<(u64, String)>, AuditError> {
    Ok(scan(dir, None)?.notes)
}

fn leaves(hashes: &[Hash]) -> Vec<Hash> {
    hashes.iter().map(merkle::leaf_hash).collect()
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}

/// The line of record `seq`, read from the one segment that holds it.
fn record_line(dir: &Path, seq: u64) -> Result<Option<(String, Hash)>, AuditError> {
    let segments = list_segments(dir)?;
    let Some(i) = segments.iter().rposition(|(first, _)| *first <= seq) else {
        return Ok(None);
    };
    let path = &segments[i].1;
    let data = fs::read(path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
    // A record line ends with `"seq":N}`: find it without parsing the lines before it.
    let needle = format!("\"seq\":{seq}}}\n");
    if let Some(at) = memchr::memmem::find(&data, needle.as_bytes()) {
        let end = at + needle.len() - 1;
        let start = memchr::memrchr(b'\n', &data[..at]).map_or(0, |i| i + 1);
        let line = &data[start..end];
        if let Some(r) = parse_record_fast(line).filter(|r| r.seq == seq) {
            return Ok(decode_hash(r.hash).map(|h| (String::from_utf8_lossy(line).into_owned(), h)));
        }
    }
    for line in data.split(|&b| b == b'\n') {
        if let Some((s, found)) = crate::record::record_seq_hash(line) {
            if s == seq {
                return Ok(found.map(|h| (String::from_utf8_lossy(line).into_owned(), h)));
            }
        }
    }
    Ok(None)
}

/// The inclusion proof from the tree's level files, when they cover the tree (O(log² n)
/// reads); `None` sends the caller to the segments.
fn prove_fast(dir: &Path, seq: u64, size: Option<u64>) -> Option<InclusionProof> {
    let reader = crate::tree_store::TreeReader::open(dir)?;
    let (tree_size, note) = crate::tree_store::TreeReader::note(dir, size, seq)?;
    if seq == 0 || seq > tree_size || reader.size < tree_size {
        return None;
    }
    let proof = merkle::inclusion_proof_with(&reader, seq - 1, tree_size)?;
    let (line, hash) = record_line(dir, seq).ok()??;
    // The level files are derived: check the leaf against the record before trusting them.
    if merkle::Nodes::range(&reader, seq - 1, seq)? != merkle::leaf_hash(&hash) {
        return None;
    }
    Some(InclusionProof {
        seq,
        leaf_index: seq - 1,
        tree_size,
        record: line,
        record_hash: hex::encode(hash),
        proof: hexes(&proof),
        checkpoint: note,
    })
}

/// The inclusion proof of record `seq` in the checkpointed tree of `size` records (default:
/// the latest checkpoint that covers it).
pub fn prove(dir: &Path, seq: u64, size: Option<u64>) -> Result<InclusionProof, AuditError> {
    if let Some(p) = prove_fast(dir, seq, size) {
        return Ok(p);
    }
    let s = scan(dir, Some(seq))?;
    let (tree_size, note) = match size {
        Some(n) => s.notes.iter().find(|(k, _)| *k == n),
        None => s.notes.iter().rev().find(|(k, _)| *k >= seq),
    }
    .cloned()
    .ok_or_else(|| {
        AuditError::Config(format!(
            "no signed tree checkpoint {}; checkpointed sizes: {}",
            size.map_or_else(
                || format!("covers record {seq}"),
                |n| format!("of size {n}")
            ),
            sizes(&s.notes)
        ))
    })?;
    if seq == 0 || seq > tree_size {
        return Err(AuditError::Config(format!(
            "record {seq} is not in the tree of {tree_size}"
        )));
    }
    let l = leaves(&s.hashes[..tree_size as usize]);
    let proof = merkle::inclusion_proof(&l, (seq - 1) as usize)
        .ok_or_else(|| AuditError::Config(format!("record {seq} is not in the trail")))?;
    Ok(InclusionProof {
        seq,
        leaf_index: seq - 1,
        tree_size,
        record: s.line.unwrap_or_default(),
        record_hash: hex::encode(s.hashes[(seq - 1) as usize]),
        proof: hexes(&proof),
        checkpoint: note,
    })
}

/// The consistency proof between two checkpointed tree sizes.
pub fn consistency(dir: &Path, old: u64, new: u64) -> Result<ConsistencyProof, AuditError> {
    let fast = || {
        let reader = crate::tree_store::TreeReader::open(dir)?;
        let (_, old_checkpoint) = crate::tree_store::TreeReader::note(dir, Some(old), 0)?;
        let (_, new_checkpoint) = crate::tree_store::TreeReader::note(dir, Some(new), 0)?;
        if reader.size < new || old == 0 || old > new {
            return None;
        }
        let proof = merkle::consistency_proof_with(&reader, old, new)?;
        Some(ConsistencyProof {
            old_size: old,
            new_size: new,
            proof: hexes(&proof),
            old_checkpoint,
            new_checkpoint,
        })
    };
    if let Some(p) = fast() {
        return Ok(p);
    }
    let s = scan(dir, None)?;
    let note = |n: u64| {
        s.notes
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| {
                AuditError::Config(format!(
                    "no signed tree checkpoint of size {n}; checkpointed sizes: {}",
                    sizes(&s.notes)
                ))
            })
    };
    let (old_checkpoint, new_checkpoint) = (note(old)?, note(new)?);
    if old == 0 || old > new {
        return Err(AuditError::Config("need 0 < OLD <= NEW".into()));
    }
    let l = leaves(&s.hashes[..new as usize]);
    let proof = merkle::consistency_proof(&l, old as usize)
        .ok_or_else(|| AuditError::Config("no such sizes".into()))?;
    Ok(ConsistencyProof {
        old_size: old,
        new_size: new,
        proof: hexes(&proof),
        old_checkpoint,
        new_checkpoint,
    })
}

fn sizes(notes: &[(u64, String)]) -> String {
    let v: Vec<String> = notes.iter().map(|(k, _)| k.to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The latest checkpoint with a Merkle note: its tree size and note.
pub fn latest_tree_checkpoint(dir: &Path) -> Result<Option<(u64, String)>, AuditError> {
    for (_, path) in list_segments(dir)?.iter().rev() {
        let data =
            fs::read(path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
        for line in data.split(|&b| b == b'\n').rev() {
            if !line.starts_with(b"{\"checkpoint\"") {
                continue;
            }
            if let Ok(Line::Checkpoint(cp)) = parse_line(line) {
                if let Some(t) = cp.tlog {
                    return Ok(Some((cp.seq, t.note)));
                }
            }
        }
    }
    Ok(None)
}

/// The root of the tree of the first `size` records as the trail holds them now; `None` when
/// the trail has fewer.
pub fn root_at(dir: &Path, size: u64) -> Result<Option<Hash>, AuditError> {
    let s = scan(dir, None)?;
    Ok((s.hashes.len() as u64 >= size).then(|| merkle::root(&leaves(&s.hashes[..size as usize]))))
}
