//! The OpenAI-compatible upstream protocol (vLLM, TGI, llama.cpp server, Ollama): the request
//! body scif sends, the whole answer it reads back, and the Server-Sent Events stream it turns
//! into [`ChatEvent`]s.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use scif_provider::{ChatEvent, ChatRequest, FinishReason, ToolCall, ToolChoice, Usage};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The body of `POST {url}/chat/completions`. Parameters at their neutral value are left out,
/// so that stricter servers do not see fields they do not know.
/// A message in OpenAI's wire shape.
#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'a str,
    /// `null` for an assistant turn that only called tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
pub(crate) struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<serde_json::Value>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    temperature: f32,
    top_p: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<usize>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repetition_penalty: Option<f32>,
}

pub(crate) fn body<'a>(req: &'a ChatRequest, upstream_model: &'a str) -> Body<'a> {
    let s = &req.sampling;
    let messages = req
        .messages
        .iter()
        .map(|m| WireMessage {
            role: &m.role,
            content: if m.content.is_empty() && !m.tool_calls.is_empty() {
                None
            } else {
                Some(&m.content)
            },
            tool_calls: m
                .tool_calls
                .iter()
                .map(|c| {
                    serde_json::json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect(),
            tool_call_id: m.tool_call_id.as_deref(),
        })
        .collect();
    let tools = req
        .tools
        .iter()
        .map(|t| {
            let mut f = serde_json::json!({"name": t.name, "parameters": t.parameters});
            if let (Some(d), Some(o)) = (&t.description, f.as_object_mut()) {
                o.insert("description".into(), d.clone().into());
            }
            serde_json::json!({"type": "function", "function": f})
        })
        .collect();
    let tool_choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => "auto".into(),
        ToolChoice::None => "none".into(),
        ToolChoice::Required => "required".into(),
        ToolChoice::Named(n) => serde_json::json!({"type": "function", "function": {"name": n}}),
    });
    Body {
        model: upstream_model,
        messages,
        tools,
        tool_choice,
        stream: req.stream,
        stream_options: req.stream.then_some(StreamOptions {
            include_usage: true,
        }),
        temperature: s.temperature,
        top_p: s.top_p,
        max_tokens: req.max_tokens,
        stop: &req.stop,
        seed: s.seed,
        frequency_penalty: Some(s.frequency_penalty).filter(|v| *v != 0.0),
        presence_penalty: Some(s.presence_penalty).filter(|v| *v != 0.0),
        top_k: Some(s.top_k).filter(|k| *k != 0),
        repetition_penalty: Some(s.repetition_penalty).filter(|v| *v != 1.0),
    }
}

#[derive(Deserialize)]
struct UsageIn {
    prompt_tokens: usize,
    completion_tokens: usize,
}

impl From<UsageIn> for Usage {
    fn from(u: UsageIn) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }
    }
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<CompletionChoice>,
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: MessageIn,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct MessageIn {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CallIn>,
}

#[derive(Deserialize)]
struct CallIn {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionIn>,
}

#[derive(Deserialize)]
struct FunctionIn {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<UsageIn>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<DeltaIn>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaIn {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CallIn>,
}

fn finish(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("length") => FinishReason::Length,
        Some("tool_calls") => FinishReason::ToolCalls,
        // The upstream's own content filter stopped it.
        Some("content_filter") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// When an upstream reports no usage: about four characters per token for the prompt, one
/// token per streamed chunk for the completion.
fn estimate_prompt(req: &ChatRequest) -> usize {
    req.messages
        .iter()
        .map(|m| m.content.len().div_ceil(4) + 4)
        .sum()
}

/// A whole (non-streamed) answer as events.
pub(crate) fn whole(bytes: &[u8], req: &ChatRequest) -> Result<Vec<ChatEvent>, String> {
    let c: Completion =
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable answer: {e}"))?;
    let Some(choice) = c.choices.into_iter().next() else {
        return Err("answer without choices".into());
    };
    let text = choice.message.content.unwrap_or_default();
    let usage = c.usage.map(Usage::from).unwrap_or(Usage {
        prompt_tokens: estimate_prompt(req),
        completion_tokens: text.len().div_ceil(4),
    });
    let mut events = Vec::with_capacity(2 + choice.message.tool_calls.len());
    if !text.is_empty() {
        events.push(ChatEvent::Delta(text));
    }
    for (i, call) in choice.message.tool_calls.into_iter().enumerate() {
        let f = call.function.unwrap_or(FunctionIn {
            name: None,
            arguments: None,
        });
        events.push(ChatEvent::ToolCall(ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_{i}")),
            name: f.name.unwrap_or_default(),
            arguments: f.arguments.unwrap_or_default(),
        }));
    }
    events.push(ChatEvent::Done {
        finish_reason: finish(choice.finish_reason.as_deref()),
        usage,
    });
    Ok(events)
}

/// The first line of an upstream error body's message, bounded, for callers' 400s.
pub(crate) fn error_message(bytes: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error"))
                .and_then(|m| m.as_str().map(str::to_owned))
        });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(500).collect()
}

pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// How a stream ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamFault {
    /// The body broke, or ended before the answer did.
    Broken(String),
    TimedOut,
    /// The upstream sent an error event.
    Upstream(String),
}

/// Reads an upstream SSE body into events, one at a time.
pub(crate) struct SseReader {
    body: BodyStream,
    buf: Vec<u8>,
    pending: VecDeque<ChatEvent>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    chunks: usize,
    prompt_estimate: usize,
    done: bool,
    /// Tool calls being assembled from their pieces, by index.
    calls: Vec<ToolCall>,
    /// Whether any text was produced (a failure before it is safe to retry elsewhere).
    pub produced: bool,
}

impl SseReader {
    pub(crate) fn new(body: BodyStream, req: &ChatRequest) -> Self {
        Self {
            body,
            buf: Vec::with_capacity(1024),
            pending: VecDeque::new(),
            finish: None,
            usage: None,
            chunks: 0,
            prompt_estimate: estimate_prompt(req),
            done: false,
            calls: Vec::new(),
            produced: false,
        }
    }

    /// The next event, or `None` after the last one. A fault ends the stream.
    pub(crate) async fn next(
        &mut self,
        deadline: Instant,
    ) -> Option<Result<ChatEvent, StreamFault>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(ev));
            }
            if self.done {
                return None;
            }
            if let Some(data) = take_event(&mut self.buf) {
                if let Err(fault) = self.handle(&data) {
                    self.done = true;
                    return Some(Err(fault));
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => {
                    self.done = true;
                    return Some(Err(StreamFault::TimedOut));
                }
                Ok(None) => {
                    self.done = true;
                    // Some servers end right after the finish reason without `[DONE]`.
                    if let Some(finish_reason) = self.finish {
                        self.flush_calls();
                        let ev = self.done_event(finish_reason);
                        self.pending.push_back(ev);
                        continue;
                    }
                    return Some(Err(StreamFault::Broken(
                        "the stream ended before the answer did".into(),
                    )));
                }
                Ok(Some(Err(e))) => {
                    self.done = true;
                    return Some(Err(StreamFault::Broken(e.to_string())));
                }
                Ok(Some(Ok(bytes))) => {
                    if self.buf.len() + bytes.len() > MAX_EVENT_BYTES {
                        self.done = true;
                        return Some(Err(StreamFault::Broken("an event is too large".into())));
                    }
                    self.buf.extend_from_slice(&bytes);
                }
            }
        }
    }

    fn done_event(&self, finish_reason: FinishReason) -> ChatEvent {
        ChatEvent::Done {
            finish_reason,
            usage: self.usage.unwrap_or(Usage {
                prompt_tokens: self.prompt_estimate,
                completion_tokens: self.chunks,
            }),
        }
    }

    /// The assembled tool calls, whole, before the end.
    fn flush_calls(&mut self) {
        for c in self.calls.drain(..) {
            self.pending.push_back(ChatEvent::ToolCall(c));
        }
    }

    fn handle(&mut self, data: &str) -> Result<(), StreamFault> {
        if data == "[DONE]" {
            self.done = true;
            self.flush_calls();
            let ev = self.done_event(self.finish.unwrap_or(FinishReason::Stop));
            self.pending.push_back(ev);
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| StreamFault::Broken(format!("unreadable event: {e}")))?;
        if let Some(err) = chunk.error {
            let message = err
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("error event")
                .chars()
                .take(500)
                .collect();
            return Err(StreamFault::Upstream(message));
        }
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content {
                    if !text.is_empty() {
                        self.chunks += 1;
                        self.produced = true;
                        self.pending.push_back(ChatEvent::Delta(text));
                    }
                }
                for piece in delta.tool_calls {
                    self.produced = true;
                    let i = piece.index.unwrap_or(self.calls.len().saturating_sub(1));
                    if i > 64 {
                        return Err(StreamFault::Broken("too many tool calls".into()));
                    }
                    while self.calls.len() <= i {
                        self.calls.push(ToolCall {
                            id: format!("call_{}", self.calls.len()),
                            name: String::new(),
                            arguments: String::new(),
                        });
                    }
                    let call = &mut self.calls[i];
                    if let Some(id) = piece.id {
                        call.id = id;
                    }
                    if let Some(f) = piece.function {
                        if let Some(n) = f.name {
                            call.name.push_str(&n);
                        }
                        if let Some(a) = f.arguments {
                            call.arguments.push_str(&a);
                        }
                    }
                }
            }
            if let Some(r) = choice.finish_reason {
                self.finish = Some(finish(Some(&r)));
            }
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(u.into());
        }
        Ok(())
    }
}

/// Largest SSE event buffered (a misbehaving upstream cannot grow memory without bound).
const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// Removes the first complete event from `buf` and returns its data (the `data:` lines joined);
/// events without data are skipped.
fn take_event(buf: &mut Vec<u8>) -> Option<String> {
    loop {
        let (end, sep) = find_blank_line(buf)?;
        let event: Vec<u8> = buf.drain(..end + sep).collect();
        let text = String::from_utf8_lossy(&event[..end]);
        let mut data = String::new();
        let mut any = false;
        for line in text.lines() {
            // The event's last line keeps its `\r` when lines end in CRLF.
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(rest) = line.strip_prefix("data:") {
                if any {
                    data.push('\n');
                }
                data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                any = true;
            }
        }
        if any {
            return Some(data);
        }
    }
}

/// Position and length of the first blank line (`\n\n` or `\r\n\r\n`).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some((i, 2));
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

/// Full-jitter exponential backoff before retry `attempt` (1-based), capped at two seconds.
pub(crate) fn backoff(base_ms: u64, attempt: u32) -> Duration {
    use rand::Rng;
    let ceiling = base_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(2_000);
    Duration::from_millis(rand::rng().random_range(0..=ceiling))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use scif_provider::ChatMessage;

    fn req() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: "user".into(),
                content: "hello there".into(),
                ..Default::default()
            }],
            sampling: Default::default(),
            max_tokens: Some(5),
            stop: vec![],
            stream: true,
            input_label: scif_labels::Label::unclassified(),
            tools: Vec::new(),
            tool_choice: None,
        }
    }

    fn reader(parts: Vec<&'static str>) -> SseReader {
        let body = futures::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, reqwest::Error>(Bytes::from_static(p.as_bytes()))),
        );
        SseReader::new(Box::pin(body), &req())
    }

    async fn drain(mut r: SseReader) -> Vec<Result<ChatEvent, StreamFault>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut out = vec![];
        while let Some(ev) = r.next(deadline).await {
            out.push(ev);
        }
        out
    }

    const CHUNK_A: &str =
        r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;

    #[tokio::test]
    async fn events_split_anywhere_read_the_same() {
        let whole = format!(
            "data: {CHUNK_A}\n\ndata: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1}}"#
        );
        let expected = vec![
            Ok(ChatEvent::Delta("Hel".into())),
            Ok(ChatEvent::Done {
                finish_reason: FinishReason::Length,
                usage: Usage {
                    prompt_tokens: 7,
                    completion_tokens: 1,
                },
            }),
        ];
        let leaked: &'static str = Box::leak(whole.into_boxed_str());
        for cut in 0..leaked.len() {
            let got = drain(reader(vec![&leaked[..cut], &leaked[cut..]])).await;
            assert_eq!(got, expected, "cut at {cut}");
        }
    }

    #[tokio::test]
    async fn crlf_events_and_comments() {
        let got = drain(reader(vec![
            ": keep-alive\r\n\r\n",
            "data: ",
            CHUNK_A,
            "\r\n\r\ndata: [DONE]\r\n\r\n",
        ]))
        .await;
        assert_eq!(got[0], Ok(ChatEvent::Delta("Hel".into())));
        assert!(matches!(
            got[1],
            Ok(ChatEvent::Done {
                finish_reason: FinishReason::Stop,
                usage: Usage {
                    completion_tokens: 1,
                    ..
                }
            })
        ));
    }

    #[tokio::test]
    async fn streamed_tool_calls_are_assembled_and_come_whole_before_the_end() {
        let got = drain(reader(vec![
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"q\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"time\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
        ]))
        .await;
        assert_eq!(
            got[..2],
            [
                Ok(ChatEvent::ToolCall(ToolCall {
                    id: "call_a".into(),
                    name: "get_weather".into(),
                    arguments: "{\"q\":1}".into(),
                })),
                Ok(ChatEvent::ToolCall(ToolCall {
                    id: "call_b".into(),
                    name: "time".into(),
                    arguments: "{}".into(),
                })),
            ]
        );
        assert!(matches!(
            got[2],
            Ok(ChatEvent::Done {
                finish_reason: FinishReason::ToolCalls,
                ..
            })
        ));
        assert_eq!(got.len(), 3);
    }

    #[tokio::test]
    async fn a_truncated_stream_is_a_fault_not_an_end() {
        let first = format!("data: {CHUNK_A}\n\n");
        let leaked: &'static str = Box::leak(first.into_boxed_str());
        let got = drain(reader(vec![leaked])).await;
        assert_eq!(got.len(), 2);
        assert!(matches!(got[1], Err(StreamFault::Broken(_))));
    }

    #[tokio::test]
    async fn an_error_event_is_a_fault() {
        let got = drain(reader(vec![
            "data: {\"error\":{\"message\":\"out of memory\"}}\n\n",
        ]))
        .await;
        assert_eq!(
            got,
            vec![Err(StreamFault::Upstream("out of memory".into()))]
        );
    }

    #[test]
    fn whole_answers_and_estimates() {
        let r = req();
        let ev = whole(
            br#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
            &r,
        )
        .unwrap();
        assert_eq!(ev[0], ChatEvent::Delta("hi".into()));
        assert!(
            matches!(ev[1], ChatEvent::Done { usage, .. } if usage.prompt_tokens > 0 && usage.completion_tokens == 1)
        );
        assert!(whole(b"not json", &r).is_err());
        assert!(whole(br#"{"choices":[]}"#, &r).is_err());
    }

    #[test]
    fn body_leaves_out_neutral_parameters() {
        let r = req();
        let v = serde_json::to_value(body(&r, "up")).unwrap();
        assert_eq!(v["model"], "up");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert!(v.get("top_k").is_none());
        assert!(v.get("stop").is_none());
        assert!(v.get("repetition_penalty").is_none());
    }

    #[test]
    fn error_messages_are_one_bounded_line() {
        assert_eq!(
            error_message(br#"{"error":{"message":"too long\nsecond"}}"#),
            "too long"
        );
        assert_eq!(error_message(b"plain text"), "plain text");
        assert_eq!(error_message(&[b'x'; 2000]).len(), 500);
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 1..40 {
            assert!(backoff(25, attempt) <= Duration::from_millis(2_000));
        }
        assert!(backoff(25, 1) <= Duration::from_millis(25));
    }
}
