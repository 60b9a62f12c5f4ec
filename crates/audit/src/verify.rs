//! Offline verifier.

use std::fs;
use std::path::Path;

use ed25519_dalek::VerifyingKey;

use crate::record::{
    event_time, parse_line, parse_record_fast, verify_checkpoint_signature, Line, LineError,
    GENESIS_HASH,
};
use crate::segment::list_segments;

/// What a verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Records verified.
    pub events: u64,
    /// First verified seq (0 if none).
    pub first_seq: u64,
    /// Last verified seq (0 if none).
    pub last_seq: u64,
    /// Event time of the first verified record.
    pub first_time: String,
    /// Event time of the last verified record.
    pub last_time: String,
    /// Valid checkpoints seen.
    pub checkpoints: u64,
    /// Of those, checkpoints whose Merkle tree note was checked against the records.
    pub tree_checkpoints: u64,
    /// Bytes of the segment files read.
    pub bytes: u64,
    /// Segment files read.
    pub segments: usize,
    /// Seq covered by the last valid checkpoint (0 if none).
    pub last_signed_seq: u64,
    /// Records after the last valid checkpoint (not yet signed).
    pub unsigned_tail_events: u64,
}

/// The first thing wrong with a trail. `Display` says what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    /// A record's stored hash does not match its content.
    #[error("record seq {seq}: hash does not match content (record modified)")]
    BadHash {
        /// Seq of the record.
        seq: u64,
    },
    /// A record parses but is not in canonical form (bytes modified).
    #[error("record seq {seq}: not in canonical encoding (bytes modified)")]
    NonCanonical {
        /// Seq of the record.
        seq: u64,
    },
    /// A record's prev_hash does not match the previous record's hash.
    #[error("record seq {seq}: prev_hash does not link to the previous record")]
    BrokenLink {
        /// Seq of the record.
        seq: u64,
    },
    /// A record appears out of sequence (deleted, inserted or reordered records).
    #[error("sequence gap: expected seq {expected}, found seq {found}")]
    SeqGap {
        /// Seq that should have come next.
        expected: u64,
        /// Seq found.
        found: u64,
    },
    /// A checkpoint's Merkle note does not commit to the records before it (size, root or
    /// peaks differ), or is not signed by the checkpoint's key.
    #[error("checkpoint at seq {seq}: its Merkle tree note does not match the records")]
    BadTreeCheckpoint {
        /// Seq the checkpoint covers.
        seq: u64,
    },
    /// A checkpoint's signature does not verify.
    #[error("checkpoint at seq {seq}: invalid signature")]
    BadCheckpointSignature {
        /// Seq the checkpoint covers.
        seq: u64,
    },
    /// A checkpoint does not match the chain head at its position.
    #[error("checkpoint at seq {seq}: does not match the chain (seq or hash differ)")]
    CheckpointMismatch {
        /// Seq the checkpoint claims.
        seq: u64,
    },
    /// A checkpoint is validly signed, but not by the expected key.
    #[error("checkpoint at seq {seq}: signed by a key other than the trusted public key")]
    UnknownKey {
        /// Seq the checkpoint covers.
        seq: u64,
    },
    /// A line is not a record or checkpoint.
    #[error("segment {segment} line {line}: unparseable")]
    Unparseable {
        /// Segment file name.
        segment: String,
        /// 1-based line number.
        line: u64,
    },
    /// A segment is missing: the next file starts later than the chain continues.
    #[error("missing segment: expected one starting at seq {expected_first_seq}, next found starts at seq {found}")]
    MissingSegment {
        /// Seq the next segment should start with.
        expected_first_seq: u64,
        /// Seq the next segment file is named for.
        found: u64,
    },
    /// A segment ends in an incomplete line (crash or truncation).
    #[error("segment {segment}: truncated tail (incomplete last line)")]
    TruncatedTail {
        /// Segment file name.
        segment: String,
    },
    /// A closed segment does not end with a checkpoint.
    #[error("segment {segment}: closed segment does not end with a checkpoint")]
    UnsealedSegment {
        /// Segment file name.
        segment: String,
    },
    /// Records after the last valid checkpoint, when a signed tail is required.
    #[error("records {} to {last_seq} are not covered by a valid checkpoint (last signed seq {last_signed_seq})", last_signed_seq + 1)]
    NoCheckpointCoversTail {
        /// Last seq covered by a valid checkpoint.
        last_signed_seq: u64,
        /// Last seq in the trail.
        last_seq: u64,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {error}")]
    Unreadable {
        /// Path.
        path: String,
        /// Error.
        error: String,
    },
}

/// Options for [`verify_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// Start at this seq (its prev_hash is trusted as the anchor). `None` = from seq 1.
    pub from_seq: Option<u64>,
    /// Trusted public key: every checkpoint must be signed by it.
    pub pubkey: Option<&'a VerifyingKey>,
    /// Records after the last valid checkpoint are a break ([`Break::NoCheckpointCoversTail`])
    /// instead of only being counted in `unsigned_tail_events`.
    pub require_signed_tail: bool,
}

/// Verifies the trail in `dir`.
///
/// With `pubkey`, every checkpoint must be signed by that key, and the tail must be
/// covered by a checkpoint (`require_signed_tail`): a cleanly closed trail always ends
/// with one, so an unsigned tail means either a live writer between checkpoints, a crash
/// not yet recovered by `Trail::open`, or forgery. Use [`verify_with`] to relax that.
/// Without `pubkey`, checkpoints are checked against the key embedded in them and an
/// unsigned tail is only reported in `unsigned_tail_events`.
// The error carries the partial report by design (what verified before the break).
#[allow(clippy::result_large_err)]
pub fn verify(
    dir: &Path,
    from_seq: Option<u64>,
    pubkey: Option<&VerifyingKey>,
) -> Result<VerifyReport, (Break, VerifyReport)> {
    verify_with(
        dir,
        &VerifyOptions {
            from_seq,
            pubkey,
            require_signed_tail: pubkey.is_some(),
        },
    )
}

/// Verifies the trail in `dir` with explicit options.
#[allow(clippy::result_large_err)]
pub fn verify_with(
    dir: &Path,
    opts: &VerifyOptions<'_>,
) -> Result<VerifyReport, (Break, VerifyReport)> {
    // Records on the fast path keep only their raw event; the last one's time is read once.
    let mut last_event = String::new();
    let fix = |mut r: VerifyReport, last_event: &str| {
        if !last_event.is_empty() {
            r.last_time = event_time(last_event);
        }
        r
    };
    match verify_inner(dir, opts, &mut last_event) {
        Ok(r) => Ok(fix(r, &last_event)),
        Err((b, r)) => Err((b, fix(r, &last_event))),
    }
}

#[allow(clippy::result_large_err)]
fn verify_inner(
    dir: &Path,
    opts: &VerifyOptions<'_>,
    last_event: &mut String,
) -> Result<VerifyReport, (Break, VerifyReport)> {
    let mut report = VerifyReport::default();
    let segments = match list_segments(dir) {
        Ok(s) => s,
        Err(e) => {
            return Err((
                Break::Unreadable {
                    path: dir.display().to_string(),
                    error: e.to_string(),
                },
                report,
            ))
        }
    };
    let from = opts.from_seq.unwrap_or(1).max(1);
    let start = segments.iter().rposition(|(s, _)| *s <= from).unwrap_or(0);
    let mut expected = from;
    let mut last_hash: Option<String> = if from == 1 {
        Some(GENESIS_HASH.to_owned())
    } else {
        None
    };
    let n_segments = segments.len();
    // The Merkle tree over the records, checked against each checkpoint's signed note (only
    // when verifying from the first record: the tree needs every leaf).
    let mut tree = (from == 1).then(crate::merkle::CompactTree::new);
    for (idx, (name_seq, path)) in segments.iter().enumerate().skip(start) {
        let seg_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if *name_seq > expected {
            return Err((
                Break::MissingSegment {
                    expected_first_seq: expected,
                    found: *name_seq,
                },
                report,
            ));
        }
        let data = match fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                return Err((
                    Break::Unreadable {
                        path: path.display().to_string(),
                        error: e.to_string(),
                    },
                    report,
                ))
            }
        };
        report.bytes += data.len() as u64;
        report.segments += 1;
        let complete_len = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut ends_with_cp = false;
        let mut any_line = false;
        let complete = &data[..complete_len];
        let lines = memchr::memchr_iter(b'\n', complete).scan(0usize, |start, nl| {
            let piece = &complete[*start..=nl];
            *start = nl + 1;
            Some(piece)
        });
        for (i, piece) in lines.enumerate() {
            let lineno = i as u64 + 1;
            let line = piece.strip_suffix(b"\n").unwrap_or(piece);
            any_line = true;
            // Fast path for the common case: a well-formed record (see `parse_record_fast`).
            if let Some(fast) = parse_record_fast(line) {
                if last_hash.is_none() && fast.seq < from {
                    continue; // before the requested start
                }
                if fast.seq != expected {
                    return Err((
                        Break::SeqGap {
                            expected,
                            found: fast.seq,
                        },
                        report,
                    ));
                }
                if let Some(h) = &last_hash {
                    if fast.prev_hash != h {
                        return Err((Break::BrokenLink { seq: fast.seq }, report));
                    }
                }
                match &mut last_hash {
                    Some(h) => {
                        h.clear();
                        h.push_str(fast.hash);
                    }
                    None => last_hash = Some(fast.hash.to_owned()),
                }
                expected += 1;
                report.events += 1;
                if report.first_seq == 0 {
                    report.first_seq = fast.seq;
                    report.first_time = event_time(fast.event);
                }
                report.last_seq = fast.seq;
                if let Some(t) = &mut tree {
                    t.push(&crate::record::decode_hash(fast.hash).unwrap_or([0u8; 32]));
                }
                last_event.clear();
                last_event.push_str(fast.event);
                report.unsigned_tail_events += 1;
                ends_with_cp = false;
                continue;
            }
            let parsed = match parse_line(line) {
                Ok(p) => p,
                Err(LineError::NonCanonical(Some(seq))) => {
                    return Err((Break::NonCanonical { seq }, report))
                }
                Err(_) => {
                    return Err((
                        Break::Unparseable {
                            segment: seg_name,
                            line: lineno,
                        },
                        report,
                    ))
                }
            };
            match parsed {
                Line::Record { record, hash_ok } => {
                    if last_hash.is_none() && record.seq < from {
                        continue; // before the requested start
                    }
                    if record.seq != expected {
                        return Err((
                            Break::SeqGap {
                                expected,
                                found: record.seq,
                            },
                            report,
                        ));
                    }
                    if !hash_ok {
                        return Err((Break::BadHash { seq: record.seq }, report));
                    }
                    if let Some(h) = &last_hash {
                        if &record.prev_hash != h {
                            return Err((Break::BrokenLink { seq: record.seq }, report));
                        }
                    }
                    if let Some(t) = &mut tree {
                        t.push(&crate::record::decode_hash(&record.hash).unwrap_or([0u8; 32]));
                    }
                    last_hash = Some(record.hash);
                    expected += 1;
                    report.events += 1;
                    if report.first_seq == 0 {
                        report.first_seq = record.seq;
                        report.first_time = record.event.time.clone();
                    }
                    report.last_seq = record.seq;
                    report.last_time = record.event.time;
                    last_event.clear();
                    report.unsigned_tail_events += 1;
                    ends_with_cp = false;
                }
                Line::Checkpoint(cp) => {
                    let Some(h) = &last_hash else {
                        continue; // before the requested start
                    };
                    if cp.seq + 1 != expected || &cp.hash != h {
                        return Err((Break::CheckpointMismatch { seq: cp.seq }, report));
                    }
                    let Some(vk) = verify_checkpoint_signature(&cp) else {
                        return Err((Break::BadCheckpointSignature { seq: cp.seq }, report));
                    };
                    if let Some(trusted) = opts.pubkey {
                        if &vk != trusted {
                            return Err((Break::UnknownKey { seq: cp.seq }, report));
                        }
                    }
                    if let (Some(t), Some(tlog)) = (&tree, &cp.tlog) {
                        let note = crate::merkle::Note::parse(&tlog.note);
                        let peaks: Vec<String> = t.peaks().iter().map(hex::encode).collect();
                        let good = note.is_some_and(|n| {
                            n.size == cp.seq
                                && n.size == t.size()
                                && n.root == t.root()
                                && n.signed_by(&vk)
                        }) && peaks == tlog.peaks;
                        if !good {
                            return Err((Break::BadTreeCheckpoint { seq: cp.seq }, report));
                        }
                        report.tree_checkpoints += 1;
                    }
                    report.checkpoints += 1;
                    report.last_signed_seq = cp.seq;
                    report.unsigned_tail_events = 0;
                    ends_with_cp = true;
                }
            }
        }
        if complete_len < data.len() {
            return Err((Break::TruncatedTail { segment: seg_name }, report));
        }
        if idx + 1 < n_segments && any_line && !ends_with_cp && last_hash.is_some() {
            return Err((Break::UnsealedSegment { segment: seg_name }, report));
        }
    }
    if opts.require_signed_tail && report.unsigned_tail_events > 0 {
        return Err((
            Break::NoCheckpointCoversTail {
                last_signed_seq: report.last_signed_seq,
                last_seq: report.last_seq,
            },
            report,
        ));
    }
    Ok(report)
}
