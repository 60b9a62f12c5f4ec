//! Providers: where chat completions come from. One trait, [`Provider`], one module per
//! implementation: the embedded engine in `scif-local`, remote
//! OpenAI-compatible backends (vLLM, TGI, llama.cpp, Ollama) in `scif-gateway`.
//!
//! Providers speak the neutral types of this crate, never a wire dialect: the server translates
//! OpenAI and Bedrock requests into [`ChatRequest`] and [`ChatEvent`]s back out.

pub mod conformance;

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;
use serde::Serialize;

/// How to sample the next token.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: usize,
    pub seed: Option<u64>,
    /// Multiplicative penalty (llama.cpp / CTRL style) on tokens already seen; 1.0 is off.
    pub repetition_penalty: f32,
    /// OpenAI-style additive penalties, -2.0..=2.0; 0.0 is off.
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    /// Keep generating through end-of-turn tokens (benchmarks need fixed lengths).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            seed: None,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            ignore_eos: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatMessage {
    /// "system", "user", "assistant" or "tool".
    pub role: String,
    pub content: String,
    /// The calls an assistant turn made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a "tool" message: the call it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A call of a tool by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments, as JSON text (as the model produced it).
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub sampling: SamplingParams,
    /// `None`: until the model stops or its context is full.
    pub max_tokens: Option<usize>,
    pub stop: Vec<String>,
    /// Whether the caller reads the answer as a stream (a remote provider asks its upstream for
    /// the same, which is cheaper for whole answers).
    pub stream: bool,
    /// The label of the input: a provider sends it only to endpoints accredited for it.
    pub input_label: scif_labels::Label,
    /// Tools the model may call (empty: none).
    pub tools: Vec<ToolSpec>,
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    Cancelled,
    /// The model called one or more tools and waits for their results.
    ToolCalls,
    /// A guardrail blocked the prompt or the answer; the text is the guardrail's message.
    ContentFilter,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// A completion as it is produced: text deltas, then one `Done` (or an `Error`).
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Delta(String),
    /// A complete tool call (its arguments whole); comes before `Done`.
    ToolCall(ToolCall),
    Done {
        finish_reason: FinishReason,
        usage: Usage,
    },
    Error(String),
}

/// Dropping the stream cancels the generation behind it.
pub type ChatStream = Pin<Box<dyn Stream<Item = ChatEvent> + Send>>;

/// A generation that started: its events, and which endpoint produces them (for metering).
pub struct Started {
    pub events: ChatStream,
    /// The deployment serving it ("local" for the embedded engine).
    pub served_by: String,
}

/// What `/v1/models` shows about a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub id: String,
    /// Unix seconds when the model entered this deployment.
    pub created: u64,
    pub owned_by: String,
    pub context_length: usize,
    pub architecture: String,
    pub quantization: String,
    pub parameter_count: u64,
    pub sha256: String,
    pub license: Option<String>,
    /// The model's classification label (canonical banner marking).
    pub label: String,
}

/// Load on a model right now, for metrics and admission decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelLoad {
    pub queued: usize,
    pub active: usize,
    /// Local engine only: KV cache bytes reserved by running sequences and held by the prefix
    /// cache, and prompt tokens the prefix cache has saved so far.
    pub kv_reserved_bytes: usize,
    pub prefix_cache_bytes: usize,
    pub prefix_tokens_reused: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProviderError {
    #[error("the model `{0}` does not exist or you do not have access to it")]
    ModelNotFound(String),
    /// The request cannot fit the model's context window.
    #[error("{0}")]
    ContextLength(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// A request parameter the model cannot honour (named, for the caller's error).
    #[error("{message}")]
    InvalidParam {
        param: &'static str,
        message: String,
    },
    /// Too much work queued; try again after the given seconds.
    #[error("the server is busy; retry after {retry_after_secs} seconds")]
    Overloaded { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// No endpoint serving the model is accredited for the input's label.
    #[error("{0}")]
    NotAccredited(String),
    #[error("{0}")]
    Internal(String),
}

/// A request for embeddings, after the pipeline's inspection.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    pub model: String,
    /// The texts to embed.
    pub inputs: Vec<String>,
    /// The vector size the caller asked for (`None`: the model's own).
    pub dimensions: Option<usize>,
    /// The label of the inputs (a provider sends them only where that label may go).
    pub input_label: scif_labels::Label,
}

/// One vector per input, in order.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the inputs made, special tokens included.
    pub prompt_tokens: usize,
    /// The deployment that computed them ("local" for the embedded engine).
    pub served_by: String,
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and metrics, e.g. "local".
    fn kind(&self) -> &'static str;

    fn models(&self) -> Vec<ModelInfo>;

    /// Whether this provider serves `model` now (a remote provider's set changes on reload).
    fn serves(&self, model: &str) -> bool {
        self.models().iter().any(|m| m.id == model)
    }

    /// Whether some endpoint serving `model` may receive input labelled `input`. The embedded
    /// engine runs inside the deployment, which is accredited to its system high (checked by
    /// the server for every provider).
    fn accepts(&self, _model: &str, _input: &scif_labels::Label) -> bool {
        true
    }

    fn load(&self, model: &str) -> ModelLoad;

    /// Start a chat completion. Errors here happen before any token is produced.
    async fn chat(&self, req: ChatRequest) -> Result<Started, ProviderError>;

    /// How many prompt tokens `req` makes for its model, without generating (Anthropic's
    /// `count_tokens`). Providers that cannot tell say so.
    async fn count_tokens(&self, req: &ChatRequest) -> Result<usize, ProviderError> {
        Err(ProviderError::InvalidRequest(format!(
            "token counting is not available for the model `{}`",
            req.model
        )))
    }

    /// Embed texts (or token ids) with an embedding model. Chat models say they cannot.
    async fn embed(&self, req: EmbedRequest) -> Result<Embeddings, ProviderError> {
        Err(ProviderError::InvalidRequest(format!(
            "the model `{}` does not produce embeddings",
            req.model
        )))
    }

    /// An embedding model's input limit in tokens and the byte spans of `text`'s tokens
    /// (special tokens excluded), for chunking documents to what the model reads; `None` when
    /// the provider cannot say (a chunker then counts words).
    fn token_spans(&self, _model: &str, _text: &str) -> Option<(usize, Vec<(usize, usize)>)> {
        None
    }

    /// Cancel everything in flight (shutdown).
    fn cancel_all(&self);
}
