//! Stage 8, *account*: when an invocation ends, however it ends (its last event, an error,
//! the provider failing before any token, the caller going away, the server shutting down),
//! one [`CallRecord`] is made, and from it, each in one function, the completion's audit
//! event ([`audit_event`], `invoke_model_complete`), the usage record ([`usage_record`]) and
//! the token metrics ([`observe`]). The limit permit is charged the tokens used.
//!
//! The answer does not wait for its completion event: what must be durable before anything
//! happens is the intent, and it was, before the provider ran. The completion is encoded and
//! appended on another task, as a deferred append, made durable by the next fsync (at most
//! `scif_audit::DEFERRED_SYNC` later), so an invocation costs one fsync, its intent's; its
//! `intent_seq` names the intent it completes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use futures::Stream;
use scif_audit::Event;
use scif_provider::{ChatEvent, ChatStream, FinishReason, Usage};
use serde_json::{Map, Value};

use crate::call::Dialect;
use crate::metering::Meter;
use crate::metrics::Metrics;
use crate::record::{Auditor, Slot};

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The model's last event, with its reason.
    Finished(FinishReason),
    /// The provider or the stream failed after the intent was recorded.
    Error,
    /// The provider refused or failed before producing anything.
    ProviderError,
    /// The caller went away before the end.
    ClientClosed,
}

impl Outcome {
    /// The audit trail's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Finished(FinishReason::Stop) => "stop",
            Outcome::Finished(FinishReason::Length) => "length",
            Outcome::Finished(FinishReason::Cancelled) => "cancelled",
            Outcome::Finished(FinishReason::ToolCalls) => "tool_calls",
            Outcome::Finished(FinishReason::ContentFilter) => "content_filter",
            Outcome::Error => "error",
            Outcome::ProviderError => "provider_error",
            Outcome::ClientClosed => "client_closed",
        }
    }

    /// The usage record's word for it.
    fn usage(self) -> &'static str {
        match self {
            Outcome::Finished(FinishReason::Cancelled) => "cancelled",
            Outcome::Finished(_) => "ok",
            Outcome::Error | Outcome::ProviderError => "error",
            Outcome::ClientClosed => "client_closed",
        }
    }
}

/// Everything known about one finished invocation: the single source of its completion
/// event, its usage record and its metrics.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub request_id: Option<String>,
    pub principal: String,
    pub auth_method: Option<String>,
    pub source: Option<String>,
    pub key_id: Option<String>,
    pub groups: Vec<String>,
    pub resource: Option<String>,
    pub resource_label: Option<String>,
    pub output_label: Option<String>,
    pub reasons: Vec<String>,
    pub model: String,
    pub deployment: String,
    pub dialect: Dialect,
    pub stream: bool,
    pub usage: Usage,
    pub outcome: Outcome,
    pub latency_ms: u64,
    /// What the guardrails found (types and actions only).
    pub guardrail: Option<Value>,
    /// The answer as the caller received it (collected only when `audit.prompts` asks).
    pub completion: Option<String>,
    /// The provider's error, when there was one (safe to show).
    pub error: Option<String>,
    pub intent_seq: Option<u64>,
}

/// The completion's audit event.
pub fn audit_event(r: &CallRecord, auditor: &Auditor) -> Event {
    let mut detail = Map::new();
    if let Some(seq) = r.intent_seq {
        detail.insert("intent_seq".into(), Value::from(seq));
    }
    detail.insert("phase".into(), Value::from("complete"));
    detail.insert("dialect".into(), Value::from(r.dialect.as_str()));
    if !r.deployment.is_empty() {
        detail.insert("deployment".into(), Value::from(r.deployment.clone()));
    }
    if r.stream {
        detail.insert("stream".into(), Value::from(true));
    }
    if let Some(g) = &r.guardrail {
        detail.insert("guardrail".into(), g.clone());
    }
    if let Some(e) = &r.error {
        detail.insert("error".into(), Value::from(e.clone()));
    }
    if let Some(text) = &r.completion {
        auditor.text(&mut detail, "completion", text);
    }
    Event {
        time: scif_audit::time::now_rfc3339(),
        request_id: r.request_id.clone(),
        principal: Some(r.principal.clone()),
        auth_method: r.auth_method.clone(),
        source: r.source.clone(),
        action: "invoke_model_complete".into(),
        resource: r.resource.clone(),
        resource_label: r.resource_label.clone(),
        output_label: r.output_label.clone(),
        decision: "info".into(),
        reasons: r.reasons.clone(),
        model: Some(r.model.clone()),
        prompt_tokens: Some(r.usage.prompt_tokens as u64),
        completion_tokens: Some(r.usage.completion_tokens as u64),
        latency_ms: Some(r.latency_ms),
        outcome: Some(r.outcome.as_str().into()),
        detail,
    }
}

/// The usage record.
pub fn usage_record(r: &CallRecord) -> scif_store::UsageRecord {
    let (at_ms, day) = crate::metering::stamp(SystemTime::now());
    scif_store::UsageRecord {
        at_ms,
        day,
        principal: r.principal.clone(),
        key_id: r.key_id.clone(),
        groups: r.groups.clone(),
        model: r.model.clone(),
        deployment: r.deployment.clone(),
        dialect: r.dialect.as_str().to_owned(),
        prompt_tokens: r.usage.prompt_tokens as u64,
        completion_tokens: r.usage.completion_tokens as u64,
        latency_ms: r.latency_ms,
        outcome: r.outcome.usage().to_owned(),
        request_id: r.request_id.clone(),
    }
}

/// The token metrics.
pub fn observe(r: &CallRecord, m: &Metrics) {
    m.prompt_tokens
        .with_label_values(&[&r.model])
        .inc_by(r.usage.prompt_tokens as u64);
    m.completion_tokens
        .with_label_values(&[&r.model])
        .inc_by(r.usage.completion_tokens as u64);
}

/// Who and what, fixed when the invocation starts.
pub struct Base {
    pub principal: String,
    pub key_id: Option<String>,
    pub groups: Vec<String>,
    pub model: String,
    pub dialect: Dialect,
    pub stream: bool,
}

/// Watches an invocation's events and accounts for it exactly once when it ends.
pub struct Tracker {
    base: Base,
    began: Instant,
    metrics: Metrics,
    meter: Option<Meter>,
    auditor: Option<Auditor>,
    slot: Option<Slot>,
    permit: Option<scif_limits::Permit>,
    deployment: String,
    first: bool,
    deltas: usize,
    text: Option<String>,
    finished: bool,
}

impl Tracker {
    pub fn new(
        base: Base,
        metrics: Metrics,
        meter: Option<Meter>,
        auditor: Option<Auditor>,
        slot: Option<Slot>,
        permit: Option<scif_limits::Permit>,
    ) -> Tracker {
        let text = auditor
            .as_ref()
            .filter(|a| a.records_text())
            .map(|_| String::new());
        Tracker {
            base,
            began: Instant::now(),
            metrics,
            meter,
            auditor,
            slot,
            permit,
            deployment: String::new(),
            first: true,
            deltas: 0,
            text,
            finished: false,
        }
    }

    pub fn served_by(&mut self, deployment: &str) {
        self.deployment = deployment.to_owned();
        if let Some(slot) = &self.slot {
            slot.update(|e| {
                e.detail
                    .insert("deployment".into(), deployment.to_owned().into());
            });
        }
    }

    fn see(&mut self, ev: &ChatEvent) {
        match ev {
            ChatEvent::ToolCall(c) => {
                if let Some(t) = &mut self.text {
                    t.push_str(&format!(
                        "\n[tool call {} {}: {}]",
                        c.id, c.name, c.arguments
                    ));
                }
            }
            ChatEvent::Delta(s) => {
                self.deltas += 1;
                if let Some(t) = &mut self.text {
                    t.push_str(s);
                }
                if self.first {
                    self.first = false;
                    self.metrics
                        .time_to_first_token
                        .with_label_values(&[&self.base.model])
                        .observe(self.began.elapsed().as_secs_f64());
                }
            }
            ChatEvent::Done {
                usage,
                finish_reason,
            } => {
                if let Some(slot) = &self.slot {
                    slot.update(|e| {
                        e.prompt_tokens = Some(usage.prompt_tokens as u64);
                        e.completion_tokens = Some(usage.completion_tokens as u64);
                        e.detail
                            .insert("finish_reason".into(), format!("{finish_reason:?}").into());
                    });
                }
                self.end(*usage, Outcome::Finished(*finish_reason), None);
            }
            ChatEvent::Error(e) => {
                let e = e.clone();
                self.end(self.partial(), Outcome::Error, Some(e));
            }
        }
    }

    /// What a generation that did not finish used, as far as is known.
    fn partial(&self) -> Usage {
        Usage {
            prompt_tokens: 0,
            completion_tokens: self.deltas,
        }
    }

    /// The provider answered whole, without a stream of events (embeddings): `usage` is all
    /// it used; `summary` stands for the answer in the trail when prompts are recorded.
    pub fn done(mut self, usage: Usage, summary: &str) {
        if let Some(slot) = &self.slot {
            slot.update(|e| e.prompt_tokens = Some(usage.prompt_tokens as u64));
        }
        if let Some(t) = &mut self.text {
            t.push_str(summary);
        }
        self.end(usage, Outcome::Finished(FinishReason::Stop), None);
    }

    /// The provider failed before producing anything.
    pub fn failed(mut self, error: &crate::Error) {
        self.end(
            Usage::default(),
            Outcome::ProviderError,
            Some(error.to_string()),
        );
    }

    fn record(&mut self, usage: Usage, outcome: Outcome, error: Option<String>) -> CallRecord {
        let e = self.slot.as_ref().map(Slot::get).unwrap_or_default();
        CallRecord {
            request_id: e.request_id,
            principal: self.base.principal.clone(),
            auth_method: e.auth_method,
            source: e.source,
            key_id: self.base.key_id.clone(),
            groups: self.base.groups.clone(),
            resource: e.resource,
            resource_label: e.resource_label,
            output_label: e.output_label,
            reasons: e.reasons,
            model: self.base.model.clone(),
            deployment: self.deployment.clone(),
            dialect: self.base.dialect,
            stream: self.base.stream,
            usage,
            outcome,
            latency_ms: self.began.elapsed().as_millis() as u64,
            guardrail: e.detail.get("guardrail").cloned(),
            completion: self.text.take(),
            error,
            intent_seq: e.intent_seq,
        }
    }

    fn end(&mut self, usage: Usage, outcome: Outcome, error: Option<String>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let rec = self.record(usage, outcome, error);
        if let Some(permit) = self.permit.take() {
            permit.finish(
                (usage.prompt_tokens + usage.completion_tokens) as u64,
                SystemTime::now(),
            );
        }
        observe(&rec, &self.metrics);
        if let Some(meter) = &self.meter {
            meter.record(usage_record(&rec));
        }
        let Some(auditor) = &self.auditor else {
            return;
        };
        if rec.intent_seq.is_none() {
            return;
        }
        // The intent is durable already; the completion rides on the next fsync (at most
        // `scif_audit::DEFERRED_SYNC` later) instead of paying for one of its own, and is
        // encoded off the answer's path: the answer does not wait for it.
        let auditor = auditor.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let receipt = auditor.trail.append_deferred(audit_event(&rec, &auditor));
                    if let Err(e) = receipt.await {
                        tracing::error!(error = %e, "cannot write the audit trail");
                    }
                });
            }
            Err(_) => {
                // No runtime (a plain thread): queued here; the writer still writes it.
                drop(auditor.trail.append_deferred(audit_event(&rec, &auditor)));
            }
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.finished {
            // The caller went away (or the server stopped) before the end: what was
            // produced still counts, and the trail says so.
            let usage = self.partial();
            self.end(usage, Outcome::ClientClosed, None);
        }
    }
}

/// An invocation's events, accounted for as they pass.
pub struct Observed {
    inner: ChatStream,
    tracker: Tracker,
}

impl Observed {
    pub fn new(inner: ChatStream, tracker: Tracker) -> Observed {
        Observed { inner, tracker }
    }
}

impl Stream for Observed {
    type Item = ChatEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChatEvent>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(ev)) => {
                this.tracker.see(&ev);
                Poll::Ready(Some(ev))
            }
            Poll::Ready(None) => {
                if !this.tracker.finished {
                    let usage = this.tracker.partial();
                    this.tracker.end(
                        usage,
                        Outcome::Error,
                        Some("the answer ended without its last event".into()),
                    );
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
