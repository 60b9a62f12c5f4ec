//! The Anthropic Messages API's wire types, strict: an unknown field is a 400 in Anthropic's
//! error shape, never silently ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesRequest {
    pub model: String,
    /// Required by `/v1/messages`; not by `count_tokens`.
    pub max_tokens: Option<i64>,
    pub messages: Vec<Message>,
    pub system: Option<System>,
    pub stop_sequences: Option<Vec<String>>,
    pub stream: Option<bool>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<i64>,
    pub tools: Option<Vec<Tool>>,
    pub tool_choice: Option<ToolChoice>,
    /// `{"user_id": ...}`: accepted, not used.
    pub metadata: Option<Value>,
    /// Accepted for compatibility: scif has one service tier.
    pub service_tier: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum System {
    Text(String),
    Blocks(Vec<TextBlock>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBlock {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub cache_control: Option<Value>,
    pub citations: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: String,
    pub content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

/// A content block of a request message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    Text {
        text: String,
        cache_control: Option<Value>,
        citations: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        content: Option<ToolResultContent>,
        is_error: Option<bool>,
        cache_control: Option<Value>,
    },
    Image {
        source: Value,
        cache_control: Option<Value>,
    },
    Document {
        source: Value,
        title: Option<String>,
        context: Option<String>,
        citations: Option<Value>,
        cache_control: Option<Value>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Blocks(Vec<TextBlock>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
    /// `custom` (or absent); server tools are not offered.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub cache_control: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub disable_parallel_tool_use: Option<bool>,
}

/// A whole answer.
#[derive(Debug, Serialize)]
pub struct MessageResponse {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: String,
    pub content: Vec<Value>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<String>,
    pub usage: UsageBody,
    /// What the guardrails found and did, when any applied (scif's extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scif_guardrail: Option<Value>,
}

#[derive(Debug, Serialize, Clone, Copy)]
pub struct UsageBody {
    pub input_tokens: usize,
    pub output_tokens: usize,
}
