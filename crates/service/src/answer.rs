//! The one reducer from a stream of events to a whole answer, for every dialect that answers
//! whole.

use futures::StreamExt;
use scif_provider::{ChatEvent, ChatStream, FinishReason, ToolCall, Usage};

use crate::error::Error;

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub calls: Vec<ToolCall>,
    pub finish: FinishReason,
    pub usage: Usage,
}

/// Reads the events to their end. A cancelled generation (shutdown) is `Unavailable`; a
/// failed one is `Internal` with a message that names no detail of the failure.
pub async fn collect(mut events: ChatStream) -> Result<Answer, Error> {
    let mut text = String::new();
    let mut calls = Vec::new();
    loop {
        match events.next().await {
            Some(ChatEvent::Delta(t)) => text.push_str(&t),
            Some(ChatEvent::ToolCall(c)) => calls.push(c),
            Some(ChatEvent::Done {
                finish_reason: FinishReason::Cancelled,
                ..
            }) => {
                return Err(Error::Unavailable(
                    "the request was cancelled because the server is shutting down".into(),
                ))
            }
            Some(ChatEvent::Done {
                finish_reason,
                usage,
            }) => {
                return Ok(Answer {
                    text,
                    calls,
                    finish: finish_reason,
                    usage,
                })
            }
            Some(ChatEvent::Error(m)) => {
                tracing::error!(error = %m, "generation failed");
                return Err(Error::Internal("the model failed".into()));
            }
            None => return Err(Error::Internal("the generation ended early".into())),
        }
    }
}
