//! Recording every request in the audit trail (`scif-audit`), durably, before its response is
//! sent.
//!
//! The [`record`] layer gives each request a [`Slot`]; the authentication layer, the guards and
//! the handlers fill it in (who, how authenticated, which action on which resource at which
//! label, the decision and the rules or policies behind it, the model, token counts); when the
//! response is ready the layer turns the slot into one event, appends it, and waits until the
//! trail has it on disk (group commit shares one fsync among concurrent requests). If the
//! trail cannot take it, the response is replaced by a 503: nothing the trail did not record is
//! answered (fail closed). A streamed completion's token counts are not known when its headers
//! go out; its stream appends a second event, `invoke_model_complete`, when it ends.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scif_audit::{Event, Trail};
use serde_json::{Map, Value};
use tower_http::request_id::RequestId;

use crate::error::ApiError;
use crate::AppState;

/// What of prompts and completions goes into the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptRecording {
    None,
    Sha256,
    Full,
}

impl PromptRecording {
    pub fn parse(s: &str) -> PromptRecording {
        match s {
            "sha256" => PromptRecording::Sha256,
            "full" => PromptRecording::Full,
            _ => PromptRecording::None,
        }
    }
}

/// The trail and how to use it.
#[derive(Clone)]
pub struct Auditor {
    pub trail: Trail,
    pub prompts: PromptRecording,
}

impl Auditor {
    /// Appends and waits until durable (per the trail's durability setting).
    pub async fn append(&self, event: Event) -> Result<u64, scif_audit::AuditError> {
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
}

/// A request's audit record, filled in as the request is handled.
#[derive(Debug, Default, Clone)]
pub struct Entry {
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
}

/// Shared between the layers and handlers of one request.
#[derive(Debug, Clone, Default)]
pub struct Slot(pub Arc<Mutex<Entry>>);

impl Slot {
    pub fn update(&self, f: impl FnOnce(&mut Entry)) {
        let mut e = match self.0.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut e);
    }

    pub fn get(&self) -> Entry {
        match self.0.lock() {
            Ok(e) => e.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
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
        let mut reasons = vec![reason_code(&d.reason)];
        reasons.extend(d.policy_ids.iter().cloned());
        e.reasons = reasons;
    });
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

/// Paths not recorded: probes carry no identity and change nothing.
const UNRECORDED: &[&str] = &["/healthz", "/readyz"];

pub async fn record(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(auditor) = state.auditor.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_owned();
    if UNRECORDED.contains(&path.as_str()) {
        return next.run(req).await;
    }
    if let Err(why) = auditor.trail.healthy() {
        tracing::error!(reason = %why, "audit trail unavailable: refusing requests");
        return ApiError::Unavailable(
            "the audit trail is unavailable, so requests are refused; see /readyz".into(),
        )
        .into_response();
    }
    let slot = Slot::default();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &request_id {
        slot.update(|e| {
            e.detail.insert("request_id".into(), id.clone().into());
        });
    }
    req.extensions_mut().insert(slot.clone());
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let e = slot.get();
    let decision = e.decision.clone().unwrap_or_else(|| {
        match status {
            200..=399 => "allow",
            401 | 403 => "deny",
            _ => "error",
        }
        .to_owned()
    });
    let mut detail = e.detail;
    detail.remove("request_id");
    detail.insert("http".into(), Value::from(format!("{method} {path}")));
    let event = Event {
        time: scif_audit::time::now_rfc3339(),
        request_id,
        principal: e.principal,
        auth_method: e.auth_method,
        source,
        action: e.action.unwrap_or_else(|| "http_request".into()),
        resource: e.resource,
        resource_label: e.resource_label,
        output_label: e.output_label,
        decision,
        reasons: e.reasons,
        model: e.model,
        prompt_tokens: e.prompt_tokens,
        completion_tokens: e.completion_tokens,
        latency_ms: Some(started.elapsed().as_millis() as u64),
        outcome: Some(status.to_string()),
        detail,
    };
    match auditor.append(event).await {
        Ok(_) => resp,
        Err(e) => {
            tracing::error!(error = %e, "cannot write the audit trail: refusing the response");
            ApiError::Unavailable(
                "the audit trail could not record this request, so it is refused".into(),
            )
            .into_response()
        }
    }
}

/// Moves the events other processes queued in the store (the CLI's admin changes) into the
/// trail, deleting each batch only once the trail holds it.
pub async fn drain_outbox(auditor: &Auditor, store: &scif_store::Store) -> Result<usize, String> {
    let mut moved = 0;
    loop {
        let batch = store.audit_outbox(256).await.map_err(|e| e.to_string())?;
        let Some((last, _)) = batch.last().cloned() else {
            return Ok(moved);
        };
        let mut receipts = Vec::with_capacity(batch.len());
        for (id, text) in &batch {
            let event: Event = match serde_json::from_str(text) {
                Ok(e) => e,
                Err(e) => {
                    // Kept as evidence rather than dropped: record what it was.
                    let mut detail = Map::new();
                    detail.insert("outbox_id".into(), (*id).into());
                    detail.insert("error".into(), e.to_string().into());
                    Event {
                        time: scif_audit::time::now_rfc3339(),
                        action: "audit_outbox_unreadable".into(),
                        decision: "error".into(),
                        detail,
                        ..Default::default()
                    }
                }
            };
            receipts.push(auditor.trail.append(event));
        }
        for r in receipts {
            r.await.map_err(|e| e.to_string())?;
        }
        store
            .delete_audit_outbox(last)
            .await
            .map_err(|e| e.to_string())?;
        moved += batch.len();
    }
}

/// The second audit event of a streamed response (`invoke_model_complete`), once its usage is
/// known. The client already has its tokens, so this is not awaited: the trail takes it in its
/// next batch.
pub fn record_stream_end(
    auditor: &Auditor,
    slot: &Slot,
    usage: scif_provider::Usage,
    started: std::time::Instant,
    outcome: &str,
) {
    let e = slot.get();
    let event = Event {
        time: scif_audit::time::now_rfc3339(),
        request_id: e
            .detail
            .get("request_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        principal: e.principal,
        auth_method: e.auth_method,
        action: "invoke_model_complete".into(),
        resource: e.resource,
        resource_label: e.resource_label,
        output_label: e.output_label,
        decision: "info".into(),
        model: e.model,
        prompt_tokens: Some(usage.prompt_tokens as u64),
        completion_tokens: Some(usage.completion_tokens as u64),
        latency_ms: Some(started.elapsed().as_millis() as u64),
        outcome: Some(outcome.to_owned()),
        // What the output guardrails found in the stream (types and actions only).
        detail: e
            .detail
            .get("guardrail")
            .map(|g| {
                let mut m = serde_json::Map::new();
                m.insert("guardrail".into(), g.clone());
                m
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    let auditor = auditor.clone();
    tokio::spawn(async move { append_logged(&auditor, event).await });
}

/// Appends an event from outside a request (server start and stop, stream completion), waiting
/// for it; failures are logged.
pub async fn append_logged(auditor: &Auditor, event: Event) {
    if let Err(e) = auditor.append(event).await {
        tracing::error!(error = %e, "cannot write the audit trail");
    }
}

/// Records a configuration reload that did not come through the API (SIGHUP): who cannot be
/// known beyond "a local operator with signal rights", so the event says so.
pub async fn config_reload(
    state: &crate::AppState,
    via: &str,
    result: Result<&crate::ReloadReport, &String>,
) {
    let Some(auditor) = &state.auditor else {
        return;
    };
    let mut detail = Map::new();
    detail.insert("via".into(), via.into());
    let (decision, outcome) = match result {
        Ok(report) => {
            detail.insert(
                "report".into(),
                serde_json::to_value(report).unwrap_or_default(),
            );
            ("allow", "reloaded")
        }
        Err(e) => {
            detail.insert("error".into(), e.as_str().into());
            ("deny", "refused")
        }
    };
    let event = Event {
        time: scif_audit::time::now_rfc3339(),
        principal: Some("local-operator".into()),
        action: "config_reload".into(),
        decision: decision.into(),
        outcome: Some(outcome.into()),
        detail,
        ..Default::default()
    };
    append_logged(auditor, event).await;
}
