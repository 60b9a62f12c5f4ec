//! The chat completions request, the deterministic answer derived from it, and its rendering as
//! one JSON body or as Server-Sent Events.

use std::io;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The parts of an OpenAI chat completions request the mock looks at.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
}

impl ChatRequest {
    pub fn streamed(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// Whitespace-separated words across the text content of every message.
    pub fn prompt_tokens(&self) -> usize {
        self.messages.iter().map(|m| m.words().count()).sum()
    }

    /// The function a tool call names: the one `tool_choice` forces, else the first tool's.
    fn tool_name(&self) -> Option<&str> {
        let forced = self
            .tool_choice
            .as_ref()
            .filter(|c| c.get("type").and_then(|t| t.as_str()) == Some("function"))
            .and_then(|c| c.get("function")?.get("name")?.as_str());
        forced.or_else(|| {
            self.tools
                .as_deref()?
                .first()?
                .function
                .as_ref()
                .map(|f| f.name.as_str())
        })
    }

    fn last_user(&self) -> Option<&Message> {
        self.messages.iter().rev().find(|m| m.role == "user")
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

impl Message {
    /// The text pieces of the content: the string itself, or each text part.
    fn texts(&self) -> impl Iterator<Item = &str> {
        let (single, parts): (Option<&str>, &[Part]) = match &self.content {
            None => (None, &[]),
            Some(Content::Text(text)) => (Some(text), &[]),
            Some(Content::Parts(parts)) => (None, parts),
        };
        single
            .into_iter()
            .chain(parts.iter().filter_map(Part::text))
    }

    fn words(&self) -> impl Iterator<Item = &str> {
        self.texts().flat_map(str::split_whitespace)
    }

    /// The text content as one string, parts joined by a space.
    fn text(&self) -> String {
        self.texts().collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

impl Part {
    fn text(&self) -> Option<&str> {
        match self.kind.as_deref() {
            None | Some("text") => self.text.as_deref(),
            Some(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Tool {
    #[serde(default)]
    function: Option<ToolFunction>,
}

#[derive(Debug, Deserialize)]
pub struct ToolFunction {
    #[serde(default)]
    name: String,
}

/// What the assistant says.
#[derive(Debug, PartialEq)]
pub enum Answer<'a> {
    Text {
        words: Vec<&'a str>,
        finish_reason: &'static str,
    },
    ToolCall {
        id: String,
        name: &'a str,
        arguments: String,
    },
}

impl<'a> Answer<'a> {
    /// The deterministic answer to `request` for a completion length of `tokens` words;
    /// `tool_call_id` is drawn only when the answer is a tool call.
    pub fn plan(
        request: &'a ChatRequest,
        tokens: usize,
        tool_call_id: impl FnOnce() -> u64,
    ) -> Result<Self, serde_json::Error> {
        let last = request.messages.last();
        if let Some(tool_result) = last.filter(|m| m.role == "tool") {
            let words = ["tool", "said:"]
                .into_iter()
                .chain(tool_result.words())
                .collect();
            return Ok(Answer::Text {
                words,
                finish_reason: "stop",
            });
        }
        if request.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            let query = request.last_user().map(Message::text).unwrap_or_default();
            return Ok(Answer::ToolCall {
                id: format!("call_{}", tool_call_id()),
                name: request.tool_name().unwrap_or_default(),
                arguments: serde_json::to_string(&serde_json::json!({ "query": query }))?,
            });
        }
        let cap = request
            .max_completion_tokens
            .or(request.max_tokens)
            .map_or(usize::MAX, |cap| usize::try_from(cap).unwrap_or(usize::MAX));
        let count = tokens.min(cap);
        let source: Vec<&str> = request
            .last_user()
            .map(|m| m.words().collect())
            .unwrap_or_default();
        let source = if source.is_empty() {
            vec!["ok"]
        } else {
            source
        };
        Ok(Answer::Text {
            words: source.into_iter().cycle().take(count).collect(),
            finish_reason: if cap < tokens { "length" } else { "stop" },
        })
    }

    pub fn completion_tokens(&self) -> usize {
        match self {
            Answer::Text { words, .. } => words.len(),
            Answer::ToolCall { arguments, .. } => arguments.split_whitespace().count(),
        }
    }

    fn finish_reason(&self) -> &'static str {
        match self {
            Answer::Text { finish_reason, .. } => finish_reason,
            Answer::ToolCall { .. } => "tool_calls",
        }
    }
}

/// The fields every response and chunk repeats.
pub struct Envelope<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub system_fingerprint: &'a str,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
}

impl Usage {
    fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'a str,
    choices: [CompletionChoice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: ResponseMessage<'a>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct ResponseMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
}

/// The whole non-streamed `chat.completion` body.
pub fn render_completion(
    envelope: &Envelope<'_>,
    answer: &Answer<'_>,
    prompt_tokens: usize,
) -> Result<Vec<u8>, serde_json::Error> {
    let text;
    let message = match answer {
        Answer::Text { words, .. } => {
            text = words.join(" ");
            ResponseMessage {
                role: "assistant",
                content: Some(&text),
                tool_calls: None,
            }
        }
        Answer::ToolCall {
            id,
            name,
            arguments,
        } => ResponseMessage {
            role: "assistant",
            content: None,
            tool_calls: Some([ToolCallOut {
                index: None,
                id: Some(id),
                kind: Some("function"),
                function: FunctionOut {
                    name: Some(name),
                    arguments,
                },
            }]),
        },
    };
    serde_json::to_vec(&Completion {
        id: envelope.id,
        object: "chat.completion",
        created: envelope.created,
        model: envelope.model,
        system_fingerprint: envelope.system_fingerprint,
        choices: [CompletionChoice {
            index: 0,
            message,
            finish_reason: answer.finish_reason(),
        }],
        usage: Usage::new(prompt_tokens, answer.completion_tokens()),
    })
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'a str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
}

/// Accumulates SSE events in one buffer, remembering where each one ends.
struct SseWriter<'a> {
    envelope: &'a Envelope<'a>,
    buf: Vec<u8>,
}

impl SseWriter<'_> {
    fn event(
        &mut self,
        delta: Option<Delta<'_>>,
        finish_reason: Option<&'static str>,
        usage: Option<Usage>,
    ) -> Result<usize, serde_json::Error> {
        let choice;
        let choices: &[ChunkChoice<'_>] = match delta {
            Some(delta) => {
                choice = [ChunkChoice {
                    index: 0,
                    delta,
                    finish_reason,
                }];
                &choice
            }
            None => &[],
        };
        self.buf.extend_from_slice(b"data: ");
        serde_json::to_writer(
            &mut self.buf,
            &Chunk {
                id: self.envelope.id,
                object: "chat.completion.chunk",
                created: self.envelope.created,
                model: self.envelope.model,
                system_fingerprint: self.envelope.system_fingerprint,
                choices,
                usage,
            },
        )?;
        self.buf.extend_from_slice(b"\n\n");
        Ok(self.buf.len())
    }
}

/// A streamed answer cut into frames: the pieces sent with `token_interval_ms` between them.
/// The first frame holds the role chunk and the first content chunk; every further content
/// chunk is a frame of its own; the finish, usage and `[DONE]` events ride with the last one.
/// When the stream is set to fail, the last item is an error instead.
pub fn render_stream(
    envelope: &Envelope<'_>,
    answer: &Answer<'_>,
    prompt_tokens: usize,
    include_usage: bool,
    fail_after: Option<usize>,
) -> Result<Vec<Result<Bytes, io::Error>>, serde_json::Error> {
    let mut sse = SseWriter {
        envelope,
        buf: Vec::with_capacity(512),
    };
    let role_end = sse.event(
        Some(Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Delta::default()
        }),
        None,
        None,
    )?;
    let mut content_ends = Vec::new();
    match answer {
        Answer::Text { words, .. } => {
            let mut piece = String::new();
            for (i, word) in words.iter().enumerate() {
                piece.clear();
                if i > 0 {
                    piece.push(' ');
                }
                piece.push_str(word);
                content_ends.push(sse.event(
                    Some(Delta {
                        content: Some(&piece),
                        ..Delta::default()
                    }),
                    None,
                    None,
                )?);
            }
        }
        Answer::ToolCall {
            id,
            name,
            arguments,
        } => {
            let head = ToolCallOut {
                index: Some(0),
                id: Some(id),
                kind: Some("function"),
                function: FunctionOut {
                    name: Some(name),
                    arguments: "",
                },
            };
            let args = ToolCallOut {
                index: Some(0),
                id: None,
                kind: None,
                function: FunctionOut {
                    name: None,
                    arguments,
                },
            };
            for call in [head, args] {
                content_ends.push(sse.event(
                    Some(Delta {
                        tool_calls: Some([call]),
                        ..Delta::default()
                    }),
                    None,
                    None,
                )?);
            }
        }
    }
    sse.event(Some(Delta::default()), Some(answer.finish_reason()), None)?;
    if include_usage {
        sse.event(
            None,
            None,
            Some(Usage::new(prompt_tokens, answer.completion_tokens())),
        )?;
    }
    sse.buf.extend_from_slice(b"data: [DONE]\n\n");
    let total = sse.buf.len();
    let body = Bytes::from(sse.buf);

    let failing = fail_after.filter(|&n| n < content_ends.len());
    let mut ends: Vec<usize> = match failing {
        Some(0) => vec![role_end],
        Some(n) => content_ends[..n].to_vec(),
        None => {
            let mut ends = content_ends;
            ends.pop();
            ends.push(total);
            ends
        }
    };
    ends.dedup();
    let mut frames = Vec::with_capacity(ends.len() + 1);
    let mut start = 0;
    for end in ends {
        frames.push(Ok(body.slice(start..end)));
        start = end;
    }
    if failing.is_some() {
        frames.push(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "mock upstream failed mid-stream",
        )));
    }
    Ok(frames)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn request(json: &str) -> ChatRequest {
        serde_json::from_str(json).unwrap()
    }

    fn text(answer: &Answer<'_>) -> String {
        match answer {
            Answer::Text { words, .. } => words.join(" "),
            Answer::ToolCall { .. } => panic!("expected text"),
        }
    }

    #[test]
    fn cycles_the_last_user_words() {
        let req = request(
            r#"{"messages":[{"role":"user","content":"old words"},{"role":"assistant","content":"x"},
                {"role":"user","content":[{"type":"text","text":"hello  big"},{"type":"image_url"},{"type":"text","text":"world"}]}]}"#,
        );
        let answer = Answer::plan(&req, 5, || 0).unwrap();
        assert_eq!(text(&answer), "hello big world hello big");
        assert_eq!(answer.finish_reason(), "stop");
        assert_eq!(req.prompt_tokens(), 2 + 1 + 3);
    }

    #[test]
    fn caps_and_defaults() {
        let req = request(r#"{"messages":[{"role":"system","content":"s"}],"max_tokens":3}"#);
        let answer = Answer::plan(&req, 8, || 0).unwrap();
        assert_eq!(text(&answer), "ok ok ok");
        assert_eq!(answer.finish_reason(), "length");
        let req = request(
            r#"{"messages":[{"role":"user","content":"a"}],"max_completion_tokens":9,"max_tokens":1}"#,
        );
        assert_eq!(Answer::plan(&req, 8, || 0).unwrap().finish_reason(), "stop");
    }

    #[test]
    fn tool_calls_and_results() {
        let req = request(
            r#"{"messages":[{"role":"user","content":"find cats"}],
                "tools":[{"type":"function","function":{"name":"search"}},{"type":"function","function":{"name":"other"}}],
                "tool_choice":{"type":"function","function":{"name":"other"}}}"#,
        );
        let answer = Answer::plan(&req, 8, || 4).unwrap();
        assert_eq!(
            answer,
            Answer::ToolCall {
                id: "call_4".into(),
                name: "other",
                arguments: r#"{"query":"find cats"}"#.into()
            }
        );
        let req = request(
            r#"{"messages":[{"role":"user","content":"q"},{"role":"tool","content":"sunny  today"}],"tools":[{"function":{"name":"f"}}]}"#,
        );
        assert_eq!(
            text(&Answer::plan(&req, 1, || 0).unwrap()),
            "tool said: sunny today"
        );
    }

    #[test]
    fn stream_frames_and_failure() {
        let req = request(r#"{"messages":[{"role":"user","content":"a b c"}]}"#);
        let answer = Answer::plan(&req, 3, || 0).unwrap();
        let env = Envelope {
            id: "x",
            created: 0,
            model: "m",
            system_fingerprint: "f",
        };
        let frames = render_stream(&env, &answer, 3, true, None).unwrap();
        assert_eq!(frames.len(), 3);
        let all: Vec<u8> = frames
            .iter()
            .flat_map(|f| f.as_ref().unwrap().to_vec())
            .collect();
        let all = String::from_utf8(all).unwrap();
        assert!(all.ends_with("data: [DONE]\n\n"));
        assert_eq!(all.matches("data: ").count(), 1 + 3 + 1 + 1 + 1);

        let frames = render_stream(&env, &answer, 3, false, Some(2)).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(frames[2].is_err());
        let frames = render_stream(&env, &answer, 3, false, Some(0)).unwrap();
        assert_eq!(frames.len(), 2);
        let frames = render_stream(&env, &answer, 3, false, Some(3)).unwrap();
        assert!(frames.iter().all(Result::is_ok));
    }
}
