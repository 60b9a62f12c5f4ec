//! The prefix cache: KV caches of recent prompts, so that a later prompt sharing a prefix with
//! one of them (a system prompt, few-shot examples, an earlier turn of the same conversation)
//! starts its prefill where the shared part ends.
//!
//! Entries are compact copies of a prompt's keys and values. A lookup takes the entry with the
//! longest common prefix and copies that many positions, always leaving at least the prompt's
//! last token to compute, because its logits start the generation. Keys and values at a position
//! depend only on the tokens up to it, and the engine's arithmetic for a position does not depend
//! on how it was batched, so a reused prefix gives bit-identical results to recomputing it.
//! Entries are evicted least recently used first, to stay within the cache's own byte limit and
//! whenever the scheduler needs the memory for running sequences.

use crate::model::KvCache;

/// Prompts shorter than this are not stored, and shorter shared prefixes are not reused: the
/// copy would cost about what it saves.
pub const MIN_PREFIX: usize = 16;

struct Entry {
    tokens: Vec<u32>,
    cache: KvCache,
    bytes: usize,
    last_used: u64,
}

pub struct PrefixCache {
    entries: Vec<Entry>,
    bytes: usize,
    limit: usize,
    clock: u64,
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl PrefixCache {
    /// A cache holding at most `limit` bytes (0 turns it off).
    pub fn new(limit: usize) -> Self {
        Self {
            entries: Vec::new(),
            bytes: 0,
            limit,
            clock: 0,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A cache for the longest stored prefix of `prompt` (never all of it), if one of at least
    /// [`MIN_PREFIX`] tokens is stored.
    pub fn lookup(&mut self, prompt: &[u32]) -> Option<KvCache> {
        let usable = prompt.len().saturating_sub(1);
        let (best, len) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, common_prefix(&e.tokens, prompt).min(usable)))
            .max_by_key(|(_, len)| *len)?;
        if len < MIN_PREFIX {
            return None;
        }
        self.clock += 1;
        let e = &mut self.entries[best];
        e.last_used = self.clock;
        Some(e.cache.prefix(len))
    }

    /// Store the keys and values of `tokens` (the first `tokens.len()` positions of `cache`),
    /// holding no more than `room` bytes in all (what the KV budget leaves beside the running
    /// sequences) nor more than the cache's own limit.
    pub fn insert(&mut self, tokens: &[u32], cache: &KvCache, room: usize) {
        let limit = self.limit.min(room);
        if tokens.len() < MIN_PREFIX || cache.len() < tokens.len() || limit == 0 {
            return;
        }
        // Already covered by a stored prompt that starts with this one.
        if self
            .entries
            .iter()
            .any(|e| common_prefix(&e.tokens, tokens) == tokens.len())
        {
            return;
        }
        let entry = cache.prefix(tokens.len());
        let bytes = entry.bytes();
        if bytes > limit {
            return;
        }
        // Stored prompts this one extends are replaced by it.
        self.entries.retain(|e| {
            let covered = common_prefix(&e.tokens, tokens) == e.tokens.len();
            if covered {
                self.bytes -= e.bytes;
            }
            !covered
        });
        self.shrink_to(limit - bytes);
        self.clock += 1;
        self.bytes += bytes;
        self.entries.push(Entry {
            tokens: tokens.to_vec(),
            cache: entry,
            bytes,
            last_used: self.clock,
        });
    }

    /// Evict least recently used entries until at most `bytes` are held.
    pub fn shrink_to(&mut self, bytes: usize) {
        while self.bytes > bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            let e = self.entries.swap_remove(oldest);
            self.bytes -= e.bytes;
        }
    }
}
