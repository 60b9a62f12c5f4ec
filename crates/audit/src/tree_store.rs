//! The Merkle tree's perfect subtrees on disk, beside the segments, so that a proof reads
//! O(log² n) hashes instead of every record: `<dir>/tree/level-KK.bin` holds, in order, the
//! 32-byte hash of every complete, aligned subtree of 2^K leaves (level 0: the leaf hashes),
//! and `<dir>/tree/checkpoints.jsonl` the signed notes by tree size.
//!
//! Everything here is derived from the segments and is never the record: the files are not
//! fsync'd, are checked against the tree at open (a short tail is recomputed, anything longer
//! cut), and a proof that cannot use them falls back to reading the segments.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::merkle::{self, CompactTree, Hash, Nodes};
use crate::AuditError;

const LEVELS: usize = 64;

fn tree_dir(dir: &Path) -> PathBuf {
    dir.join("tree")
}

fn level_path(dir: &Path, level: usize) -> PathBuf {
    tree_dir(dir).join(format!("level-{level:02}.bin"))
}

fn notes_path(dir: &Path) -> PathBuf {
    tree_dir(dir).join("checkpoints.jsonl")
}

/// The writer's side: appends what the tree completes.
pub(crate) struct TreeStore {
    dir: PathBuf,
    files: Vec<Option<File>>,
    pending: Vec<Vec<u8>>,
    pending_notes: Vec<(u64, String)>,
    notes: Option<File>,
    broken: bool,
}

impl TreeStore {
    /// Opens the store for a trail whose tree is `tree` and whose record hashes (seq 1 first)
    /// `hashes` yields on demand, repairing the level files to match.
    pub(crate) fn open(
        dir: &Path,
        tree: &CompactTree,
        latest_note_size: Option<u64>,
        hashes: impl FnOnce(u64) -> Result<Vec<Hash>, AuditError>,
    ) -> Result<TreeStore, AuditError> {
        let io = |what: &str, e: std::io::Error| AuditError::io(what.to_owned(), e);
        fs::create_dir_all(tree_dir(dir)).map_err(|e| io("create tree dir", e))?;
        let size = tree.size();
        // Level 0: leaf hashes; recompute the missing tail from the records.
        let have0 = len_of(&level_path(dir, 0)) / 32;
        if have0 > size {
            truncate(&level_path(dir, 0), size * 32)?;
        } else if have0 < size {
            let missing = hashes(have0)?;
            let mut f = append(&level_path(dir, 0))?;
            let mut buf = Vec::with_capacity(missing.len() * 32);
            for h in &missing {
                buf.extend_from_slice(&merkle::leaf_hash(h));
            }
            f.write_all(&buf).map_err(|e| io("write tree level 0", e))?;
        }
        // Level k from level k - 1.
        for level in 1..LEVELS {
            let want = size >> level;
            let path = level_path(dir, level);
            if want == 0 {
                let _ = fs::remove_file(&path);
                continue;
            }
            let have = len_of(&path) / 32;
            if have > want {
                truncate(&path, want * 32)?;
            } else if have < want {
                let below =
                    File::open(level_path(dir, level - 1)).map_err(|e| io("open tree level", e))?;
                let mut f = append(&path)?;
                let mut buf = Vec::new();
                for i in have..want {
                    let mut pair = [0u8; 64];
                    read_at(&below, &mut pair, i * 64)?;
                    let (l, r) = pair.split_at(32);
                    let (l, r): (Hash, Hash) = (
                        l.try_into().unwrap_or([0; 32]),
                        r.try_into().unwrap_or([0; 32]),
                    );
                    buf.extend_from_slice(&merkle::node_hash(&l, &r));
                }
                f.write_all(&buf).map_err(|e| io("write tree level", e))?;
            }
        }
        // The notes index must end where the trail's tree checkpoints end; else rebuild it.
        let indexed = TreeReader::note(dir, None, 0).map(|(n, _)| n);
        if indexed != latest_note_size {
            let mut text = String::new();
            for (size, note) in crate::proof::checkpoint_notes(dir)? {
                text.push_str(&serde_json::json!({"size": size, "note": note}).to_string());
                text.push('\n');
            }
            fs::write(notes_path(dir), text).map_err(|e| io("write tree notes", e))?;
        }
        Ok(TreeStore {
            dir: dir.to_owned(),
            files: (0..LEVELS).map(|_| None).collect(),
            pending: vec![Vec::new(); LEVELS],
            pending_notes: Vec::new(),
            notes: append(&notes_path(dir)).ok(),
            broken: false,
        })
    }

    /// Buffers a completed subtree.
    pub(crate) fn record(&mut self, level: u32, hash: &Hash) {
        if let Some(p) = self.pending.get_mut(level as usize) {
            p.extend_from_slice(hash);
        }
    }

    /// Writes what is buffered (no fsync: derivable). A failure turns the store off (proofs
    /// then read the segments) and is logged once; it never fails the trail.
    pub(crate) fn flush(&mut self) {
        if self.broken {
            return;
        }
        for level in 0..LEVELS {
            if self.pending[level].is_empty() {
                continue;
            }
            if self.files[level].is_none() {
                match append(&level_path(&self.dir, level)) {
                    Ok(f) => self.files[level] = Some(f),
                    Err(e) => return self.fail(&e.to_string()),
                }
            }
            let res = self.files[level]
                .as_mut()
                .map(|f| f.write_all(&self.pending[level]));
            if let Some(Err(e)) = res {
                return self.fail(&e.to_string());
            }
            self.pending[level].clear();
        }
        if let Some(f) = &mut self.notes {
            for (size, note) in self.pending_notes.drain(..) {
                let line = serde_json::json!({"size": size, "note": note}).to_string();
                let _ = f.write_all(format!("{line}\n").as_bytes());
            }
        }
    }

    /// Indexes a checkpoint's signed note by its tree size (at the next flush, once the
    /// checkpoint is written).
    pub(crate) fn note(&mut self, size: u64, note: &str) {
        self.pending_notes.push((size, note.to_owned()));
    }

    fn fail(&mut self, why: &str) {
        tracing::warn!(error = %why, "cannot write the audit tree's level files; proofs will read the segments");
        self.broken = true;
    }
}

fn len_of(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| AuditError::io(format!("open {}", path.display()), e))
}

fn truncate(path: &Path, len: u64) -> Result<(), AuditError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .map_err(|e| AuditError::io(format!("truncate {}", path.display()), e))
}

fn read_at(f: &File, buf: &mut [u8], offset: u64) -> Result<(), AuditError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, offset)
            .map_err(|e| AuditError::io("read tree level".to_owned(), e))
    }
    #[cfg(not(unix))]
    {
        let _ = (f, buf, offset);
        Err(AuditError::Config("tree levels need unix".into()))
    }
}

/// The reader's side: subtree hashes from the level files.
pub(crate) struct TreeReader {
    files: Vec<Option<File>>,
    /// Leaves the store holds.
    pub size: u64,
}

impl TreeReader {
    pub(crate) fn open(dir: &Path) -> Option<TreeReader> {
        let size = len_of(&level_path(dir, 0)) / 32;
        if size == 0 {
            return None;
        }
        let files = (0..LEVELS)
            .map(|l| File::open(level_path(dir, l)).ok())
            .collect();
        Some(TreeReader { files, size })
    }

    fn node(&self, level: usize, index: u64) -> Option<Hash> {
        let f = self.files.get(level)?.as_ref()?;
        let mut h = [0u8; 32];
        read_at(f, &mut h, index * 32).ok()?;
        Some(h)
    }

    /// The signed note for `size`, or the latest whose size is at least `at_least`.
    pub(crate) fn note(dir: &Path, size: Option<u64>, at_least: u64) -> Option<(u64, String)> {
        let text = fs::read_to_string(notes_path(dir)).ok()?;
        let mut best = None;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(n), Some(note)) = (v["size"].as_u64(), v["note"].as_str()) else {
                continue;
            };
            let fits = match size {
                Some(s) => n == s,
                None => n >= at_least,
            };
            if fits {
                best = Some((n, note.to_owned()));
            }
        }
        best
    }
}

impl Nodes for TreeReader {
    fn range(&self, lo: u64, hi: u64) -> Option<Hash> {
        let n = hi.checked_sub(lo).filter(|n| *n > 0)?;
        if hi > self.size {
            return None;
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.node(n.trailing_zeros() as usize, lo / n);
        }
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        Some(merkle::node_hash(
            &self.range(lo, lo + k)?,
            &self.range(lo + k, hi)?,
        ))
    }
}
