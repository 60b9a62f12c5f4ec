//! Bedrock knowledge bases: `bedrock-agent` (knowledge bases, CUSTOM data sources, documents,
//! ingestion jobs) and `bedrock-agent-runtime` (`Retrieve`, `RetrieveAndGenerate`). Both are
//! REST-JSON, SigV4 signing name `bedrock`. This module only translates: every decision,
//! label and audit detail is [`scif_service::knowledge`]'s.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use scif_authz::Action;
use scif_knowledge::{Attr, Attrs, Filter, Mode};
use scif_service::knowledge::{self as kb, Content, Passage};
use scif_store::{DataSourceRow, DocumentRow, JobRow, KbRow};
use serde_json::{json, Map, Value};

use crate::audit::Slot;
use crate::auth::CallerExt;
use crate::error::ApiError;
use crate::guard::FlowHeader as _;
use crate::guardrails::Requested;
use crate::openai::OpenAiJson;
use crate::AppState;

use super::{caller_region, resolve_model_id, validation};

type Body = OpenAiJson<Value>;
type Result<T> = std::result::Result<T, ApiError>;

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| validation(format!("{at} must be an object")))
}

/// Refuses members not in `known` (Bedrock's own validation is as strict).
fn known(o: &Map<String, Value>, at: &str, members: &[&str]) -> Result<()> {
    match o.keys().find(|k| !members.contains(&k.as_str())) {
        Some(k) => Err(validation(format!("{at}.{k} is not a known member"))),
        None => Ok(()),
    }
}

fn string<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<Option<&'a str>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(validation(format!("{at}.{key} must be a string"))),
    }
}

fn required<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str> {
    string(o, key, at)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| validation(format!("{at}.{key} is required")))
}

fn arn(caller: &scif_access::Caller, kind: &str, id: &str) -> String {
    format!(
        "arn:aws-us-gov:bedrock:{}:000000000000:{kind}/{id}",
        caller_region(caller)
    )
}

fn slot_of(slot: Option<Extension<Slot>>) -> Option<Slot> {
    slot.map(|Extension(s)| s)
}

/// A page of `items`: `nextToken` is the offset of the next page.
fn page<T>(items: Vec<T>, body: &Map<String, Value>) -> Result<(Vec<T>, Option<String>)> {
    let max = match body.get("maxResults") {
        None | Some(Value::Null) => 1000,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| validation("maxResults must be 1 to 1000"))? as usize,
    };
    let start = match string(body, "nextToken", "request")? {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| validation("nextToken is not a token this API returned"))?,
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + items.len() < total).then(|| (start + items.len()).to_string());
    Ok((items, next))
}

fn with_next(mut v: Value, next: Option<String>) -> Value {
    if let Some(n) = next {
        v["nextToken"] = Value::from(n);
    }
    v
}

fn accepted(v: Value) -> Response {
    (StatusCode::ACCEPTED, Json(v)).into_response()
}

// ---------------------------------------------------------------------------------------
// Knowledge bases

fn kb_json(caller: &scif_access::Caller, k: &KbRow) -> Value {
    let config: Value = serde_json::from_str(&k.config).unwrap_or_else(|_| json!({}));
    let mut v = json!({
        "knowledgeBaseId": k.id,
        "knowledgeBaseArn": arn(caller, "knowledge-base", &k.id),
        "name": k.name,
        "roleArn": k.role_arn,
        "knowledgeBaseConfiguration": config.get("knowledgeBaseConfiguration").cloned().unwrap_or_else(|| json!({})),
        "status": "ACTIVE",
        "createdAt": k.created_at,
        "updatedAt": k.updated_at,
    });
    if let Some(s) = config.get("storageConfiguration") {
        v["storageConfiguration"] = s.clone();
    }
    if let Some(d) = &k.description {
        v["description"] = Value::from(d.clone());
    }
    v
}

fn tag_label(tags: Option<&Map<String, Value>>, key: &str) -> Result<Option<scif_labels::Label>> {
    let Some(v) = tags.and_then(|t| t.get(key)) else {
        return Ok(None);
    };
    let s = v
        .as_str()
        .ok_or_else(|| validation(format!("tags.{key} must be a string")))?;
    scif_service::flow::parse_declared(s)
        .map(Some)
        .map_err(|e| validation(format!("tags.{key} is not a valid marking: {e}")))
}

pub async fn create_knowledge_base(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(
        o,
        "request",
        &[
            "clientToken",
            "description",
            "knowledgeBaseConfiguration",
            "name",
            "roleArn",
            "storageConfiguration",
            "tags",
        ],
    )?;
    let name = required(o, "name", "request")?;
    if name.len() > 100 {
        return Err(validation("name must be at most 100 characters"));
    }
    let role_arn = required(o, "roleArn", "request")?;
    let config = o
        .get("knowledgeBaseConfiguration")
        .ok_or_else(|| validation("knowledgeBaseConfiguration is required"))?;
    let c = object(config, "knowledgeBaseConfiguration")?;
    match string(c, "type", "knowledgeBaseConfiguration")? {
        Some("VECTOR") => {}
        Some(t) => {
            return Err(validation(format!(
                "knowledgeBaseConfiguration.type {t} is not supported (VECTOR)"
            )))
        }
        None => return Err(validation("knowledgeBaseConfiguration.type is required")),
    }
    let vector = c
        .get("vectorKnowledgeBaseConfiguration")
        .ok_or_else(|| {
            validation("knowledgeBaseConfiguration.vectorKnowledgeBaseConfiguration is required")
        })
        .and_then(|v| object(v, "vectorKnowledgeBaseConfiguration"))?;
    let model = resolve_model_id(required(
        vector,
        "embeddingModelArn",
        "vectorKnowledgeBaseConfiguration",
    )?)?;
    let tags = match o.get("tags") {
        None => None,
        Some(t) => Some(object(t, "tags")?),
    };
    let row = kb::create(
        &state,
        &caller,
        slot.as_ref(),
        kb::NewKnowledgeBase {
            name: name.to_owned(),
            description: string(o, "description", "request")?.map(str::to_owned),
            role_arn: role_arn.to_owned(),
            embedding_model: model,
            config: json!({
                "knowledgeBaseConfiguration": config,
                "storageConfiguration": o.get("storageConfiguration"),
                "tags": o.get("tags"),
            }),
            ceiling: tag_label(tags, "classification")?,
            metadata_label: tag_label(tags, "metadata-classification")?,
        },
    )
    .await?;
    Ok(accepted(json!({"knowledgeBase": kb_json(&caller, &row)})))
}

pub async fn get_knowledge_base(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path(id): Path<String>,
) -> Result<Response> {
    let slot = slot_of(slot);
    let row = kb::knowledge_base(&state, &caller, slot.as_ref(), Action::Retrieve, &id).await?;
    Ok(Json(json!({"knowledgeBase": kb_json(&caller, &row)})).into_response())
}

pub async fn list_knowledge_bases(
    State(state): State<AppState>,
    caller: CallerExt,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let o = object(&body, "request")?;
    known(o, "request", &["maxResults", "nextToken"])?;
    let (rows, next) = page(kb::list(&state, &caller).await?, o)?;
    let summaries: Vec<Value> = rows
        .iter()
        .map(|k| {
            let mut v = json!({"knowledgeBaseId": k.id, "name": k.name, "status": "ACTIVE", "updatedAt": k.updated_at});
            if let Some(d) = &k.description {
                v["description"] = Value::from(d.clone());
            }
            v
        })
        .collect();
    Ok(Json(with_next(
        json!({"knowledgeBaseSummaries": summaries}),
        next,
    ))
    .into_response())
}

pub async fn delete_knowledge_base(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path(id): Path<String>,
) -> Result<Response> {
    let slot = slot_of(slot);
    let row = kb::delete(&state, &caller, slot.as_ref(), &id).await?;
    Ok(accepted(
        json!({"knowledgeBaseId": row.id, "status": "DELETING"}),
    ))
}

// ---------------------------------------------------------------------------------------
// Data sources

fn ds_json(d: &DataSourceRow) -> Value {
    let config: Value = serde_json::from_str(&d.config).unwrap_or_else(|_| json!({}));
    let mut v = json!({
        "knowledgeBaseId": d.kb_id,
        "dataSourceId": d.id,
        "name": d.name,
        "status": "AVAILABLE",
        "dataSourceConfiguration": config.get("dataSourceConfiguration").cloned().unwrap_or_else(|| json!({"type": "CUSTOM"})),
        "dataDeletionPolicy": d.deletion_policy,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
    });
    if let Some(c) = config
        .get("vectorIngestionConfiguration")
        .filter(|c| !c.is_null())
    {
        v["vectorIngestionConfiguration"] = c.clone();
    }
    if let Some(desc) = &d.description {
        v["description"] = Value::from(desc.clone());
    }
    v
}

pub async fn create_data_source(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path(kb_id): Path<String>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(
        o,
        "request",
        &[
            "clientToken",
            "dataDeletionPolicy",
            "dataSourceConfiguration",
            "description",
            "name",
            "serverSideEncryptionConfiguration",
            "vectorIngestionConfiguration",
        ],
    )?;
    let name = required(o, "name", "request")?;
    let policy = match string(o, "dataDeletionPolicy", "request")? {
        None => "DELETE",
        Some(p @ ("DELETE" | "RETAIN")) => p,
        Some(_) => return Err(validation("dataDeletionPolicy must be DELETE or RETAIN")),
    };
    let row = kb::create_data_source(
        &state,
        &caller,
        slot.as_ref(),
        &kb_id,
        kb::NewDataSource {
            name: name.to_owned(),
            description: string(o, "description", "request")?.map(str::to_owned),
            config: json!({
                "dataSourceConfiguration": o.get("dataSourceConfiguration"),
                "vectorIngestionConfiguration": o.get("vectorIngestionConfiguration"),
            }),
            deletion_policy: policy.to_owned(),
        },
    )
    .await?;
    Ok(Json(json!({"dataSource": ds_json(&row)})).into_response())
}

pub async fn get_data_source(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
) -> Result<Response> {
    let slot = slot_of(slot);
    let (_, ds) = kb::data_source(
        &state,
        &caller,
        slot.as_ref(),
        Action::Retrieve,
        &kb_id,
        &ds_id,
    )
    .await?;
    Ok(Json(json!({"dataSource": ds_json(&ds)})).into_response())
}

pub async fn list_data_sources(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path(kb_id): Path<String>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(o, "request", &["maxResults", "nextToken"])?;
    let (rows, next) = page(
        kb::data_sources(&state, &caller, slot.as_ref(), &kb_id).await?,
        o,
    )?;
    let summaries: Vec<Value> = rows
        .iter()
        .map(|d| json!({"knowledgeBaseId": d.kb_id, "dataSourceId": d.id, "name": d.name, "status": "AVAILABLE", "updatedAt": d.updated_at}))
        .collect();
    Ok(Json(with_next(json!({"dataSourceSummaries": summaries}), next)).into_response())
}

pub async fn delete_data_source(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
) -> Result<Response> {
    let slot = slot_of(slot);
    let ds = kb::delete_data_source(&state, &caller, slot.as_ref(), &kb_id, &ds_id).await?;
    Ok(accepted(
        json!({"knowledgeBaseId": ds.kb_id, "dataSourceId": ds.id, "status": "DELETING"}),
    ))
}

// ---------------------------------------------------------------------------------------
// Documents

fn doc_json(kb_id: &str, ds_id: &str, id: &str, d: Option<&DocumentRow>) -> Value {
    let mut v = json!({
        "knowledgeBaseId": kb_id,
        "dataSourceId": ds_id,
        "identifier": {"dataSourceType": "CUSTOM", "custom": {"id": id}},
        "status": d.map_or("NOT_FOUND", |d| d.status.as_str()),
    });
    if let Some(d) = d {
        v["updatedAt"] = Value::from(d.updated_at.clone());
        if let Some(r) = &d.status_reason {
            v["statusReason"] = Value::from(r.clone());
        }
    }
    v
}

/// `MetadataAttributeValue` as an [`Attr`].
fn attr_of(v: &Value, at: &str) -> Result<Attr> {
    let o = object(v, at)?;
    let t = required(o, "type", at)?;
    let bad = || validation(format!("{at} does not hold a value of its type {t}"));
    Ok(match t {
        "STRING" => Attr::String(string(o, "stringValue", at)?.ok_or_else(bad)?.to_owned()),
        "NUMBER" => Attr::Number(
            o.get("numberValue")
                .and_then(Value::as_f64)
                .ok_or_else(bad)?,
        ),
        "BOOLEAN" => Attr::Boolean(
            o.get("booleanValue")
                .and_then(Value::as_bool)
                .ok_or_else(bad)?,
        ),
        "STRING_LIST" => Attr::StringList(
            o.get("stringListValue")
                .and_then(Value::as_array)
                .and_then(|l| l.iter().map(|s| s.as_str().map(str::to_owned)).collect())
                .ok_or_else(bad)?,
        ),
        _ => {
            return Err(validation(format!(
                "{at}.type must be STRING, NUMBER, BOOLEAN or STRING_LIST"
            )))
        }
    })
}

fn document_of(v: &Value, at: &str) -> Result<kb::NewDocument> {
    let o = object(v, at)?;
    known(o, at, &["content", "metadata"])?;
    let content = object(
        o.get("content")
            .ok_or_else(|| validation(format!("{at}.content is required")))?,
        &format!("{at}.content"),
    )?;
    let cat = format!("{at}.content");
    match string(content, "dataSourceType", &cat)? {
        Some("CUSTOM") => {}
        _ => return Err(validation(format!("{cat}.dataSourceType must be CUSTOM"))),
    }
    let custom = object(
        content
            .get("custom")
            .ok_or_else(|| validation(format!("{cat}.custom is required")))?,
        &format!("{cat}.custom"),
    )?;
    let cu = format!("{cat}.custom");
    let id = custom
        .get("customDocumentIdentifier")
        .and_then(|i| i.get("id"))
        .and_then(Value::as_str)
        .ok_or_else(|| validation(format!("{cu}.customDocumentIdentifier.id is required")))?;
    match string(custom, "sourceType", &cu)? {
        Some("IN_LINE") => {}
        Some("S3_LOCATION") => {
            return Err(validation(format!(
                "{cu}.sourceType S3_LOCATION is not supported: send the document inline"
            )))
        }
        _ => return Err(validation(format!("{cu}.sourceType must be IN_LINE"))),
    }
    let inline = object(
        custom
            .get("inlineContent")
            .ok_or_else(|| validation(format!("{cu}.inlineContent is required")))?,
        &format!("{cu}.inlineContent"),
    )?;
    let il = format!("{cu}.inlineContent");
    let content = match string(inline, "type", &il)? {
        Some("TEXT") => Content::Text(
            inline
                .get("textContent")
                .and_then(|t| t.get("data"))
                .and_then(Value::as_str)
                .ok_or_else(|| validation(format!("{il}.textContent.data is required")))?
                .to_owned(),
        ),
        Some("BYTE") => {
            let b = inline
                .get("byteContent")
                .and_then(Value::as_object)
                .ok_or_else(|| validation(format!("{il}.byteContent is required")))?;
            let mime = required(b, "mimeType", &format!("{il}.byteContent"))?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(required(b, "data", &format!("{il}.byteContent"))?)
                .map_err(|_| validation(format!("{il}.byteContent.data is not valid base64")))?;
            Content::Bytes {
                data,
                mime: mime.to_owned(),
            }
        }
        _ => return Err(validation(format!("{il}.type must be TEXT or BYTE"))),
    };
    let mut attrs = Attrs::new();
    if let Some(m) = o.get("metadata") {
        let mat = format!("{at}.metadata");
        let m = object(m, &mat)?;
        match string(m, "type", &mat)? {
            Some("IN_LINE_ATTRIBUTE") => {}
            _ => return Err(validation(format!("{mat}.type must be IN_LINE_ATTRIBUTE"))),
        }
        let list = m
            .get("inlineAttributes")
            .and_then(Value::as_array)
            .ok_or_else(|| validation(format!("{mat}.inlineAttributes is required")))?;
        for (i, a) in list.iter().enumerate() {
            let aat = format!("{mat}.inlineAttributes[{i}]");
            let ao = object(a, &aat)?;
            let key = required(ao, "key", &aat)?;
            if key.starts_with("x-amz-bedrock-kb-") || key.starts_with("x-scif-") {
                return Err(validation(format!("{aat}.key {key:?} is reserved")));
            }
            let value = attr_of(
                ao.get("value")
                    .ok_or_else(|| validation(format!("{aat}.value is required")))?,
                &format!("{aat}.value"),
            )?;
            attrs.insert(key.to_owned(), value);
        }
    }
    Ok(kb::NewDocument {
        id: id.to_owned(),
        content,
        attrs,
    })
}

pub async fn ingest_documents(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(o, "request", &["clientToken", "documents"])?;
    let docs = o
        .get("documents")
        .and_then(Value::as_array)
        .ok_or_else(|| validation("documents is required"))?
        .iter()
        .enumerate()
        .map(|(i, d)| document_of(d, &format!("documents[{i}]")))
        .collect::<Result<Vec<_>>>()?;
    let rows = kb::ingest(&state, &caller, slot.as_ref(), &kb_id, &ds_id, docs).await?;
    let details: Vec<Value> = rows
        .iter()
        .map(|d| doc_json(&kb_id, &ds_id, &d.doc_id, Some(d)))
        .collect();
    Ok(accepted(json!({"documentDetails": details})))
}

pub async fn list_documents(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(o, "request", &["maxResults", "nextToken"])?;
    let rows = kb::documents(&state, &caller, slot.as_ref(), &kb_id, &ds_id).await?;
    let (rows, next) = page(rows, o)?;
    let details: Vec<Value> = rows
        .iter()
        .map(|d| doc_json(&kb_id, &ds_id, &d.doc_id, Some(d)))
        .collect();
    Ok(Json(with_next(json!({"documentDetails": details}), next)).into_response())
}

fn identifiers(o: &Map<String, Value>) -> Result<Vec<String>> {
    let list = o
        .get("documentIdentifiers")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty() && l.len() <= 10)
        .ok_or_else(|| validation("documentIdentifiers must hold 1 to 10 identifiers"))?;
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            d.get("custom")
                .and_then(|c| c.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    validation(format!("documentIdentifiers[{i}].custom.id is required"))
                })
        })
        .collect()
}

pub async fn get_documents(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(o, "request", &["documentIdentifiers"])?;
    let ids = identifiers(o)?;
    let found = kb::get_documents(&state, &caller, slot.as_ref(), &kb_id, &ds_id, &ids).await?;
    let details: Vec<Value> = found
        .iter()
        .map(|(id, d)| doc_json(&kb_id, &ds_id, id, d.as_ref()))
        .collect();
    Ok(Json(json!({"documentDetails": details})).into_response())
}

pub async fn delete_documents(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(o, "request", &["clientToken", "documentIdentifiers"])?;
    let ids = identifiers(o)?;
    let done = kb::delete_documents(&state, &caller, slot.as_ref(), &kb_id, &ds_id, &ids).await?;
    let details: Vec<Value> = done
        .iter()
        .map(|(id, d)| {
            let mut v = doc_json(&kb_id, &ds_id, id, d.as_ref());
            if d.is_some() {
                v["status"] = Value::from("DELETING");
            }
            v
        })
        .collect();
    Ok(accepted(json!({"documentDetails": details})))
}

// ---------------------------------------------------------------------------------------
// Ingestion jobs

fn job_json(j: &JobRow) -> Value {
    let mut v = json!({
        "knowledgeBaseId": j.kb_id,
        "dataSourceId": j.ds_id,
        "ingestionJobId": j.id,
        "status": j.status,
        "statistics": serde_json::from_str::<Value>(&j.stats).unwrap_or_else(|_| json!({})),
        "startedAt": j.started_at,
        "updatedAt": j.updated_at,
    });
    if let Some(d) = &j.description {
        v["description"] = Value::from(d.clone());
    }
    v
}

pub async fn start_ingestion_job(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(o, "request", &["clientToken", "description"])?;
    let description = string(o, "description", "request")?.map(str::to_owned);
    let job = kb::start_ingestion_job(&state, &caller, slot.as_ref(), &kb_id, &ds_id, description)
        .await?;
    Ok(accepted(json!({"ingestionJob": job_json(&job)})))
}

pub async fn get_ingestion_job(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id, job_id)): Path<(String, String, String)>,
) -> Result<Response> {
    let slot = slot_of(slot);
    let jobs = kb::ingestion_jobs(&state, &caller, slot.as_ref(), &kb_id, &ds_id).await?;
    let job = jobs
        .iter()
        .find(|j| j.id == job_id)
        .ok_or_else(|| ApiError::NotFound("ingestion job".into()))?;
    Ok(Json(json!({"ingestionJob": job_json(job)})).into_response())
}

pub async fn list_ingestion_jobs(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    Path((kb_id, ds_id)): Path<(String, String)>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(
        o,
        "request",
        &["filters", "maxResults", "nextToken", "sortBy"],
    )?;
    let mut jobs = kb::ingestion_jobs(&state, &caller, slot.as_ref(), &kb_id, &ds_id).await?;
    if let Some(sort) = o.get("sortBy") {
        let s = object(sort, "sortBy")?;
        match string(s, "attribute", "sortBy")? {
            Some("STARTED_AT") => jobs.sort_by(|a, b| a.started_at.cmp(&b.started_at)),
            Some("STATUS") => jobs.sort_by(|a, b| a.status.cmp(&b.status)),
            _ => return Err(validation("sortBy.attribute must be STATUS or STARTED_AT")),
        }
        match string(s, "order", "sortBy")? {
            Some("ASCENDING") => {}
            Some("DESCENDING") => jobs.reverse(),
            _ => return Err(validation("sortBy.order must be ASCENDING or DESCENDING")),
        }
    }
    let (jobs, next) = page(jobs, o)?;
    let summaries: Vec<Value> = jobs.iter().map(job_json).collect();
    Ok(Json(with_next(json!({"ingestionJobSummaries": summaries}), next)).into_response())
}

// ---------------------------------------------------------------------------------------
// Retrieval

/// A retrieval's configuration (`vectorSearchConfiguration`), the guardrail it names, and its
/// page.
struct Search {
    number_of_results: usize,
    mode: Mode,
    filter: Option<Filter>,
    filter_json: String,
}

fn search_of(config: Option<&Value>) -> Result<Search> {
    let mut s = Search {
        number_of_results: 5,
        mode: Mode::Hybrid,
        filter: None,
        filter_json: String::new(),
    };
    let Some(config) = config else {
        return Ok(s);
    };
    let c = object(config, "retrievalConfiguration")?;
    known(c, "retrievalConfiguration", &["vectorSearchConfiguration"])?;
    let Some(v) = c.get("vectorSearchConfiguration") else {
        return Err(validation(
            "retrievalConfiguration.vectorSearchConfiguration is required",
        ));
    };
    let at = "vectorSearchConfiguration";
    let v = object(v, at)?;
    known(
        v,
        at,
        &[
            "filter",
            "implicitFilterConfiguration",
            "numberOfResults",
            "overrideSearchType",
            "rerankingConfiguration",
        ],
    )?;
    if v.contains_key("implicitFilterConfiguration") || v.contains_key("rerankingConfiguration") {
        return Err(validation(format!(
            "{at}: implicitFilterConfiguration and rerankingConfiguration are not supported"
        )));
    }
    if let Some(n) = v.get("numberOfResults") {
        s.number_of_results = n
            .as_u64()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| validation(format!("{at}.numberOfResults must be 1 to 100")))?
            as usize;
    }
    s.mode = match string(v, "overrideSearchType", at)? {
        None | Some("HYBRID") => Mode::Hybrid,
        Some("SEMANTIC") => Mode::Semantic,
        Some(_) => {
            return Err(validation(format!(
                "{at}.overrideSearchType must be HYBRID or SEMANTIC"
            )))
        }
    };
    if let Some(f) = v.get("filter") {
        s.filter = Some(Filter::parse(f).map_err(|m| validation(format!("{at}.{m}")))?);
        s.filter_json = f.to_string();
    }
    Ok(s)
}

fn guardrail_of(v: Option<&Value>, at: &str) -> Result<Vec<Requested>> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let o = object(v, at)?;
    known(o, at, &["guardrailId", "guardrailVersion"])?;
    let id = required(o, "guardrailId", at)?;
    let version = required(o, "guardrailVersion", at)?;
    let id = id.rsplit('/').next().unwrap_or(id);
    Requested::parse(id, Some(version))
        .map(|r| vec![r])
        .map_err(|m| validation(format!("{at}: {m}")))
}

/// The page token binds the page to this caller, knowledge base, query and configuration.
fn token_binding(principal: &str, kb_id: &str, query: &str, s: &Search) -> String {
    let d = scif_knowledge::digest(
        format!(
            "{principal}\0{kb_id}\0{query}\0{}\0{:?}\0{}",
            s.number_of_results, s.mode, s.filter_json
        )
        .as_bytes(),
    );
    d[..16].to_owned()
}

fn offset_of(token: Option<&str>, binding: &str) -> Result<usize> {
    let Some(t) = token else { return Ok(0) };
    let bad = || validation("nextToken does not belong to this query");
    let (offset, b) = t.split_once('.').ok_or_else(bad)?;
    if b != binding {
        return Err(bad());
    }
    offset.parse().map_err(|_| bad())
}

fn passage_json(p: &Passage) -> Value {
    let mut metadata = Map::new();
    for (k, v) in &p.attrs {
        metadata.insert(k.clone(), v.to_json());
    }
    metadata.insert(
        "x-amz-bedrock-kb-chunk-id".into(),
        Value::from(p.chunk.to_string()),
    );
    metadata.insert("x-scif-label".into(), Value::from(p.label.banner()));
    let mut v = json!({
        "content": {"type": "TEXT", "text": p.text},
        "metadata": metadata,
        "score": p.score,
    });
    if let Some((ds, doc)) = &p.document {
        v["location"] = json!({"type": "CUSTOM", "customDocumentLocation": {"id": doc}});
        v["metadata"]["x-amz-bedrock-kb-data-source-id"] = Value::from(ds.clone());
    }
    v
}

fn label_header(resp: &mut Response, passages: &[Passage]) {
    let label = passages
        .iter()
        .fold(scif_labels::Label::unclassified(), |a, p| a.join(&p.label));
    if let Ok(v) = axum::http::HeaderValue::from_str(&label.banner()) {
        resp.headers_mut()
            .insert(crate::guard::OUTPUT_LABEL_HEADER, v);
    }
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    Path(kb_id): Path<String>,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(
        o,
        "request",
        &[
            "guardrailConfiguration",
            "nextToken",
            "retrievalConfiguration",
            "retrievalQuery",
            // Some SDKs send the end user's id; the authenticated principal decides instead.
            "userContext",
        ],
    )?;
    let query = o
        .get("retrievalQuery")
        .and_then(|q| q.get("text"))
        .and_then(Value::as_str)
        .ok_or_else(|| validation("retrievalQuery.text is required"))?
        .to_owned();
    let search = search_of(o.get("retrievalConfiguration"))?;
    let guardrails = guardrail_of(o.get("guardrailConfiguration"), "guardrailConfiguration")?;
    let binding = token_binding(&caller.principal.id, &kb_id, &query, &search);
    let offset = offset_of(string(o, "nextToken", "request")?, &binding)?;
    let call = super::call(&caller, slot.as_ref(), &headers, false, &guardrails)?;
    let n = search.number_of_results;
    let r = kb::retrieve(
        &state,
        &call,
        kb::RetrieveRequest {
            knowledge_base: kb_id,
            query,
            number_of_results: n,
            offset,
            mode: search.mode,
            filter: search.filter,
        },
    )
    .await?;
    let results: Vec<Value> = r.passages.iter().map(passage_json).collect();
    let mut v = json!({"retrievalResults": results});
    if r.more {
        v["nextToken"] = Value::from(format!("{}.{binding}", offset + n));
    }
    if !guardrails.is_empty() {
        v["guardrailAction"] = Value::from("NONE");
    }
    let mut resp = Json(v).into_response();
    label_header(&mut resp, &r.passages);
    Ok(resp)
}

pub async fn retrieve_and_generate(
    State(state): State<AppState>,
    caller: CallerExt,
    slot: Option<Extension<Slot>>,
    headers: HeaderMap,
    OpenAiJson(body): Body,
) -> Result<Response> {
    let slot = slot_of(slot);
    let o = object(&body, "request")?;
    known(
        o,
        "request",
        &[
            "input",
            "retrieveAndGenerateConfiguration",
            "sessionConfiguration",
            "sessionId",
            "userContext",
        ],
    )?;
    let query = o
        .get("input")
        .and_then(|q| q.get("text"))
        .and_then(Value::as_str)
        .ok_or_else(|| validation("input.text is required"))?
        .to_owned();
    let rc = object(
        o.get("retrieveAndGenerateConfiguration")
            .ok_or_else(|| validation("retrieveAndGenerateConfiguration is required"))?,
        "retrieveAndGenerateConfiguration",
    )?;
    match string(rc, "type", "retrieveAndGenerateConfiguration")? {
        Some("KNOWLEDGE_BASE") => {}
        Some("EXTERNAL_SOURCES") => {
            return Err(validation(
                "retrieveAndGenerateConfiguration.type EXTERNAL_SOURCES is not supported",
            ))
        }
        _ => {
            return Err(validation(
                "retrieveAndGenerateConfiguration.type is required",
            ))
        }
    }
    let at = "knowledgeBaseConfiguration";
    let k = object(
        rc.get("knowledgeBaseConfiguration").ok_or_else(|| {
            validation("retrieveAndGenerateConfiguration.knowledgeBaseConfiguration is required")
        })?,
        at,
    )?;
    known(
        k,
        at,
        &[
            "generationConfiguration",
            "knowledgeBaseId",
            "modelArn",
            "orchestrationConfiguration",
            "retrievalConfiguration",
        ],
    )?;
    if k.contains_key("orchestrationConfiguration") {
        return Err(validation(format!(
            "{at}.orchestrationConfiguration is not supported"
        )));
    }
    let kb_id = required(k, "knowledgeBaseId", at)?.to_owned();
    let model = resolve_model_id(required(k, "modelArn", at)?)?;
    let search = search_of(k.get("retrievalConfiguration"))?;
    let mut template = None;
    let mut guardrails = Vec::new();
    let mut max_tokens = None;
    let mut sampling = scif_provider::SamplingParams::default();
    let mut stop = Vec::new();
    if let Some(g) = k.get("generationConfiguration") {
        let gat = "generationConfiguration";
        let g = object(g, gat)?;
        known(
            g,
            gat,
            &[
                "additionalModelRequestFields",
                "guardrailConfiguration",
                "inferenceConfig",
                "performanceConfig",
                "promptTemplate",
            ],
        )?;
        template = g
            .get("promptTemplate")
            .and_then(|p| p.get("textPromptTemplate"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        guardrails = guardrail_of(
            g.get("guardrailConfiguration"),
            "generationConfiguration.guardrailConfiguration",
        )?;
        if let Some(t) = g
            .get("inferenceConfig")
            .and_then(|i| i.get("textInferenceConfig"))
        {
            let tat = "textInferenceConfig";
            let t = object(t, tat)?;
            known(
                t,
                tat,
                &["maxTokens", "stopSequences", "temperature", "topP"],
            )?;
            if let Some(n) = t.get("maxTokens") {
                max_tokens =
                    Some(n.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                        validation("textInferenceConfig.maxTokens must be at least 1")
                    })? as usize);
            }
            for (name, slot) in [
                ("temperature", &mut sampling.temperature),
                ("topP", &mut sampling.top_p),
            ] {
                if let Some(v) = t.get(name) {
                    let v = v
                        .as_f64()
                        .filter(|v| (0.0..=1.0).contains(v))
                        .ok_or_else(|| {
                            validation(format!(
                                "textInferenceConfig.{name} must be between 0 and 1"
                            ))
                        })?;
                    *slot = v as f32;
                }
            }
            if let Some(s) = t.get("stopSequences") {
                stop = s
                    .as_array()
                    .and_then(|l| {
                        l.iter()
                            .map(|x| x.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    })
                    .filter(|l| l.len() <= 4 && l.iter().all(|x| !x.is_empty()))
                    .ok_or_else(|| {
                        validation(
                            "textInferenceConfig.stopSequences: at most 4 strings, none empty",
                        )
                    })?;
            }
        }
    }
    let session = string(o, "sessionId", "request")?.map(str::to_owned);
    let call = super::call(&caller, slot.as_ref(), &headers, false, &guardrails)?;
    let g = kb::retrieve_and_generate(
        &state,
        call,
        kb::GenerateRequest {
            retrieve: kb::RetrieveRequest {
                knowledge_base: kb_id,
                query,
                number_of_results: search.number_of_results,
                offset: 0,
                mode: search.mode,
                filter: search.filter,
            },
            model,
            template,
            max_tokens,
            sampling,
            stop,
            session,
        },
    )
    .await?;
    let citations: Vec<Value> = g
        .citations
        .iter()
        .map(|c| {
            let refs: Vec<Value> = c.references.iter().filter_map(|&i| g.passages.get(i)).map(|p| {
                let mut v = passage_json(p);
                if let Some(o) = v.as_object_mut() {
                    o.remove("score");
                }
                v
            }).collect();
            json!({
                "generatedResponsePart": {"textResponsePart": {"text": c.text, "span": {"start": c.start, "end": c.end.saturating_sub(1)}}},
                "retrievedReferences": refs,
            })
        })
        .collect();
    let intervened = scif_service::guardrails::lock(&g.guardrail).intervened();
    let mut v = json!({
        "output": {"text": g.text},
        "citations": citations,
        "sessionId": g.session,
    });
    if !guardrails.is_empty() || intervened {
        v["guardrailAction"] = Value::from(if intervened { "INTERVENED" } else { "NONE" });
    }
    let mut resp = Json(v).into_response();
    let (name, value) = g.flow.header();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}
