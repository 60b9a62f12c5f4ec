//! The Bedrock dialect: `Converse`, `ConverseStream` (AWS event-stream frames),
//! `ListFoundationModels` and `GetFoundationModel`, so that `boto3` works against scif with
//! only its endpoint and credentials changed. Requests go through the same layers (audit,
//! authentication, including SigV4) and the same guards as the OpenAI dialect; this module
//! only translates. Errors leave in Bedrock's shape (see [`errors`]).

pub mod errors;
pub mod invoke;
pub mod knowledge;

use std::convert::Infallible;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use scif_authz::Action;
use scif_provider::{ChatEvent, ChatMessage, ChatRequest, FinishReason, SamplingParams};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::guard::FlowHeader as _;
use crate::guardrails::Requested;
use crate::openai::OpenAiJson;
use crate::{guard, AppState};

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
pub struct ConverseRequest {
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

/// `guardrailConfig`: the guardrail to apply and whether the response carries its trace.
pub(super) struct GuardrailChoice {
    pub requested: Vec<Requested>,
    pub trace: bool,
}

fn guardrail_choice(v: Option<&Value>) -> Result<GuardrailChoice, ApiError> {
    let Some(v) = v else {
        return Ok(GuardrailChoice {
            requested: Vec::new(),
            trace: false,
        });
    };
    let Some(o) = v.as_object() else {
        return Err(validation("guardrailConfig must be an object"));
    };
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "guardrailIdentifier" | "guardrailVersion" | "trace" | "streamProcessingMode"
        ) {
            return Err(validation(format!(
                "guardrailConfig.{k} is not a known member"
            )));
        }
    }
    let id = o
        .get("guardrailIdentifier")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("guardrailConfig.guardrailIdentifier is required"))?;
    let version = o
        .get("guardrailVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("guardrailConfig.guardrailVersion is required"))?;
    let trace = match o.get("trace").map(|t| t.as_str()) {
        None | Some(Some("disabled")) => false,
        Some(Some("enabled" | "enabled_full")) => true,
        _ => {
            return Err(validation(
                "guardrailConfig.trace must be enabled, enabled_full or disabled",
            ))
        }
    };
    // A guardrail ARN names the guardrail by its last path segment.
    let id = id.rsplit('/').next().unwrap_or(id);
    let requested = Requested::parse(id, Some(version))
        .map_err(|m| validation(format!("guardrailConfig: {m}")))?;
    Ok(GuardrailChoice {
        requested: vec![requested],
        trace,
    })
}

fn to_chat(model: &str, req: ConverseRequest) -> Result<ChatRequest, ApiError> {
    if req.prompt_variables.is_some() {
        return Err(validation("promptVariables is not supported yet"));
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
        let mut calls = Vec::new();
        let mut results = Vec::new();
        for (j, b) in m.content.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            match (b.len(), b.get("toolUse"), b.get("toolResult")) {
                (1, Some(u), _) if m.role == "assistant" => calls.push(tool_use_of(u, &at)?),
                (1, _, Some(r)) if m.role == "user" => results.push(tool_result_of(r, &at)?),
                (1, Some(_), _) | (1, _, Some(_)) => {
                    return Err(validation(format!(
                    "{at}: toolUse belongs in assistant messages and toolResult in user messages"
                )))
                }
                _ => text.push_str(&block_text(b, &at)?),
            }
        }
        for (id, content) in results {
            let answered = messages
                .iter()
                .any(|p: &ChatMessage| p.tool_calls.iter().any(|c| c.id == id));
            if !answered {
                return Err(validation(format!(
                    "messages.{i}: toolResult {id:?} does not answer a toolUse of an earlier assistant message"
                )));
            }
            messages.push(ChatMessage {
                role: "tool".into(),
                content,
                tool_call_id: Some(id),
                ..Default::default()
            });
        }
        if !text.is_empty() || !calls.is_empty() || m.role == "assistant" {
            messages.push(ChatMessage {
                role: m.role.clone(),
                content: text,
                tool_calls: calls,
                ..Default::default()
            });
        }
    }
    let (tools, tool_choice) = match &req.tool_config {
        Some(c) => tool_config_of(c)?,
        None => (Vec::new(), None),
    };
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
        tools,
        tool_choice,
    })
}

/// `{"toolUseId", "name", "input": {...}}` in an assistant turn.
fn tool_use_of(u: &Value, at: &str) -> Result<scif_provider::ToolCall, ApiError> {
    let id = u.get("toolUseId").and_then(|v| v.as_str());
    let name = u.get("name").and_then(|v| v.as_str());
    match (id, name, u.get("input")) {
        (Some(id), Some(name), Some(input)) if crate::openai::chat::valid_tool_name(name) => {
            Ok(scif_provider::ToolCall {
                id: id.to_owned(),
                name: name.to_owned(),
                arguments: input.to_string(),
            })
        }
        _ => Err(validation(format!(
            "{at}.toolUse needs toolUseId, a name matching [a-zA-Z0-9_-]{{1,64}}, and input"
        ))),
    }
}

/// `{"toolUseId", "content": [{"text"} | {"json"}], "status"?}` in a user turn: the id and the
/// result as text.
fn tool_result_of(r: &Value, at: &str) -> Result<(String, String), ApiError> {
    let Some(id) = r.get("toolUseId").and_then(|v| v.as_str()) else {
        return Err(validation(format!("{at}.toolResult.toolUseId is required")));
    };
    let mut text = String::new();
    for (k, c) in r
        .get("content")
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match (c.get("text").and_then(|t| t.as_str()), c.get("json")) {
            (Some(t), None) => text.push_str(t),
            (None, Some(j)) => text.push_str(&j.to_string()),
            _ => {
                return Err(validation(format!(
                    "{at}.toolResult.content.{k} must hold exactly one of text or json"
                )))
            }
        }
    }
    if r.get("status").and_then(|v| v.as_str()) == Some("error") {
        text = format!("error: {text}");
    }
    Ok((id.to_owned(), text))
}

fn tool_config_of(
    c: &Value,
) -> Result<
    (
        Vec<scif_provider::ToolSpec>,
        Option<scif_provider::ToolChoice>,
    ),
    ApiError,
> {
    let Some(list) = c
        .get("tools")
        .and_then(|t| t.as_array())
        .filter(|l| !l.is_empty())
    else {
        return Err(validation("toolConfig.tools must hold at least one tool"));
    };
    let mut tools: Vec<scif_provider::ToolSpec> = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let at = format!("toolConfig.tools.{i}.toolSpec");
        let spec = t
            .get("toolSpec")
            .ok_or_else(|| validation(format!("{at} is required")))?;
        let name = spec.get("name").and_then(|n| n.as_str()).unwrap_or("");
        if !crate::openai::chat::valid_tool_name(name) {
            return Err(validation(format!(
                "{at}.name must match [a-zA-Z0-9_-]{{1,64}}"
            )));
        }
        if tools.iter().any(|x| x.name == name) {
            return Err(validation(format!("{at}.name {name:?} is not unique")));
        }
        let Some(schema) = spec.pointer("/inputSchema/json").filter(|j| j.is_object()) else {
            return Err(validation(format!(
                "{at}.inputSchema.json must be a JSON Schema object"
            )));
        };
        tools.push(scif_provider::ToolSpec {
            name: name.to_owned(),
            description: spec
                .get("description")
                .and_then(|d| d.as_str())
                .map(str::to_owned),
            parameters: schema.clone(),
        });
    }
    let choice = match c.get("toolChoice") {
        None => None,
        Some(ch) if ch.get("auto").is_some() => Some(scif_provider::ToolChoice::Auto),
        Some(ch) if ch.get("any").is_some() => Some(scif_provider::ToolChoice::Required),
        Some(ch) => match ch.pointer("/tool/name").and_then(|n| n.as_str()) {
            Some(n) if tools.iter().any(|t| t.name == n) => {
                Some(scif_provider::ToolChoice::Named(n.to_owned()))
            }
            _ => {
                return Err(validation(
                    "toolConfig.toolChoice must be {auto: {}}, {any: {}} or {tool: {name}} naming a tool",
                ))
            }
        },
    };
    Ok((tools, choice))
}

fn stop_reason(r: FinishReason, stopped_by_sequence: bool) -> &'static str {
    match r {
        FinishReason::Length => "max_tokens",
        FinishReason::Stop if stopped_by_sequence => "stop_sequence",
        FinishReason::Stop | FinishReason::Cancelled => "end_turn",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "guardrail_intervened",
    }
}

/// Authorize, label and start a generation through the service's pipeline; shared by every
/// runtime route.
pub(super) async fn prepare(
    state: &AppState,
    caller: &scif_access::Caller,
    slot: Option<&Slot>,
    headers: &HeaderMap,
    chat: ChatRequest,
    stream: bool,
    guardrails: &[Requested],
) -> Result<scif_service::Invocation, ApiError> {
    let call = call(caller, slot, headers, stream, guardrails)?;
    Ok(scif_service::invoke(state, call, chat).await?)
}

/// The pipeline's call context for a Bedrock request.
pub(super) fn call<'a>(
    caller: &'a scif_access::Caller,
    slot: Option<&'a Slot>,
    headers: &HeaderMap,
    stream: bool,
    guardrails: &'a [Requested],
) -> Result<scif_service::Call<'a>, ApiError> {
    Ok(scif_service::Call {
        caller,
        slot,
        dialect: scif_service::Dialect::Bedrock,
        stream,
        guardrails,
        declared_input_label: crate::guard::declared_input_label(headers)?,
    })
}

struct Started {
    events: scif_provider::ChatStream,
    flow: guard::Flow,
    has_stop: bool,
    report: crate::guardrails::SharedReport,
    trace: bool,
}

impl Started {
    /// The response's `trace` member, when the request asked for it.
    fn trace(&self) -> Option<Value> {
        if !self.trace {
            return None;
        }
        Some(json!({"guardrail": crate::guardrails::lock(&self.report).bedrock_trace()}))
    }
}

async fn start(
    state: &AppState,
    caller: &scif_access::Caller,
    slot: Option<&Slot>,
    headers: &HeaderMap,
    model_id: &str,
    body: ConverseRequest,
    stream: bool,
) -> Result<Started, ApiError> {
    let model = resolve_model_id(model_id)?;
    let choice = guardrail_choice(body.guardrail_config.as_ref())?;
    let chat = to_chat(&model, body)?;
    let has_stop = !chat.stop.is_empty();
    let inv = prepare(
        state,
        caller,
        slot,
        headers,
        chat,
        stream,
        &choice.requested,
    )
    .await?;
    Ok(Started {
        events: inv.events,
        flow: inv.flow,
        has_stop,
        report: inv.guardrail,
        trace: choice.trace,
    })
}

/// Runs a generation to its end: the text, why it stopped, and the usage.
pub(super) async fn collect(
    events: scif_provider::ChatStream,
) -> Result<(String, FinishReason, scif_provider::Usage), ApiError> {
    let (text, calls, finish, usage) = collect_with_calls(events).await?;
    if !calls.is_empty() {
        // Only Converse sends tools; a call here is a provider bug.
        return Err(ApiError::Internal(
            "the model called a tool, which this route does not offer".into(),
        ));
    }
    Ok((text, finish, usage))
}

/// The input of a `toolUse` block: the call's arguments as JSON (a string when the model
/// produced something that does not parse).
fn tool_input(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

type Collected = (
    String,
    Vec<scif_provider::ToolCall>,
    FinishReason,
    scif_provider::Usage,
);

async fn collect_with_calls(events: scif_provider::ChatStream) -> Result<Collected, ApiError> {
    let a = scif_service::answer::collect(events).await?;
    Ok((a.text, a.calls, a.finish, a.usage))
}

pub async fn converse(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    Path(model_id): Path<String>,
    OpenAiJson(body): OpenAiJson<ConverseRequest>,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let started = Instant::now();
    let mut st = start(
        &state,
        &caller,
        slot.as_ref(),
        &headers,
        &model_id,
        body,
        false,
    )
    .await?;
    let events = std::mem::replace(&mut st.events, Box::pin(futures::stream::empty()));
    let (text, calls, finish, usage) = collect_with_calls(events).await?;
    let has_stop = st.has_stop;
    let mut content = Vec::new();
    if !text.is_empty() || calls.is_empty() {
        content.push(json!({"text": text}));
    }
    for c in &calls {
        content.push(json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": tool_input(&c.arguments)}}));
    }
    let mut body = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(finish, has_stop && finish == FinishReason::Stop && !text.is_empty()),
        "usage": usage_json(usage),
        "metrics": {"latencyMs": started.elapsed().as_millis() as u64},
    });
    if let Some(trace) = st.trace() {
        body["trace"] = trace;
    }
    let mut resp = Json(body).into_response();
    let (name, value) = st.flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

pub async fn converse_stream(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    Path(model_id): Path<String>,
    OpenAiJson(body): OpenAiJson<ConverseRequest>,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let started = Instant::now();
    let mut st = start(
        &state,
        &caller,
        slot.as_ref(),
        &headers,
        &model_id,
        body,
        true,
    )
    .await?;
    let events = std::mem::replace(&mut st.events, Box::pin(futures::stream::empty()));
    let has_stop = st.has_stop;
    let flow = st.flow.clone();
    let frame = |t: &str, v: Value| -> Result<bytes::Bytes, Infallible> {
        Ok(bytes::Bytes::from(scif_sigv4::eventstream::event(
            t,
            v.to_string().as_bytes(),
        )))
    };
    let head = futures::stream::iter(vec![frame("messageStart", json!({"role": "assistant"}))]);
    let mut any_text = false;
    let mut blocks = 0usize;
    let body = events.flat_map(move |ev| {
        let out: Vec<Result<bytes::Bytes, Infallible>> = match ev {
            // Block 0 is the text; each tool call is a block of its own after it.
            ChatEvent::ToolCall(c) => {
                blocks += 1;
                vec![
                    frame(
                        "contentBlockStart",
                        json!({"contentBlockIndex": blocks, "start": {"toolUse": {"toolUseId": c.id, "name": c.name}}}),
                    ),
                    frame(
                        "contentBlockDelta",
                        json!({"contentBlockIndex": blocks, "delta": {"toolUse": {"input": c.arguments}}}),
                    ),
                    frame("contentBlockStop", json!({"contentBlockIndex": blocks})),
                ]
            }
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
                let mut v = Vec::new();
                if any_text || blocks == 0 {
                    v.push(frame("contentBlockStop", json!({"contentBlockIndex": 0})));
                }
                v.extend([
                    frame(
                        "messageStop",
                        json!({"stopReason": stop_reason(finish_reason, has_stop && finish_reason == FinishReason::Stop && any_text)}),
                    ),
                    frame("metadata", {
                        let mut m = json!({
                            "usage": usage_json(usage),
                            "metrics": {"latencyMs": started.elapsed().as_millis() as u64},
                        });
                        if let Some(trace) = st.trace() {
                            m["trace"] = trace;
                        }
                        m
                    }),
                ]);
                v
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
pub async fn list_models(State(state): State<AppState>, caller: CallerExt) -> Json<Value> {
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
pub async fn get_model(
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyGuardrailRequest {
    source: String,
    content: Vec<Map<String, Value>>,
    output_scope: Option<String>,
}

/// `ApplyGuardrail`: evaluates text with a guardrail version, without a model. Allowed to any
/// principal the policies let invoke models; spillage is checked against the caller's
/// clearance.
pub async fn apply_guardrail(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((guardrail_id, version)): Path<(String, String)>,
    OpenAiJson(body): OpenAiJson<ApplyGuardrailRequest>,
) -> Result<Json<Value>, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let resource = scif_authz::Resource::new(
        scif_authz::ResourceKind::System,
        "guardrails",
        scif_labels::Label::unclassified(),
    );
    let d = state
        .access
        .authorize(&caller, Action::InvokeModel, &resource);
    if !d.allowed {
        return Err(ApiError::Forbidden(d.denial_message()));
    }
    let source = match body.source.as_str() {
        "INPUT" => scif_guardrails::Source::Input,
        "OUTPUT" => scif_guardrails::Source::Output,
        other => {
            return Err(validation(format!(
                "source must be INPUT or OUTPUT, not {other:?}"
            )))
        }
    };
    let full = match body.output_scope.as_deref() {
        None | Some("INTERVENTIONS") => false,
        Some("FULL") => true,
        Some(other) => {
            return Err(validation(format!(
                "outputScope must be INTERVENTIONS or FULL, not {other:?}"
            )))
        }
    };
    if body.content.is_empty() {
        return Err(validation("content must contain at least one block"));
    }
    let mut texts = Vec::with_capacity(body.content.len());
    for (i, block) in body.content.iter().enumerate() {
        let text = match (block.len(), block.get("text")) {
            (1, Some(Value::Object(t))) => t.get("text").and_then(Value::as_str),
            _ => None,
        };
        let Some(text) = text else {
            return Err(validation(format!(
                "content[{i}] must be {{\"text\": {{\"text\": ...}}}}"
            )));
        };
        texts.push(text.to_owned());
    }
    let requested = Requested::parse(
        guardrail_id.rsplit('/').next().unwrap_or(&guardrail_id),
        Some(&version),
    )
    .map_err(validation)?;
    // Probing a guardrail needs read access to its label; unreadable and unknown alike.
    let g = state
        .guardrails
        .get_for(&requested.id, requested.version, &|label| {
            scif_service::guardrails::readable_by(&state, &caller, label)
        })
        .await?;
    let policy = state
        .guardrails
        .policy(vec![(g.id.clone(), g.version)])
        .await?;
    let clearance = caller.principal.clearance.clone();
    let ceiling = move |l: &scif_labels::Label| clearance.dominates(l);
    let mut outputs = Vec::new();
    let mut assessments = Vec::new();
    let mut detections = Vec::new();
    let mut intervened = false;
    let mut blocked = false;
    let mut chars = 0usize;
    for text in &texts {
        chars += text.chars().count();
        let o = policy.evaluate(text, source, Some(&ceiling));
        intervened |= o.intervened();
        blocked |= o.blocked;
        assessments.push(scif_guardrails::policy::assessment(&o.detections));
        outputs.push(o.output);
        detections.extend(o.detections);
    }
    crate::guardrails::log_spillage(&caller.principal.id, "", source, &detections);
    // Bedrock returns one text: the blocked message, or the masked text of every block.
    let outputs: Vec<Value> = if blocked {
        vec![json!({"text": policy.block_message(source, &detections)})]
    } else if intervened || full {
        outputs.into_iter().map(|t| json!({"text": t})).collect()
    } else {
        Vec::new()
    };
    let units = chars.div_ceil(1000);
    if let Some(slot) = &slot {
        let report = crate::guardrails::Report {
            guardrails: vec![(g.id.clone(), g.version)],
            input: if source == scif_guardrails::Source::Input {
                detections.clone()
            } else {
                Vec::new()
            },
            output: if source == scif_guardrails::Source::Output {
                detections
            } else {
                Vec::new()
            },
            blocked: blocked.then_some(source),
        };
        slot.update(|e| {
            e.action = Some("apply_guardrail".into());
            e.detail.insert("guardrail".into(), report.audit());
        });
    }
    Ok(Json(json!({
        "usage": {
            "topicPolicyUnits": 0,
            "contentPolicyUnits": units,
            "wordPolicyUnits": units,
            "sensitiveInformationPolicyUnits": units,
            "sensitiveInformationPolicyFreeUnits": 0,
            "contextualGroundingPolicyUnits": 0,
        },
        "action": if intervened { "GUARDRAIL_INTERVENED" } else { "NONE" },
        "actionReason": if blocked { "Guardrail blocked." } else if intervened { "Guardrail masked." } else { "No action." },
        "outputs": outputs,
        "assessments": assessments,
        "guardrailCoverage": {"textCharacters": {"guarded": chars, "total": chars}},
    })))
}
