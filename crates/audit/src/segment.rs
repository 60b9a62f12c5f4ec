//! Segment file naming, listing and scanning.

use std::fs;
use std::path::{Path, PathBuf};

use crate::record::{parse_line, Line, LineError, GENESIS_HASH};
use crate::AuditError;

/// `segment-<first seq, 20 digits>.log`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("segment-{first_seq:020}.log")
}

/// Parses a segment file name into its first seq.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// All segments in `dir`, sorted by first seq.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
    let rd = fs::read_dir(dir).map_err(|e| AuditError::io(format!("list {}", dir.display()), e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| AuditError::io(format!("list {}", dir.display()), e))?;
        let name = ent.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_file_name) {
            out.push((seq, ent.path()));
        }
    }
    out.sort_by_key(|(s, _)| *s);
    Ok(out)
}

/// What `Trail::open` learns from the last segment.
#[derive(Debug, Default)]
pub(crate) struct TailScan {
    /// Length of the valid prefix (complete, parseable lines).
    pub valid_len: u64,
    /// Bytes after the valid prefix (torn tail).
    pub torn_bytes: u64,
    /// Number of non-empty lines in the valid prefix.
    pub lines: u64,
    /// Seq of the first record in the segment.
    pub first_record: Option<(u64, String)>,
    /// (seq, hash) of the last record in the segment.
    pub last_record: Option<(u64, String)>,
    /// Whether the last valid line is a checkpoint.
    pub ends_with_checkpoint: bool,
}

/// Scans a segment for recovery: checks its internal chain, and treats an incomplete
/// final line (no newline) or an unparseable final line as torn.
pub(crate) fn scan_for_recovery(path: &Path) -> Result<TailScan, AuditError> {
    let data = fs::read(path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
    let complete_len = match data.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    let mut scan = TailScan {
        torn_bytes: (data.len() - complete_len) as u64,
        ..TailScan::default()
    };
    let body = &data[..complete_len];
    let mut offset = 0usize;
    let mut pieces: Vec<(usize, &[u8])> = Vec::new();
    for piece in body.split_inclusive(|&b| b == b'\n') {
        pieces.push((offset, piece));
        offset += piece.len();
    }
    let n = pieces.len();
    let mut valid_len = complete_len;
    let mut prev: Option<(u64, String)> = None;
    for (i, (off, piece)) in pieces.iter().enumerate() {
        let line = piece.strip_suffix(b"\n").unwrap_or(piece);
        let parsed = match parse_line(line) {
            Ok(p) => p,
            Err(e) => {
                if i + 1 == n {
                    // A torn final line: drop it.
                    valid_len = *off;
                    break;
                }
                let what = match e {
                    LineError::Unparseable => "unparseable",
                    LineError::NonCanonical(_) => "non-canonical",
                };
                return Err(AuditError::Corrupt(format!(
                    "{}: line {} is {what}; refusing to open (run the verifier)",
                    path.display(),
                    i + 1
                )));
            }
        };
        scan.lines += 1;
        match parsed {
            Line::Record { record, hash_ok } => {
                if !hash_ok {
                    return Err(AuditError::Corrupt(format!(
                        "{}: record seq {} has a bad hash",
                        path.display(),
                        record.seq
                    )));
                }
                if let Some((pseq, phash)) = &prev {
                    if record.seq != pseq + 1 || &record.prev_hash != phash {
                        return Err(AuditError::Corrupt(format!(
                            "{}: chain broken at seq {}",
                            path.display(),
                            record.seq
                        )));
                    }
                }
                if scan.first_record.is_none() {
                    scan.first_record = Some((record.seq, record.prev_hash.clone()));
                }
                prev = Some((record.seq, record.hash.clone()));
                scan.ends_with_checkpoint = false;
            }
            Line::Checkpoint(cp) => {
                if let Some((pseq, phash)) = &prev {
                    if cp.seq != *pseq || &cp.hash != phash {
                        return Err(AuditError::Corrupt(format!(
                            "{}: checkpoint at seq {} does not match the chain",
                            path.display(),
                            cp.seq
                        )));
                    }
                }
                scan.ends_with_checkpoint = true;
            }
        }
    }
    scan.torn_bytes += (complete_len - valid_len) as u64;
    scan.valid_len = valid_len as u64;
    scan.last_record = prev;
    Ok(scan)
}

/// Finds the head of the chain before segment index `before` (exclusive), walking back.
pub(crate) fn head_before(
    segments: &[(u64, PathBuf)],
    before: usize,
) -> Result<(u64, String), AuditError> {
    for (_, path) in segments[..before].iter().rev() {
        let scan = scan_for_recovery(path)?;
        if let Some((seq, hash)) = scan.last_record {
            return Ok((seq, hash));
        }
    }
    Ok((0, GENESIS_HASH.to_owned()))
}
