//! BM25 over an inverted index. Terms are lowercased alphanumeric runs, English stop words
//! dropped, Snowball-stemmed. The caller's predicate is applied while the postings are
//! walked: a chunk the caller may not read never gets a score.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};

/// English stop words (the common list used by Lucene and bm25s).
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "we", "our", "were", "which", "has", "have",
    "had", "been", "from", "its", "than", "can", "also", "may", "do", "does", "did", "i", "you",
    "he", "she", "his", "her", "them", "what", "when", "where", "who", "how", "all", "any",
];

/// Turns text into index terms.
pub struct Analyzer {
    stemmer: Stemmer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

impl Analyzer {
    pub fn terms(&self, text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| !STOP.contains(&w.as_str()))
            .map(|w| self.stemmer.stem(&w).into_owned())
            .collect()
    }
}

/// An inverted index of chunk slots.
#[derive(Default)]
pub struct Bm25 {
    analyzer: Analyzer,
    postings: HashMap<String, Vec<(u32, u32)>>,
    lens: Vec<u32>,
    live: usize,
    total_len: u64,
}

const K1: f32 = 1.2;
const B: f32 = 0.75;

impl Bm25 {
    pub fn add(&mut self, slot: u32, text: &str) {
        let terms = self.analyzer.terms(text);
        let mut tf: HashMap<String, u32> = HashMap::new();
        for t in &terms {
            *tf.entry(t.clone()).or_default() += 1;
        }
        for (t, n) in tf {
            self.postings.entry(t).or_default().push((slot, n));
        }
        let i = slot as usize;
        if self.lens.len() <= i {
            self.lens.resize(i + 1, 0);
        }
        self.lens[i] = terms.len() as u32;
        self.live += 1;
        self.total_len += terms.len() as u64;
    }

    /// Forgets a slot's length from the statistics; its postings are skipped from then on by
    /// the index's liveness check (and dropped by [`Bm25::compact`]).
    pub fn remove(&mut self, slot: u32) {
        if let Some(l) = self.lens.get_mut(slot as usize) {
            self.total_len -= u64::from(*l);
            *l = 0;
            self.live = self.live.saturating_sub(1);
        }
    }

    /// Drops the postings of slots `keep` refuses.
    pub fn compact(&mut self, keep: &dyn Fn(u32) -> bool) {
        for list in self.postings.values_mut() {
            list.retain(|(s, _)| keep(*s));
        }
        self.postings.retain(|_, l| !l.is_empty());
    }

    /// Every slot `allow` admits that shares a term with `query`, with its BM25 score.
    pub fn scores(&self, query: &str, allow: &dyn Fn(u32) -> bool) -> HashMap<u32, f32> {
        let mut acc: HashMap<u32, f32> = HashMap::new();
        if self.live == 0 {
            return acc;
        }
        let n = self.live as f32;
        let avg = (self.total_len as f32 / n).max(1.0);
        let mut seen = std::collections::HashSet::new();
        for t in self.analyzer.terms(query) {
            if !seen.insert(t.clone()) {
                continue;
            }
            let Some(list) = self.postings.get(&t) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln().max(0.0);
            for &(slot, tf) in list {
                if !allow(slot) {
                    continue;
                }
                let len = self.lens.get(slot as usize).copied().unwrap_or(0) as f32;
                let tf = tf as f32;
                let s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg));
                *acc.entry(slot).or_default() += s;
            }
        }
        acc
    }
}
