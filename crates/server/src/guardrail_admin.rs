//! `/admin/v1/guardrails`: create guardrails, add versions (versions are immutable), read them,
//! and attach a version to a model, a principal or a group. Writing takes `manage_policies`;
//! reading takes `manage_policies` or `read_audit` (an auditor must be able to read what a past
//! request was checked against).
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
use scif_guardrails::GuardrailSpec;
use scif_store::{AttachmentRow, GuardrailRow};
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

fn authorize(state: &AppState, caller: &scif_access::Caller, write: bool) -> Result<(), ApiError> {
    let resource = scif_authz::Resource::new(
        scif_authz::ResourceKind::System,
        "guardrails",
        state.config.system_high(),
    );
    let actions: &[scif_authz::Action] = if write {
        &[scif_authz::Action::ManagePolicies]
    } else {
        &[
            scif_authz::Action::ManagePolicies,
            scif_authz::Action::ReadAudit,
        ]
    };
    let mut last = None;
    for a in actions {
        let d = state.access.authorize(caller, *a, &resource);
        if d.allowed {
            return Ok(());
        }
        last = Some(d);
    }
    Err(ApiError::Forbidden(
        last.map(|d| d.denial_message()).unwrap_or_default(),
    ))
}

fn store_err(e: scif_store::StoreError) -> ApiError {
    match e {
        scif_store::StoreError::Exists(what) => {
            ApiError::Conflict(format!("{what} already exists"))
        }
        other => ApiError::Internal(format!("guardrail store: {other}")),
    }
}

/// A guardrail id: what the caller chose, or the name in lowercase with `-` for anything else.
pub fn id_from_name(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while id.contains("--") {
        id = id.replace("--", "-");
    }
    id.trim_matches('-').chars().take(64).collect()
}

/// Whether `id` can name a guardrail.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Stores `spec` as the next version of guardrail `id` (version 1 unless `must_exist`) and
/// returns the version; `Ok(None)` when `must_exist` and there is no such guardrail.
pub async fn write_version(
    store: &scif_store::Store,
    id: &str,
    spec: &GuardrailSpec,
    actor: &str,
    must_exist: bool,
) -> Result<Option<u32>, scif_store::StoreError> {
    let text =
        serde_json::to_string(spec).map_err(|e| scif_store::StoreError::Corrupt(e.to_string()))?;
    store
        .add_guardrail_version(
            id,
            &spec.name,
            &text,
            &scif_audit::time::now_rfc3339(),
            actor,
            must_exist,
        )
        .await
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
}

async fn create(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &caller, true)?;
    let spec = parse_spec(&body)?;
    let id = q.id.unwrap_or_else(|| id_from_name(&spec.name));
    if !valid_id(&id) {
        return Err(ApiError::invalid(
            "id must be 1 to 64 letters, digits, '-' or '_'",
            Some("id"),
        ));
    }
    let version = write_version(&state.store, &id, &spec, &caller.principal.id, false)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::Internal("guardrail not created".into()))?;
    note(slot, &id, Some(version));
    tracing::info!(actor = %caller.principal.id, guardrail = %id, version, "guardrail created");
    Ok(Json(
        json!({"guardrailId": id, "version": version.to_string()}),
    ))
}

async fn add_version(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &caller, true)?;
    let spec = parse_spec(&body)?;
    let version = write_version(&state.store, &id, &spec, &caller.principal.id, true)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::NotFound(format!("guardrail {id:?} not found")))?;
    note(slot, &id, Some(version));
    tracing::info!(actor = %caller.principal.id, guardrail = %id, version, "guardrail version added");
    Ok(Json(
        json!({"guardrailId": id, "version": version.to_string()}),
    ))
}

async fn list(State(state): State<AppState>, caller: CallerExt) -> Result<Json<Value>, ApiError> {
    authorize(&state, &caller, false)?;
    let rows = state.store.list_guardrails(None).await.map_err(store_err)?;
    Ok(Json(
        json!({"guardrails": rows.iter().map(|r| row_json(r, false)).collect::<Vec<_>>()}),
    ))
}

async fn versions(
    State(state): State<AppState>,
    caller: CallerExt,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &caller, false)?;
    let rows = state
        .store
        .list_guardrails(Some(&id))
        .await
        .map_err(store_err)?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!("guardrail {id:?} not found")));
    }
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
    authorize(&state, &caller, false)?;
    let v = parse_version(&version)?;
    let row = state
        .store
        .get_guardrail(&id, Some(v))
        .await
        .map_err(store_err)?
        .ok_or_else(|| ApiError::NotFound(format!("guardrail {id:?} version {v} not found")))?;
    Ok(Json(row_json(&row, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    model: Option<String>,
    principal: Option<String>,
    group: Option<String>,
}

impl Target {
    fn one(&self) -> Result<(&'static str, &str), ApiError> {
        match (&self.model, &self.principal, &self.group) {
            (Some(m), None, None) => Ok(("model", m)),
            (None, Some(p), None) => Ok(("principal", p)),
            (None, None, Some(g)) => Ok(("group", g)),
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
    authorize(&state, &caller, true)?;
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
    let row = AttachmentRow {
        guardrail_id: id.clone(),
        version,
        target_kind: kind.into(),
        target: name.into(),
    };
    if !state
        .store
        .attach_guardrail(&row)
        .await
        .map_err(store_err)?
    {
        return Err(ApiError::NotFound(format!(
            "guardrail {id:?} version {version} not found"
        )));
    }
    state.guardrails.attachments_changed();
    note(slot, &id, Some(version));
    tracing::info!(actor = %caller.principal.id, guardrail = %id, version, kind, target = %name, "guardrail attached");
    Ok(Json(
        json!({"guardrailId": id, "version": version.to_string(), kind: name}),
    ))
}

async fn detach(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
    Path(id): Path<String>,
    Query(target): Query<Target>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &caller, true)?;
    let (kind, name) = target.one()?;
    if !state
        .store
        .detach_guardrail(&id, kind, name)
        .await
        .map_err(store_err)?
    {
        return Err(ApiError::NotFound(format!(
            "guardrail {id:?} is not attached to {kind} {name:?}"
        )));
    }
    state.guardrails.attachments_changed();
    note(slot, &id, None);
    tracing::info!(actor = %caller.principal.id, guardrail = %id, kind, target = %name, "guardrail detached");
    Ok(Json(json!({"guardrailId": id, "detached": {kind: name}})))
}

async fn attachments(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &caller, false)?;
    let rows = state
        .store
        .guardrail_attachments()
        .await
        .map_err(store_err)?;
    Ok(Json(json!({"attachments": rows})))
}
