//! `POST /v1/chat/completions`, streamed and not.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use futures::{Stream, StreamExt};
use scif_provider::{ChatEvent, ChatMessage, ChatRequest, FinishReason, SamplingParams, Usage};

use super::types::*;
use super::OpenAiJson;
use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::guard::FlowHeader as _;
use crate::AppState;

pub async fn chat_completions(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    OpenAiJson(req): OpenAiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    let stream = req.stream.unwrap_or(false);
    let include_usage = req
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    if req.stream_options.is_some() && !stream {
        return Err(ApiError::invalid(
            "stream_options is only allowed when stream is true",
            Some("stream_options"),
        ));
    }
    let chat = validate(req)?;
    let model = chat.model.clone();
    let guardrails = crate::guard::requested_guardrails(&headers)?;
    let call = scif_service::Call {
        caller: &caller,
        slot: slot.as_ref(),
        dialect: scif_service::Dialect::OpenAi,
        stream,
        guardrails: &guardrails,
        declared_input_label: crate::guard::declared_input_label(&headers)?,
    };
    let inv = scif_service::invoke(&state, call, chat).await?;
    let report = inv.guardrail.clone();
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = unix_now();
    let events = inv.events;
    let flow = inv.flow;
    let mut resp = if stream {
        sse(events, id, created, model, include_usage).into_response()
    } else {
        let mut completion = complete(events, id, created, model).await?;
        {
            let r = crate::guardrails::lock(&report);
            if !r.is_empty() {
                completion.scif_guardrail = Some(r.openai());
            }
        }
        Json(completion).into_response()
    };
    let (name, value) = flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

/// Turn an OpenAI request into a provider request, with OpenAI's validation rules.
fn validate(req: ChatCompletionRequest) -> Result<ChatRequest, ApiError> {
    let unsupported = |param: &str, what: &str| {
        Err(ApiError::invalid(
            format!("{what} is not supported"),
            Some(param),
        ))
    };
    if req.model.is_empty() {
        return Err(ApiError::invalid(
            "you must provide a model parameter",
            Some("model"),
        ));
    }
    if req.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages must contain at least one message",
            Some("messages"),
        ));
    }
    if req.n.is_some_and(|n| n != 1) {
        return unsupported("n", "n other than 1");
    }
    if req.logprobs == Some(true) || req.top_logprobs.is_some() {
        return unsupported("logprobs", "logprobs");
    }
    if req.functions.as_ref().is_some_and(|f| !f.is_empty()) || req.function_call.is_some() {
        return unsupported(
            "functions",
            "the deprecated functions parameter (use tools)",
        );
    }
    let tools = tools_of(req.tools.as_deref().unwrap_or_default())?;
    let tool_choice = match &req.tool_choice {
        None => None,
        Some(_) if tools.is_empty() => {
            return Err(ApiError::invalid(
                "tool_choice is only allowed when tools are specified",
                Some("tool_choice"),
            ))
        }
        Some(v) => Some(tool_choice_of(v, &tools)?),
    };
    if req
        .logit_bias
        .as_ref()
        .is_some_and(|b| b.as_object().is_some_and(|o| !o.is_empty()))
    {
        return unsupported("logit_bias", "logit_bias");
    }
    if let Some(f) = &req.response_format {
        if f.get("type").and_then(|t| t.as_str()) != Some("text") {
            return unsupported("response_format", "a response_format other than text");
        }
    }
    if req.audio.is_some()
        || req
            .modalities
            .as_ref()
            .is_some_and(|m| m.iter().any(|x| x != "text"))
    {
        return unsupported("modalities", "output other than text");
    }
    let range = |v: Option<f32>, lo: f32, hi: f32, name: &str| -> Result<(), ApiError> {
        match v {
            Some(x) if !(lo..=hi).contains(&x) || x.is_nan() => Err(ApiError::invalid(
                format!(
                    "{x} is not a valid value for '{name}': expected a number from {lo} to {hi}"
                ),
                Some(name),
            )),
            _ => Ok(()),
        }
    };
    range(req.temperature, 0.0, 2.0, "temperature")?;
    range(req.top_p, 0.0, 1.0, "top_p")?;
    range(req.frequency_penalty, -2.0, 2.0, "frequency_penalty")?;
    range(req.presence_penalty, -2.0, 2.0, "presence_penalty")?;
    range(req.repetition_penalty, 0.01, 10.0, "repetition_penalty")?;
    let max_tokens = match req.max_completion_tokens.or(req.max_tokens) {
        Some(n) if n < 1 => {
            let p = if req.max_completion_tokens.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            return Err(ApiError::invalid(
                format!("{n} is less than the minimum of 1 for '{p}'"),
                Some(p),
            ));
        }
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        None => None,
    };
    let top_k = match req.top_k {
        Some(k) if k < 0 => {
            return Err(ApiError::invalid(
                "top_k must be 0 (off) or more",
                Some("top_k"),
            ))
        }
        Some(k) => usize::try_from(k).unwrap_or(0),
        None => 0,
    };
    let stop = match req.stop {
        None => vec![],
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    if stop.len() > 4 {
        return Err(ApiError::invalid(
            "stop may contain at most 4 sequences",
            Some("stop"),
        ));
    }
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.into_iter().enumerate() {
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" => "tool",
            "function" => return unsupported(&format!("messages[{i}].role"), "function messages (use tool)"),
            other => {
                return Err(ApiError::invalid(
                    format!("Invalid value for 'messages[{i}].role': {other:?}; expected system, developer, user or assistant"),
                    Some(&format!("messages[{i}].role")),
                ))
            }
        };
        let content = match m.content {
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => {
                let mut text = String::new();
                for p in parts {
                    match (p.kind.as_str(), p.text) {
                        ("text", Some(t)) => text.push_str(&t),
                        (kind, _) => {
                            return unsupported(
                                &format!("messages[{i}].content"),
                                &format!("content of type {kind:?}"),
                            )
                        }
                    }
                }
                text
            }
            None if role == "assistant" => String::new(),
            None => {
                return Err(ApiError::invalid(
                    format!("messages[{i}].content is required"),
                    Some(&format!("messages[{i}].content")),
                ))
            }
        };
        let tool_calls = match (&m.tool_calls, role) {
            (None, _) => Vec::new(),
            (Some(v), "assistant") => calls_of(v, i)?,
            (Some(_), _) => {
                return Err(ApiError::invalid(
                    format!("messages[{i}].tool_calls is only allowed on assistant messages"),
                    Some(&format!("messages[{i}].tool_calls")),
                ))
            }
        };
        let tool_call_id = match (m.tool_call_id, role) {
            (Some(id), "tool") => Some(id),
            (None, "tool") => {
                return Err(ApiError::invalid(
                    format!("messages[{i}].tool_call_id is required for tool messages"),
                    Some(&format!("messages[{i}].tool_call_id")),
                ))
            }
            (Some(_), _) => {
                return Err(ApiError::invalid(
                    format!("messages[{i}].tool_call_id is only allowed on tool messages"),
                    Some(&format!("messages[{i}].tool_call_id")),
                ))
            }
            (None, _) => None,
        };
        if let Some(id) = &tool_call_id {
            let answered = messages
                .iter()
                .rev()
                .any(|p: &ChatMessage| p.tool_calls.iter().any(|c| &c.id == id));
            if !answered {
                return Err(ApiError::invalid(
                    format!("messages[{i}].tool_call_id {id:?} does not answer a tool call of an earlier assistant message"),
                    Some(&format!("messages[{i}].tool_call_id")),
                ));
            }
        }
        messages.push(ChatMessage {
            role: role.into(),
            content,
            tool_calls,
            tool_call_id,
        });
    }
    let sampling = SamplingParams {
        temperature: req.temperature.unwrap_or(1.0),
        top_p: req.top_p.unwrap_or(1.0),
        top_k,
        seed: req.seed.map(|s| s as u64),
        repetition_penalty: req.repetition_penalty.unwrap_or(1.0),
        frequency_penalty: req.frequency_penalty.unwrap_or(0.0),
        presence_penalty: req.presence_penalty.unwrap_or(0.0),
        ignore_eos: false,
    };
    Ok(ChatRequest {
        model: req.model,
        messages,
        sampling,
        max_tokens,
        stop,
        stream: false,
        input_label: scif_labels::Label::unclassified(),
        tools,
        tool_choice,
    })
}

/// A tool or function name as OpenAI and Bedrock accept it.
pub fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn tools_of(tools: &[serde_json::Value]) -> Result<Vec<scif_provider::ToolSpec>, ApiError> {
    let mut out: Vec<scif_provider::ToolSpec> = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let at = format!("tools[{i}]");
        if t.get("type").and_then(|v| v.as_str()) != Some("function") {
            return Err(ApiError::invalid(
                format!("{at}.type must be \"function\""),
                Some(&format!("{at}.type")),
            ));
        }
        let f = t
            .get("function")
            .and_then(|f| f.as_object())
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("{at}.function is required"),
                    Some(&format!("{at}.function")),
                )
            })?;
        let name = f.get("name").and_then(|n| n.as_str()).unwrap_or("");
        if !valid_tool_name(name) {
            return Err(ApiError::invalid(
                format!("{at}.function.name must match ^[a-zA-Z0-9_-]{{1,64}}$"),
                Some(&format!("{at}.function.name")),
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(ApiError::invalid(
                format!("{at}.function.name {name:?} is not unique"),
                Some(&format!("{at}.function.name")),
            ));
        }
        let parameters = f
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
        if !parameters.is_object() {
            return Err(ApiError::invalid(
                format!("{at}.function.parameters must be a JSON Schema object"),
                Some(&format!("{at}.function.parameters")),
            ));
        }
        out.push(scif_provider::ToolSpec {
            name: name.to_owned(),
            description: f
                .get("description")
                .and_then(|d| d.as_str())
                .map(str::to_owned),
            parameters,
        });
    }
    Ok(out)
}

fn tool_choice_of(
    v: &serde_json::Value,
    tools: &[scif_provider::ToolSpec],
) -> Result<scif_provider::ToolChoice, ApiError> {
    use scif_provider::ToolChoice;
    let bad = || {
        Err(ApiError::invalid(
            "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}} naming a tool",
            Some("tool_choice"),
        ))
    };
    match v {
        serde_json::Value::String(s) => match s.as_str() {
            "none" => Ok(ToolChoice::None),
            "auto" => Ok(ToolChoice::Auto),
            "required" => Ok(ToolChoice::Required),
            _ => bad(),
        },
        serde_json::Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(|n| n.as_str());
            match name {
                Some(n) if tools.iter().any(|t| t.name == n) => Ok(ToolChoice::Named(n.to_owned())),
                _ => bad(),
            }
        }
        _ => bad(),
    }
}

fn calls_of(v: &serde_json::Value, i: usize) -> Result<Vec<scif_provider::ToolCall>, ApiError> {
    let at = format!("messages[{i}].tool_calls");
    let bad = |what: &str| Err(ApiError::invalid(format!("{at}: {what}"), Some(&at)));
    let Some(list) = v.as_array() else {
        return bad("expected an array");
    };
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let id = c.get("id").and_then(|x| x.as_str());
        let f = c.get("function");
        let name = f.and_then(|f| f.get("name")).and_then(|x| x.as_str());
        let arguments = f.and_then(|f| f.get("arguments")).and_then(|x| x.as_str());
        match (id, name, arguments) {
            (Some(id), Some(name), Some(arguments)) if valid_tool_name(name) => {
                out.push(scif_provider::ToolCall {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    arguments: arguments.to_owned(),
                })
            }
            _ => return bad("each call needs id, function.name and function.arguments (a string)"),
        }
    }
    Ok(out)
}

fn finish_str(r: FinishReason) -> &'static str {
    match r {
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::Stop => "stop",
        FinishReason::Length | FinishReason::Cancelled => "length",
        FinishReason::ContentFilter => "content_filter",
    }
}

fn usage_body(u: Usage) -> UsageBody {
    UsageBody {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.prompt_tokens + u.completion_tokens,
    }
}

async fn complete(
    events: impl Stream<Item = ChatEvent> + Send,
    id: String,
    created: u64,
    model: String,
) -> Result<ChatCompletion, ApiError> {
    let mut events = std::pin::pin!(events);
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    while let Some(ev) = events.next().await {
        match ev {
            ChatEvent::Delta(t) => content.push_str(&t),
            ChatEvent::ToolCall(c) => tool_calls.push(tool_call_json(&c, None)),
            ChatEvent::Done {
                finish_reason: FinishReason::Cancelled,
                ..
            } => {
                return Err(ApiError::Unavailable(
                    "the request was cancelled because the server is shutting down".into(),
                ))
            }
            ChatEvent::Done {
                finish_reason,
                usage,
            } => {
                return Ok(ChatCompletion {
                    id,
                    object: "chat.completion",
                    created,
                    model,
                    choices: vec![Choice {
                        index: 0,
                        message: AssistantMessage {
                            role: "assistant",
                            content: if content.is_empty() && !tool_calls.is_empty() {
                                None
                            } else {
                                Some(content)
                            },
                            refusal: None,
                            tool_calls,
                        },
                        logprobs: None,
                        finish_reason: finish_str(finish_reason),
                    }],
                    usage: usage_body(usage),
                    system_fingerprint: None,
                    scif_guardrail: None,
                })
            }
            ChatEvent::Error(e) => return Err(engine_failure(&e)),
        }
    }
    Err(ApiError::Internal(
        "the generation ended without a result".into(),
    ))
}

fn sse(
    events: impl Stream<Item = ChatEvent> + Send + 'static,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let chunk = move |delta: Delta,
                      finish: Option<&'static str>,
                      usage: Option<UsageBody>,
                      with_choice: bool|
          -> Event {
        let c = ChatCompletionChunk {
            id: &id,
            object: "chat.completion.chunk",
            created,
            model: &model,
            choices: if with_choice {
                vec![ChunkChoice {
                    index: 0,
                    delta,
                    logprobs: None,
                    finish_reason: finish,
                }]
            } else {
                vec![]
            },
            usage,
            system_fingerprint: None,
        };
        Event::default().data(serde_json::to_string(&c).unwrap_or_default())
    };
    let first = chunk(
        Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            tool_calls: None,
        },
        None,
        None,
        true,
    );
    let mut calls = 0usize;
    let body = events
        .flat_map(move |ev| {
            let out: Vec<Event> = match ev {
                ChatEvent::Delta(t) => vec![chunk(
                    Delta {
                        role: None,
                        content: Some(t),
                        tool_calls: None,
                    },
                    None,
                    None,
                    true,
                )],
                // A call goes out whole, in one chunk (OpenAI clients accumulate by index).
                ChatEvent::ToolCall(c) => {
                    calls += 1;
                    vec![chunk(
                        Delta {
                            role: None,
                            content: None,
                            tool_calls: Some(vec![tool_call_json(&c, Some(calls - 1))]),
                        },
                        None,
                        None,
                        true,
                    )]
                }
                ChatEvent::Done {
                    finish_reason: FinishReason::Cancelled,
                    ..
                } => vec![
                    Event::default().data(
                        ApiError::Unavailable(
                            "the request was cancelled because the server is shutting down".into(),
                        )
                        .openai_body()
                        .to_string(),
                    ),
                    Event::default().data("[DONE]"),
                ],
                ChatEvent::Done {
                    finish_reason,
                    usage,
                } => {
                    let mut v = vec![chunk(
                        Delta::default(),
                        Some(finish_str(finish_reason)),
                        None,
                        true,
                    )];
                    if include_usage {
                        v.push(chunk(
                            Delta::default(),
                            None,
                            Some(usage_body(usage)),
                            false,
                        ));
                    }
                    v.push(Event::default().data("[DONE]"));
                    v
                }
                ChatEvent::Error(e) => vec![
                    Event::default().data(engine_failure(&e).openai_body().to_string()),
                    Event::default().data("[DONE]"),
                ],
            };
            futures::stream::iter(out)
        })
        .map(Ok);
    Sse::new(futures::stream::once(async move { Ok(first) }).chain(body))
        .keep_alive(KeepAlive::default())
}

/// The details of an engine failure go to the log, not to the caller.
fn engine_failure(detail: &str) -> ApiError {
    let first_line = detail.lines().next().unwrap_or("");
    tracing::error!(error = first_line, "generation failed");
    ApiError::Internal("the model failed while generating; the error is in the server log".into())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
