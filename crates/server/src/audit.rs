//! Recording every request in the audit trail (`scif-audit`), durably, before its response is
//! sent.
//!
//! The [`record`] layer gives each request a [`Slot`]; the authentication layer, the guards and
//! the handlers fill it in (who, how authenticated, which action on which resource at which
//! label, the decision and the rules or policies behind it, the model, token counts); when the
//! response is ready the layer turns the slot into one event, appends it, and waits until the
//! trail has it on disk (group commit shares one fsync among concurrent requests). If the
//! trail cannot take it, the response is replaced by a 503: nothing the trail did not record is
//! answered (fail closed). A model invocation is recorded by the pipeline itself
//! (`scif_service::intent` and `account`): `invoke_model` before the prompt leaves, then
//! `invoke_model_complete` when the answer ends; this layer then writes no third event.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scif_audit::Event;
use serde_json::Map;
use tower_http::request_id::RequestId;

use crate::error::ApiError;
use crate::AppState;

pub use scif_service::record::{
    append_logged, note_decision, request_event, Auditor, Entry, PromptRecording, Slot,
};

pub async fn record(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(auditor) = state.auditor.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_owned();
    // Probes carry no identity and change nothing: their routes are declared unrecorded.
    if !crate::routes::is_recorded(&req) {
        return next.run(req).await;
    }
    if let Err(why) = auditor.trail.healthy() {
        tracing::error!(reason = %why, "audit trail unavailable: refusing requests");
        return ApiError::Unavailable(
            "the audit trail is unavailable, so requests are refused; see /readyz".into(),
        )
        .into_response();
    }
    if let Some(w) = state.witness.as_ref().filter(|w| w.required) {
        if let Some(why) = w.problem() {
            tracing::error!(reason = %why, "audit witness behind: refusing requests (audit.witness_required)");
            return ApiError::Unavailable(
                "the audit trail's witness is not co-signing, so requests are refused; see /readyz"
                    .into(),
            )
            .into_response();
        }
    }
    let slot = Slot::default();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .map(str::to_owned);
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let transport = format!("{} {path}", req.method());
    let action = crate::routes::of(&req).and_then(|r| r.action);
    slot.update(|e| {
        e.request_id = request_id;
        e.source = source;
        e.transport = Some(transport);
        // The route's declared action; the handler's authorization refines it.
        e.action = action.map(|a| a.as_str().to_owned());
    });
    req.extensions_mut().insert(slot.clone());
    let started = Instant::now();
    let resp = next.run(req).await;
    // An invocation recorded its intent before the provider saw the prompt, and queues its
    // completion when the answer ends: nothing more to write here.
    let recorded = if slot.recorded_by_pipeline() {
        Ok(())
    } else {
        let status = resp.status().as_u16();
        let fallback = match status {
            200..=399 => "allow",
            401 | 403 => "deny",
            _ => "error",
        };
        let event = request_event(
            slot.get(),
            status.to_string(),
            fallback,
            started.elapsed().as_millis() as u64,
        );
        auditor.append(event).await.map(|_| ())
    };
    match recorded {
        Ok(()) => resp,
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
