//! What a call leaves in the audit trail, and the per-request record that the stages fill in.
//!
//! A request's [`Slot`] collects who, how authenticated, which action on which resource at
//! which label, the decision and the rules or policies behind it. For a model invocation the
//! pipeline writes two events (see `intent.rs` and `account.rs`): `invoke_model`, durable
//! before any byte of the prompt leaves for a provider, and `invoke_model_complete` when the
//! answer ends, however it ends. Every other request becomes one event, written by the
//! transport when its answer is ready.

use std::sync::{Arc, Mutex};

use scif_audit::{AuditError, Event, Trail};
use serde_json::{Map, Value};

/// What of prompts and completions goes into the trail (`audit.prompts`, typed at load).
pub use scif_config::PromptRecording;

/// The trail and how to use it.
#[derive(Clone)]
pub struct Auditor {
    pub trail: Trail,
    pub prompts: PromptRecording,
}

impl Auditor {
    /// Appends and waits until durable (per the trail's durability setting).
    pub async fn append(&self, event: Event) -> Result<u64, AuditError> {
        self.trail.append(event).await
    }

    /// Adds prompt or completion text to `detail` as configured.
    pub fn text(&self, detail: &mut Map<String, Value>, field: &str, text: &str) {
        match self.prompts {
            PromptRecording::None => {}
            PromptRecording::Sha256 => {
                use sha2::Digest;
                let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
                detail.insert(format!("{field}_sha256"), Value::from(digest));
            }
            PromptRecording::Full => {
                detail.insert(field.to_owned(), Value::from(text));
            }
        }
    }

    /// Whether completions are recorded at all (so that a stream need not collect them).
    pub fn records_text(&self) -> bool {
        self.prompts != PromptRecording::None
    }
}

/// A request's audit record, filled in as the request is handled.
#[derive(Debug, Default, Clone)]
pub struct Entry {
    pub request_id: Option<String>,
    /// The peer's address, when the transport knows it.
    pub source: Option<String>,
    /// The transport's own description of the request (`POST /v1/messages`).
    pub transport: Option<String>,
    pub principal: Option<String>,
    pub auth_method: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub resource_label: Option<String>,
    pub output_label: Option<String>,
    pub decision: Option<String>,
    pub reasons: Vec<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub detail: Map<String, Value>,
    /// Set once the invocation's intent event is durable: the request's record is then the
    /// intent and its completion, and the transport writes no third event.
    pub intent_seq: Option<u64>,
}

/// Shared between the stages (and the transport) of one request.
#[derive(Clone, Default)]
pub struct Slot {
    entry: Arc<Mutex<Entry>>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("entry", &self.get()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Slot {
    pub fn update(&self, f: impl FnOnce(&mut Entry)) {
        f(&mut lock(&self.entry));
    }

    pub fn get(&self) -> Entry {
        lock(&self.entry).clone()
    }

    /// Whether the pipeline has already recorded this request (intent and completion).
    pub fn recorded_by_pipeline(&self) -> bool {
        lock(&self.entry).intent_seq.is_some()
    }
}

/// Notes a decision in the request's slot, if it has one.
pub fn note_decision(slot: Option<&Slot>, d: &scif_authz::Decision, label: Option<String>) {
    let Some(slot) = slot else { return };
    slot.update(|e| {
        e.action = Some(d.action.as_str().to_owned());
        e.resource = Some(format!("{}/{}", d.resource_kind, d.resource_id));
        if label.is_some() {
            e.resource_label = label;
        }
        e.decision = Some(if d.allowed { "allow" } else { "deny" }.to_owned());
        e.reasons = decision_reasons(d);
    });
}

/// The reasons an audit event gives for a decision: the rule's code, then the policy ids.
pub fn decision_reasons(d: &scif_authz::Decision) -> Vec<String> {
    let mut reasons = vec![reason_code(&d.reason)];
    reasons.extend(d.policy_ids.iter().cloned());
    reasons
}

fn reason_code(r: &scif_authz::DecisionReason) -> String {
    serde_json::to_value(r)
        .ok()
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The event a slot stands for, as the transport writes it for a request the pipeline did
/// not record itself. `outcome` is the transport's status; `latency_ms` its duration.
pub fn request_event(e: Entry, outcome: String, decision_fallback: &str, latency_ms: u64) -> Event {
    let mut detail = e.detail;
    if let Some(t) = &e.transport {
        detail.insert("http".into(), Value::from(t.clone()));
    }
    Event {
        time: scif_audit::time::now_rfc3339(),
        request_id: e.request_id,
        principal: e.principal,
        auth_method: e.auth_method,
        source: e.source,
        action: e.action.unwrap_or_else(|| "http_request".into()),
        resource: e.resource,
        resource_label: e.resource_label,
        output_label: e.output_label,
        decision: e.decision.unwrap_or_else(|| decision_fallback.to_owned()),
        reasons: e.reasons,
        model: e.model,
        prompt_tokens: e.prompt_tokens,
        completion_tokens: e.completion_tokens,
        latency_ms: Some(latency_ms),
        outcome: Some(outcome),
        detail,
    }
}

/// Appends an event from outside a request (server start and stop, a stream's end), waiting
/// for it; failures are logged.
pub async fn append_logged(auditor: &Auditor, event: Event) {
    if let Err(e) = auditor.append(event).await {
        tracing::error!(error = %e, "cannot write the audit trail");
    }
}
