//! Starting a model invocation, the same way for every dialect: authorization of the model,
//! label flow (including the serving endpoints' accreditation), the caller's limits, the
//! provider call, and what is recorded while the answer streams (metrics, the usage record,
//! the audit trail's stream-end event, the limit permit's tokens).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use axum::http::HeaderMap;
use futures::Stream;
use scif_access::{AuthMethod, Caller};
use scif_authz::Action;
use scif_guardrails::Source;
use scif_provider::{ChatEvent, ChatRequest, ChatStream, FinishReason, Usage};

use crate::audit::{Auditor, Slot};
use crate::error::ApiError;
use crate::guardrails::{lock, Filtered, Report, Requested, SharedReport};
use crate::metering::Meter;
use crate::{guard, AppState};

/// A started generation.
pub struct Invocation {
    pub events: ChatStream,
    pub flow: guard::Flow,
    /// The deployment serving it ("local" for the embedded engine; empty when a guardrail
    /// blocked the prompt and no model ran).
    pub served_by: String,
    /// What the guardrails found and did; the output side is complete once `events` ends.
    pub guardrail: SharedReport,
}

/// Who asks, through which dialect.
pub struct Request<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub slot: Option<&'a Slot>,
    pub headers: &'a HeaderMap,
    /// "openai" or "bedrock", for usage records.
    pub dialect: &'static str,
    /// Whether the answer goes out as a stream (its usage is then recorded in a second audit
    /// event when it ends).
    pub stream: bool,
    /// Guardrails the request names (Bedrock `guardrailConfig`, the `x-scif-guardrail` header).
    pub guardrails: &'a [Requested],
}

/// The key a caller authenticated with, if any (API key id or SigV4 access key id).
pub fn key_of(caller: &Caller) -> Option<&str> {
    match &caller.method {
        AuthMethod::ApiKey { key_id } => Some(key_id),
        AuthMethod::SigV4 { access_key_id, .. } => Some(access_key_id),
        _ => None,
    }
}

pub async fn start(r: Request<'_>, mut chat: ChatRequest) -> Result<Invocation, ApiError> {
    let Request {
        state,
        caller,
        slot,
        headers,
        dialect,
        stream,
        guardrails,
    } = r;
    let model = chat.model.clone();
    let model_label = guard::model(state, caller, Action::InvokeModel, &model, slot)?;
    let provider = state
        .providers
        .for_model(&model)
        .ok_or_else(|| ApiError::ModelNotFound(model.clone()))?;
    let system_high = state.config.system_high();
    let accredited = |input: &scif_labels::Label| {
        system_high.dominates(input) && provider.accepts(&model, input)
    };
    let flow = guard::flow(state, caller, headers, &model_label, &accredited, slot)?;
    let groups: Vec<String> = caller.principal.groups.iter().cloned().collect();
    let permit = if state.limits.is_empty() {
        None
    } else {
        let subject = scif_limits::Subject {
            principal: &caller.principal.id,
            key: key_of(caller),
            groups: &groups,
            model: &model,
        };
        match state.limits.admit(&subject, SystemTime::now()) {
            Ok(p) => Some(p),
            Err(over) => {
                if let Some(slot) = slot {
                    slot.update(|e| {
                        e.decision = Some("deny".into());
                        e.reasons = vec!["rate_limited".into(), over.limit.clone()];
                    });
                }
                return Err(ApiError::RateLimited {
                    limit: over.limit.clone(),
                    kind: over.kind.as_str(),
                    retry_after_secs: over.retry_after_secs(),
                });
            }
        }
    };
    // Guardrails on the prompt: the attached and named guardrails, and spillage against the
    // principal's clearance and the serving endpoints' accreditation.
    let policy = state
        .guardrails
        .policy_for(&caller.principal, &model, guardrails)
        .await?;
    let report: SharedReport = Arc::new(Mutex::new(Report {
        guardrails: policy.guardrails.clone(),
        ..Report::default()
    }));
    let clearance = caller.principal.clearance.clone();
    let input_ceiling = |l: &scif_labels::Label| clearance.dominates(l) && accredited(l);
    let mut input_detections = Vec::new();
    let mut blocked = None;
    'messages: for m in chat.messages.iter_mut() {
        // The text, and the arguments of earlier tool calls the conversation carries.
        let texts = std::iter::once(&mut m.content)
            .chain(m.tool_calls.iter_mut().map(|c| &mut c.arguments));
        for text in texts {
            if text.is_empty() {
                continue;
            }
            let o = policy.evaluate(text, Source::Input, Some(&input_ceiling));
            input_detections.extend(o.detections);
            if o.blocked {
                blocked = Some(o.output);
                break 'messages;
            }
            if o.output != *text {
                *text = o.output;
            }
        }
    }
    if let Some(message) = blocked {
        crate::guardrails::log_spillage(
            &caller.principal.id,
            &model,
            Source::Input,
            &input_detections,
        );
        {
            let mut r = lock(&report);
            r.input = input_detections;
            r.blocked = Some(Source::Input);
            crate::guardrails::record(slot, &r);
        }
        // The model never sees the prompt; the limit permit goes back unused.
        drop(permit);
        return Ok(Invocation {
            events: crate::guardrails::blocked_events(message),
            flow,
            served_by: String::new(),
            guardrail: report,
        });
    }
    lock(&report).input = input_detections;
    if let (Some(auditor), Some(slot)) = (&state.auditor, slot) {
        let prompt: String = chat
            .messages
            .iter()
            .map(|m| format!("{}: {}\n", m.role, m.content))
            .collect();
        slot.update(|e| auditor.text(&mut e.detail, "prompt", &prompt));
    }
    chat.stream = stream;
    chat.input_label = flow.input.clone();
    let began = Instant::now();
    let usage_base = state.meter.as_ref().map(|meter| {
        (
            meter.clone(),
            UsageBase {
                principal: caller.principal.id.clone(),
                key_id: key_of(caller).map(str::to_owned),
                groups: groups.clone(),
                model: model.clone(),
                dialect,
            },
        )
    });
    let started = match provider.chat(chat).await {
        Ok(s) => s,
        Err(e) => {
            if let Some((meter, base)) = usage_base {
                base.record(&meter, "", Usage::default(), began, "error", slot);
            }
            return Err(e.into());
        }
    };
    if let Some(slot) = slot {
        slot.update(|e| {
            e.detail
                .insert("deployment".into(), started.served_by.clone().into());
        });
    }
    let after_stream = match (&state.auditor, slot) {
        (Some(a), Some(s)) if stream => Some((a.clone(), s.clone())),
        _ => None,
    };
    let clearance = caller.principal.clearance.clone();
    let output_ceiling: scif_guardrails::stream::OwnedCeiling =
        Arc::new(move |l: &scif_labels::Label| clearance.dominates(l));
    let filtered: ChatStream = Box::pin(Filtered::new(
        started.events,
        policy,
        output_ceiling,
        stream,
        report.clone(),
        slot.cloned(),
    ));
    let tracker = Tracker {
        model,
        began,
        metrics: state.metrics.clone(),
        slot: slot.cloned(),
        after_stream,
        permit,
        usage: usage_base,
        deployment: started.served_by.clone(),
        first: true,
        deltas: 0,
        finished: false,
    };
    Ok(Invocation {
        events: Box::pin(Observed {
            inner: filtered,
            tracker,
        }),
        flow,
        served_by: started.served_by,
        guardrail: report,
    })
}

struct UsageBase {
    principal: String,
    key_id: Option<String>,
    groups: Vec<String>,
    model: String,
    dialect: &'static str,
}

impl UsageBase {
    fn record(
        self,
        meter: &Meter,
        deployment: &str,
        usage: Usage,
        began: Instant,
        outcome: &str,
        slot: Option<&Slot>,
    ) {
        let (at_ms, day) = crate::metering::stamp(SystemTime::now());
        let request_id = slot.and_then(|s| {
            s.get()
                .detail
                .get("request_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        });
        meter.record(scif_store::UsageRecord {
            at_ms,
            day,
            principal: self.principal,
            key_id: self.key_id,
            groups: self.groups,
            model: self.model,
            deployment: deployment.to_owned(),
            dialect: self.dialect.to_owned(),
            prompt_tokens: usage.prompt_tokens as u64,
            completion_tokens: usage.completion_tokens as u64,
            latency_ms: began.elapsed().as_millis() as u64,
            outcome: outcome.to_owned(),
            request_id,
        });
    }
}

/// Everything that happens as a generation's events pass, and when it ends (or is dropped).
struct Tracker {
    model: String,
    began: Instant,
    metrics: crate::metrics::Metrics,
    slot: Option<Slot>,
    after_stream: Option<(Auditor, Slot)>,
    permit: Option<scif_limits::Permit>,
    usage: Option<(Meter, UsageBase)>,
    deployment: String,
    first: bool,
    deltas: usize,
    finished: bool,
}

impl Tracker {
    fn see(&mut self, ev: &ChatEvent) {
        match ev {
            ChatEvent::ToolCall(_) => {}
            ChatEvent::Delta(_) => {
                self.deltas += 1;
                if self.first {
                    self.first = false;
                    self.metrics
                        .time_to_first_token
                        .with_label_values(&[&self.model])
                        .observe(self.began.elapsed().as_secs_f64());
                }
            }
            ChatEvent::Done {
                usage,
                finish_reason,
            } => {
                let outcome = match finish_reason {
                    FinishReason::Cancelled => "cancelled",
                    _ => "ok",
                };
                if let Some(slot) = &self.slot {
                    slot.update(|e| {
                        e.prompt_tokens = Some(usage.prompt_tokens as u64);
                        e.completion_tokens = Some(usage.completion_tokens as u64);
                        e.detail
                            .insert("finish_reason".into(), format!("{finish_reason:?}").into());
                    });
                }
                if let Some((auditor, slot)) = self.after_stream.take() {
                    let outcome = format!("{finish_reason:?}").to_lowercase();
                    crate::audit::record_stream_end(&auditor, &slot, *usage, self.began, &outcome);
                }
                self.metrics
                    .prompt_tokens
                    .with_label_values(&[&self.model])
                    .inc_by(usage.prompt_tokens as u64);
                self.metrics
                    .completion_tokens
                    .with_label_values(&[&self.model])
                    .inc_by(usage.completion_tokens as u64);
                self.end(*usage, outcome);
            }
            ChatEvent::Error(_) => {
                if let Some((auditor, slot)) = self.after_stream.take() {
                    crate::audit::record_stream_end(
                        &auditor,
                        &slot,
                        self.partial(),
                        self.began,
                        "error",
                    );
                }
                self.end(self.partial(), "error");
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

    fn end(&mut self, usage: Usage, outcome: &str) {
        if self.finished {
            return;
        }
        self.finished = true;
        let tokens = (usage.prompt_tokens + usage.completion_tokens) as u64;
        if let Some(permit) = self.permit.take() {
            permit.finish(tokens, SystemTime::now());
        }
        if let Some((meter, base)) = self.usage.take() {
            base.record(
                &meter,
                &self.deployment,
                usage,
                self.began,
                outcome,
                self.slot.as_ref(),
            );
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.finished {
            // The caller went away before the end: what was produced still counts.
            let usage = self.partial();
            if let Some((auditor, slot)) = self.after_stream.take() {
                crate::audit::record_stream_end(
                    &auditor,
                    &slot,
                    usage,
                    self.began,
                    "client_closed",
                );
            }
            self.end(usage, "client_closed");
        }
    }
}

struct Observed {
    inner: ChatStream,
    tracker: Tracker,
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
                    this.tracker.end(usage, "error");
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
