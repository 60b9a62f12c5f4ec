//! A witness: an independent party (another host, its own key) that co-signs a node's
//! checkpoints only if each is consistent with the last one it co-signed, so that a node (or
//! an insider on it) can never present two different histories, cut its trail short or roll it
//! back without the witness refusing. Shaped after C2SP `tlog-witness` and `tlog-cosignature`:
//!
//! - a submission is the old size the node believes the witness holds, a consistency proof from
//!   it, and the new signed checkpoint note;
//! - the witness checks the note's signature by the origin's known key, that the size does not
//!   go back, and the proof; then it stores the new size and root durably and answers with its
//!   cosignature line `— <witness name> BASE64(key id || timestamp (8 bytes, big-endian) ||
//!   Ed25519 signature)`, signed over `cosignature/v1\ntime <timestamp>\n` followed by the
//!   note's body, with the key id `SHA-256(name || "\n" || 0x04 || public key)[..4]`;
//! - a stale old size is answered with the size the witness holds, so the node can retry.
//!
//! Transport-free: the HTTP side is in the `scif` binary (`scif audit witness`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::merkle::{self, Hash, Note};

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error("unknown origin {0:?}")]
    UnknownOrigin(String),
    #[error("the checkpoint is not signed by the origin's key")]
    BadSignature,
    #[error("the witness holds size {0} for this origin")]
    Conflict(u64),
    #[error("the tree shrank or forked: {0}")]
    Inconsistent(String),
    #[error("malformed submission: {0}")]
    Malformed(String),
    #[error("witness state: {0}")]
    Io(String),
}

/// What the witness holds for one origin: the last size and root it co-signed, and the note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub size: u64,
    pub root_b64: String,
    pub note: String,
}

/// A witness: its key, the origins it witnesses (with their keys) and its durable state.
pub struct Witness {
    name: String,
    key: SigningKey,
    origins: BTreeMap<String, VerifyingKey>,
    state_file: PathBuf,
    held: BTreeMap<String, Held>,
}

/// The cosignature key id.
pub fn cosignature_key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    merkle::typed_key_id(name, 0x04, key)
}

fn cosigned_message(timestamp: u64, note: &Note) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(merkle::note_body(&note.origin, note.size, &note.root).as_bytes());
    m
}

/// Whether `line` is a cosignature by `key` (named `name`) on `note`.
pub fn verify_cosignature(name: &str, key: &VerifyingKey, note: &Note, line: &str) -> bool {
    let Some(rest) = line.trim_end().strip_prefix("\u{2014} ") else {
        return false;
    };
    let Some((n, b64)) = rest.rsplit_once(' ') else {
        return false;
    };
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    if n != name || blob.len() != 4 + 8 + 64 || blob[..4] != cosignature_key_id(name, key) {
        return false;
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&blob[4..12]);
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&blob[12..]) else {
        return false;
    };
    key.verify_strict(&cosigned_message(u64::from_be_bytes(ts), note), &sig)
        .is_ok()
}

impl Witness {
    /// Opens the witness's state in `dir` (its key, created on first use, and what it holds).
    pub fn open(
        dir: &Path,
        name: &str,
        origins: BTreeMap<String, VerifyingKey>,
    ) -> Result<Witness, WitnessError> {
        let io = |e: crate::AuditError| WitnessError::Io(e.to_string());
        let key = crate::load_or_create_signing_key(dir).map_err(io)?;
        let state_file = dir.join("witness-state.json");
        let held = match fs::read(&state_file) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| WitnessError::Io(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(WitnessError::Io(e.to_string())),
        };
        Ok(Witness {
            name: name.to_owned(),
            key,
            origins,
            state_file,
            held,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// What the witness holds for `origin`.
    pub fn held(&self, origin: &str) -> Option<&Held> {
        self.held.get(origin)
    }

    /// Checks a submission and, if it is consistent with what the witness holds, stores the new
    /// checkpoint durably and returns the cosignature line.
    pub fn add_checkpoint(
        &mut self,
        old_size: u64,
        proof: &[Hash],
        note_text: &str,
        timestamp: u64,
    ) -> Result<String, WitnessError> {
        let note = Note::parse(note_text)
            .ok_or_else(|| WitnessError::Malformed("not a checkpoint note".into()))?;
        let key = self
            .origins
            .get(&note.origin)
            .ok_or_else(|| WitnessError::UnknownOrigin(note.origin.clone()))?;
        if !note.signed_by(key) {
            return Err(WitnessError::BadSignature);
        }
        let held_size = self.held.get(&note.origin).map_or(0, |h| h.size);
        if old_size != held_size {
            return Err(WitnessError::Conflict(held_size));
        }
        if note.size < held_size {
            return Err(WitnessError::Inconsistent(format!(
                "size {} is below the {held_size} already co-signed",
                note.size
            )));
        }
        if let Some(h) = self.held.get(&note.origin) {
            let old_root: Hash = base64::engine::general_purpose::STANDARD
                .decode(&h.root_b64)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| WitnessError::Io("stored root unreadable".into()))?;
            if !merkle::verify_consistency(h.size, note.size, proof, &old_root, &note.root) {
                return Err(WitnessError::Inconsistent(format!(
                    "no valid proof that the tree of {} is a prefix of the tree of {}",
                    h.size, note.size
                )));
            }
        }
        let mut held = self.held.clone();
        held.insert(
            note.origin.clone(),
            Held {
                size: note.size,
                root_b64: base64::engine::general_purpose::STANDARD.encode(note.root),
                note: note_text.to_owned(),
            },
        );
        self.persist(&held)?;
        self.held = held;
        let sig = self.key.sign(&cosigned_message(timestamp, &note));
        let mut blob = cosignature_key_id(&self.name, &self.key.verifying_key()).to_vec();
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "\u{2014} {} {}\n",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(blob)
        ))
    }

    fn persist(&self, held: &BTreeMap<String, Held>) -> Result<(), WitnessError> {
        let io = |e: std::io::Error| WitnessError::Io(e.to_string());
        let tmp = self.state_file.with_extension("json.tmp");
        let bytes = serde_json::to_vec(held).map_err(|e| WitnessError::Io(e.to_string()))?;
        {
            use std::io::Write as _;
            let mut f = fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, &self.state_file).map_err(io)?;
        if let Some(dir) = self.state_file.parent() {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// A submission body: `old <size>\n`, one base64 proof hash per line, a blank line, the note.
pub fn encode_submission(old_size: u64, proof: &[Hash], note: &str) -> String {
    let mut s = format!("old {old_size}\n");
    for p in proof {
        s.push_str(&base64::engine::general_purpose::STANDARD.encode(p));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(note);
    s
}

/// Parses a submission body.
pub fn decode_submission(body: &str) -> Result<(u64, Vec<Hash>, String), WitnessError> {
    let bad = |m: &str| WitnessError::Malformed(m.to_owned());
    let (head, note) = body
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line"))?;
    let mut lines = head.split('\n');
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("first line must be `old <size>`"))?;
    let mut proof = Vec::new();
    for l in lines {
        let h: Hash = base64::engine::general_purpose::STANDARD
            .decode(l)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("a proof line is not a base64 hash"))?;
        proof.push(h);
    }
    Ok((old, proof, note.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn cosigns_only_consistent_growth() {
        let dir = tempfile::tempdir().unwrap();
        let node = SigningKey::from_bytes(&[1; 32]);
        let origin = merkle::origin("n1");
        let origins = BTreeMap::from([(origin.clone(), node.verifying_key())]);
        let mut w = Witness::open(dir.path(), "w1", origins.clone()).unwrap();
        let leaves: Vec<Hash> = (0u8..20).map(|i| merkle::leaf_hash(&[i; 32])).collect();
        let note =
            |n: usize| merkle::sign_note(&node, &origin, n as u64, &merkle::root(&leaves[..n]));
        let line = w.add_checkpoint(0, &[], &note(5), 1).unwrap();
        let parsed = Note::parse(&note(5)).unwrap();
        assert!(verify_cosignature("w1", &w.public_key(), &parsed, &line));
        assert!(!verify_cosignature(
            "w1",
            &node.verifying_key(),
            &parsed,
            &line
        ));
        // Stale old size: told what the witness holds.
        assert_eq!(
            w.add_checkpoint(0, &[], &note(9), 2),
            Err(WitnessError::Conflict(5))
        );
        // Growth with a proof: co-signed.
        let p = merkle::consistency_proof(&leaves[..9], 5).unwrap();
        assert!(w.add_checkpoint(5, &p, &note(9), 3).is_ok());
        // A fork (another tree of 12 whose prefix differs) is refused.
        let mut forked = leaves[..12].to_vec();
        forked[2] = merkle::leaf_hash(&[99; 32]);
        let fork_note = merkle::sign_note(&node, &origin, 12, &merkle::root(&forked));
        let fp = merkle::consistency_proof(&forked, 9).unwrap();
        assert!(matches!(
            w.add_checkpoint(9, &fp, &fork_note, 4),
            Err(WitnessError::Inconsistent(_))
        ));
        // Going back is refused; so is a note by another key.
        assert!(matches!(
            w.add_checkpoint(9, &[], &note(7), 5),
            Err(WitnessError::Inconsistent(_))
        ));
        let other = SigningKey::from_bytes(&[2; 32]);
        let forged = merkle::sign_note(&other, &origin, 12, &merkle::root(&leaves[..12]));
        assert_eq!(
            w.add_checkpoint(9, &[], &forged, 6),
            Err(WitnessError::BadSignature)
        );
        // The state survives a restart.
        let w2 = Witness::open(dir.path(), "w1", origins).unwrap();
        assert_eq!(w2.held(&origin).unwrap().size, 9);
        let body = encode_submission(9, &p, &note(9));
        assert_eq!(decode_submission(&body).unwrap(), (9, p, note(9)));
    }
}

/// The node's view of its witness, for `/readyz`, metrics and the fail-closed policy.
#[derive(Debug)]
pub struct WitnessStatus {
    /// Fail closed: refuse requests while the witness is behind.
    pub required: bool,
    /// How long without a cosignature (while there is something to co-sign) counts as behind.
    pub max_lag: std::time::Duration,
    started: std::time::Instant,
    state: std::sync::Mutex<StatusInner>,
}

#[derive(Debug, Default)]
struct StatusInner {
    last_ok: Option<std::time::Instant>,
    last_error: Option<String>,
    cosigned_size: u64,
    behind: bool,
}

impl WitnessStatus {
    pub fn new(required: bool, max_lag: std::time::Duration) -> WitnessStatus {
        WitnessStatus {
            required,
            max_lag,
            started: std::time::Instant::now(),
            state: std::sync::Mutex::new(StatusInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The witness co-signed the tree of `size`; nothing is waiting.
    pub fn cosigned(&self, size: u64) {
        let mut s = self.lock();
        s.last_ok = Some(std::time::Instant::now());
        s.cosigned_size = size;
        s.last_error = None;
        s.behind = false;
    }

    /// Nothing new to co-sign: the witness is up to date.
    pub fn up_to_date(&self) {
        let mut s = self.lock();
        s.last_ok = Some(std::time::Instant::now());
        s.behind = false;
    }

    /// A submission failed (the witness down, or refusing).
    pub fn failed(&self, why: String) {
        let mut s = self.lock();
        s.last_error = Some(why);
        s.behind = true;
    }

    pub fn cosigned_size(&self) -> u64 {
        self.lock().cosigned_size
    }

    /// Why the witness counts as behind, if it does.
    pub fn problem(&self) -> Option<String> {
        let s = self.lock();
        let since = s.last_ok.unwrap_or(self.started);
        (s.behind && since.elapsed() >= self.max_lag).then(|| {
            format!(
                "the audit witness has not co-signed for {} s: {}",
                since.elapsed().as_secs(),
                s.last_error.as_deref().unwrap_or("no answer")
            )
        })
    }
}
