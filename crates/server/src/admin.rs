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
//! | `GET /admin/v1/usage?by=principal,model,day&from=YYYY-MM-DD&to=YYYY-MM-DD` | usage summary (auditors) |
//! | `GET /admin/v1/deployments` | remote deployments: health, circuit, load (operators) |
//! | `POST /admin/v1/config/reload` | re-read deployments and limits (administrators) |
//! | `/admin/v1/guardrails...` | guardrails and their attachments (see `guardrail_admin`) |

use axum::extract::{Path, Query, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use scif_access::admin::{Actor, AdminError, NewKey, NewPrincipal, PrincipalPatch};
use scif_store::ApiKeyRow;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::openai::OpenAiJson;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/audit", get(read_audit))
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
        .route("/usage", get(usage))
        .route("/deployments", get(deployments))
        .route("/config/reload", axum::routing::post(reload))
        .merge(crate::guardrail_admin::routes())
        .layer(axum::middleware::from_fn(note_admin_action))
}

/// Names the audited action of an admin request from its path; the decision comes from the
/// outcome (the operations authorize themselves in `scif_access::admin`).
async fn note_admin_action(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slot = req.extensions().get::<Slot>().cloned();
    if let Some(slot) = &slot {
        let path = req.uri().path().trim_start_matches('/');
        let path = path.strip_prefix("admin/v1/").unwrap_or(path);
        let (first, rest) = path.split_once('/').unwrap_or((path, ""));
        let action = match first {
            "principals" => "manage_principals",
            "keys" => "manage_keys",
            "policies" => "manage_policies",
            "models" => "manage_models",
            "audit" | "usage" => "read_audit",
            "deployments" => "read_metrics",
            "config" => "manage_policies",
            "whoami" => "whoami",
            _ => "admin",
        };
        let resource = match (first, rest) {
            ("models", rest) => format!("model/{}", rest.trim_end_matches("/label")),
            (kind, "") => kind.to_owned(),
            (kind, id) => format!("{}/{id}", kind.trim_end_matches('s')),
        };
        slot.update(|e| {
            e.action = Some(action.into());
            e.resource = Some(resource);
            e.detail
                .insert("method".into(), req.method().as_str().into());
        });
    }
    let resp = next.run(req).await;
    // A refusal carries its decision: the trail records the denial and the rule or policy
    // behind it, whatever the caller was shown (a label refusal shows as "not found").
    if let (Some(slot), Some(d)) = (&slot, resp.extensions().get::<scif_authz::Decision>()) {
        crate::audit::note_decision(Some(slot), d, None);
    }
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    from_time: Option<String>,
    to_time: Option<String>,
    principal: Option<String>,
    action: Option<String>,
    decision: Option<String>,
    label: Option<String>,
    request_id: Option<String>,
    after_seq: Option<u64>,
    limit: Option<usize>,
}

/// Audit records, filtered and paged (`after_seq` from the last page's `next_after_seq`).
/// The trail holds everything up to the system high, so reading it needs `read_audit` on a
/// resource labelled at the system high. This read is itself recorded.
async fn read_audit(
    State(state): State<AppState>,
    caller: CallerExt,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let resource = scif_authz::Resource::new(
        scif_authz::ResourceKind::AuditTrail,
        "trail",
        state.config.system_high(),
    );
    let d = state
        .access
        .authorize(&caller, scif_authz::Action::ReadAudit, &resource);
    if !d.allowed {
        return Err(ApiError::Forbidden(d.denial_message()));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = scif_audit::Filter {
        from_time: q.from_time,
        to_time: q.to_time,
        principal: q.principal,
        action: q.action,
        decision: q.decision,
        label: q.label,
        request_id: q.request_id,
        after_seq: q.after_seq,
        limit: Some(limit),
    };
    let dir = state.config.audit_dir();
    let records = tokio::task::spawn_blocking(move || scif_audit::read(&dir, &filter))
        .await
        .map_err(|e| ApiError::Internal(format!("audit read failed: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the audit trail");
            ApiError::Internal("cannot read the audit trail".into())
        })?;
    let next = (records.len() == limit)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    Ok(Json(
        json!({"object": "list", "data": records, "next_after_seq": next}),
    ))
}

fn authorize_system(
    state: &AppState,
    caller: &scif_access::Caller,
    action: scif_authz::Action,
    kind: scif_authz::ResourceKind,
    id: &str,
) -> Result<(), ApiError> {
    let resource = scif_authz::Resource::new(kind, id, state.config.system_high());
    let d = state.access.authorize(caller, action, &resource);
    if d.allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(d.denial_message()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    /// Comma-separated dimensions: principal, group, key, model, deployment, day.
    by: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Usage is an accountability record: who used which model how much. Reading it takes the
/// same right as reading the audit trail.
async fn usage(
    State(state): State<AppState>,
    caller: CallerExt,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_system(
        &state,
        &caller,
        scif_authz::Action::ReadAudit,
        scif_authz::ResourceKind::AuditTrail,
        "usage",
    )?;
    let by = scif_store::UsageDim::parse_list(q.by.as_deref().unwrap_or("principal,model,day"))
        .map_err(|e| ApiError::invalid(e, Some("by")))?;
    for (name, v) in [("from", &q.from), ("to", &q.to)] {
        if let Some(day) = v {
            if crate::metering::days_of(day).is_none() || day.len() != 10 {
                return Err(ApiError::invalid(
                    format!("{name} must be a date, YYYY-MM-DD"),
                    Some(name),
                ));
            }
        }
    }
    let totals = state
        .store
        .usage_totals(q.from.as_deref(), q.to.as_deref())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read usage records");
            ApiError::Internal("cannot read usage records".into())
        })?;
    let data = scif_store::summarize(&totals, &by);
    Ok(Json(json!({
        "object": "list",
        "by": by.iter().map(|d| d.name()).collect::<Vec<_>>(),
        "data": data,
    })))
}

async fn deployments(
    State(state): State<AppState>,
    caller: CallerExt,
) -> Result<Json<Value>, ApiError> {
    crate::guard::system(&state, &caller, scif_authz::Action::ReadMetrics, None)?;
    // Only the deployments the caller may know of: of their model and of their
    // accreditation (ADR 0011).
    let data: Vec<_> = state
        .gateway
        .as_ref()
        .map(|g| g.deployments())
        .unwrap_or_default()
        .into_iter()
        .filter(|d| {
            scif_service::authorize::deployment_known(&state, &caller, &d.model, &d.accreditation)
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// Changing what serves models and who is limited is a configuration change: administrators
/// only (the same right as managing policies).
async fn reload(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<axum::Extension<Slot>>,
) -> Result<Json<Value>, ApiError> {
    authorize_system(
        &state,
        &caller,
        scif_authz::Action::ManagePolicies,
        scif_authz::ResourceKind::System,
        "config",
    )?;
    match state.reload() {
        Ok(report) => {
            if let Some(axum::Extension(slot)) = &slot {
                slot.update(|e| {
                    e.detail.insert(
                        "report".into(),
                        serde_json::to_value(&report).unwrap_or_default(),
                    );
                });
            }
            Ok(Json(json!({"reloaded": true, "report": report})))
        }
        Err(e) => {
            if let Some(axum::Extension(slot)) = &slot {
                slot.update(|en| {
                    en.detail.insert("error".into(), e.clone().into());
                });
            }
            Err(ApiError::invalid(
                format!("the new configuration was refused; the running one keeps serving: {e}"),
                None,
            ))
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(what) => ApiError::NotFound(what),
            AdminError::Forbidden(m) => ApiError::Forbidden(m),
            AdminError::Denied(d) => ApiError::Denied {
                shown: Box::new(ApiError::Forbidden(d.denial_message())),
                decision: d,
            },
            AdminError::Hidden { what, decision } => ApiError::Denied {
                shown: Box::new(ApiError::NotFound(what)),
                decision,
            },
            AdminError::Refused { message, decision } => ApiError::Denied {
                shown: Box::new(ApiError::Forbidden(message)),
                decision,
            },
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
