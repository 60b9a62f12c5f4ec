//! `InvokeModel` and `InvokeModelWithResponseStream`: model-native bodies, translated to the
//! same chat request as every other route. Two native formats are accepted, told apart by
//! their fields:
//!
//! - **Anthropic messages** (`anthropic_version`, `messages`, `max_tokens`, `system`, ...),
//!   answered in the Anthropic messages shape (streamed as `message_start`,
//!   `content_block_delta`, ..., `message_stop` chunks);
//! - **Meta Llama** (`prompt`, `max_gen_len`, ...), answered as `generation` with token counts.
//!   The prompt is taken as the user's message, and the model's own chat template is applied
//!   (scif's models are not all Llama, so a Llama-formatted prompt is not passed raw).
//! - **Titan embeddings** (`inputText`, `dimensions`, `normalize`, `embeddingTypes`) for
//!   embedding models, answered as `embedding` and `inputTextTokenCount` (and
//!   `embeddingsByType` when asked), through the pipeline's embedding call. Not streamed.

use std::convert::Infallible;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use futures::StreamExt;
use scif_provider::{ChatEvent, ChatMessage, ChatRequest, FinishReason, SamplingParams, Usage};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{prepare, validation};
use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::guard::FlowHeader as _;
use crate::openai::RawBody;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Anthropic {
    #[allow(dead_code)]
    anthropic_version: Option<String>,
    max_tokens: i64,
    messages: Vec<AnthropicMessage>,
    system: Option<Value>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<i64>,
    stop_sequences: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnthropicMessage {
    role: String,
    content: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Llama {
    prompt: String,
    max_gen_len: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
}

enum Native {
    Anthropic,
    Llama,
}

/// Text of an Anthropic `content`: a string, or a list of `{"type": "text", "text": ...}`.
fn anthropic_text(v: &Value, at: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut out = String::new();
            for (i, b) in blocks.iter().enumerate() {
                match (b.get("type").and_then(Value::as_str), b.get("text").and_then(Value::as_str)) {
                    (Some("text"), Some(t)) => out.push_str(t),
                    (Some(kind), _) => {
                        return Err(validation(format!(
                            "{at}.{i}: content type {kind:?} is not supported by this model (text only)"
                        )))
                    }
                    _ => return Err(validation(format!("{at}.{i}: expected {{\"type\": \"text\", \"text\": ...}}"))),
                }
            }
            Ok(out)
        }
        _ => Err(validation(format!(
            "{at}: expected a string or a list of content blocks"
        ))),
    }
}

fn unit_interval(name: &str, v: Option<f64>) -> Result<(), ApiError> {
    match v {
        Some(x) if !(0.0..=1.0).contains(&x) => {
            Err(validation(format!("{name} must be between 0 and 1")))
        }
        _ => Ok(()),
    }
}

fn parse(model: &str, v: Value) -> Result<(Native, ChatRequest), ApiError> {
    if v.get("messages").is_some() || v.get("anthropic_version").is_some() {
        let a: Anthropic = serde_json::from_value(v)
            .map_err(|e| validation(format!("Anthropic messages body: {e}")))?;
        if a.max_tokens < 1 {
            return Err(validation("max_tokens must be at least 1"));
        }
        unit_interval("temperature", a.temperature)?;
        unit_interval("top_p", a.top_p)?;
        if a.messages.is_empty() {
            return Err(validation("messages must not be empty"));
        }
        let mut messages = Vec::new();
        if let Some(system) = &a.system {
            messages.push(ChatMessage {
                role: "system".into(),
                content: anthropic_text(system, "system")?,
                ..Default::default()
            });
        }
        for (i, m) in a.messages.iter().enumerate() {
            if !matches!(m.role.as_str(), "user" | "assistant") {
                return Err(validation(format!(
                    "messages.{i}.role must be user or assistant"
                )));
            }
            messages.push(ChatMessage {
                role: m.role.clone(),
                content: anthropic_text(&m.content, &format!("messages.{i}.content"))?,
                ..Default::default()
            });
        }
        let chat = ChatRequest {
            model: model.to_owned(),
            messages,
            sampling: SamplingParams {
                temperature: a.temperature.unwrap_or(1.0) as f32,
                top_p: a.top_p.unwrap_or(1.0) as f32,
                top_k: a.top_k.unwrap_or(0).max(0) as usize,
                ..SamplingParams::default()
            },
            max_tokens: Some(a.max_tokens as usize),
            stop: a.stop_sequences.unwrap_or_default(),
            stream: false,
            input_label: scif_labels::Label::unclassified(),
            tools: Vec::new(),
            tool_choice: None,
        };
        return Ok((Native::Anthropic, chat));
    }
    if v.get("prompt").is_some() {
        let l: Llama =
            serde_json::from_value(v).map_err(|e| validation(format!("Llama body: {e}")))?;
        if l.max_gen_len.is_some_and(|n| n < 1) {
            return Err(validation("max_gen_len must be at least 1"));
        }
        unit_interval("temperature", l.temperature)?;
        unit_interval("top_p", l.top_p)?;
        let chat = ChatRequest {
            model: model.to_owned(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: l.prompt,
                ..Default::default()
            }],
            sampling: SamplingParams {
                temperature: l.temperature.unwrap_or(0.5) as f32,
                top_p: l.top_p.unwrap_or(0.9) as f32,
                ..SamplingParams::default()
            },
            max_tokens: Some(l.max_gen_len.unwrap_or(512) as usize),
            stop: Vec::new(),
            stream: false,
            input_label: scif_labels::Label::unclassified(),
            tools: Vec::new(),
            tool_choice: None,
        };
        return Ok((Native::Llama, chat));
    }
    Err(validation(
        "the body is neither an Anthropic messages body (messages, max_tokens) nor a Llama body (prompt)",
    ))
}

fn anthropic_stop(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Length => "max_tokens",
        FinishReason::ContentFilter => "guardrail_intervened",
        _ => "end_turn",
    }
}

fn llama_stop(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
        _ => "stop",
    }
}

fn whole(native: &Native, model: &str, text: &str, finish: FinishReason, usage: Usage) -> Value {
    match native {
        Native::Anthropic => json!({
            "id": format!("msg_{}", uuid::Uuid::new_v4().simple()),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": anthropic_stop(finish),
            "stop_sequence": null,
            "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
        }),
        Native::Llama => json!({
            "generation": text,
            "prompt_token_count": usage.prompt_tokens,
            "generation_token_count": usage.completion_tokens,
            "stop_reason": llama_stop(finish),
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TitanEmbedding {
    input_text: String,
    dimensions: Option<i64>,
    normalize: Option<bool>,
    embedding_types: Option<Vec<String>>,
}

/// A native body as JSON, parsed once for telling the formats apart and reading them.
fn native_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| validation(format!("the body is not valid JSON: {e}")))
}

/// Whether a native body is a Titan embedding body.
fn is_titan_embedding(v: &Value) -> bool {
    v.get("inputText").is_some()
}

/// InvokeModel with a Titan embedding body.
async fn titan_embed(
    state: &AppState,
    caller: &scif_access::Caller,
    slot: Option<&Slot>,
    headers: &HeaderMap,
    model_id: &str,
    body: Value,
) -> Result<Response, ApiError> {
    let model = super::resolve_model_id(model_id)?;
    let t: TitanEmbedding = serde_json::from_value(body)
        .map_err(|e| validation(format!("Titan embedding body: {e}")))?;
    if t.input_text.is_empty() {
        return Err(validation("inputText must not be empty"));
    }
    if t.normalize == Some(false) {
        return Err(validation(
            "normalize false is not supported: this model's vectors are always normalized",
        ));
    }
    let by_type = match &t.embedding_types {
        None => false,
        Some(types) if types.iter().all(|k| k == "float") && !types.is_empty() => true,
        Some(_) => {
            return Err(validation(
                "embeddingTypes supports only [\"float\"] for this model",
            ))
        }
    };
    let dimensions = match t.dimensions {
        None => None,
        Some(d) if d >= 1 => Some(d as usize),
        Some(_) => return Err(validation("dimensions must be a positive integer")),
    };
    let guardrails = header_guardrail(headers)?;
    let call = super::call(caller, slot, headers, false, &guardrails)?;
    let req = scif_provider::EmbedRequest {
        model,
        inputs: vec![t.input_text],
        dimensions,
        input_label: scif_labels::Label::unclassified(),
    };
    let done = scif_service::embed(state, call, req).await?;
    let vector = done
        .embeddings
        .vectors
        .into_iter()
        .next()
        .unwrap_or_default();
    let tokens = done.embeddings.prompt_tokens;
    let mut out = json!({"embedding": vector, "inputTextTokenCount": tokens});
    if by_type {
        out["embeddingsByType"] = json!({"float": out["embedding"].clone()});
    }
    let mut resp = axum::Json(out).into_response();
    if let Ok(v) = HeaderValue::from_str(&tokens.to_string()) {
        resp.headers_mut()
            .insert("x-amzn-bedrock-input-token-count", v);
    }
    let (name, value) = done.flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

pub async fn invoke(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    Path(model_id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let body = native_json(&body)?;
    if is_titan_embedding(&body) {
        return titan_embed(&state, &caller, slot.as_ref(), &headers, &model_id, body).await;
    }
    let (model, native, inv) = begin(
        &state,
        &caller,
        slot.as_ref(),
        &headers,
        &model_id,
        body,
        false,
    )
    .await?;
    let (events, flow) = (inv.events, inv.flow);
    let (text, finish, usage) = super::collect(events).await?;
    let mut resp = axum::Json(whole(&native, &model, &text, finish, usage)).into_response();
    let (name, value) = flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

fn chunk(v: Value) -> Result<Bytes, Infallible> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(v.to_string());
    Ok(Bytes::from(scif_sigv4::eventstream::event(
        "chunk",
        json!({ "bytes": b64 }).to_string().as_bytes(),
    )))
}

pub async fn invoke_stream(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    Path(model_id): Path<String>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let body = native_json(&body)?;
    if is_titan_embedding(&body) {
        return Err(validation(
            "embedding models do not stream: use InvokeModel for a Titan embedding body",
        ));
    }
    let started = Instant::now();
    let (model, native, inv) = begin(
        &state,
        &caller,
        slot.as_ref(),
        &headers,
        &model_id,
        body,
        true,
    )
    .await?;
    let (events, flow) = (inv.events, inv.flow);
    let anthropic = matches!(native, Native::Anthropic);
    let mut first: Vec<Result<Bytes, Infallible>> = Vec::new();
    if anthropic {
        first.push(chunk(json!({"type": "message_start", "message": {
            "id": format!("msg_{}", uuid::Uuid::new_v4().simple()), "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})));
        first.push(chunk(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
    }
    let body = events.flat_map(move |ev| {
        let out: Vec<Result<Bytes, Infallible>> = match ev {
            ChatEvent::ToolCall(_) => vec![Ok(Bytes::from(scif_sigv4::eventstream::exception(
                "internalServerException",
                "the model called a tool, which this route does not support yet",
            )))],
            ChatEvent::Delta(t) if anthropic => vec![chunk(json!({
                "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}))],
            ChatEvent::Delta(t) => vec![chunk(json!({
                "generation": t, "prompt_token_count": null, "generation_token_count": null, "stop_reason": null}))],
            ChatEvent::Done { finish_reason: FinishReason::Cancelled, .. } => {
                vec![Ok(Bytes::from(scif_sigv4::eventstream::exception(
                    "serviceUnavailableException",
                    "the request was cancelled because the server is shutting down",
                )))]
            }
            ChatEvent::Done { finish_reason, usage } => {
                let metrics = json!({
                    "inputTokenCount": usage.prompt_tokens,
                    "outputTokenCount": usage.completion_tokens,
                    "invocationLatency": started.elapsed().as_millis() as u64,
                    "firstByteLatency": 0,
                });
                if anthropic {
                    vec![
                        chunk(json!({"type": "content_block_stop", "index": 0})),
                        chunk(json!({"type": "message_delta", "delta": {"stop_reason": anthropic_stop(finish_reason), "stop_sequence": null}, "usage": {"output_tokens": usage.completion_tokens}})),
                        chunk(json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})),
                    ]
                } else {
                    vec![chunk(json!({
                        "generation": "", "prompt_token_count": usage.prompt_tokens,
                        "generation_token_count": usage.completion_tokens,
                        "stop_reason": llama_stop(finish_reason),
                        "amazon-bedrock-invocationMetrics": metrics}))]
                }
            }
            ChatEvent::Error(m) => {
                tracing::error!(error = %m, "generation failed mid-stream");
                vec![Ok(Bytes::from(scif_sigv4::eventstream::exception(
                    "internalServerException",
                    "the model failed",
                )))]
            }
        };
        futures::stream::iter(out)
    });
    let mut resp = Response::new(Body::from_stream(futures::stream::iter(first).chain(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    resp.headers_mut().insert(
        "x-amzn-bedrock-content-type",
        HeaderValue::from_static("application/json"),
    );
    let (name, value) = flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

/// Both InvokeModel routes: the model, the native body, and the started generation (with the
/// guardrail the headers name).
async fn begin(
    state: &AppState,
    caller: &scif_access::Caller,
    slot: Option<&Slot>,
    headers: &HeaderMap,
    model_id: &str,
    body: Value,
    stream: bool,
) -> Result<(String, Native, scif_service::Invocation), ApiError> {
    let model = super::resolve_model_id(model_id)?;
    let (native, chat) = parse(&model, body)?;
    let guardrails = header_guardrail(headers)?;
    let inv = prepare(state, caller, slot, headers, chat, stream, &guardrails).await?;
    Ok((model, native, inv))
}

/// InvokeModel names a guardrail in headers: `X-Amzn-Bedrock-GuardrailIdentifier` and
/// `X-Amzn-Bedrock-GuardrailVersion`.
fn header_guardrail(headers: &HeaderMap) -> Result<Vec<crate::guardrails::Requested>, ApiError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(id) = get("x-amzn-bedrock-guardrailidentifier") else {
        return Ok(Vec::new());
    };
    let version = get("x-amzn-bedrock-guardrailversion").ok_or_else(|| {
        super::validation("X-Amzn-Bedrock-GuardrailVersion is required with a guardrail identifier")
    })?;
    let id = id.rsplit('/').next().unwrap_or(id);
    crate::guardrails::Requested::parse(id, Some(version))
        .map(|r| vec![r])
        .map_err(super::validation)
}
