//! One knowledge base's index: chunks, their labels, a BM25 index and a vector index.
//!
//! **The label predicate is inside the scan.** A query carries the caller's `readable`
//! predicate, computed for this request; it is evaluated once per distinct stored label, and
//! the lexical and dense scans skip every chunk it refuses, so a selective label still yields
//! the full number of results when that many readable chunks exist. A stored label that does
//! not parse is unreadable to everyone. A chunk's metadata attributes (and its document's
//! identity) belong to its *document*, whose label may be higher than the chunk's (an
//! `(U)` paragraph of a SECRET document): the filter sees, and results show, attributes only
//! where the caller may read the document's label.

use std::collections::HashMap;
use std::sync::Arc;

use scif_labels::Label;

use crate::dense::{ExactQ8, VectorIndex};
use crate::filter::{Attrs, Filter};
use crate::lexical::Bm25;
use crate::{rrf, TopK};

/// A chunk as stored.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The chunk's id in the store.
    pub id: i64,
    pub data_source: String,
    pub document: String,
    pub text: String,
    label: u32,
    doc_label: u32,
    pub attrs: Arc<Attrs>,
}

/// A chunk to add.
pub struct NewChunk {
    pub id: i64,
    pub data_source: String,
    pub document: String,
    pub text: String,
    /// The chunk's label, a banner marking as stored.
    pub label: String,
    /// The document's label, a banner marking as stored.
    pub doc_label: String,
    pub attrs: Arc<Attrs>,
    pub vector: Vec<f32>,
}

/// How results are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// BM25 and dense, fused by reciprocal rank.
    Hybrid,
    /// Dense only.
    Semantic,
    /// BM25 only.
    Lexical,
}

/// One search.
pub struct Query<'a> {
    pub text: &'a str,
    pub vector: &'a [f32],
    pub mode: Mode,
    /// How many results, counting from the first (a page's offset plus its size).
    pub window: usize,
    pub filter: Option<&'a Filter>,
    /// Whether the caller may read a label: evaluated on this request, never cached.
    pub readable: &'a dyn Fn(&Label) -> bool,
}

/// A result: the chunk, its score, and what the caller may see of its document.
pub struct Hit<'a> {
    pub entry: &'a Entry,
    pub score: f32,
    pub label: &'a Label,
    /// Whether the caller may read the chunk's document's label (and so its id and attributes).
    pub document_readable: bool,
}

/// Results, and how many chunks the label predicate kept out of the window (a count, never
/// which).
pub struct Results<'a> {
    pub hits: Vec<Hit<'a>>,
    pub withheld: usize,
}

pub struct KbIndex {
    entries: Vec<Option<Entry>>,
    by_id: HashMap<i64, u32>,
    labels: Vec<Option<Label>>,
    label_ids: HashMap<String, u32>,
    bm25: Bm25,
    dense: Box<dyn VectorIndex>,
    live: usize,
}

/// Candidates each ranker contributes to a fusion, at least.
const MIN_CANDIDATES: usize = 100;

impl KbIndex {
    pub fn new(dims: usize) -> Self {
        Self::with_vectors(Box::new(ExactQ8::new(dims)))
    }

    pub fn with_vectors(dense: Box<dyn VectorIndex>) -> Self {
        Self {
            entries: Vec::new(),
            by_id: HashMap::new(),
            labels: Vec::new(),
            label_ids: HashMap::new(),
            bm25: Bm25::default(),
            dense,
            live: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn dims(&self) -> usize {
        self.dense.dims()
    }

    fn label_id(&mut self, banner: &str) -> u32 {
        if let Some(&i) = self.label_ids.get(banner) {
            return i;
        }
        let i = self.labels.len() as u32;
        self.labels.push(Label::parse_banner(banner).ok());
        self.label_ids.insert(banner.to_owned(), i);
        i
    }

    pub fn insert(&mut self, c: NewChunk) {
        self.remove(c.id);
        let label = self.label_id(&c.label);
        let doc_label = self.label_id(&c.doc_label);
        let slot = self.entries.len() as u32;
        self.bm25.add(slot, &c.text);
        self.dense.insert(slot, &c.vector);
        self.entries.push(Some(Entry {
            id: c.id,
            data_source: c.data_source,
            document: c.document,
            text: c.text,
            label,
            doc_label,
            attrs: c.attrs,
        }));
        self.by_id.insert(c.id, slot);
        self.live += 1;
    }

    pub fn remove(&mut self, id: i64) {
        if let Some(slot) = self.by_id.remove(&id) {
            self.entries[slot as usize] = None;
            self.bm25.remove(slot);
            self.dense.remove(slot);
            self.live -= 1;
        }
    }

    /// Removes every chunk of a document; returns how many.
    pub fn remove_document(&mut self, data_source: &str, document: &str) -> usize {
        let ids: Vec<i64> = self
            .entries
            .iter()
            .flatten()
            .filter(|e| e.data_source == data_source && e.document == document)
            .map(|e| e.id)
            .collect();
        for id in &ids {
            self.remove(*id);
        }
        ids.len()
    }

    pub fn search<'a>(&'a self, q: &Query<'_>) -> Results<'a> {
        let readable: Vec<bool> = self
            .labels
            .iter()
            .map(|l| l.as_ref().is_some_and(|l| (q.readable)(l)))
            .collect();
        let empty = Attrs::new();
        let passes_filter = |e: &Entry| match q.filter {
            None => true,
            Some(f) => f.matches(if readable[e.doc_label as usize] {
                &e.attrs
            } else {
                &empty
            }),
        };
        let allow = |slot: u32| {
            self.entries[slot as usize]
                .as_ref()
                .is_some_and(|e| readable[e.label as usize] && passes_filter(e))
        };
        let ranked = self.rank(q, &allow);
        // The same ranking without the label predicate, for the withheld count only.
        let unlabelled = |slot: u32| {
            self.entries[slot as usize]
                .as_ref()
                .is_some_and(passes_filter)
        };
        let withheld = self
            .rank(q, &unlabelled)
            .iter()
            .filter(|(s, _)| !allow(*s))
            .count();
        let hits = ranked
            .into_iter()
            .filter_map(|(slot, score)| {
                let e = self.entries[slot as usize].as_ref()?;
                Some(Hit {
                    entry: e,
                    score,
                    label: self.labels[e.label as usize].as_ref()?,
                    document_readable: readable[e.doc_label as usize],
                })
            })
            .collect();
        Results { hits, withheld }
    }

    fn rank(&self, q: &Query<'_>, allow: &dyn Fn(u32) -> bool) -> Vec<(u32, f32)> {
        let lexical = |n: usize| {
            let mut top = TopK::new(n);
            for (slot, s) in self.bm25.scores(q.text, allow) {
                top.push(slot, s);
            }
            top.into_sorted()
        };
        match q.mode {
            Mode::Semantic => self.dense.search(q.vector, q.window, allow),
            Mode::Lexical => lexical(q.window),
            Mode::Hybrid => {
                let n = q.window.max(MIN_CANDIDATES);
                let dense = self.dense.search(q.vector, n, allow);
                let mut fused = rrf(&[&lexical(n), &dense]);
                fused.truncate(q.window);
                fused
            }
        }
    }

    /// A chunk by its store id, with its label, if the caller may read it.
    pub fn get(&self, id: i64, readable: &dyn Fn(&Label) -> bool) -> Option<(&Entry, &Label)> {
        let slot = *self.by_id.get(&id)?;
        let e = self.entries[slot as usize].as_ref()?;
        let l = self.labels[e.label as usize].as_ref()?;
        readable(l).then_some((e, l))
    }

    /// Drops removed chunks' postings (after many deletions).
    pub fn compact(&mut self) {
        let entries = &self.entries;
        self.bm25
            .compact(&|s| entries.get(s as usize).is_some_and(Option::is_some));
    }
}
