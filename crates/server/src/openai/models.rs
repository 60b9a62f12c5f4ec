//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::extract::{Path, State};
use axum::Extension;
use axum::Json;
use scif_authz::Action;
use serde_json::{json, Value};

use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::{guard, AppState};

fn model_json(m: &scif_provider::ModelInfo, label: &scif_labels::Label) -> Value {
    json!({
        "id": m.id,
        "object": "model",
        "created": m.created,
        "owned_by": m.owned_by,
        // scif's own fields; OpenAI clients ignore what they do not know.
        "context_length": m.context_length,
        "architecture": m.architecture,
        "quantization": m.quantization,
        "parameter_count": m.parameter_count,
        "sha256": m.sha256,
        "license": m.license,
        "label": label.banner(),
    })
}

/// Only the models the caller may list: one above the caller's clearance is simply absent.
pub async fn list(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if headers.contains_key(crate::anthropic::VERSION_HEADER) {
        return crate::anthropic::list(&state, &caller, slot.as_ref().map(|Extension(s)| s)).await;
    }
    let data: Vec<Value> = state
        .providers
        .models()
        .iter()
        .filter_map(|m| {
            let label = guard::model(&state, &caller, Action::ListModels, &m.id, None).ok()?;
            Some(model_json(m, &label))
        })
        .collect();
    crate::guard::note_listing(slot.as_ref().map(|Extension(s)| s), data.len());
    Json(json!({"object": "list", "data": data})).into_response()
}

pub async fn get(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let slot = slot.map(|Extension(s)| s);
    if headers.contains_key(crate::anthropic::VERSION_HEADER) {
        return crate::anthropic::get(&state, &caller, slot.as_ref(), id).await;
    }
    let label = guard::model(&state, &caller, Action::ReadModel, &id, slot.as_ref())?;
    state
        .providers
        .models()
        .iter()
        .find(|m| m.id == id)
        .map(|m| Json(model_json(m, &label)).into_response())
        .ok_or(ApiError::ModelNotFound(id))
}
