//! Knowledge bases without I/O. The service crate stores documents and chunks and answers
//! the APIs; this crate holds what retrieval *is*:
//!
//! - [`extract`]: text out of plain text, Markdown, HTML, CSV and DOCX;
//! - [`portions`]: a document's paragraphs and their labels from its markings, refusing a
//!   document marked above the label it is ingested at;
//! - [`chunk`]: token windows with overlap that never span two labels;
//! - [`index`]: BM25 ([`lexical`]) and int8 dense vectors ([`dense`], behind
//!   [`dense::VectorIndex`]) with the caller's label predicate applied inside the scan,
//!   fused by reciprocal rank;
//! - [`filter`]: Bedrock's metadata filter grammar.

pub mod chunk;
pub mod dense;
pub mod extract;
pub mod filter;
pub mod index;
pub mod lexical;
pub mod portions;

pub use chunk::{chunk, Chunk, ChunkSpec};
pub use filter::{Attr, Attrs, Filter};
pub use index::{Hit, KbIndex, Mode, NewChunk, Query, Results};
pub use portions::{portions, Portion, Spillage};

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// The SHA-256 of `bytes`, hex: what documents and embeddings are keyed by.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Reciprocal-rank fusion's constant (Cormack et al.).
pub const RRF_K: f32 = 60.0;

/// Fuses ranked lists: each item scores `Σ 1 / (RRF_K + rank)`, rank from 1; best first,
/// ties broken by slot for a stable order.
pub fn rrf(lists: &[&[(u32, f32)]]) -> Vec<(u32, f32)> {
    let mut acc: HashMap<u32, f32> = HashMap::new();
    for list in lists {
        for (rank, (slot, _)) in list.iter().enumerate() {
            *acc.entry(*slot).or_default() += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
    }
    let mut v: Vec<(u32, f32)> = acc.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[derive(PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    // Reversed, so the heap's top is the worst kept; on equal scores the higher slot is worse.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// The `k` best of a stream of scored slots.
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    pub fn push(&mut self, slot: u32, score: f32) {
        if self.k == 0 || !score.is_finite() {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Scored(score, slot));
        } else if let Some(worst) = self.heap.peek() {
            if Scored(score, slot) < *worst {
                self.heap.pop();
                self.heap.push(Scored(score, slot));
            }
        }
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<(u32, f32)> {
        let mut v: Vec<(u32, f32)> = self.heap.into_iter().map(|s| (s.1, s.0)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_keeps_the_best() {
        let mut t = TopK::new(2);
        for (s, x) in [(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.7)] {
            t.push(s, x);
        }
        assert_eq!(t.into_sorted(), vec![(1, 0.9), (3, 0.7)]);
    }

    #[test]
    fn rrf_rewards_agreement() {
        let a = [(1, 9.0), (2, 8.0), (3, 7.0)];
        let b = [(3, 0.9), (1, 0.8)];
        let f = rrf(&[&a, &b]);
        assert_eq!(f[0].0, 1);
        assert_eq!(f.len(), 3);
    }
}
