//! The embedded engine as a provider: each model runs in its own [`Engine`]. Its own crate, so
//! that the provider trait (`scif-provider`) does not depend on the engine.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use scif_engine::{
    EmbedError, EncoderService, Engine, GenerationEvent, SubmitError, TemplateMessage,
};
use tokio_stream::wrappers::UnboundedReceiverStream;

use scif_provider::{
    ChatEvent, ChatRequest, EmbedRequest, Embeddings, FinishReason, ModelInfo, ModelLoad, Provider,
    ProviderError, SamplingParams, Started, Usage,
};

/// The engine's sampling parameters for a provider request's.
fn sampling(p: &SamplingParams) -> scif_engine::SamplingParams {
    scif_engine::SamplingParams {
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        seed: p.seed,
        repetition_penalty: p.repetition_penalty,
        frequency_penalty: p.frequency_penalty,
        presence_penalty: p.presence_penalty,
        ignore_eos: p.ignore_eos,
    }
}

pub struct LocalModel {
    pub info: ModelInfo,
    pub engine: Arc<Engine>,
}

/// An embedded sentence encoder (an embedding model) behind its batching thread.
pub struct LocalEncoder {
    pub info: ModelInfo,
    pub service: Arc<EncoderService>,
}

pub struct LocalProvider {
    models: BTreeMap<String, LocalModel>,
    encoders: BTreeMap<String, LocalEncoder>,
    retry_after_secs: u64,
}

impl LocalProvider {
    pub fn new(models: Vec<LocalModel>, retry_after_secs: u64) -> Self {
        Self {
            models: models.into_iter().map(|m| (m.info.id.clone(), m)).collect(),
            encoders: BTreeMap::new(),
            retry_after_secs,
        }
    }

    /// The embedding models this provider also serves.
    pub fn with_encoders(mut self, encoders: Vec<LocalEncoder>) -> Self {
        self.encoders = encoders
            .into_iter()
            .map(|e| (e.info.id.clone(), e))
            .collect();
        self
    }

    pub fn engine(&self, model: &str) -> Option<&Arc<Engine>> {
        self.models.get(model).map(|m| &m.engine)
    }

    /// The model and the prompt's tokens, through the model's own chat template.
    fn prompt(&self, req: &ChatRequest) -> Result<(&LocalModel, Vec<u32>), ProviderError> {
        if self.encoders.contains_key(&req.model) {
            return Err(ProviderError::InvalidRequest(format!(
                "the model `{}` is an embedding model: it answers embedding requests, not chat",
                req.model
            )));
        }
        let m = self
            .models
            .get(&req.model)
            .ok_or_else(|| ProviderError::ModelNotFound(req.model.clone()))?;
        if !req.tools.is_empty()
            || req
                .messages
                .iter()
                .any(|m| m.role == "tool" || !m.tool_calls.is_empty())
        {
            // The embedded models' chat templates carry no tool definitions; silently dropping
            // tools would answer a different question than the one asked.
            return Err(ProviderError::InvalidRequest(format!(
                "the model `{}` does not support tool calling",
                req.model
            )));
        }
        let messages: Vec<TemplateMessage> = req
            .messages
            .iter()
            .map(|m| TemplateMessage {
                role: m.role.clone(),
                content: m.content.clone(),
            })
            .collect();
        let prompt_text = m
            .engine
            .render_chat(&messages)
            .map_err(|e| ProviderError::InvalidRequest(e.to_string()))?;
        let prompt = m
            .engine
            .encode(&prompt_text)
            .map_err(|e| ProviderError::Internal(e.to_string()))?;
        Ok((m, prompt))
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn models(&self) -> Vec<ModelInfo> {
        self.models
            .values()
            .map(|m| m.info.clone())
            .chain(self.encoders.values().map(|e| e.info.clone()))
            .collect()
    }

    fn load(&self, model: &str) -> ModelLoad {
        match self.models.get(model) {
            Some(m) => {
                let s = m.engine.stats();
                ModelLoad {
                    queued: s.queued.load(Ordering::Relaxed),
                    active: s.active.load(Ordering::Relaxed),
                    kv_reserved_bytes: s.kv_reserved_bytes.load(Ordering::Relaxed),
                    prefix_cache_bytes: s.prefix_cache_bytes.load(Ordering::Relaxed),
                    prefix_tokens_reused: s.prefix_tokens_reused.load(Ordering::Relaxed),
                }
            }
            None => ModelLoad::default(),
        }
    }

    async fn count_tokens(&self, req: &ChatRequest) -> Result<usize, ProviderError> {
        self.prompt(req).map(|(_, tokens)| tokens.len())
    }

    async fn chat(&self, req: ChatRequest) -> Result<Started, ProviderError> {
        let (m, prompt) = self.prompt(&req)?;
        let rx = m
            .engine
            .submit(prompt, sampling(&req.sampling), req.max_tokens, req.stop)
            .map_err(|e| match e {
                SubmitError::QueueFull => ProviderError::Overloaded {
                    retry_after_secs: self.retry_after_secs,
                },
                SubmitError::ContextLength { .. } => ProviderError::ContextLength(e.to_string()),
                SubmitError::EmptyPrompt => ProviderError::InvalidRequest(e.to_string()),
                SubmitError::Stopped => ProviderError::Unavailable(e.to_string()),
            })?;
        let stream = UnboundedReceiverStream::new(rx).map(|ev| match ev {
            GenerationEvent::Text(t) => ChatEvent::Delta(t),
            GenerationEvent::Finished {
                reason,
                prompt_tokens,
                completion_tokens,
            } => ChatEvent::Done {
                finish_reason: match reason {
                    scif_engine::FinishReason::Stop => FinishReason::Stop,
                    scif_engine::FinishReason::Length => FinishReason::Length,
                    scif_engine::FinishReason::Cancelled => FinishReason::Cancelled,
                },
                usage: Usage {
                    prompt_tokens,
                    completion_tokens,
                },
            },
            GenerationEvent::Error(e) => ChatEvent::Error(e),
        });
        Ok(Started {
            events: Box::pin(stream),
            served_by: "local".into(),
        })
    }

    async fn embed(&self, req: EmbedRequest) -> Result<Embeddings, ProviderError> {
        let Some(e) = self.encoders.get(&req.model) else {
            if self.models.contains_key(&req.model) {
                return Err(ProviderError::InvalidRequest(format!(
                    "the model `{}` is a chat model; it does not produce embeddings",
                    req.model
                )));
            }
            return Err(ProviderError::ModelNotFound(req.model));
        };
        let encoder = e.service.encoder();
        if let Some(d) = req.dimensions.filter(|d| *d != encoder.dims()) {
            return Err(ProviderError::InvalidParam {
                param: "dimensions",
                message: format!(
                    "dimensions {d} is not supported: the model `{}` produces {}-dimensional vectors",
                    req.model,
                    encoder.dims()
                ),
            });
        }
        let limit = encoder.max_tokens();
        let mut seqs = Vec::with_capacity(req.inputs.len());
        for (i, text) in req.inputs.iter().enumerate() {
            let ids = encoder
                .tokenize(text)
                .map_err(|e| ProviderError::Internal(e.to_string()))?;
            if ids.len() > limit {
                return Err(ProviderError::ContextLength(format!(
                    "input {i} is {} tokens long; this model's maximum input length is {limit} tokens",
                    ids.len()
                )));
            }
            seqs.push(ids);
        }
        let prompt_tokens = seqs.iter().map(Vec::len).sum();
        let rx = e.service.submit(seqs).map_err(|err| match err {
            EmbedError::QueueFull => ProviderError::Overloaded {
                retry_after_secs: self.retry_after_secs,
            },
            EmbedError::Stopped => ProviderError::Unavailable(err.to_string()),
            EmbedError::Invalid(m) => ProviderError::InvalidRequest(m),
        })?;
        let vectors = rx
            .await
            .map_err(|_| ProviderError::Unavailable("the encoder stopped".into()))?
            .map_err(|err| match err {
                EmbedError::Invalid(m) => ProviderError::InvalidRequest(m),
                other => ProviderError::Unavailable(other.to_string()),
            })?;
        Ok(Embeddings {
            vectors,
            prompt_tokens,
            served_by: "local".into(),
        })
    }

    fn token_spans(&self, model: &str, text: &str) -> Option<(usize, Vec<(usize, usize)>)> {
        let encoder = self.encoders.get(model)?.service.encoder();
        // The limit leaves room for the model's [CLS] and [SEP].
        let limit = encoder.max_tokens().saturating_sub(2);
        encoder.token_spans(text).ok().map(|s| (limit, s))
    }

    fn cancel_all(&self) {
        for m in self.models.values() {
            m.engine.cancel_all();
        }
    }
}
