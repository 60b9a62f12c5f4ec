//! Stage 5, *record intent*: the invocation's audit event (`invoke_model`: who, which model
//! at which label, the decision and its rules, the input's label, what input inspection
//! found, the prompt or its digest when `audit.prompts` asks) is durable **before any byte
//! of the prompt leaves scif** for a provider. The [`Intent`] it returns is what
//! [`crate::execute`] requires, so a provider cannot be called before this stage succeeded;
//! if the trail cannot take the event, the call is refused (fail closed).

use scif_provider::ChatRequest;
use serde_json::Value;

use crate::authorize::{Model, Permitted};
use crate::error::Error;
use crate::record::{request_event, Auditor, Slot};
use crate::Service;

/// Proof that the intent of an invocation is on the trail (or that this pipeline runs
/// without one, in tests). Only this module builds one.
#[derive(Debug)]
pub struct Intent {
    seq: Option<u64>,
}

impl Intent {
    /// The intent event's sequence number in the trail.
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }
}

/// The prompt as the model will see it, every channel, for the trail (text or digest).
pub fn prompt_text(chat: &ChatRequest) -> String {
    let mut out = String::new();
    for t in &chat.tools {
        out.push_str(&format!(
            "tool {}: {} {}\n",
            t.name,
            t.description.as_deref().unwrap_or(""),
            t.parameters
        ));
    }
    for m in &chat.messages {
        out.push_str(&format!("{}: {}\n", m.role, m.content));
        for c in &m.tool_calls {
            out.push_str(&format!("{} called {}: {}\n", m.role, c.name, c.arguments));
        }
    }
    out
}

/// Records the intent of invoking an authorized model, and waits until it is durable.
pub async fn record(
    svc: &Service,
    _model: &Permitted<Model>,
    slot: Option<&Slot>,
    chat: &ChatRequest,
) -> Result<Intent, Error> {
    let (Some(auditor), Some(slot)) = (&svc.auditor, slot) else {
        return Ok(Intent { seq: None });
    };
    let event = intent_event(auditor, slot, chat);
    match auditor.append(event).await {
        Ok(seq) => {
            slot.update(|e| e.intent_seq = Some(seq));
            Ok(Intent { seq: Some(seq) })
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot write the audit trail: refusing the invocation");
            Err(Error::Unavailable(
                "the audit trail could not record this request, so it is refused".into(),
            ))
        }
    }
}

fn intent_event(auditor: &Auditor, slot: &Slot, chat: &ChatRequest) -> scif_audit::Event {
    let mut e = slot.get();
    if auditor.records_text() {
        auditor.text(&mut e.detail, "prompt", &prompt_text(chat));
    }
    e.detail.insert("phase".into(), Value::from("intent"));
    if chat.stream {
        e.detail.insert("stream".into(), Value::from(true));
    }
    request_event(e, "started".into(), "allow", 0)
}
