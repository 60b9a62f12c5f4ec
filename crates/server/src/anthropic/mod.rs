//! The Anthropic Messages API: `POST /v1/messages` (streamed and not), `POST
//! /v1/messages/count_tokens`, and `GET /v1/models` in Anthropic's shape (asked with an
//! `anthropic-version` header). One codec over the service: decode into the neutral
//! [`ChatRequest`], run [`scif_service::invoke`], encode the events in Anthropic's exact
//! streaming sequence, and render every error, whichever layer made it, in Anthropic's
//! envelope (`{"type": "error", "error": {"type", "message"}}`).

pub mod types;

use std::convert::Infallible;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::{Stream, StreamExt};
use scif_authz::Action;
use scif_provider::{
    ChatEvent, ChatMessage, ChatRequest, FinishReason, SamplingParams, ToolCall, ToolChoice,
    ToolSpec, Usage,
};
use serde_json::{json, Value};
use tower_http::request_id::RequestId;

use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::guard::FlowHeader as _;
use crate::openai::RawBody;
use crate::AppState;
use types::*;

/// The header the Anthropic SDKs send on every request.
pub const VERSION_HEADER: &str = "anthropic-version";

/// An error in Anthropic's envelope, from the one error code.
pub struct AnthropicError(pub ApiError);

impl<E: Into<ApiError>> From<E> for AnthropicError {
    fn from(e: E) -> Self {
        AnthropicError(e.into())
    }
}

/// Anthropic's error type for an error.
pub fn error_type(e: &ApiError) -> &'static str {
    match e {
        ApiError::Denied { shown, .. } => error_type(shown),
        ApiError::InvalidRequest { .. } | ApiError::Conflict(_) | ApiError::MethodNotAllowed(_) => {
            "invalid_request_error"
        }
        ApiError::ModelNotFound(_) | ApiError::UnknownRoute(_) | ApiError::NotFound(_) => {
            "not_found_error"
        }
        ApiError::Unauthenticated => "authentication_error",
        ApiError::Forbidden(_) => "permission_error",
        ApiError::PayloadTooLarge(_) => "request_too_large",
        ApiError::Overloaded { .. } | ApiError::RateLimited { .. } => "rate_limit_error",
        ApiError::Unavailable(_) => "overloaded_error",
        ApiError::Internal(_) => "api_error",
    }
}

/// The envelope: `{"type": "error", "error": {"type", "message"}}`.
pub fn error_body(e: &ApiError) -> Value {
    let message = e.openai_body()["error"]["message"]
        .as_str()
        .unwrap_or("The request failed.")
        .to_owned();
    json!({"type": "error", "error": {"type": error_type(e), "message": message}})
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        // The OpenAI rendering carries the status and headers (Retry-After, x-scif-limit);
        // the dialect layer below swaps the body for Anthropic's.
        self.0.into_response()
    }
}

/// Renders every error response on an Anthropic request in Anthropic's shape, from the
/// typed error the response carries (never by re-reading a body), and adds `request-id`.
pub async fn dialect(req: Request, next: Next) -> Response {
    if crate::routes::dialect(&req) != crate::routes::Dialect::Anthropic {
        return next.run(req).await;
    }
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.header_value().clone());
    let mut resp = next.run(req).await;
    if let Some(err) = resp.extensions_mut().remove::<ApiError>() {
        let (mut parts, _) = resp.into_parts();
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        parts.headers.remove(axum::http::header::WWW_AUTHENTICATE);
        parts.headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp = Response::from_parts(parts, axum::body::Body::from(error_body(&err).to_string()));
    }
    if let Some(id) = request_id {
        resp.headers_mut().insert("request-id", id);
    }
    resp
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message, None)
}

fn parse_body(body: &[u8]) -> Result<MessagesRequest, ApiError> {
    if body.is_empty() {
        return Err(invalid(
            "The request body is empty; expected a JSON object.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        if e.is_syntax() || e.is_eof() {
            invalid(format!("The request body is not valid JSON: {msg}"))
        } else {
            invalid(msg)
        }
    })
}

fn text_of_blocks(blocks: &[TextBlock], at: &str) -> Result<String, ApiError> {
    let mut out = String::new();
    for (i, b) in blocks.iter().enumerate() {
        if b.kind != "text" {
            return Err(invalid(format!(
                "{at}.{i}.type: expected \"text\", found {:?}",
                b.kind
            )));
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&b.text);
    }
    Ok(out)
}

/// Decodes a Messages request into the neutral request. `count_only`: `max_tokens` is not
/// required (`count_tokens`).
pub fn decode(req: MessagesRequest, count_only: bool) -> Result<(ChatRequest, bool), ApiError> {
    if req.model.is_empty() {
        return Err(invalid("model: Field required"));
    }
    let max_tokens = match req.max_tokens {
        Some(n) if n < 1 => return Err(invalid("max_tokens: must be greater than or equal to 1")),
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        None if count_only => None,
        None => return Err(invalid("max_tokens: Field required")),
    };
    if req.messages.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    let unit = |name: &str, v: Option<f64>| match v {
        Some(x) if !(0.0..=1.0).contains(&x) || x.is_nan() => {
            Err(invalid(format!("{name}: must be between 0 and 1")))
        }
        _ => Ok(()),
    };
    unit("temperature", req.temperature)?;
    unit("top_p", req.top_p)?;
    if req.top_k.is_some_and(|k| k < 0) {
        return Err(invalid("top_k: must be greater than or equal to 0"));
    }
    let stop = req.stop_sequences.unwrap_or_default();
    if stop.iter().any(|s| s.is_empty()) {
        return Err(invalid(
            "stop_sequences: each stop sequence must be non-empty",
        ));
    }
    let mut messages = Vec::new();
    match &req.system {
        None => {}
        Some(System::Text(t)) => messages.push(ChatMessage {
            role: "system".into(),
            content: t.clone(),
            ..Default::default()
        }),
        Some(System::Blocks(b)) => messages.push(ChatMessage {
            role: "system".into(),
            content: text_of_blocks(b, "system")?,
            ..Default::default()
        }),
    }
    for (i, m) in req.messages.into_iter().enumerate() {
        let at = format!("messages.{i}");
        if !matches!(m.role.as_str(), "user" | "assistant") {
            return Err(invalid(format!(
                "{at}.role: Input should be 'user' or 'assistant'"
            )));
        }
        let blocks = match m.content {
            Content::Text(t) => {
                messages.push(ChatMessage {
                    role: m.role,
                    content: t,
                    ..Default::default()
                });
                continue;
            }
            Content::Blocks(b) => b,
        };
        let mut text = String::new();
        let mut calls = Vec::new();
        for (j, b) in blocks.into_iter().enumerate() {
            let at = format!("{at}.content.{j}");
            match b {
                Block::Text { text: t, .. } => {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&t);
                }
                Block::ToolUse {
                    id, name, input, ..
                } => {
                    if m.role != "assistant" {
                        return Err(invalid(format!(
                            "{at}: tool_use blocks may only appear in assistant messages"
                        )));
                    }
                    calls.push(ToolCall {
                        id,
                        name,
                        arguments: input.to_string(),
                    });
                }
                Block::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                    ..
                } => {
                    if m.role != "user" {
                        return Err(invalid(format!(
                            "{at}: tool_result blocks may only appear in user messages"
                        )));
                    }
                    let answered = messages
                        .iter()
                        .rev()
                        .any(|p: &ChatMessage| p.tool_calls.iter().any(|c| c.id == tool_use_id));
                    if !answered {
                        return Err(invalid(format!(
                            "{at}: tool_result block(s) provided when previous message does not contain a matching tool_use block ({tool_use_id:?})"
                        )));
                    }
                    let mut content = match content {
                        None => String::new(),
                        Some(ToolResultContent::Text(t)) => t,
                        Some(ToolResultContent::Blocks(b)) => {
                            text_of_blocks(&b, &format!("{at}.content"))?
                        }
                    };
                    if is_error == Some(true) {
                        content = format!("Error: {content}");
                    }
                    messages.push(ChatMessage {
                        role: "tool".into(),
                        content,
                        tool_call_id: Some(tool_use_id),
                        ..Default::default()
                    });
                }
                Block::Image { .. } | Block::Document { .. } => {
                    return Err(invalid(format!(
                        "{at}: image and document content is not supported (text only)"
                    )))
                }
            }
        }
        if !text.is_empty() || !calls.is_empty() || m.role == "assistant" {
            messages.push(ChatMessage {
                role: m.role,
                content: text,
                tool_calls: calls,
                tool_call_id: None,
            });
        }
    }
    let mut tools = Vec::new();
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        if t.kind.as_deref().is_some_and(|k| k != "custom") {
            return Err(invalid(format!(
                "tools.{i}.type: only custom tools are supported"
            )));
        }
        if t.name.is_empty() || t.name.len() > 128 {
            return Err(invalid(format!(
                "tools.{i}.name: must be 1 to 128 characters"
            )));
        }
        if !t.input_schema.is_object() {
            return Err(invalid(format!(
                "tools.{i}.input_schema: must be a JSON Schema object"
            )));
        }
        tools.push(ToolSpec {
            name: t.name,
            description: t.description,
            parameters: t.input_schema,
        });
    }
    let tool_choice = match req.tool_choice {
        None => None,
        Some(c) => Some(match (c.kind.as_str(), c.name) {
            ("auto", _) => ToolChoice::Auto,
            ("any", _) => ToolChoice::Required,
            ("none", _) => ToolChoice::None,
            ("tool", Some(n)) if tools.iter().any(|t| t.name == n) => ToolChoice::Named(n),
            ("tool", Some(n)) => {
                return Err(invalid(format!("tool_choice.name: no tool named {n:?}")))
            }
            ("tool", None) => return Err(invalid("tool_choice.name: Field required")),
            (other, _) => {
                return Err(invalid(format!(
                    "tool_choice.type: expected auto, any, tool or none, found {other:?}"
                )))
            }
        }),
    };
    if tool_choice.is_some() && tools.is_empty() {
        return Err(invalid("tool_choice: may only be given with tools"));
    }
    let chat = ChatRequest {
        model: req.model,
        messages,
        sampling: SamplingParams {
            temperature: req.temperature.unwrap_or(1.0) as f32,
            top_p: req.top_p.unwrap_or(1.0) as f32,
            top_k: req.top_k.unwrap_or(0).max(0) as usize,
            ..SamplingParams::default()
        },
        max_tokens,
        stop,
        stream: false,
        input_label: scif_labels::Label::unclassified(),
        tools,
        tool_choice,
    };
    Ok((chat, req.stream.unwrap_or(false)))
}

fn stop_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Stop | FinishReason::Cancelled => "end_turn",
    }
}

fn tool_input(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
}

fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

pub async fn messages(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, AnthropicError> {
    let slot = slot.map(|Extension(s)| s);
    let (chat, stream) = decode(parse_body(&body)?, false)?;
    let model = chat.model.clone();
    let guardrails = crate::guard::requested_guardrails(&headers)?;
    let call = scif_service::Call {
        caller: &caller,
        slot: slot.as_ref(),
        dialect: scif_service::Dialect::Anthropic,
        stream,
        guardrails: &guardrails,
        declared_input_label: crate::guard::declared_input_label(&headers)?,
    };
    let inv = scif_service::invoke(&state, call, chat).await?;
    let (name, value) = inv.flow.header();
    let mut resp = if stream {
        sse(inv.events, model).into_response()
    } else {
        let a = scif_service::answer::collect(inv.events).await?;
        let mut content = Vec::new();
        if !a.text.is_empty() || a.calls.is_empty() {
            content.push(json!({"type": "text", "text": a.text}));
        }
        for c in &a.calls {
            content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(&c.arguments)}));
        }
        let report = crate::guardrails::lock(&inv.guardrail);
        let out = MessageResponse {
            id: message_id(),
            kind: "message",
            role: "assistant",
            model,
            content,
            stop_reason: Some(stop_reason(a.finish)),
            stop_sequence: None,
            usage: UsageBody {
                input_tokens: a.usage.prompt_tokens,
                output_tokens: a.usage.completion_tokens,
            },
            scif_guardrail: (!report.is_empty()).then(|| report.openai()),
        };
        Json(out).into_response()
    };
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

/// Anthropic's streaming sequence: `message_start`, `ping`, then for each content block
/// `content_block_start`, its deltas (`text_delta`, or `input_json_delta` for a tool call),
/// `content_block_stop`; then `message_delta` (stop reason and usage) and `message_stop`. A
/// failure mid-stream is an `error` event.
fn sse(
    events: impl Stream<Item = ChatEvent> + Send + 'static,
    model: String,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ev = |name: &'static str, data: Value| -> Result<Event, Infallible> {
        Ok(Event::default().event(name).data(data.to_string()))
    };
    let start = json!({"type": "message_start", "message": {
        "id": message_id(), "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 0, "output_tokens": 0}}});
    let head = futures::stream::iter(vec![
        ev("message_start", start),
        ev("ping", json!({"type": "ping"})),
    ]);
    // Blocks: `open` is the index of the block being written, if any; `next` the next index.
    let mut open: Option<usize> = None;
    let mut next = 0usize;
    let body = events.flat_map(move |e| {
        let mut out = Vec::new();
        let close = |open: &mut Option<usize>, out: &mut Vec<Result<Event, Infallible>>| {
            if let Some(i) = open.take() {
                out.push(ev("content_block_stop", json!({"type": "content_block_stop", "index": i})));
            }
        };
        match e {
            ChatEvent::Delta(t) => {
                if open.is_none() {
                    open = Some(next);
                    out.push(ev("content_block_start", json!({"type": "content_block_start", "index": next, "content_block": {"type": "text", "text": ""}})));
                    next += 1;
                }
                if let Some(i) = open {
                    out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": t}})));
                }
            }
            ChatEvent::ToolCall(c) => {
                close(&mut open, &mut out);
                let i = next;
                next += 1;
                out.push(ev("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}})));
                let args = tool_input(&c.arguments).to_string();
                out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": args}})));
                out.push(ev("content_block_stop", json!({"type": "content_block_stop", "index": i})));
            }
            ChatEvent::Done { finish_reason: FinishReason::Cancelled, .. } => {
                close(&mut open, &mut out);
                out.push(ev("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "the request was cancelled because the server is shutting down"}})));
            }
            ChatEvent::Done { finish_reason, usage } => {
                if next == 0 {
                    out.push(ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
                    open = Some(0);
                    next = 1;
                }
                close(&mut open, &mut out);
                let Usage { prompt_tokens, completion_tokens } = usage;
                out.push(ev("message_delta", json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(finish_reason), "stop_sequence": null},
                    "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens}})));
                out.push(ev("message_stop", json!({"type": "message_stop"})));
            }
            ChatEvent::Error(m) => {
                tracing::error!(error = %m, "generation failed mid-stream");
                close(&mut open, &mut out);
                out.push(ev("error", json!({"type": "error", "error": {"type": "api_error", "message": "the model failed"}})));
            }
        }
        futures::stream::iter(out)
    });
    Sse::new(head.chain(body)).keep_alive(KeepAlive::default())
}

pub async fn count_tokens(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, AnthropicError> {
    let slot = slot.map(|Extension(s)| s);
    let (chat, _) = decode(parse_body(&body)?, true)?;
    let call = scif_service::Call {
        caller: &caller,
        slot: slot.as_ref(),
        dialect: scif_service::Dialect::Anthropic,
        stream: false,
        guardrails: &[],
        declared_input_label: crate::guard::declared_input_label(&headers)?,
    };
    let (n, flow) = scif_service::count_tokens(&state, call, chat).await?;
    if let Some(slot) = &slot {
        slot.update(|e| {
            e.action = Some("count_tokens".into());
            e.detail.insert("input_tokens".into(), n.into());
        });
    }
    let mut resp = Json(json!({"input_tokens": n})).into_response();
    let (name, value) = flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

fn created_at(unix: u64) -> String {
    scif_audit::time::format_epoch_ms(i64::try_from(unix.saturating_mul(1000)).unwrap_or(i64::MAX))
}

fn model_json(m: &scif_provider::ModelInfo) -> Value {
    json!({"type": "model", "id": m.id, "display_name": m.id, "created_at": created_at(m.created)})
}

/// `GET /v1/models` for Anthropic clients: only the models the caller may list.
pub async fn list(state: &AppState, caller: &scif_access::Caller, slot: Option<&Slot>) -> Response {
    let data: Vec<Value> = state
        .providers
        .models()
        .iter()
        .filter(|m| crate::guard::model_visible(state, caller, &m.id))
        .map(model_json)
        .collect();
    crate::guard::note_listing(slot, data.len());
    let first = data
        .first()
        .and_then(|m| m["id"].as_str().map(str::to_owned));
    let last = data
        .last()
        .and_then(|m| m["id"].as_str().map(str::to_owned));
    Json(json!({"data": data, "has_more": false, "first_id": first, "last_id": last}))
        .into_response()
}

/// `GET /v1/models/{id}` for Anthropic clients.
pub async fn get(
    state: &AppState,
    caller: &scif_access::Caller,
    slot: Option<&Slot>,
    id: String,
) -> Result<Response, ApiError> {
    crate::guard::model(state, caller, Action::ReadModel, &id, slot)?;
    state
        .providers
        .models()
        .iter()
        .find(|m| m.id == id)
        .map(|m| Json(model_json(m)).into_response())
        .ok_or(ApiError::ModelNotFound(id))
}
