//! The HTTP side of the metrics: counting every request by route template and status, and
//! `GET /metrics`. The registry itself is the service's (`scif_service::metrics`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use scif_service::metrics::Metrics;

use crate::AppState;

/// Middleware: count and time every request by its route template (not its raw path, which
/// would let callers create unbounded label values).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [route.as_str(), method.as_str(), status.as_str()];
    state.metrics.requests.with_label_values(&labels).inc();
    state
        .metrics
        .request_duration
        .with_label_values(&labels)
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// Metrics name models, so they are not public: the caller needs `read_metrics`.
pub async fn handler(
    State(state): State<AppState>,
    caller: crate::auth::CallerExt,
    slot: Option<axum::Extension<crate::audit::Slot>>,
) -> Result<impl IntoResponse, crate::error::ApiError> {
    let slot = slot.map(|axum::Extension(s)| s);
    crate::guard::system(
        &state,
        &caller,
        scif_authz::Action::ReadMetrics,
        slot.as_ref(),
    )?;
    for (model, load) in state.providers.loads() {
        state
            .metrics
            .queue_depth
            .with_label_values(&[&model])
            .set(load.queued as i64);
        state
            .metrics
            .active_sequences
            .with_label_values(&[&model])
            .set(load.active as i64);
        let m = &state.metrics;
        m.kv_reserved_bytes
            .with_label_values(&[&model])
            .set(load.kv_reserved_bytes as i64);
        m.prefix_cache_bytes
            .with_label_values(&[&model])
            .set(load.prefix_cache_bytes as i64);
        let reused = m.prefix_tokens_reused.with_label_values(&[&model]);
        reused.inc_by(load.prefix_tokens_reused.saturating_sub(reused.get()));
    }
    if let Some(gateway) = &state.gateway {
        let m = &state.metrics;
        for d in gateway.deployments() {
            let labels = [d.name.as_str(), d.model.as_str()];
            // Counters follow the gateway's own; one that restarted (a changed deployment after
            // a reload) holds until it passes its old value, so the series never goes down.
            let requests = m.deployment_requests.with_label_values(&labels);
            requests.inc_by(d.requests.saturating_sub(requests.get()));
            let failures = m.deployment_failures.with_label_values(&labels);
            failures.inc_by(d.failures.saturating_sub(failures.get()));
            m.deployment_healthy
                .with_label_values(&labels)
                .set(i64::from(d.healthy));
            m.deployment_circuit_open
                .with_label_values(&labels)
                .set(i64::from(d.circuit != scif_gateway::CircuitState::Closed));
            m.deployment_in_flight
                .with_label_values(&labels)
                .set(d.outstanding as i64);
            m.deployment_latency
                .with_label_values(&labels)
                .set(d.latency_ewma_ms / 1000.0);
        }
    }
    for (reason, n) in state.below_http.snapshot() {
        let c = state
            .metrics
            .connections_refused
            .with_label_values(&[reason]);
        c.inc_by(n.saturating_sub(c.get()));
    }
    if let Some(w) = &state.witness {
        let m = &state.metrics;
        m.witness_cosigned_size
            .set(i64::try_from(w.cosigned_size()).unwrap_or(i64::MAX));
        m.witness_healthy.set(i64::from(w.problem().is_none()));
    }
    // Series are labelled by what they name: a reader sees only the models and deployments
    // it may know of (ADR 0011).
    let deployments: std::collections::HashMap<String, bool> = state
        .gateway
        .as_ref()
        .map(|g| g.deployments())
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let known = scif_service::authorize::deployment_known(
                &state,
                &caller,
                &d.model,
                &d.accreditation,
            );
            (d.name, known)
        })
        .collect();
    let body = state.metrics.render_visible(|name, value| match name {
        "model" => scif_service::authorize::model_known(&state, &caller, value),
        _ => deployments.get(value).copied().unwrap_or(false),
    });
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
