//! The continuous-batching scheduler: one thread owns the model and steps every active
//! sequence together. Sequences join and leave between steps; each has its own KV cache.
//!
//! A step holds one decode token for every sequence that is generating, plus prefill chunks for
//! newly admitted sequences up to a per-step token budget, so a long prompt never stalls the
//! streams already running (chunked prefill). Waiting requests sit in a bounded queue; a full
//! queue is refused at once so that callers can answer 429 with Retry-After.
//!
//! KV memory is budgeted: a sequence is admitted only when the KV cache it can grow to (its
//! prompt plus its `max_tokens`, rounded up as the cache grows) fits beside those of the running
//! sequences and the prefix cache; otherwise it waits at the head of the queue until running
//! sequences finish (prefix-cache entries are evicted first). Memory is reserved at admission,
//! so a running sequence never runs out of it.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::model::{KvCache, Llama, SeqStep};
use crate::prefix::PrefixCache;
use crate::sampler::{Sampler, SamplingParams};
use crate::stop::{StopMatcher, StopOutcome};
use crate::tokenizer::{IncrementalDecoder, Tokenizer};

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-turn token or a stop sequence.
    Stop,
    /// `max_tokens` or the context length was reached.
    Length,
    /// The caller went away or the server is shutting down.
    Cancelled,
}

/// What a generation reports, in order: text deltas, then exactly one `Finished` or `Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    Text(String),
    Finished {
        reason: FinishReason,
        prompt_tokens: usize,
        completion_tokens: usize,
    },
    Error(String),
}

/// A request for the scheduler: an already tokenized prompt.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: Vec<u32>,
    pub params: SamplingParams,
    pub max_tokens: usize,
    pub stop: Vec<String>,
}

pub(crate) struct Job {
    pub req: GenerationRequest,
    pub events: UnboundedSender<GenerationEvent>,
    /// The job's place in the engine's capacity (running plus waiting); given back when the
    /// job is dropped, however it ends.
    pub _slot: Slot,
}

/// One unit of the engine's admission capacity, held from `submit` until the job is dropped.
pub(crate) struct Slot(pub Arc<EngineStats>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Live counters the server exports as metrics.
#[derive(Default)]
pub struct EngineStats {
    pub queued: AtomicUsize,
    pub active: AtomicUsize,
    pub tokens_generated: AtomicU64,
    /// KV cache bytes reserved by running sequences.
    pub kv_reserved_bytes: AtomicUsize,
    /// KV cache bytes held by the prefix cache.
    pub prefix_cache_bytes: AtomicUsize,
    /// Prompts that started from a cached prefix, and the prompt tokens that saved.
    pub prefix_hits: AtomicU64,
    pub prefix_tokens_reused: AtomicU64,
    pub(crate) cancel_all: AtomicBool,
    /// Jobs submitted and not yet dropped: queued, waiting for KV budget, or running.
    pub(crate) in_flight: AtomicUsize,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Most sequences stepped together.
    pub max_batch: usize,
    /// Most prompt tokens processed in one step, across all prefilling sequences.
    pub prefill_chunk: usize,
    /// KV cache bytes that running sequences and the prefix cache may hold together.
    pub kv_budget_bytes: usize,
    /// The prefix cache's own limit (0 turns it off).
    pub prefix_cache_bytes: usize,
}

struct Seq {
    job: Job,
    cache: KvCache,
    sampler: Sampler,
    decoder: IncrementalDecoder,
    stops: StopMatcher,
    /// Prompt tokens not yet fed to the model.
    prefill_at: usize,
    /// The last sampled token, fed at the next step.
    next: Option<u32>,
    generated: usize,
    /// KV bytes reserved for this sequence at admission.
    reserved: usize,
}

pub(crate) fn run(
    model: Arc<Llama>,
    tokenizer: Arc<Tokenizer>,
    cfg: SchedulerConfig,
    rx: Receiver<Job>,
    stats: Arc<EngineStats>,
) {
    let mut active: VecDeque<Seq> = VecDeque::new();
    let mut prefixes = PrefixCache::new(cfg.prefix_cache_bytes.min(cfg.kv_budget_bytes));
    // A request taken from the queue that did not fit the KV budget yet; it goes first.
    let mut waiting: Option<Job> = None;
    let mut open = true;
    loop {
        // Admit waiting requests between steps, while the batch and the KV budget allow.
        while active.len() < cfg.max_batch {
            let job = match waiting.take() {
                Some(job) => job,
                None if !open => break,
                None => match rx.try_recv() {
                    Ok(job) => job,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                },
            };
            if job.events.is_closed() {
                stats.queued.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            match try_admit(&model, job, &cfg, &active, &mut prefixes, &stats) {
                Ok(seq) => active.push_back(seq),
                Err(job) => {
                    waiting = Some(job);
                    break;
                }
            }
        }
        if stats.cancel_all.load(Ordering::SeqCst) {
            for s in active.drain(..) {
                finish(&s, FinishReason::Cancelled);
            }
            let queued = waiting
                .take()
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()));
            for job in queued {
                stats.queued.fetch_sub(1, Ordering::SeqCst);
                let _ = job.events.send(GenerationEvent::Finished {
                    reason: FinishReason::Cancelled,
                    prompt_tokens: job.req.prompt.len(),
                    completion_tokens: 0,
                });
            }
        }
        // Callers that went away cancel their generation.
        active.retain(|s| !s.job.events.is_closed());
        publish(&stats, &active, &prefixes);
        if active.is_empty() {
            if waiting.is_some() {
                // With nothing running, the budget holds any request `submit` accepted.
                continue;
            }
            if !open {
                return;
            }
            // Nothing to step: sleep until a request arrives or the engine is dropped.
            match rx.recv() {
                Ok(job) => waiting = Some(job),
                Err(_) => return,
            }
            continue;
        }
        step(&model, &tokenizer, &cfg, &mut active, &mut prefixes, &stats);
    }
}

fn publish(stats: &EngineStats, active: &VecDeque<Seq>, prefixes: &PrefixCache) {
    stats.active.store(active.len(), Ordering::SeqCst);
    let reserved = active.iter().map(|s| s.reserved).sum();
    stats.kv_reserved_bytes.store(reserved, Ordering::SeqCst);
    stats
        .prefix_cache_bytes
        .store(prefixes.bytes(), Ordering::SeqCst);
}

/// Admit `job` if its KV cache fits the budget (evicting prefix-cache entries if that makes it
/// fit); give it back otherwise. With nothing running, a request that fits the budget alone
/// is always admitted.
fn try_admit(
    model: &Llama,
    job: Job,
    cfg: &SchedulerConfig,
    active: &VecDeque<Seq>,
    prefixes: &mut PrefixCache,
    stats: &EngineStats,
) -> Result<Seq, Job> {
    let tokens = (job.req.prompt.len() + job.req.max_tokens).min(model.cfg.context_length);
    let need = model.kv_bytes_for(tokens);
    let reserved: usize = active.iter().map(|s| s.reserved).sum();
    let free = cfg.kv_budget_bytes.saturating_sub(reserved);
    if need > free && !active.is_empty() {
        return Err(job);
    }
    prefixes.shrink_to(free.saturating_sub(need));
    stats.queued.fetch_sub(1, Ordering::SeqCst);
    let sampler = Sampler::new(job.req.params.clone(), &job.req.prompt);
    let stops = StopMatcher::new(job.req.stop.clone());
    let (cache, prefill_at) = match prefixes.lookup(&job.req.prompt) {
        Some(cache) => {
            let reused = cache.len();
            stats.prefix_hits.fetch_add(1, Ordering::Relaxed);
            stats
                .prefix_tokens_reused
                .fetch_add(reused as u64, Ordering::Relaxed);
            (cache, reused)
        }
        None => (model.new_cache(), 0),
    };
    Ok(Seq {
        cache,
        sampler,
        decoder: IncrementalDecoder::default(),
        stops,
        prefill_at,
        next: None,
        generated: 0,
        reserved: need,
        job,
    })
}

fn step(
    model: &Llama,
    tok: &Tokenizer,
    cfg: &SchedulerConfig,
    active: &mut VecDeque<Seq>,
    prefixes: &mut PrefixCache,
    stats: &EngineStats,
) {
    // Decoding sequences first (one token each), then prefill chunks in arrival order.
    let mut budget = cfg.prefill_chunk.max(1);
    let mut plan: Vec<(usize, Vec<u32>, bool)> = Vec::new();
    for (i, s) in active.iter().enumerate() {
        if let Some(t) = s.next {
            plan.push((i, vec![t], true));
        }
    }
    for (i, s) in active.iter().enumerate() {
        if s.next.is_none() && budget > 0 {
            let rest = &s.job.req.prompt[s.prefill_at..];
            let n = rest.len().min(budget);
            budget -= n;
            plan.push((i, rest[..n].to_vec(), n == rest.len()));
        }
    }
    if plan.is_empty() {
        return;
    }
    plan.sort_by_key(|p| p.0);
    let result = {
        let mut by_index: Vec<Option<&mut KvCache>> =
            active.iter_mut().map(|s| Some(&mut s.cache)).collect();
        let mut steps: Vec<SeqStep<'_>> = Vec::with_capacity(plan.len());
        for (i, tokens, want) in &plan {
            if let Some(cache) = by_index[*i].take() {
                steps.push(SeqStep {
                    tokens,
                    cache,
                    want_logits: *want,
                });
            }
        }
        // On a worker of the kernel pool, so that the step's parallel loops start where the step
        // runs instead of handing every matrix product from this thread to the pool and back.
        catch_unwind(AssertUnwindSafe(|| {
            rayon::scope(|_| model.forward(&mut steps))
        }))
    };
    let logits = match result {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return fail_all(active, &e.to_string()),
        Err(_) => return fail_all(active, "the engine failed during a forward step"),
    };
    let reserved: usize = active.iter().map(|s| s.reserved).sum();
    let mut done: Vec<usize> = Vec::new();
    for ((i, tokens, _), logits) in plan.iter().zip(logits) {
        let s = &mut active[*i];
        if s.next.is_none() {
            s.prefill_at += tokens.len();
            if s.prefill_at == s.job.req.prompt.len() {
                // The whole prompt is in the cache: keep it for later prompts that share it,
                // within what the KV budget leaves beside the running sequences.
                let room = cfg.kv_budget_bytes.saturating_sub(reserved);
                prefixes.insert(&s.job.req.prompt, &s.cache, room);
            }
        }
        let Some(mut logits) = logits else { continue };
        let t = s.sampler.sample(&mut logits);
        stats.tokens_generated.fetch_add(1, Ordering::Relaxed);
        let is_stop = tok.stop_ids.contains(&t) && !s.job.req.params.ignore_eos;
        if !is_stop {
            // The end-of-turn token is not part of the completion's text or its usage count.
            s.generated += 1;
        }
        if let Some(reason) = advance(s, tok, t, model.cfg.context_length) {
            finish(s, reason);
            done.push(*i);
        } else {
            s.next = Some(t);
        }
    }
    for i in done.into_iter().rev() {
        active.remove(i);
    }
}

/// Handle a sampled token; returns a finish reason when the sequence is over.
fn advance(s: &mut Seq, tok: &Tokenizer, t: u32, context_length: usize) -> Option<FinishReason> {
    if tok.stop_ids.contains(&t) && !s.job.req.params.ignore_eos {
        let rest = s.stops.flush();
        send_text(s, rest);
        return Some(FinishReason::Stop);
    }
    let delta = match s.decoder.push(tok, t) {
        Ok(d) => d,
        Err(e) => {
            let _ = s.job.events.send(GenerationEvent::Error(e.to_string()));
            return Some(FinishReason::Cancelled);
        }
    };
    match s.stops.push(&delta) {
        StopOutcome::Stopped(text) => {
            send_text(s, text);
            return Some(FinishReason::Stop);
        }
        StopOutcome::Continue(text) => send_text(s, text),
    }
    if s.generated >= s.job.req.max_tokens || s.cache.len() + 1 >= context_length {
        let rest = s.stops.flush();
        send_text(s, rest);
        return Some(FinishReason::Length);
    }
    None
}

fn send_text(s: &Seq, text: String) {
    if !text.is_empty() {
        let _ = s.job.events.send(GenerationEvent::Text(text));
    }
}

fn finish(s: &Seq, reason: FinishReason) {
    let _ = s.job.events.send(GenerationEvent::Finished {
        reason,
        prompt_tokens: s.job.req.prompt.len(),
        completion_tokens: s.generated,
    });
}

fn fail_all(active: &mut VecDeque<Seq>, msg: &str) {
    tracing::error!(error = msg, sequences = active.len(), "forward step failed");
    for s in active.drain(..) {
        let _ = s.job.events.send(GenerationEvent::Error(msg.to_string()));
    }
}
