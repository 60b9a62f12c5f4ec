//! `/admin/v1/guardrails`: the HTTP side of the guardrail operations, whose one home (shared
//! with the CLI) is `scif_service::guardrail_admin`: create guardrails, add versions (versions
//! are immutable), read them, and attach a version to a model, a principal or a group. Writing
//! takes `manage_policies`; reading takes `manage_policies` or `read_audit`.
//!
//! | method and path | what |
//! |---|---|
//! | `GET /admin/v1/guardrails` | the latest version of each guardrail |
//! | `POST /admin/v1/guardrails` | create (body: the guardrail, Bedrock `CreateGuardrail` shape; optional `?id=`) |
//! | `GET /admin/v1/guardrails/{id}` | every version |
//! | `POST /admin/v1/guardrails/{id}/versions` | add a version (body: the guardrail) |
//! | `GET /admin/v1/guardrails/{id}/versions/{version}` | one version |
//! | `PUT /admin/v1/guardrails/{id}/attachments` | attach: `{"version": 2, "model": "m"}` (or `principal`, `group`) |
//! | `DELETE /admin/v1/guardrails/{id}/attachments?model=m` | detach (or `principal=`, `group=`) |
//! | `GET /admin/v1/guardrail-attachments` | every attachment |

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use scif_access::admin::{Actor, AdminError};
use scif_guardrails::GuardrailSpec;
use scif_service::guardrail_admin::{GuardrailAdmin, TargetKind};
use scif_store::GuardrailRow;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/guardrails", get(list).post(create))
        .route("/guardrails/{id}", get(versions))
        .route("/guardrails/{id}/versions", post(add_version))
        .route("/guardrails/{id}/versions/{version}", get(one))
        .route("/guardrails/{id}/attachments", put(attach).delete(detach))
        .route("/guardrail-attachments", get(attachments))
}

/// The one home of the operations (shared with the CLI), for this request's caller.
fn ops(state: &AppState) -> GuardrailAdmin<'_> {
    GuardrailAdmin {
        store: &state.store,
        access: Some(&state.access),
        cache: Some(&state.guardrails),
    }
}

fn parse_spec(body: &[u8]) -> Result<GuardrailSpec, ApiError> {
    GuardrailSpec::from_json(body).map_err(|e| ApiError::invalid(e.message.clone(), Some(&e.field)))
}

fn row_json(r: &GuardrailRow, with_spec: bool) -> Value {
    let mut v = json!({
        "guardrailId": r.id,
        "version": r.version.to_string(),
        "name": r.name,
        "createdAt": r.created_at,
        "createdBy": r.created_by,
        "label": if r.label.is_empty() { "(system high)" } else { r.label.as_str() },
    });
    if with_spec {
        v["guardrail"] = serde_json::from_str(&r.spec).unwrap_or(Value::Null);
    }
    v
}

fn note(slot: Option<axum::Extension<Slot>>, id: &str, version: Option<u32>) {
    if let Some(axum::Extension(slot)) = slot {
        slot.update(|e| {
            e.detail.insert("guardrail_id".into(), id.into());
            if let Some(v) = version {
                e.detail.insert("guardrail_version".into(), v.into());
            }
        });
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateQuery {
    id: Option<String>,
    /// The guardrail's security label (default: the system high).
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    label: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let spec = parse_spec(&body)?;
    let (id, version) = ops(&state)
        .create(Actor::Caller(&caller), q.id, &spec, q.label.as_deref())
        .await
        .map_err(|e| match e {
            AdminError::Invalid(m) if m.starts_with("label") => ApiError::invalid(m, Some("label")),
            AdminError::Invalid(m) => ApiError::invalid(m, Some("id")),
            other => other.into(),
        })?;
    note(slot, &id, Some(version));
    Ok(Json(
        json!({"guardrailId": id, "version": version.to_string()}),
    ))
}

async fn add_version(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let spec = parse_spec(&body)?;
    let version = ops(&state)
        .add_version(Actor::Caller(&caller), &id, &spec, q.label.as_deref())
        .await?;
    note(slot, &id, Some(version));
    Ok(Json(
        json!({"guardrailId": id, "version": version.to_string()}),
    ))
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    let rows = ops(&state).list(Actor::Caller(&caller)).await?;
    Ok(Json(
        json!({"guardrails": rows.iter().map(|r| row_json(r, false)).collect::<Vec<_>>()}),
    ))
}

async fn versions(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = ops(&state)
        .versions(Actor::Caller(&caller), &id, None)
        .await?;
    Ok(Json(
        json!({"guardrailId": id, "versions": rows.iter().map(|r| row_json(r, true)).collect::<Vec<_>>()}),
    ))
}

fn parse_version(v: &str) -> Result<u32, ApiError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::invalid("version must be a positive integer", Some("version")))
}

async fn one(
    State(state): State<AppState>,
    caller: CallerExt,
    Path((id, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let v = parse_version(&version)?;
    let rows = ops(&state)
        .versions(Actor::Caller(&caller), &id, Some(v))
        .await?;
    Ok(Json(
        rows.first().map(|r| row_json(r, true)).unwrap_or_default(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    model: Option<String>,
    principal: Option<String>,
    group: Option<String>,
}

impl Target {
    fn one(&self) -> Result<(TargetKind, &str), ApiError> {
        match (&self.model, &self.principal, &self.group) {
            (Some(m), None, None) => Ok((TargetKind::Model, m)),
            (None, Some(p), None) => Ok((TargetKind::Principal, p)),
            (None, None, Some(g)) => Ok((TargetKind::Group, g)),
            _ => Err(ApiError::invalid(
                "name exactly one of model, principal or group",
                None,
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    version: Value,
    model: Option<String>,
    principal: Option<String>,
    group: Option<String>,
}

async fn attach(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
    Path(id): Path<String>,
    crate::openai::OpenAiJson(body): crate::openai::OpenAiJson<AttachBody>,
) -> Result<Json<Value>, ApiError> {
    let version = match &body.version {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1),
        Value::String(s) => s.parse::<u32>().ok().filter(|n| *n >= 1),
        _ => None,
    }
    .ok_or_else(|| ApiError::invalid("version must be a positive integer", Some("version")))?;
    let target = Target {
        model: body.model,
        principal: body.principal,
        group: body.group,
    };
    let (kind, name) = target.one()?;
    ops(&state)
        .attach(Actor::Caller(&caller), &id, version, kind, name)
        .await?;
    note(slot, &id, Some(version));
    Ok(Json(
        json!({"guardrailId": id, "version": version.to_string(), kind.as_str(): name}),
    ))
}

async fn detach(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
    Path(id): Path<String>,
    Query(target): Query<Target>,
) -> Result<Json<Value>, ApiError> {
    let (kind, name) = target.one()?;
    ops(&state)
        .detach(Actor::Caller(&caller), &id, kind, name)
        .await?;
    note(slot, &id, None);
    Ok(Json(
        json!({"guardrailId": id, "detached": {kind.as_str(): name}}),
    ))
}

async fn attachments(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    let rows = ops(&state).attachments(Actor::Caller(&caller)).await?;
    Ok(Json(json!({"attachments": rows})))
}
