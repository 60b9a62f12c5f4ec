//! The Bedrock dialect: `Converse`, `ConverseStream` (AWS event-stream frames),
//! `ListFoundationModels` and `GetFoundationModel`, so that `boto3` works against scif with
//! only its endpoint and credentials changed. Requests go through the same layers (audit,
//! authentication, including SigV4) and the same guards as the OpenAI dialect; this module
//! only translates. Errors leave in Bedrock's shape (see [`errors`]).

pub mod errors;
mod invoke;

use std::convert::Infallible;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use scif_authz::Action;
use scif_provider::{ChatEvent, ChatMessage, ChatRequest, FinishReason, SamplingParams};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::openai::OpenAiJson;
use crate::{guard, AppState};

/// Paths of the Bedrock dialect (runtime and control plane).
pub fn is_bedrock_path(path: &str) -> bool {
    path.starts_with("/model/")
        || path == "/foundation-models"
        || path.starts_with("/foundation-models/")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/converse-stream", post(converse_stream))
        .route("/model/{model_id}/invoke", post(invoke::invoke))
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(invoke::invoke_stream),
        )
        .route("/foundation-models", get(list_models))
        .route("/foundation-models/{model_id}", get(get_model))
}

/// A model id as Bedrock clients send it: a scif model name, or a foundation-model ARN in the
/// `aws`, `aws-us-gov`, `aws-iso` or `aws-iso-b` partition.
pub fn resolve_model_id(id: &str) -> Result<String, ApiError> {
    let Some(rest) = id.strip_prefix("arn:") else {
        return Ok(id.to_owned());
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let invalid = || {
        ApiError::invalid(
            format!("modelId {id:?} is not a valid foundation-model ARN"),
            Some("modelId"),
        )
    };
    let [partition, service, _region, account, resource] = parts.as_slice() else {
        return Err(invalid());
    };
    if !matches!(*partition, "aws" | "aws-us-gov" | "aws-iso" | "aws-iso-b")
        || *service != "bedrock"
        || !account.is_empty()
    {
        return Err(invalid());
    }
    resource
        .strip_prefix("foundation-model/")
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(invalid)
}

fn model_arn(region: &str, name: &str) -> String {
    format!("arn:aws-us-gov:bedrock:{region}::foundation-model/{name}")
}

fn caller_region(caller: &scif_access::Caller) -> String {
    match &caller.method {
        scif_access::AuthMethod::SigV4 { region, .. } => region.clone(),
        _ => "us-gov-west-1".to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConverseRequest {
    messages: Vec<Message>,
    #[serde(default)]
    system: Vec<Map<String, Value>>,
    inference_config: Option<InferenceConfig>,
    tool_config: Option<Value>,
    guardrail_config: Option<Value>,
    prompt_variables: Option<Value>,
    // Accepted and ignored, as Bedrock does for fields a model does not use.
    #[serde(default, rename = "additionalModelRequestFields")]
    _additional_model_request_fields: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "additionalModelResponseFieldPaths")]
    _additional_model_response_field_paths: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "requestMetadata")]
    _request_metadata: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "performanceConfig")]
    _performance_config: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    role: String,
    content: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InferenceConfig {
    max_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop_sequences: Option<Vec<String>>,
}

pub(super) fn validation(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message, None)
}

/// One content block: exactly one key; only `text` reaches this model.
fn block_text(block: &Map<String, Value>, at: &str) -> Result<String, ApiError> {
    if block.len() != 1 {
        return Err(validation(format!(
            "{at} must have exactly one key, found {}",
            block.len()
        )));
    }
    match block.iter().next() {
        Some((k, Value::String(t))) if k == "text" => Ok(t.clone()),
        Some((k, _)) if k == "text" => Err(validation(format!("{at}.text must be a string"))),
        Some((k, _)) => Err(validation(format!(
            "{at}.{k} is not supported by this model (text only; tool use comes later)"
        ))),
        None => Err(validation(format!("{at} is empty"))),
    }
}

fn to_chat(model: &str, req: ConverseRequest) -> Result<ChatRequest, ApiError> {
    for (name, present) in [
        ("toolConfig", req.tool_config.is_some()),
        ("guardrailConfig", req.guardrail_config.is_some()),
        ("promptVariables", req.prompt_variables.is_some()),
    ] {
        if present {
            return Err(validation(format!("{name} is not supported yet")));
        }
    }
    if req.messages.is_empty() {
        return Err(validation("messages must contain at least one message"));
    }
    let mut messages = Vec::new();
    for (i, b) in req.system.iter().enumerate() {
        messages.push(ChatMessage {
            role: "system".into(),
            content: block_text(b, &format!("system.{i}"))?,
            ..Default::default()
        });
    }
    for (i, m) in req.messages.iter().enumerate() {
        if !matches!(m.role.as_str(), "user" | "assistant") {
            return Err(validation(format!(
                "messages.{i}.role must be user or assistant"
            )));
        }
        if m.content.is_empty() {
            return Err(validation(format!(
                "messages.{i}.content must not be empty"
            )));
        }
        let mut text = String::new();
        for (j, b) in m.content.iter().enumerate() {
            text.push_str(&block_text(b, &format!("messages.{i}.content.{j}"))?);
        }
        messages.push(ChatMessage {
            role: m.role.clone(),
            content: text,
            ..Default::default()
        });
    }
    let cfg = req.inference_config.unwrap_or(InferenceConfig {
        max_tokens: None,
        temperature: None,
        top_p: None,
        stop_sequences: None,
    });
    if let Some(n) = cfg.max_tokens {
        if n < 1 {
            return Err(validation("inferenceConfig.maxTokens must be at least 1"));
        }
    }
    for (name, v) in [("temperature", cfg.temperature), ("topP", cfg.top_p)] {
        if let Some(v) = v {
            if !(0.0..=1.0).contains(&v) {
                return Err(validation(format!(
                    "inferenceConfig.{name} must be between 0 and 1"
                )));
            }
        }
    }
    let stop = cfg.stop_sequences.unwrap_or_default();
    if stop.len() > 4 || stop.iter().any(String::is_empty) {
        return Err(validation(
            "inferenceConfig.stopSequences: at most 4, none empty",
        ));
    }
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        sampling: SamplingParams {
            temperature: cfg.temperature.unwrap_or(1.0) as f32,
            top_p: cfg.top_p.unwrap_or(1.0) as f32,
            ..SamplingParams::default()
        },
        max_tokens: cfg.max_tokens.map(|n| n as usize),
        stop,
        stream: false,
        input_label: scif_labels::Label::unclassified(),
        tools: Vec::new(),
        tool_choice: None,
    })
}

fn stop_reason(r: FinishReason, stopped_by_sequence: bool) -> &'static str {
    match r {
        FinishReason::Length => "max_tokens",
        FinishReason::Stop if stopped_by_sequence => "stop_sequence",
        FinishReason::Stop | FinishReason::Cancelled => "end_turn",
        FinishReason::ToolCalls => "tool_use",
    }
}

/// Authorize, label and start a generation; shared by every runtime route (and, through
/// [`crate::invoke`], with the OpenAI routes).
pub(super) async fn prepare(
    state: &AppState,
    caller: &scif_access::Caller,
    slot: Option<&Slot>,
    headers: &HeaderMap,
    chat: ChatRequest,
    stream: bool,
) -> Result<(scif_provider::ChatStream, guard::Flow), ApiError> {
    let inv = crate::invoke::start(
        crate::invoke::Request {
            state,
            caller,
            slot,
            headers,
            dialect: "bedrock",
            stream,
        },
        chat,
    )
    .await?;
    Ok((inv.events, inv.flow))
}

async fn start(
    state: &AppState,
    caller: &scif_access::Caller,
    slot: Option<&Slot>,
    headers: &HeaderMap,
    model_id: &str,
    body: ConverseRequest,
    stream: bool,
) -> Result<(scif_provider::ChatStream, guard::Flow, bool), ApiError> {
    let model = resolve_model_id(model_id)?;
    let chat = to_chat(&model, body)?;
    let has_stop = !chat.stop.is_empty();
    let (events, flow) = prepare(state, caller, slot, headers, chat, stream).await?;
    Ok((events, flow, has_stop))
}

/// Runs a generation to its end: the text, why it stopped, and the usage.
pub(super) async fn collect(
    mut events: scif_provider::ChatStream,
) -> Result<(String, FinishReason, scif_provider::Usage), ApiError> {
    let mut text = String::new();
    loop {
        match events.next().await {
            Some(ChatEvent::Delta(t)) => text.push_str(&t),
            // Bedrock routes send no tools yet, so a call here is a provider bug.
            Some(ChatEvent::ToolCall(_)) => {
                return Err(ApiError::Internal(
                    "the model called a tool, which this route does not support yet".into(),
                ))
            }
            Some(ChatEvent::Done {
                finish_reason: FinishReason::Cancelled,
                ..
            }) => {
                return Err(ApiError::Unavailable(
                    "the request was cancelled because the server is shutting down".into(),
                ))
            }
            Some(ChatEvent::Done {
                finish_reason,
                usage,
            }) => return Ok((text, finish_reason, usage)),
            Some(ChatEvent::Error(m)) => {
                tracing::error!(error = %m, "generation failed");
                return Err(ApiError::Internal("the model failed".into()));
            }
            None => return Err(ApiError::Internal("the generation ended early".into())),
        }
    }
}

async fn converse(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    Path(model_id): Path<String>,
    OpenAiJson(body): OpenAiJson<ConverseRequest>,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let started = Instant::now();
    let (events, flow, has_stop) = start(
        &state,
        &caller,
        slot.as_ref(),
        &headers,
        &model_id,
        body,
        false,
    )
    .await?;
    let (text, finish, usage) = collect(events).await?;
    if let (Some(auditor), Some(slot)) = (&state.auditor, &slot) {
        slot.update(|e| auditor.text(&mut e.detail, "completion", &text));
    }
    let body = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason(finish, has_stop && finish == FinishReason::Stop && !text.is_empty()),
        "usage": usage_json(usage),
        "metrics": {"latencyMs": started.elapsed().as_millis() as u64},
    });
    let mut resp = Json(body).into_response();
    let (name, value) = flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

async fn converse_stream(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    Path(model_id): Path<String>,
    OpenAiJson(body): OpenAiJson<ConverseRequest>,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let started = Instant::now();
    let (events, flow, has_stop) = start(
        &state,
        &caller,
        slot.as_ref(),
        &headers,
        &model_id,
        body,
        true,
    )
    .await?;
    let frame = |t: &str, v: Value| -> Result<bytes::Bytes, Infallible> {
        Ok(bytes::Bytes::from(scif_sigv4::eventstream::event(
            t,
            v.to_string().as_bytes(),
        )))
    };
    let head = futures::stream::iter(vec![frame("messageStart", json!({"role": "assistant"}))]);
    let mut any_text = false;
    let body = events.flat_map(move |ev| {
        let out: Vec<Result<bytes::Bytes, Infallible>> = match ev {
            ChatEvent::ToolCall(_) => vec![Ok(bytes::Bytes::from(
                scif_sigv4::eventstream::exception(
                    "internalServerException",
                    "the model called a tool, which this route does not support yet",
                ),
            ))],
            ChatEvent::Delta(t) => {
                any_text = true;
                vec![frame(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": t}}),
                )]
            }
            ChatEvent::Done {
                finish_reason: FinishReason::Cancelled,
                ..
            } => vec![Ok(bytes::Bytes::from(scif_sigv4::eventstream::exception(
                "serviceUnavailableException",
                "the request was cancelled because the server is shutting down",
            )))],
            ChatEvent::Done {
                finish_reason,
                usage,
            } => {
                vec![
                    frame("contentBlockStop", json!({"contentBlockIndex": 0})),
                    frame(
                        "messageStop",
                        json!({"stopReason": stop_reason(finish_reason, has_stop && finish_reason == FinishReason::Stop && any_text)}),
                    ),
                    frame(
                        "metadata",
                        json!({
                            "usage": usage_json(usage),
                            "metrics": {"latencyMs": started.elapsed().as_millis() as u64},
                        }),
                    ),
                ]
            }
            ChatEvent::Error(m) => {
                tracing::error!(error = %m, "generation failed mid-stream");
                vec![Ok(bytes::Bytes::from(scif_sigv4::eventstream::exception(
                    "internalServerException",
                    "the model failed",
                )))]
            }
        };
        futures::stream::iter(out)
    });
    let mut resp = Response::new(Body::from_stream(head.chain(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    let (name, value) = flow.header();
    resp.headers_mut().insert(name, value);
    *resp.status_mut() = StatusCode::OK;
    Ok(resp)
}

fn usage_json(u: scif_provider::Usage) -> Value {
    json!({
        "inputTokens": u.prompt_tokens,
        "outputTokens": u.completion_tokens,
        "totalTokens": u.prompt_tokens + u.completion_tokens,
    })
}

fn summary(region: &str, m: &scif_provider::ModelInfo) -> Value {
    json!({
        "modelArn": model_arn(region, &m.id),
        "modelId": m.id,
        "modelName": m.id,
        "providerName": "scif",
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": true,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
    })
}

/// `ListFoundationModels`: the models the caller may see, and no others.
async fn list_models(State(state): State<AppState>, caller: CallerExt) -> Json<Value> {
    let region = caller_region(&caller);
    let data: Vec<Value> = state
        .providers
        .models()
        .iter()
        .filter(|m| guard::model_visible(&state, &caller, &m.id))
        .map(|m| summary(&region, m))
        .collect();
    Json(json!({"modelSummaries": data}))
}

/// `GetFoundationModel`: like a missing model for one above the caller's clearance.
async fn get_model(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path(model_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let model = resolve_model_id(&model_id)?;
    guard::model(&state, &caller, Action::ReadModel, &model, slot.as_ref())?;
    let region = caller_region(&caller);
    state
        .providers
        .models()
        .iter()
        .find(|m| m.id == model)
        .map(|m| Json(json!({"modelDetails": summary(&region, m)})))
        .ok_or(ApiError::ModelNotFound(model))
}
