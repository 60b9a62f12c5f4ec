//! scif's embedded inference engine: loads GGUF models of the llama family in safe Rust (on
//! candle), tokenizes with the file's own vocabulary, renders the file's own chat template, and
//! serves many generations at once through a continuous-batching scheduler.
//!
//! This crate knows nothing of HTTP, storage or identity. Its boundary is [`Engine`]: give it
//! chat messages or token ids, get a stream of [`GenerationEvent`]s.

pub mod encoder;
pub mod gguf;
pub mod kernels;
pub mod model;
pub mod prefix;
pub mod safetensors;
pub mod sampler;
pub mod scheduler;
pub mod stop;
pub mod template;
pub mod tokenizer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

pub use encoder::{EmbedError, Encoder, EncoderInfo, EncoderService, Precision};
pub use gguf::{GgufFile, ModelMetadata};
pub use sampler::SamplingParams;
pub use scheduler::{
    EngineStats, FinishReason, GenerationEvent, GenerationRequest, SchedulerConfig,
};
pub use template::TemplateMessage;

use model::Llama;
use template::ChatTemplate;
use tokenizer::Tokenizer;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Io(String),
    #[error("invalid model file: {0}")]
    InvalidModel(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("tensor: {0}")]
    Tensor(String),
}

impl From<candle_core::Error> for EngineError {
    fn from(e: candle_core::Error) -> Self {
        EngineError::Tensor(e.to_string())
    }
}

/// Why a request was not accepted by the scheduler.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubmitError {
    #[error("the request queue is full")]
    QueueFull,
    #[error("the engine is not running")]
    Stopped,
    #[error("this model's maximum context length is {limit} tokens, but the request needs {requested} ({prompt} in the prompt, {completion} for the completion)")]
    ContextLength {
        limit: usize,
        requested: usize,
        prompt: usize,
        completion: usize,
    },
    #[error("the prompt is empty")]
    EmptyPrompt,
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Threads for matrix kernels (a global pool, sized once per process).
    pub threads: usize,
    pub max_batch: usize,
    pub max_queue: usize,
    pub prefill_chunk: usize,
    /// Cap on tokens per sequence (prompt plus completion); the model's own limit if larger.
    pub max_context: Option<usize>,
    /// KV cache bytes that running sequences and the prefix cache may hold together; a request
    /// waits for admission until its cache fits.
    pub kv_budget_bytes: usize,
    /// The prefix cache's limit within that budget (0 turns prefix caching off).
    pub prefix_cache_bytes: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            threads: 2,
            max_batch: 16,
            max_queue: 64,
            prefill_chunk: 256,
            max_context: None,
            kv_budget_bytes: 2048 << 20,
            prefix_cache_bytes: 256 << 20,
        }
    }
}

/// A loaded model and its scheduler thread. Cheap to share behind an `Arc`.
pub struct Engine {
    tx: SyncSender<scheduler::Job>,
    /// The model, shared with the scheduler thread, for direct evaluation (teacher forcing).
    model: Arc<Llama>,
    tokenizer: Arc<Tokenizer>,
    template: ChatTemplate,
    context_length: usize,
    stats: Arc<EngineStats>,
    /// Most jobs in flight at once: `max_batch` running plus `max_queue` waiting. Counted at
    /// submit, so the answer does not depend on how quickly the scheduler thread wakes.
    capacity: usize,
}

impl Engine {
    /// Load a GGUF model and start its scheduler.
    pub fn load(path: &Path, opts: &EngineOptions) -> Result<Self, EngineError> {
        let gguf = GgufFile::open(path)?;
        let tokenizer = Arc::new(Tokenizer::from_gguf(&gguf)?);
        let tok_str = |id: Option<u32>| {
            id.and_then(|i| tokenizer.token(i))
                .unwrap_or("")
                .to_string()
        };
        let template_src = gguf
            .get_str("tokenizer.chat_template")
            .unwrap_or(template::CHATML)
            .to_string();
        let template = ChatTemplate::new(
            &template_src,
            &tok_str(tokenizer.bos),
            &tok_str(tokenizer.eos),
        )?;
        // Threads for candle's kernels; an already-built global pool (tests) is fine.
        let _ = rayon_pool(opts.threads);
        let model = Llama::load(&gguf, path)?;
        let mut context_length = match opts.max_context {
            Some(c) => c.min(model.cfg.context_length),
            None => model.cfg.context_length,
        };
        // A sequence longer than the KV budget holds could never be admitted.
        while context_length > 1 && model.kv_bytes_for(context_length) > opts.kv_budget_bytes {
            context_length = (context_length / 2).max(1);
        }
        if model.kv_bytes_for(context_length) > opts.kv_budget_bytes {
            return Err(EngineError::InvalidModel(format!(
                "the KV cache budget of {} bytes cannot hold one sequence of this model",
                opts.kv_budget_bytes
            )));
        }
        let capacity = opts.max_batch.max(1) + opts.max_queue.max(1);
        let (tx, rx) = sync_channel(capacity);
        let stats = Arc::new(EngineStats::default());
        let cfg = SchedulerConfig {
            max_batch: opts.max_batch.max(1),
            prefill_chunk: opts.prefill_chunk.max(1),
            kv_budget_bytes: opts.kv_budget_bytes,
            prefix_cache_bytes: opts.prefix_cache_bytes,
        };
        let model = Arc::new(model);
        let (model2, tok2, stats2) = (model.clone(), tokenizer.clone(), stats.clone());
        std::thread::Builder::new()
            .name("scif-engine".into())
            .spawn(move || scheduler::run(model2, tok2, cfg, rx, stats2))
            .map_err(|e| EngineError::Io(format!("cannot start the engine thread: {e}")))?;
        Ok(Self {
            tx,
            model,
            tokenizer,
            template,
            context_length,
            stats,
            capacity,
        })
    }

    /// Render chat messages with the model's template, ready for generation.
    pub fn render_chat(&self, messages: &[TemplateMessage]) -> Result<String, EngineError> {
        self.template.render(messages, true)
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.tokenizer.encode(text)
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, EngineError> {
        self.tokenizer.decode(ids)
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Logits at every position of `tokens`, evaluated in one pass from an empty cache
    /// (teacher forcing). Outside the scheduler: for correctness checks, not for serving.
    pub fn teacher_forced_logits(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, EngineError> {
        let mut cache = self.model.new_cache();
        rayon::scope(|_| self.model.forward_all_logits(tokens, &mut cache))
    }

    /// Like [`Engine::teacher_forced_logits`], but fed `chunk` tokens per forward step, as the
    /// scheduler's chunked prefill and decode steps feed them.
    pub fn chunked_logits(
        &self,
        tokens: &[u32],
        chunk: usize,
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        let mut cache = self.model.new_cache();
        let mut out = Vec::with_capacity(tokens.len());
        for part in tokens.chunks(chunk.max(1)) {
            out.extend(rayon::scope(|_| {
                self.model.forward_all_logits(part, &mut cache)
            })?);
        }
        Ok(out)
    }

    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Bytes of KV cache a sequence of `tokens` positions holds (what admission reserves).
    pub fn kv_bytes_for(&self, tokens: usize) -> usize {
        self.model.kv_bytes_for(tokens)
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Queue a generation. `max_tokens: None` means "until the context is full".
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        params: SamplingParams,
        max_tokens: Option<usize>,
        stop: Vec<String>,
    ) -> Result<UnboundedReceiver<GenerationEvent>, SubmitError> {
        if prompt.is_empty() {
            return Err(SubmitError::EmptyPrompt);
        }
        let limit = self.context_length;
        let completion = max_tokens.unwrap_or(0).max(1);
        if prompt.len() + completion > limit {
            return Err(SubmitError::ContextLength {
                limit,
                requested: prompt.len() + completion,
                prompt: prompt.len(),
                completion,
            });
        }
        let max_tokens = max_tokens.unwrap_or(limit - prompt.len());
        if self.stats.in_flight.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.stats.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(SubmitError::QueueFull);
        }
        let slot = scheduler::Slot(self.stats.clone());
        let (etx, erx) = unbounded_channel();
        let job = scheduler::Job {
            req: GenerationRequest {
                prompt,
                params,
                max_tokens,
                stop,
            },
            events: etx,
            _slot: slot,
        };
        self.stats.queued.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(job) {
            Ok(()) => Ok(erx),
            Err(e) => {
                self.stats.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::QueueFull,
                    TrySendError::Disconnected(_) => SubmitError::Stopped,
                })
            }
        }
    }

    /// End every running and queued generation with `Cancelled` (used at shutdown).
    pub fn cancel_all(&self) {
        self.stats.cancel_all.store(true, Ordering::SeqCst);
    }
}

/// Size the kernel thread pool (shared by every model in the process) if nothing has yet; a
/// later call, or one after a model was loaded, changes nothing.
pub fn init_kernel_threads(threads: usize) {
    let _ = rayon_pool(threads);
}

fn rayon_pool(threads: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("scif-kernel-{i}"))
        .build_global()
        .map_err(|e| e.to_string())
}
