//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

fn model_json(m: &scif_provider::ModelInfo) -> Value {
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
        "label": m.label,
    })
}

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state.providers.models().iter().map(model_json).collect();
    Json(json!({"object": "list", "data": data}))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .providers
        .models()
        .iter()
        .find(|m| m.id == id)
        .map(|m| Json(model_json(m)))
        .ok_or(ApiError::ModelNotFound(id))
}
