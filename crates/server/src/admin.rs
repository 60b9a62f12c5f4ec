//! The admin API, `/admin/v1`: principals, API keys, policies and model labels. Every
//! operation is authorized by policy like any other request (see `scif_access::admin`), and
//! answers in the OpenAI error shape.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /admin/v1/whoami` | the caller's principal and how it authenticated |
//! | `GET, POST /admin/v1/principals` | list, create |
//! | `GET, PATCH, DELETE /admin/v1/principals/{id}` | show, change, delete (with its keys) |
//! | `GET /admin/v1/keys[?principal=ID]`, `POST /admin/v1/keys` | list, create (the secret is in this one response only) |
//! | `DELETE /admin/v1/keys/{id}` | revoke (the record stays) |
//! | `GET, PUT /admin/v1/policies` | the Cedar policy set in force; replace it (validated) |
//! | `PUT /admin/v1/models/{id}/label` | relabel a model |

use axum::extract::{Path, Query, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use scif_access::admin::{Actor, AdminError, NewKey, NewPrincipal, PrincipalPatch};
use scif_store::ApiKeyRow;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::openai::OpenAiJson;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/principals", get(list_principals).post(create_principal))
        .route(
            "/principals/{id}",
            get(get_principal)
                .patch(update_principal)
                .delete(delete_principal),
        )
        .route("/keys", get(list_keys).post(create_key))
        .route("/keys/{id}", axum::routing::delete(revoke_key))
        .route("/policies", get(get_policies).put(set_policies))
        .route("/models/{id}/label", put(set_model_label))
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(what) => ApiError::NotFound(what),
            AdminError::Forbidden(m) => ApiError::Forbidden(m),
            AdminError::Denied(d) => ApiError::Forbidden(d.denial_message()),
            AdminError::Invalid(m) => ApiError::invalid(m, None),
            AdminError::Conflict(what) => ApiError::Conflict(what),
            AdminError::Store(e) => {
                tracing::error!(error = %e, "admin operation failed in the store");
                ApiError::Internal("internal error".into())
            }
        }
    }
}

fn key_json(k: &ApiKeyRow) -> Value {
    json!({
        "id": k.id,
        "principal": k.principal_id,
        "scopes": k.scopes,
        "description": k.description,
        "created_at": k.created_at,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
    })
}

async fn whoami(caller: CallerExt) -> Json<Value> {
    let p = &caller.principal;
    Json(json!({
        "id": p.id,
        "kind": p.kind.as_str(),
        "clearance": p.clearance.banner(),
        "nationality": p.nationality,
        "us_person": p.us_person,
        "groups": p.groups,
        "accesses": p.accesses,
        "authentication": caller.method,
        "scopes": caller.scopes,
    }))
}

async fn list_principals(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    let list = state.access.list_principals(Actor::Caller(&caller)).await?;
    Ok(Json(json!({"object": "list", "data": list})))
}

async fn get_principal(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = state
        .access
        .get_principal(Actor::Caller(&caller), &id)
        .await?;
    Ok(Json(json!(p)))
}

async fn create_principal(
    State(state): State<AppState>,
    caller: CallerExt,
    OpenAiJson(new): OpenAiJson<NewPrincipal>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let p = state
        .access
        .create_principal(Actor::Caller(&caller), new)
        .await?;
    tracing::info!(actor = %caller.principal.id, principal = %p.id, "principal created");
    Ok((axum::http::StatusCode::CREATED, Json(json!(p))))
}

async fn update_principal(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    OpenAiJson(patch): OpenAiJson<PrincipalPatch>,
) -> Result<Json<Value>, ApiError> {
    let p = state
        .access
        .update_principal(Actor::Caller(&caller), &id, patch)
        .await?;
    tracing::info!(actor = %caller.principal.id, principal = %p.id, "principal updated");
    Ok(Json(json!(p)))
}

async fn delete_principal(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .access
        .delete_principal(Actor::Caller(&caller), &id)
        .await?;
    tracing::info!(actor = %caller.principal.id, principal = %id, "principal deleted");
    Ok(Json(json!({"id": id, "deleted": true})))
}

#[derive(Deserialize)]
struct KeyQuery {
    principal: Option<String>,
}

async fn list_keys(
    State(state): State<AppState>,
    caller: CallerExt,
    Query(q): Query<KeyQuery>,
) -> Result<Json<Value>, ApiError> {
    let keys = state
        .access
        .list_keys(Actor::Caller(&caller), q.principal.as_deref())
        .await?;
    let data: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

async fn create_key(
    State(state): State<AppState>,
    caller: CallerExt,
    OpenAiJson(new): OpenAiJson<NewKey>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let created = state.access.create_key(Actor::Caller(&caller), new).await?;
    tracing::info!(actor = %caller.principal.id, key_id = %created.record.id, principal = %created.record.principal_id, "api key created");
    let mut body = key_json(&created.record);
    body["key"] = json!(created.secret.expose());
    Ok((axum::http::StatusCode::CREATED, Json(body)))
}

async fn revoke_key(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let k = state.access.revoke_key(Actor::Caller(&caller), &id).await?;
    tracing::info!(actor = %caller.principal.id, key_id = %k.id, "api key revoked");
    Ok(Json(key_json(&k)))
}

fn policies_json(p: &scif_store::PolicyVersion) -> Value {
    json!({
        "version": p.version,
        "policies": p.text,
        "created_at": p.created_at,
        "created_by": p.created_by,
    })
}

async fn get_policies(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    let p = state.access.get_policies(Actor::Caller(&caller)).await?;
    Ok(Json(policies_json(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    policies: String,
}

async fn set_policies(
    State(state): State<AppState>,
    caller: CallerExt,
    OpenAiJson(body): OpenAiJson<PolicyBody>,
) -> Result<Json<Value>, ApiError> {
    let p = state
        .access
        .set_policies(Actor::Caller(&caller), &body.policies)
        .await?;
    tracing::info!(actor = %caller.principal.id, version = p.version, "policy set replaced");
    Ok(Json(policies_json(&p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelBody {
    label: String,
    /// Replaces the handling caveats ("itar", "phi") when present.
    handling: Option<Vec<String>>,
}

async fn set_model_label(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
    OpenAiJson(body): OpenAiJson<LabelBody>,
) -> Result<Json<Value>, ApiError> {
    let label = state
        .access
        .set_model_label(
            Actor::Caller(&caller),
            &id,
            &body.label,
            body.handling.as_deref(),
        )
        .await?;
    state.set_model_label(&id, label.clone());
    if let Err(e) = state.refresh_model_labels().await {
        tracing::warn!(error = %e, "cannot refresh model labels");
    }
    tracing::info!(actor = %caller.principal.id, model = %id, "model relabelled");
    let handling: Vec<&str> = state
        .model_handling(&id)
        .iter()
        .map(|h| match h {
            scif_authz::Handling::Itar => "itar",
            scif_authz::Handling::Phi => "phi",
        })
        .collect();
    Ok(Json(
        json!({"id": id, "label": label.banner(), "handling": handling}),
    ))
}
