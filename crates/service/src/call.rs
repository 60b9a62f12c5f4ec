//! The typed context of one call through the pipeline: who asks, in which dialect, how the
//! answer is read, and what the caller declared.

use scif_access::{AuthMethod, Caller};

use crate::guardrails::Requested;
use crate::record::Slot;

/// The wire dialect a call came in (for usage records and the audit trail; the pipeline
/// itself never depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Bedrock,
    Anthropic,
    /// A job or an agent step started inside scif.
    Internal,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Bedrock => "bedrock",
            Dialect::Anthropic => "anthropic",
            Dialect::Internal => "internal",
        }
    }
}

/// One invocation's context.
pub struct Call<'a> {
    pub caller: &'a Caller,
    /// The request's audit record; `None` only in tests of the pipeline alone.
    pub slot: Option<&'a Slot>,
    pub dialect: Dialect,
    /// Whether the answer goes out as a stream.
    pub stream: bool,
    /// Guardrails the request names (Bedrock `guardrailConfig`, the `x-scif-guardrail` header).
    pub guardrails: &'a [Requested],
    /// The input label the caller declared (the transport parses it, so that its error can
    /// name where it came from: see [`crate::flow::parse_declared`]).
    pub declared_input_label: Option<scif_labels::Label>,
}

/// The key a caller authenticated with, if any (API key id or SigV4 access key id).
pub fn key_of(caller: &Caller) -> Option<&str> {
    match &caller.method {
        AuthMethod::ApiKey { key_id } => Some(key_id),
        AuthMethod::SigV4 { access_key_id, .. } => Some(access_key_id),
        _ => None,
    }
}
