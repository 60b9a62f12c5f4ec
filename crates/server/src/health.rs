//! `/healthz` (the process is alive) and `/readyz` (it can serve: models loaded, storage writable,
//! not shutting down).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut problems = Vec::new();
    if state.shutting_down.load(Ordering::SeqCst) {
        problems.push("shutting down".to_string());
    }
    let models = state.providers.models().len();
    if models == 0 {
        problems.push("no model is loaded (import one with `scif models import`)".to_string());
    }
    if let Some(a) = &state.auditor {
        if let Err(why) = a.trail.healthy() {
            problems.push(format!("audit trail cannot be written: {why}"));
        }
    }
    if let Err(e) = state.store.check_writable().await {
        problems.push(format!("storage is not writable: {e}"));
    }
    // A witness that is behind: not ready when the site fails closed on it, a warning else.
    let mut warnings = Vec::new();
    if let Some(w) = &state.witness {
        if let Some(why) = w.problem() {
            if w.required {
                problems.push(why);
            } else {
                warnings.push(why);
            }
        }
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if problems.is_empty() { "ready" } else { "not_ready" }, "models_loaded": models, "problems": problems, "warnings": warnings});
    (status, Json(body))
}
