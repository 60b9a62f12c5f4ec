//! Stage 4, *inspect input*: guardrails and spillage over **every channel** that reaches a
//! model, judged as one inspection document so that context and entities cross message
//! boundaries.
//!
//! The channels are the system prompts, every message, every tool definition (its name, its
//! description and every string of its JSON schema), the arguments of earlier tool calls and
//! the tool results. Content that is JSON (tool arguments and schemas always; a message or
//! tool result whenever it parses as an object or array) is decoded and its keys and string
//! values inspected as text, so that escapes (`\u0035`) and compact serialization hide
//! nothing. The pieces are joined, one per line, into one document, detected once; each
//! finding is mapped back to the pieces it covers. A finding that blocks blocks the whole
//! request; one that masks is masked in each piece it touches (JSON is re-serialized with
//! the masked strings).
//!
//! A value split across two pieces (`536-22-` in one message, `8741` in the next) is found by
//! a second look at each boundary where both sides are non-blank: the end of one piece and
//! the start of the next, joined with nothing between.

use scif_guardrails::policy::{apply_masks, Ceiling, Detection, Policy, Source};
use scif_guardrails::Action;
use scif_provider::ChatRequest;
#[cfg(test)]
use serde_json::json;
use serde_json::Value;

/// Where a piece of inspected content came from (for the audit trail: channel names, never
/// the content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    System,
    Message,
    ToolCallArguments,
    ToolResult,
    ToolName,
    ToolDescription,
    ToolSchema,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::System => "system",
            Channel::Message => "message",
            Channel::ToolCallArguments => "tool_call_arguments",
            Channel::ToolResult => "tool_result",
            Channel::ToolName => "tool_name",
            Channel::ToolDescription => "tool_description",
            Channel::ToolSchema => "tool_schema",
        }
    }
}

/// Where a piece goes back to once inspected.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `messages[m].content`, as text.
    Content(usize),
    /// `messages[m].content` decoded as JSON: its `i`th string.
    ContentJson(usize, usize),
    /// `messages[m].tool_calls[c].arguments` decoded as JSON: its `i`th string.
    Arguments(usize, usize, usize),
    /// `messages[m].tool_calls[c].arguments`, text that is not JSON.
    ArgumentsText(usize, usize),
    ToolName(usize),
    ToolDescription(usize),
    /// `tools[t].parameters`: its `i`th string.
    ToolSchema(usize, usize),
}

struct Piece {
    channel: Channel,
    target: Target,
    text: String,
    /// Offset of the piece in the document.
    at: usize,
}

/// What input inspection found and decided.
#[derive(Debug, Default)]
pub struct Inspection {
    pub detections: Vec<Detection>,
    /// The blocked message, when a finding blocks.
    pub blocked: Option<String>,
    /// The channels something was found in (for the audit trail).
    pub channels: Vec<&'static str>,
}

/// The keys and string values of a JSON value, depth first (an object's key before its
/// value), in the order [`replace_strings`] writes them back.
pub fn json_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| json_strings(i, out)),
        Value::Object(map) => {
            for (k, val) in map {
                out.push(k.clone());
                json_strings(val, out);
            }
        }
        _ => {}
    }
}

/// Writes strings back in the order [`json_strings`] read them.
pub fn replace_strings(v: &mut Value, with: &mut impl Iterator<Item = String>) {
    match v {
        Value::String(s) => {
            if let Some(n) = with.next() {
                *s = n;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| replace_strings(i, with)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut val) in old {
                let key = with.next().unwrap_or(k);
                replace_strings(&mut val, with);
                map.insert(key, val);
            }
        }
        _ => {}
    }
}

/// JSON content worth decoding: an object or an array.
fn as_json(text: &str) -> Option<Value> {
    let t = text.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

struct Document {
    text: String,
    pieces: Vec<Piece>,
    /// Each message's content decoded as JSON, when it is JSON.
    content_json: Vec<Option<Value>>,
    /// Each message's tool calls' arguments decoded.
    args_json: Vec<Vec<Option<Value>>>,
}

impl Document {
    fn push(&mut self, channel: Channel, target: Target, text: String) {
        if text.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let at = self.text.len();
        self.text.push_str(&text);
        self.pieces.push(Piece {
            channel,
            target,
            text,
            at,
        });
    }

    fn of(chat: &ChatRequest) -> Document {
        let mut doc = Document {
            text: String::new(),
            pieces: Vec::new(),
            content_json: Vec::new(),
            args_json: Vec::new(),
        };
        // Tool definitions come first, as the model's prompt puts them.
        for (t, tool) in chat.tools.iter().enumerate() {
            doc.push(Channel::ToolName, Target::ToolName(t), tool.name.clone());
            if let Some(d) = &tool.description {
                doc.push(
                    Channel::ToolDescription,
                    Target::ToolDescription(t),
                    d.clone(),
                );
            }
            let mut strings = Vec::new();
            json_strings(&tool.parameters, &mut strings);
            for (i, s) in strings.into_iter().enumerate() {
                doc.push(Channel::ToolSchema, Target::ToolSchema(t, i), s);
            }
        }
        let mut content_json = Vec::with_capacity(chat.messages.len());
        let mut args_json = Vec::with_capacity(chat.messages.len());
        for (m, msg) in chat.messages.iter().enumerate() {
            let channel = match msg.role.as_str() {
                "system" => Channel::System,
                "tool" => Channel::ToolResult,
                _ => Channel::Message,
            };
            let decoded = as_json(&msg.content);
            match &decoded {
                Some(v) => {
                    let mut strings = Vec::new();
                    json_strings(v, &mut strings);
                    for (i, s) in strings.into_iter().enumerate() {
                        doc.push(channel, Target::ContentJson(m, i), s);
                    }
                }
                None => doc.push(channel, Target::Content(m), msg.content.clone()),
            }
            content_json.push(decoded);
            let mut calls = Vec::with_capacity(msg.tool_calls.len());
            for (c, call) in msg.tool_calls.iter().enumerate() {
                doc.push(
                    Channel::ToolName,
                    Target::ToolName(usize::MAX),
                    call.name.clone(),
                );
                let decoded = serde_json::from_str::<Value>(&call.arguments).ok();
                match &decoded {
                    Some(v) => {
                        let mut strings = Vec::new();
                        json_strings(v, &mut strings);
                        for (i, s) in strings.into_iter().enumerate() {
                            doc.push(Channel::ToolCallArguments, Target::Arguments(m, c, i), s);
                        }
                    }
                    None => doc.push(
                        Channel::ToolCallArguments,
                        Target::ArgumentsText(m, c),
                        call.arguments.clone(),
                    ),
                }
                calls.push(decoded);
            }
            args_json.push(calls);
        }
        doc.content_json = content_json;
        doc.args_json = args_json;
        doc
    }
}

/// How many bytes of each side of a boundary the second look joins.
const SEAM_BYTES: usize = 48;

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Findings that straddle the boundary between two adjacent pieces, in document offsets
/// (the one-byte separator between them is not part of any finding's pieces).
fn seams(policy: &Policy, doc: &Document, ceiling: Option<Ceiling<'_>>) -> Vec<Detection> {
    let mut out = Vec::new();
    for pair in doc.pieces.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (Some(last), Some(first)) = (a.text.chars().last(), b.text.chars().next()) else {
            continue;
        };
        if last.is_whitespace() || first.is_whitespace() {
            continue;
        }
        let tail_from = floor_boundary(&a.text, a.text.len().saturating_sub(SEAM_BYTES));
        let head_to = floor_boundary(&b.text, SEAM_BYTES.min(b.text.len()));
        let tail = &a.text[tail_from..];
        let joined = format!("{tail}{}", &b.text[..head_to]);
        let join = tail.len();
        let (found, _) = policy.detect(&joined, Source::Input, ceiling);
        for d in found {
            if d.start < join && d.end > join {
                // Map to the document: the part before the join lies in `a`, the rest in
                // `b`, one separator byte later.
                out.push(Detection {
                    start: a.at + tail_from + d.start,
                    end: b.at + (d.end - join),
                    ..d
                });
            }
        }
    }
    out
}

/// Inspects every channel of `chat` against `policy` (and the spillage `ceiling`), masking
/// in place what is masked. Nothing of the request is changed when it is blocked.
pub fn input(policy: &Policy, chat: &mut ChatRequest, ceiling: Option<Ceiling<'_>>) -> Inspection {
    let mut doc = Document::of(chat);
    let mut content_json = std::mem::take(&mut doc.content_json);
    let mut args_json = std::mem::take(&mut doc.args_json);
    if doc.pieces.is_empty() {
        return Inspection::default();
    }
    let (mut detections, _) = policy.detect(&doc.text, Source::Input, ceiling);
    detections.extend(seams(policy, &doc, ceiling));
    if detections.is_empty() {
        return Inspection::default();
    }
    let mut channels: Vec<&'static str> = Vec::new();
    for d in &detections {
        for p in &doc.pieces {
            if d.start < p.at + p.text.len()
                && d.end > p.at
                && !channels.contains(&p.channel.as_str())
            {
                channels.push(p.channel.as_str());
            }
        }
    }
    if detections.iter().any(|d| d.action == Action::Block) {
        let message = policy.block_message(Source::Input, &detections);
        return Inspection {
            detections,
            blocked: Some(message),
            channels,
        };
    }
    // Masks, piece by piece: each finding clipped to the piece it covers.
    let mut masked: Vec<(Target, String)> = Vec::new();
    for p in &doc.pieces {
        let end = p.at + p.text.len();
        let mut local: Vec<Detection> = detections
            .iter()
            .filter(|d| d.action == Action::Anonymize && d.start < end && d.end > p.at)
            .map(|d| Detection {
                start: floor_boundary(&p.text, d.start.saturating_sub(p.at)),
                end: floor_boundary(&p.text, d.end.min(end) - p.at),
                ..d.clone()
            })
            .collect();
        if local.is_empty() {
            continue;
        }
        local.sort_by_key(|d| (d.start, std::cmp::Reverse(d.end)));
        masked.push((p.target, apply_masks(&p.text, 0, p.text.len(), &local)));
    }
    apply(chat, &doc, masked, &mut content_json, &mut args_json);
    Inspection {
        detections,
        blocked: None,
        channels,
    }
}

/// Writes masked pieces back into the request.
fn apply(
    chat: &mut ChatRequest,
    doc: &Document,
    masked: Vec<(Target, String)>,
    content_json: &mut [Option<Value>],
    args_json: &mut [Vec<Option<Value>>],
) {
    if masked.is_empty() {
        return;
    }
    let replaced = |target: &dyn Fn(&Target) -> bool| -> Vec<String> {
        doc.pieces
            .iter()
            .filter(|p| target(&p.target))
            .map(|p| {
                masked
                    .iter()
                    .find(|(t, _)| same(t, &p.target))
                    .map_or_else(|| p.text.clone(), |(_, s)| s.clone())
            })
            .collect()
    };
    let touched = |pred: &dyn Fn(&Target) -> bool| masked.iter().any(|(t, _)| pred(t));
    for (t, tool) in chat.tools.iter_mut().enumerate() {
        for (target, s) in &masked {
            match target {
                Target::ToolName(i) if *i == t => tool.name = s.clone(),
                Target::ToolDescription(i) if *i == t => tool.description = Some(s.clone()),
                _ => {}
            }
        }
        let in_schema = |x: &Target| matches!(x, Target::ToolSchema(i, _) if *i == t);
        if touched(&in_schema) {
            let strings = replaced(&in_schema);
            replace_strings(&mut tool.parameters, &mut strings.into_iter());
        }
    }
    for (m, msg) in chat.messages.iter_mut().enumerate() {
        for (target, s) in &masked {
            if matches!(target, Target::Content(i) if *i == m) {
                msg.content = s.clone();
            }
        }
        let in_content = |x: &Target| matches!(x, Target::ContentJson(i, _) if *i == m);
        if touched(&in_content) {
            if let Some(v) = content_json.get_mut(m).and_then(Option::as_mut) {
                let strings = replaced(&in_content);
                replace_strings(v, &mut strings.into_iter());
                msg.content = v.to_string();
            }
        }
        for (c, call) in msg.tool_calls.iter_mut().enumerate() {
            for (target, s) in &masked {
                if matches!(target, Target::ArgumentsText(i, j) if *i == m && *j == c) {
                    call.arguments = s.clone();
                }
            }
            let in_args =
                |x: &Target| matches!(x, Target::Arguments(i, j, _) if *i == m && *j == c);
            if touched(&in_args) {
                if let Some(v) = args_json
                    .get_mut(m)
                    .and_then(|calls| calls.get_mut(c))
                    .and_then(Option::as_mut)
                {
                    let strings = replaced(&in_args);
                    replace_strings(v, &mut strings.into_iter());
                    call.arguments = v.to_string();
                }
            }
        }
    }
}

fn same(a: &Target, b: &Target) -> bool {
    use Target::*;
    match (a, b) {
        (Content(x), Content(y)) => x == y,
        (ContentJson(x, i), ContentJson(y, j)) => x == y && i == j,
        (Arguments(x, c, i), Arguments(y, d, j)) => x == y && c == d && i == j,
        (ArgumentsText(x, c), ArgumentsText(y, d)) => x == y && c == d,
        (ToolName(x), ToolName(y)) => x == y,
        (ToolDescription(x), ToolDescription(y)) => x == y,
        (ToolSchema(x, i), ToolSchema(y, j)) => x == y && i == j,
        _ => false,
    }
}

/// Evaluates JSON text (a model's tool-call arguments on the way out) with its strings
/// decoded: the outcome's text is the JSON re-serialized with masked strings, or the blocked
/// message. Text that is not JSON is evaluated as it is.
pub fn evaluate_json(
    policy: &Policy,
    text: &str,
    source: Source,
    ceiling: Option<Ceiling<'_>>,
) -> scif_guardrails::policy::Outcome {
    let Ok(mut v) = serde_json::from_str::<Value>(text) else {
        return policy.evaluate(text, source, ceiling);
    };
    let mut strings = Vec::new();
    json_strings(&v, &mut strings);
    let mut doc = String::new();
    let mut at = Vec::with_capacity(strings.len());
    for s in &strings {
        if !doc.is_empty() {
            doc.push('\n');
        }
        at.push(doc.len());
        doc.push_str(s);
    }
    let (detections, _) = policy.detect(&doc, source, ceiling);
    let blocked = detections.iter().any(|d| d.action == Action::Block);
    if blocked {
        return scif_guardrails::policy::Outcome {
            blocked,
            output: policy.block_message(source, &detections),
            detections,
        };
    }
    if !detections.iter().any(|d| d.action == Action::Anonymize) {
        return scif_guardrails::policy::Outcome {
            blocked,
            output: text.to_owned(),
            detections,
        };
    }
    let masked: Vec<String> = strings
        .iter()
        .zip(&at)
        .map(|(s, &from)| {
            let end = from + s.len();
            let local: Vec<Detection> = detections
                .iter()
                .filter(|d| d.action == Action::Anonymize && d.start < end && d.end > from)
                .map(|d| Detection {
                    start: floor_boundary(s, d.start.saturating_sub(from)),
                    end: floor_boundary(s, d.end.min(end) - from),
                    ..d.clone()
                })
                .collect();
            apply_masks(s, 0, s.len(), &local)
        })
        .collect();
    replace_strings(&mut v, &mut masked.into_iter());
    scif_guardrails::policy::Outcome {
        blocked,
        output: v.to_string(),
        detections,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use scif_guardrails::policy::{Guardrail, GuardrailSpec, Kind};
    use scif_provider::{ChatMessage, SamplingParams, ToolCall, ToolSpec};

    fn policy(action: &str) -> Policy {
        let json = format!(
            r#"{{"name":"g","blockedInputMessaging":"no","blockedOutputsMessaging":"no",
            "sensitiveInformationPolicyConfig":{{"piiEntitiesConfig":[
              {{"type":"US_SOCIAL_SECURITY_NUMBER","action":"{action}"}}]}}}}"#
        );
        let g = Guardrail {
            id: "g".into(),
            version: 1,
            spec: GuardrailSpec::from_json(json.as_bytes()).unwrap(),
        };
        Policy::new(&[&g]).unwrap()
    }

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            ..Default::default()
        }
    }

    fn req(messages: Vec<ChatMessage>, tools: Vec<ToolSpec>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages,
            sampling: SamplingParams::default(),
            max_tokens: None,
            stop: vec![],
            stream: false,
            input_label: scif_labels::Label::unclassified(),
            tools,
            tool_choice: None,
        }
    }

    /// Spillage ceiling: UNCLASSIFIED only.
    fn unclassified(l: &scif_labels::Label) -> bool {
        scif_labels::Label::unclassified().dominates(l)
    }

    fn tool(description: &str, schema: Value) -> ToolSpec {
        ToolSpec {
            name: "lookup".into(),
            description: Some(description.into()),
            parameters: schema,
        }
    }

    #[test]
    fn markings_in_tool_definitions_are_spillage() {
        let p = policy("BLOCK");
        let mut r = req(
            vec![msg("user", "hello")],
            vec![tool(
                "Looks up SECRET//NOFORN records",
                json!({"type": "object"}),
            )],
        );
        let i = input(&p, &mut r, Some(&unclassified));
        assert!(i.blocked.is_some() && i.channels == ["tool_description"]);
        let mut r = req(
            vec![msg("user", "hello")],
            vec![tool(
                "plain",
                json!({"type": "object", "properties": {"q": {"description": "(S//NF) target"}}}),
            )],
        );
        let i = input(&p, &mut r, Some(&unclassified));
        assert!(i.blocked.is_some() && i.channels == ["tool_schema"]);
    }

    #[test]
    fn entities_cross_message_boundaries() {
        let p = policy("BLOCK");
        for (a, b) in [
            ("my number is 536-22-", "8741"),
            ("my number is 536-22", "-8741"),
            ("Here is my SSN:", "536228741"),
        ] {
            let mut r = req(vec![msg("user", a), msg("user", b)], vec![]);
            let i = input(&p, &mut r, None);
            assert!(i.blocked.is_some(), "{a:?} + {b:?}");
            assert!(i.detections.iter().any(|d| matches!(d.kind, Kind::Pii(_))));
        }
        let mut r = req(
            vec![msg("user", "room 536"), msg("user", "floor 22")],
            vec![],
        );
        assert!(input(&p, &mut r, None).blocked.is_none());
    }

    #[test]
    fn json_is_decoded_and_masked_back_in_place() {
        let p = policy("ANONYMIZE");
        let mut calls = msg("assistant", "");
        calls.tool_calls = vec![ToolCall {
            id: "c1".into(),
            name: "file".into(),
            arguments: r#"{"ssn":"\u0035\u0033\u0036-22-8741","n":2}"#.into(),
        }];
        let mut r = req(
            vec![
                msg("user", "file it"),
                calls,
                ChatMessage {
                    role: "tool".into(),
                    content: r#"{"result":{"ssn":"536-22-8741"}}"#.into(),
                    tool_call_id: Some("c1".into()),
                    ..Default::default()
                },
            ],
            vec![],
        );
        let i = input(&p, &mut r, None);
        assert!(i.blocked.is_none() && i.detections.len() == 2, "{i:?}");
        let args: Value = serde_json::from_str(&r.messages[1].tool_calls[0].arguments).unwrap();
        assert_eq!(args, json!({"ssn": "{US_SOCIAL_SECURITY_NUMBER}", "n": 2}));
        let result: Value = serde_json::from_str(&r.messages[2].content).unwrap();
        assert_eq!(
            result,
            json!({"result": {"ssn": "{US_SOCIAL_SECURITY_NUMBER}"}})
        );
        // A value split across two messages is masked in both.
        let mut r = req(
            vec![msg("user", "my number is 536-22-"), msg("user", "8741 ok")],
            vec![],
        );
        input(&p, &mut r, None);
        assert!(!r.messages[0].content.contains("536") && !r.messages[1].content.contains("8741"));
        assert!(r.messages[1].content.ends_with(" ok"));
    }

    #[test]
    fn output_tool_arguments_are_judged_decoded() {
        let p = policy("BLOCK");
        let o = evaluate_json(
            &p,
            r#"{"x":"SECRET//NOFORN"}"#,
            Source::Output,
            Some(&unclassified),
        );
        assert!(o.blocked);
        let o = evaluate_json(&p, r#"{"x":"fine"}"#, Source::Output, Some(&unclassified));
        assert!(!o.blocked && o.output == r#"{"x":"fine"}"#);
    }
}
