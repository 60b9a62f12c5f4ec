//! Knowledge bases: records, ingestion, and retrieval as a stage of the pipeline.
//!
//! - A knowledge base has a **ceiling** (its label: no document may exceed it) and a
//!   **metadata label** (the label of its own record: name, description). Seeing it at all
//!   is the mandatory rules on the metadata label, then Cedar (`retrieve`,
//!   `manage_knowledge_bases`); a knowledge base the caller may not know answers like a
//!   missing one.
//! - **Ingestion** is checked before anything is stored: the ingesting principal must be
//!   cleared for each document's declared label (absent: their clearance), the ceiling must
//!   dominate it, and no marking in the text may be above it ([`scif_knowledge::portions`]).
//!   Portion marks give chunks their own labels. Embedding runs in the background on the
//!   embedded engine (remote embedding models are refused: a document must not leave scif
//!   before its ingestion is on the audit trail). Identical content is not re-embedded: a
//!   document whose digest is unchanged keeps its chunks, and every chunk's vector is cached
//!   by the model's file digest and the text's digest.
//! - **Retrieval** computes the caller's readable predicate on every request and passes it
//!   into the index scan. The query embedding is an invocation of the embedding model through
//!   [`crate::pipeline::embed`] (authorized, inspected, on the trail as its own events); the
//!   retrieval's own event names the knowledge base, the query's digest, the chunks returned
//!   with their labels, and how many were withheld.
//! - **Retrieve and generate** feeds the passages to [`crate::pipeline::invoke`] as part of the
//!   prompt, so they pass input inspection like any other content, and the declared input
//!   label rises to their join: the answer's label is the join of the model's, the input's and
//!   every passage's.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use scif_access::Caller;
use scif_authz::{Action, DecisionReason, Resource, ResourceKind};
use scif_knowledge::{extract, Attrs, ChunkSpec, Filter, KbIndex, Mode, NewChunk, Query};
use scif_labels::Label;
use scif_provider::{ChatMessage, ChatRequest, EmbedRequest, Provider, SamplingParams};
use scif_store::{DataSourceRow, DocumentRow, JobRow, KbRow, NewChunkRow, Store};
use serde_json::{json, Value};

use crate::call::Call;
use crate::error::Error;
use crate::flow::Flow;
use crate::record::{note_decision, Slot};
use crate::{authorize, top_label, Providers, Service};

/// Largest document accepted (Bedrock's limit on inline content).
pub const MAX_DOCUMENT_BYTES: usize = 5 << 20;
/// Most documents in one ingestion request (Bedrock's limit).
pub const MAX_DOCUMENTS: usize = 25;
/// Most results one retrieval may page through.
pub const MAX_WINDOW: usize = 1000;
/// The chunking used when a data source names none (Bedrock's default: 300 tokens, 20%),
/// capped at what the embedding model reads.
pub const DEFAULT_CHUNKING: (usize, usize) = (300, 20);
/// Chunks embedded per call to the engine.
const EMBED_BATCH: usize = 32;
/// Conversations kept for `sessionId`, and how many turns each.
const MAX_SESSIONS: usize = 10_000;
const MAX_TURNS: usize = 8;

/// The attribute that declares a document's label.
pub const CLASSIFICATION: &str = "classification";

/// What the knowledge bases share at run time: each one's index (loaded from the store on
/// first use), and retrieve-and-generate conversations.
#[derive(Default)]
pub struct Knowledge {
    indexes: tokio::sync::Mutex<HashMap<String, Arc<RwLock<KbIndex>>>>,
    sessions: Mutex<HashMap<String, Session>>,
}

struct Session {
    principal: String,
    knowledge_base: String,
    turns: Vec<(String, String)>,
    used: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    match l.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn store_err(e: scif_store::StoreError) -> Error {
    match e {
        scif_store::StoreError::Exists(what) => Error::Conflict(what),
        e => {
            tracing::error!(error = %e, "knowledge store");
            Error::Internal("the knowledge store failed".into())
        }
    }
}

/// A stored label; one that does not parse is the highest there is (fail closed).
pub fn stored_label(s: &str) -> Label {
    Label::parse_banner(s).unwrap_or_else(|_| top_label())
}

/// A fresh identifier in Bedrock's shape: ten upper-case letters and digits.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let u = uuid::Uuid::new_v4().as_u128();
    (0..10)
        .map(|i| ALPHABET[((u >> (i * 6)) % 36) as usize] as char)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Deciding

/// Authorizes `action` on a knowledge base's record; a knowledge base the caller may not
/// know (or that does not exist) is `NotFound`, a policy refusal `Forbidden`.
fn decide(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    action: Action,
    kb: &KbRow,
) -> Result<(), Error> {
    let label = stored_label(&kb.metadata_label);
    let resource = Resource::new(ResourceKind::KnowledgeBase, &kb.id, label.clone());
    let d = svc.access.authorize(caller, action, &resource);
    note_decision(slot, &d, Some(label.banner()));
    match d.reason {
        DecisionReason::Permitted => Ok(()),
        DecisionReason::Mandatory(_) => Err(not_found()),
        _ => Err(Error::Forbidden(d.denial_message())),
    }
}

fn not_found() -> Error {
    Error::NotFound("knowledge base".into())
}

/// The knowledge base `id`, if the caller may perform `action` on it.
pub async fn knowledge_base(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    action: Action,
    id: &str,
) -> Result<KbRow, Error> {
    let Some(kb) = svc.store.knowledge_base(id).await.map_err(store_err)? else {
        if let Some(slot) = slot {
            slot.update(|e| {
                e.action = Some(action.as_str().to_owned());
                e.resource = Some(format!("knowledge_base/{id}"));
                e.decision = Some("deny".into());
                e.reasons = vec!["not_found".into()];
            });
        }
        return Err(not_found());
    };
    decide(svc, caller, slot, action, &kb)?;
    Ok(kb)
}

/// The knowledge bases the caller may search (each decided on this request).
pub async fn list(svc: &Service, caller: &Caller) -> Result<Vec<KbRow>, Error> {
    Ok(svc
        .store
        .knowledge_bases()
        .await
        .map_err(store_err)?
        .into_iter()
        .filter(|kb| decide(svc, caller, None, Action::Retrieve, kb).is_ok())
        .collect())
}

/// Refuses text marked above `label` (`what` names it in the message).
fn check_markings(text: &str, label: &Label, what: &str) -> Result<(), Error> {
    if let Some(m) = scif_guardrails::markings::above(text, label).first() {
        return Err(Error::invalid(
            format!(
                "{what} is marked {}, above its label {}",
                m.canonical(),
                label.banner()
            ),
            Some(what),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Knowledge bases and data sources

/// A knowledge base to create.
pub struct NewKnowledgeBase {
    pub name: String,
    pub description: Option<String>,
    pub role_arn: String,
    pub embedding_model: String,
    /// `knowledgeBaseConfiguration` and `storageConfiguration`, as given (returned on reads).
    pub config: Value,
    /// The ceiling (tag `classification`); absent: the creator's clearance.
    pub ceiling: Option<Label>,
    /// The record's own label (tag `metadata-classification`); absent: the ceiling.
    pub metadata_label: Option<Label>,
}

pub async fn create(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    n: NewKnowledgeBase,
) -> Result<KbRow, Error> {
    authorize::system(svc, caller, Action::ManageKnowledgeBases, slot)?;
    let model = authorize::model(svc, caller, Action::InvokeModel, &n.embedding_model, None)?;
    let name = model.resource().name.clone();
    embedding_provider(svc, &name)?;
    let ceiling = n
        .ceiling
        .unwrap_or_else(|| caller.principal.clearance.clone());
    if !svc.access.may_receive(caller, &ceiling) || !svc.config.system_high().dominates(&ceiling) {
        return Err(Error::Forbidden(
            "The knowledge base's label is not one you are cleared to hold.".into(),
        ));
    }
    let metadata_label = n.metadata_label.unwrap_or_else(|| ceiling.clone());
    if !ceiling.dominates(&metadata_label) {
        return Err(Error::invalid(
            "the metadata-classification tag must not be above the classification tag",
            Some("tags"),
        ));
    }
    check_markings(&n.name, &metadata_label, "name")?;
    if let Some(d) = &n.description {
        check_markings(d, &metadata_label, "description")?;
    }
    let now = scif_time::now_rfc3339_secs();
    let row = KbRow {
        id: new_id(),
        name: n.name,
        description: n.description,
        role_arn: n.role_arn,
        embedding_model: name,
        config: n.config.to_string(),
        label: ceiling.banner(),
        metadata_label: metadata_label.banner(),
        created_by: caller.principal.id.clone(),
        created_at: now.clone(),
        updated_at: now,
    };
    svc.store
        .insert_knowledge_base(&row)
        .await
        .map_err(store_err)?;
    if let Some(slot) = slot {
        slot.update(|e| {
            e.resource = Some(format!("knowledge_base/{}", row.id));
            e.resource_label = Some(row.metadata_label.clone());
            e.detail.insert("ceiling".into(), row.label.clone().into());
        });
    }
    Ok(row)
}

/// The provider of an embedding model a knowledge base may use: the embedded engine only.
fn embedding_provider(svc: &Service, model: &str) -> Result<Arc<dyn Provider>, Error> {
    let provider = svc
        .providers
        .for_model(model)
        .ok_or_else(|| Error::ModelNotFound(model.to_owned()))?;
    if !svc.providers.is_static(model) {
        return Err(Error::invalid(
            format!("the model `{model}` is served remotely; a knowledge base embeds with a model scif serves itself"),
            Some("embeddingModelArn"),
        ));
    }
    if provider.token_spans(model, "probe").is_none() {
        return Err(Error::invalid(
            format!("the model `{model}` does not produce embeddings"),
            Some("embeddingModelArn"),
        ));
    }
    Ok(provider)
}

pub async fn delete(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    id: &str,
) -> Result<KbRow, Error> {
    let kb = knowledge_base(svc, caller, slot, Action::ManageKnowledgeBases, id).await?;
    let mut indexes = svc.knowledge.indexes.lock().await;
    svc.store
        .delete_knowledge_base(id)
        .await
        .map_err(store_err)?;
    indexes.remove(id);
    Ok(kb)
}

/// How a data source cuts documents, from its `vectorIngestionConfiguration`: `None` for
/// `NONE` (each labelled run whole).
pub fn chunking_of(config: &Value) -> Result<Option<ChunkSpec>, Error> {
    let c = config
        .pointer("/vectorIngestionConfiguration/chunkingConfiguration")
        .cloned()
        .unwrap_or(Value::Null);
    if c.is_null() {
        return Ok(Some(ChunkSpec::fixed(
            DEFAULT_CHUNKING.0,
            DEFAULT_CHUNKING.1,
        )));
    }
    match c.get("chunkingStrategy").and_then(Value::as_str) {
        Some("NONE") => Ok(None),
        Some("FIXED_SIZE") => {
            let f = c.get("fixedSizeChunkingConfiguration");
            let max = f.and_then(|f| f.get("maxTokens")).and_then(Value::as_u64);
            let overlap = f
                .and_then(|f| f.get("overlapPercentage"))
                .and_then(Value::as_u64);
            match (max, overlap) {
                (Some(m), Some(o)) if m >= 1 && (1..=99).contains(&o) => {
                    Ok(Some(ChunkSpec::fixed(m as usize, o as usize)))
                }
                _ => Err(Error::invalid(
                    "fixedSizeChunkingConfiguration needs maxTokens (at least 1) and overlapPercentage (1 to 99)",
                    Some("vectorIngestionConfiguration"),
                )),
            }
        }
        Some(other) => Err(Error::invalid(
            format!("chunkingStrategy {other} is not supported (FIXED_SIZE or NONE)"),
            Some("vectorIngestionConfiguration"),
        )),
        None => Err(Error::invalid(
            "chunkingConfiguration.chunkingStrategy is required",
            Some("vectorIngestionConfiguration"),
        )),
    }
}

/// A data source to create: `config` holds `dataSourceConfiguration` and
/// `vectorIngestionConfiguration` as given.
pub struct NewDataSource {
    pub name: String,
    pub description: Option<String>,
    pub config: Value,
    pub deletion_policy: String,
}

pub async fn create_data_source(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    n: NewDataSource,
) -> Result<DataSourceRow, Error> {
    let kb = knowledge_base(svc, caller, slot, Action::ManageKnowledgeBases, kb_id).await?;
    match n
        .config
        .pointer("/dataSourceConfiguration/type")
        .and_then(Value::as_str)
    {
        Some("CUSTOM") => {}
        Some(other) => {
            return Err(Error::invalid(
                format!("data sources of type {other} are not supported here: use CUSTOM and ingest documents with IngestKnowledgeBaseDocuments"),
                Some("dataSourceConfiguration"),
            ))
        }
        None => {
            return Err(Error::invalid(
                "dataSourceConfiguration.type is required",
                Some("dataSourceConfiguration"),
            ))
        }
    }
    chunking_of(&n.config)?;
    let meta = stored_label(&kb.metadata_label);
    check_markings(&n.name, &meta, "name")?;
    if let Some(d) = &n.description {
        check_markings(d, &meta, "description")?;
    }
    let now = scif_time::now_rfc3339_secs();
    let row = DataSourceRow {
        kb_id: kb.id,
        id: new_id(),
        name: n.name,
        description: n.description,
        config: n.config.to_string(),
        deletion_policy: n.deletion_policy,
        created_at: now.clone(),
        updated_at: now,
    };
    svc.store
        .insert_data_source(&row)
        .await
        .map_err(store_err)?;
    Ok(row)
}

/// A data source of a knowledge base the caller may perform `action` on.
pub async fn data_source(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    action: Action,
    kb_id: &str,
    ds_id: &str,
) -> Result<(KbRow, DataSourceRow), Error> {
    let kb = knowledge_base(svc, caller, slot, action, kb_id).await?;
    let ds = svc
        .store
        .data_source(kb_id, ds_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| Error::NotFound("data source".into()))?;
    Ok((kb, ds))
}

pub async fn data_sources(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
) -> Result<Vec<DataSourceRow>, Error> {
    knowledge_base(svc, caller, slot, Action::Retrieve, kb_id).await?;
    svc.store.data_sources(kb_id).await.map_err(store_err)
}

pub async fn delete_data_source(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    ds_id: &str,
) -> Result<DataSourceRow, Error> {
    let (_, ds) = data_source(
        svc,
        caller,
        slot,
        Action::ManageKnowledgeBases,
        kb_id,
        ds_id,
    )
    .await?;
    let mut indexes = svc.knowledge.indexes.lock().await;
    svc.store
        .delete_data_source(kb_id, ds_id)
        .await
        .map_err(store_err)?;
    // The index is rebuilt from the store on next use.
    indexes.remove(kb_id);
    Ok(ds)
}

// ---------------------------------------------------------------------------------------
// Ingestion

/// A document's content.
pub enum Content {
    Text(String),
    Bytes { data: Vec<u8>, mime: String },
}

/// A document to ingest.
pub struct NewDocument {
    pub id: String,
    pub content: Content,
    /// Metadata attributes; `classification`, when present, declares the label.
    pub attrs: Attrs,
}

/// A document checked and ready to embed.
struct Checked {
    row: DocumentRow,
    portions: Vec<scif_knowledge::Portion>,
    unchanged: bool,
}

/// Ingests documents into a CUSTOM data source: every document is checked first (labels,
/// markings, format), and none is stored if any fails; then each is stored as `STARTING`
/// (or left as it is when its content is unchanged) and embedded in the background.
pub async fn ingest(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    ds_id: &str,
    docs: Vec<NewDocument>,
) -> Result<Vec<DocumentRow>, Error> {
    let (kb, ds) = data_source(
        svc,
        caller,
        slot,
        Action::ManageKnowledgeBases,
        kb_id,
        ds_id,
    )
    .await?;
    if docs.is_empty() || docs.len() > MAX_DOCUMENTS {
        return Err(Error::invalid(
            format!("documents must hold 1 to {MAX_DOCUMENTS} documents"),
            Some("documents"),
        ));
    }
    let ceiling = stored_label(&kb.label);
    let model = authorize::model(svc, caller, Action::InvokeModel, &kb.embedding_model, None)?;
    let provider = embedding_provider(svc, &model.resource().name)?;
    let spec = chunking_of(&serde_json::from_str(&ds.config).unwrap_or(Value::Null))?;
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(docs.len());
    let now = scif_time::now_rfc3339_secs();
    for d in docs {
        let what = format!("document {:?}", d.id);
        if d.id.is_empty() || d.id.len() > 2048 {
            return Err(Error::invalid(
                "a document identifier must be 1 to 2048 characters",
                Some("documents"),
            ));
        }
        if !seen.insert(d.id.clone()) {
            return Err(Error::invalid(
                format!("{what} appears twice in one request"),
                Some("documents"),
            ));
        }
        let declared = match d.attrs.get(CLASSIFICATION) {
            None => caller.principal.clearance.clone(),
            Some(scif_knowledge::Attr::String(s)) => {
                crate::flow::parse_declared(s).map_err(|e| {
                    Error::invalid(
                        format!("{what}: the classification attribute is not a valid marking: {e}"),
                        Some("documents"),
                    )
                })?
            }
            Some(_) => {
                return Err(Error::invalid(
                    format!("{what}: the classification attribute must be a string"),
                    Some("documents"),
                ))
            }
        };
        if !svc.access.may_receive(caller, &declared) {
            return Err(Error::Forbidden(format!(
                "{what} is declared at a label you are not cleared to hold"
            )));
        }
        if !ceiling.dominates(&declared) {
            return Err(Error::invalid(
                format!(
                    "{what} is labelled {}, above the knowledge base's ceiling",
                    declared.banner()
                ),
                Some("documents"),
            ));
        }
        let text = match d.content {
            Content::Text(t) => {
                if t.len() > MAX_DOCUMENT_BYTES {
                    return Err(Error::invalid(
                        format!("{what} is larger than 5 MiB"),
                        Some("documents"),
                    ));
                }
                t
            }
            Content::Bytes { data, mime } => {
                if data.len() > MAX_DOCUMENT_BYTES {
                    return Err(Error::invalid(
                        format!("{what} is larger than 5 MiB"),
                        Some("documents"),
                    ));
                }
                extract::extract(&data, &mime)
                    .map_err(|e| Error::invalid(format!("{what}: {e}"), Some("documents")))?
            }
        };
        if text.trim().is_empty() {
            return Err(Error::invalid(
                format!("{what} contains no text"),
                Some("documents"),
            ));
        }
        let portions = scif_knowledge::portions(&text, &declared)
            .map_err(|e| Error::invalid(format!("{what}: {e}"), Some("documents")))?;
        let mut attrs = d.attrs;
        attrs.insert(
            CLASSIFICATION.into(),
            scif_knowledge::Attr::String(declared.banner()),
        );
        let attrs_json = serde_json::to_string(&attrs).unwrap_or_default();
        let digest = scif_knowledge::digest(
            format!("{}\0{attrs_json}\0{text}", declared.banner()).as_bytes(),
        );
        let existing = svc
            .store
            .document(kb_id, ds_id, &d.id)
            .await
            .map_err(store_err)?;
        let unchanged = existing
            .as_ref()
            .is_some_and(|e| e.content_hash == digest && e.status == "INDEXED");
        let row = match existing {
            Some(e) if unchanged => e,
            _ => DocumentRow {
                kb_id: kb_id.to_owned(),
                ds_id: ds_id.to_owned(),
                doc_id: d.id,
                content_hash: digest,
                label: declared.banner(),
                attrs: attrs_json,
                status: "STARTING".into(),
                status_reason: None,
                created_by: caller.principal.id.clone(),
                updated_at: now.clone(),
            },
        };
        checked.push(Checked {
            row,
            portions,
            unchanged,
        });
    }
    let mut out = Vec::with_capacity(checked.len());
    let mut work = Vec::new();
    for c in checked {
        if !c.unchanged {
            let pending = pending_json(&c.portions);
            svc.store
                .upsert_document(&c.row, Some(&pending))
                .await
                .map_err(store_err)?;
            work.push((c.row.clone(), c.portions));
        }
        out.push(c.row);
    }
    if let Some(slot) = slot {
        let docs: Vec<Value> = out
            .iter()
            .map(|d| json!({"id": d.doc_id, "label": d.label, "sha256": d.content_hash, "status": d.status}))
            .collect();
        slot.update(|e| {
            e.detail.insert("documents".into(), Value::from(docs));
        });
    }
    if !work.is_empty() {
        let worker = Worker::new(svc, provider.as_ref(), &kb, spec);
        tokio::spawn(async move { worker.run(work).await });
    }
    Ok(out)
}

/// A document's labelled paragraphs as stored until its chunks are.
fn pending_json(portions: &[scif_knowledge::Portion]) -> String {
    let v: Vec<Value> = portions
        .iter()
        .map(|p| json!({"text": p.text, "label": p.label.banner()}))
        .collect();
    Value::from(v).to_string()
}

fn pending_of(s: &str) -> Option<Vec<scif_knowledge::Portion>> {
    let v: Vec<Value> = serde_json::from_str(s).ok()?;
    v.iter()
        .map(|p| {
            Some(scif_knowledge::Portion {
                text: p.get("text")?.as_str()?.to_owned(),
                label: Label::parse_banner(p.get("label")?.as_str()?).ok()?,
            })
        })
        .collect()
}

/// Resumes the ingestions a previous run acknowledged and did not finish (the server
/// stopped or crashed while embedding): each such document's labelled paragraphs were stored
/// with it, so its work starts again from them. Called once at start-up; returns how many
/// documents were resumed.
pub async fn resume(svc: &Service) -> Result<usize, Error> {
    let pending = svc.store.pending_documents().await.map_err(store_err)?;
    let mut groups: Vec<((String, String), Vec<Work>)> = Vec::new();
    let mut resumed = 0;
    for (doc, work) in pending {
        let now = scif_time::now_rfc3339_secs();
        let Some(portions) = pending_of(&work) else {
            let _ = svc
                .store
                .set_document_status(&doc, "FAILED", Some("its stored work is unreadable"), &now)
                .await;
            continue;
        };
        let key = (doc.kb_id.clone(), doc.ds_id.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push((doc, portions)),
            None => groups.push((key, vec![(doc, portions)])),
        }
    }
    for ((kb_id, ds_id), work) in groups {
        let fail = |reason: String| {
            let work = &work;
            async move {
                let now = scif_time::now_rfc3339_secs();
                for (doc, _) in work {
                    let _ = svc
                        .store
                        .set_document_status(doc, "FAILED", Some(&reason), &now)
                        .await;
                }
            }
        };
        let (Some(kb), Some(ds)) = (
            svc.store.knowledge_base(&kb_id).await.map_err(store_err)?,
            svc.store
                .data_source(&kb_id, &ds_id)
                .await
                .map_err(store_err)?,
        ) else {
            continue;
        };
        let Some(provider) = svc.providers.for_model(&kb.embedding_model) else {
            fail(format!(
                "the embedding model {} is not loaded",
                kb.embedding_model
            ))
            .await;
            continue;
        };
        let spec = match chunking_of(&serde_json::from_str(&ds.config).unwrap_or(Value::Null)) {
            Ok(s) => s,
            Err(e) => {
                fail(e.to_string()).await;
                continue;
            }
        };
        resumed += work.len();
        let worker = Worker::new(svc, provider.as_ref(), &kb, spec);
        tokio::spawn(async move { worker.run(work).await });
    }
    if resumed > 0 {
        tracing::info!(
            documents = resumed,
            "resumed unfinished knowledge-base ingestion"
        );
    }
    Ok(resumed)
}

/// One document's background work: its record and labelled paragraphs.
type Work = (DocumentRow, Vec<scif_knowledge::Portion>);

/// The background half of ingestion: chunk, embed (through the cache), store, index.
struct Worker {
    store: Store,
    providers: Arc<Providers>,
    knowledge: Arc<Knowledge>,
    model: String,
    cache_key: String,
    spec: Option<ChunkSpec>,
}

impl Worker {
    fn new(svc: &Service, provider: &dyn Provider, kb: &KbRow, spec: Option<ChunkSpec>) -> Worker {
        let model_sha = provider
            .models()
            .into_iter()
            .find(|m| m.id == kb.embedding_model)
            .map(|m| m.sha256)
            .unwrap_or_default();
        Worker {
            store: svc.store.clone(),
            providers: svc.providers.clone(),
            knowledge: svc.knowledge.clone(),
            model: kb.embedding_model.clone(),
            cache_key: format!("{}@{model_sha}", kb.embedding_model),
            spec,
        }
    }

    async fn run(self, work: Vec<Work>) {
        for (doc, portions) in work {
            let now = scif_time::now_rfc3339_secs();
            let _ = self
                .store
                .set_document_status(&doc, "IN_PROGRESS", None, &now)
                .await;
            if let Err(e) = self.one(&doc, &portions).await {
                tracing::warn!(knowledge_base = %doc.kb_id, document = %doc.doc_id, error = %e, "ingestion failed");
                let now = scif_time::now_rfc3339_secs();
                let _ = self
                    .store
                    .set_document_status(&doc, "FAILED", Some(&e.to_string()), &now)
                    .await;
            }
        }
    }

    async fn one(
        &self,
        doc: &DocumentRow,
        portions: &[scif_knowledge::Portion],
    ) -> Result<(), Error> {
        let provider = self
            .providers
            .for_model(&self.model)
            .ok_or_else(|| Error::ModelNotFound(self.model.clone()))?;
        let limit = provider
            .token_spans(&self.model, "")
            .map_or(usize::MAX, |(l, _)| l);
        let spec = self.spec.map(|s| {
            let max = s.max_tokens.min(limit);
            ChunkSpec {
                max_tokens: max,
                overlap_tokens: s.overlap_tokens.min(max.saturating_sub(1)),
            }
        });
        let spans = |t: &str| {
            provider
                .token_spans(&self.model, t)
                .map_or_else(|| scif_knowledge::chunk::word_spans(t), |(_, s)| s)
        };
        let chunks = scif_knowledge::chunk(portions, spec, &spans);
        // The model reads at most `limit` tokens; a NONE-chunked run longer than that is cut
        // into windows anyway, or its tail would never be embedded.
        let chunks: Vec<scif_knowledge::Chunk> = chunks
            .into_iter()
            .flat_map(|c| {
                if spans(&c.text).len() <= limit {
                    vec![c]
                } else {
                    let p = [scif_knowledge::Portion {
                        text: c.text,
                        label: c.label,
                    }];
                    scif_knowledge::chunk(
                        &p,
                        Some(ChunkSpec {
                            max_tokens: limit,
                            overlap_tokens: limit / 5,
                        }),
                        &spans,
                    )
                }
            })
            .collect();
        for c in &chunks {
            if !provider.accepts(&self.model, &c.label) {
                return Err(Error::Forbidden(
                    "the embedding model's endpoint is not accredited for this document's label"
                        .into(),
                ));
            }
        }
        let digests: Vec<String> = chunks
            .iter()
            .map(|c| scif_knowledge::digest(c.text.as_bytes()))
            .collect();
        let mut cached = self
            .store
            .cached_embeddings(&self.cache_key, &digests)
            .await
            .map_err(store_err)?;
        let missing: Vec<usize> = (0..chunks.len())
            .filter(|&i| !cached.contains_key(&digests[i]))
            .collect();
        for batch in missing.chunks(EMBED_BATCH) {
            let inputs: Vec<String> = batch.iter().map(|&i| chunks[i].text.clone()).collect();
            let got = provider
                .embed(EmbedRequest {
                    model: self.model.clone(),
                    inputs,
                    dimensions: None,
                    input_label: chunks[batch[0]].label.clone(),
                })
                .await?;
            let fresh: Vec<(String, Vec<f32>)> = batch
                .iter()
                .zip(got.vectors)
                .map(|(&i, v)| (digests[i].clone(), v))
                .collect();
            self.store
                .cache_embeddings(&self.cache_key, &fresh)
                .await
                .map_err(store_err)?;
            cached.extend(fresh);
        }
        let rows: Vec<NewChunkRow> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| NewChunkRow {
                ordinal: i as i64,
                text: c.text.clone(),
                label: c.label.banner(),
                vector: cached.get(&digests[i]).cloned().unwrap_or_default(),
            })
            .collect();
        let now = scif_time::now_rfc3339_secs();
        // Storing and indexing under the index map's lock, so a concurrent first load sees
        // either none or all of this document.
        let indexes = self.knowledge.indexes.lock().await;
        let Some(ids) = self
            .store
            .replace_chunks(doc, &rows, &now)
            .await
            .map_err(store_err)?
        else {
            return Ok(()); // a newer version of the document replaced this one
        };
        if let Some(ix) = indexes.get(&doc.kb_id) {
            let attrs: Arc<Attrs> = Arc::new(serde_json::from_str(&doc.attrs).unwrap_or_default());
            let mut ix = write(ix);
            ix.remove_document(&doc.ds_id, &doc.doc_id);
            for (id, r) in ids.into_iter().zip(rows) {
                ix.insert(NewChunk {
                    id,
                    data_source: doc.ds_id.clone(),
                    document: doc.doc_id.clone(),
                    text: r.text,
                    label: r.label,
                    doc_label: doc.label.clone(),
                    attrs: attrs.clone(),
                    vector: r.vector,
                });
            }
        }
        Ok(())
    }
}

/// A document as the caller may see it: `None` (answered like a missing one) when the caller
/// may not read its label.
fn visible(svc: &Service, caller: &Caller, d: DocumentRow) -> Option<DocumentRow> {
    svc.access
        .may_receive(caller, &stored_label(&d.label))
        .then_some(d)
}

/// The documents of a data source the caller may read.
pub async fn documents(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    ds_id: &str,
) -> Result<Vec<DocumentRow>, Error> {
    data_source(svc, caller, slot, Action::Retrieve, kb_id, ds_id).await?;
    Ok(svc
        .store
        .documents(kb_id, ds_id)
        .await
        .map_err(store_err)?
        .into_iter()
        .filter_map(|d| visible(svc, caller, d))
        .collect())
}

/// Named documents: each one the caller may read, or `None` (missing and hidden alike).
pub async fn get_documents(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    ds_id: &str,
    ids: &[String],
) -> Result<Vec<(String, Option<DocumentRow>)>, Error> {
    data_source(svc, caller, slot, Action::Retrieve, kb_id, ds_id).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let d = svc
            .store
            .document(kb_id, ds_id, id)
            .await
            .map_err(store_err)?
            .and_then(|d| visible(svc, caller, d));
        out.push((id.clone(), d));
    }
    Ok(out)
}

/// Deletes named documents; each answer is the deleted record, or `None` when there was no
/// such document the caller may read.
pub async fn delete_documents(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    ds_id: &str,
    ids: &[String],
) -> Result<Vec<(String, Option<DocumentRow>)>, Error> {
    data_source(
        svc,
        caller,
        slot,
        Action::ManageKnowledgeBases,
        kb_id,
        ds_id,
    )
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let d = svc
            .store
            .document(kb_id, ds_id, id)
            .await
            .map_err(store_err)?
            .and_then(|d| visible(svc, caller, d));
        if let Some(d) = &d {
            let indexes = svc.knowledge.indexes.lock().await;
            svc.store
                .delete_document(kb_id, ds_id, &d.doc_id)
                .await
                .map_err(store_err)?;
            if let Some(ix) = indexes.get(kb_id) {
                write(ix).remove_document(ds_id, &d.doc_id);
            }
        }
        out.push((id.clone(), d));
    }
    Ok(out)
}

/// Starts an ingestion job. A CUSTOM data source's documents are ingested as they arrive, so
/// a job re-checks the data source: it counts its documents, re-queues any that failed or
/// never finished, and completes when they have.
pub async fn start_ingestion_job(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    ds_id: &str,
    description: Option<String>,
) -> Result<JobRow, Error> {
    data_source(
        svc,
        caller,
        slot,
        Action::ManageKnowledgeBases,
        kb_id,
        ds_id,
    )
    .await?;
    let docs = svc.store.documents(kb_id, ds_id).await.map_err(store_err)?;
    let failed = docs.iter().filter(|d| d.status == "FAILED").count();
    let indexed = docs.iter().filter(|d| d.status == "INDEXED").count();
    let now = scif_time::now_rfc3339_secs();
    let pending = docs.len() - failed - indexed;
    let row = JobRow {
        kb_id: kb_id.into(),
        ds_id: ds_id.into(),
        id: new_id(),
        description,
        status: if pending == 0 {
            "COMPLETE"
        } else {
            "IN_PROGRESS"
        }
        .into(),
        stats: json!({
            "numberOfDocumentsScanned": docs.len(),
            "numberOfNewDocumentsIndexed": indexed,
            "numberOfModifiedDocumentsIndexed": 0,
            "numberOfDocumentsDeleted": 0,
            "numberOfDocumentsFailed": failed,
            "numberOfMetadataDocumentsScanned": 0,
            "numberOfMetadataDocumentsModified": 0,
        })
        .to_string(),
        started_at: now.clone(),
        updated_at: now,
    };
    svc.store
        .upsert_ingestion_job(&row)
        .await
        .map_err(store_err)?;
    Ok(row)
}

/// The ingestion jobs of a data source, each brought up to date with its documents.
pub async fn ingestion_jobs(
    svc: &Service,
    caller: &Caller,
    slot: Option<&Slot>,
    kb_id: &str,
    ds_id: &str,
) -> Result<Vec<JobRow>, Error> {
    data_source(svc, caller, slot, Action::Retrieve, kb_id, ds_id).await?;
    let mut jobs = svc
        .store
        .ingestion_jobs(kb_id, ds_id)
        .await
        .map_err(store_err)?;
    if jobs.iter().any(|j| j.status == "IN_PROGRESS") {
        let docs = svc.store.documents(kb_id, ds_id).await.map_err(store_err)?;
        let failed = docs.iter().filter(|d| d.status == "FAILED").count();
        let indexed = docs.iter().filter(|d| d.status == "INDEXED").count();
        if failed + indexed == docs.len() {
            for j in jobs.iter_mut().filter(|j| j.status == "IN_PROGRESS") {
                j.status = "COMPLETE".into();
                j.updated_at = scif_time::now_rfc3339_secs();
                let mut stats: Value = serde_json::from_str(&j.stats).unwrap_or_else(|_| json!({}));
                stats["numberOfNewDocumentsIndexed"] = indexed.into();
                stats["numberOfDocumentsFailed"] = failed.into();
                j.stats = stats.to_string();
                svc.store.upsert_ingestion_job(j).await.map_err(store_err)?;
            }
        }
    }
    Ok(jobs)
}

// ---------------------------------------------------------------------------------------
// Retrieval

/// The index of a knowledge base, loaded from the store on first use.
async fn index(svc: &Service, kb_id: &str) -> Result<Arc<RwLock<KbIndex>>, Error> {
    let mut indexes = svc.knowledge.indexes.lock().await;
    if let Some(ix) = indexes.get(kb_id) {
        return Ok(ix.clone());
    }
    let rows = svc.store.chunks(kb_id).await.map_err(store_err)?;
    let mut ix = KbIndex::new(0);
    let mut attrs_of: HashMap<(String, String), Arc<Attrs>> = HashMap::new();
    for r in rows {
        let attrs = attrs_of
            .entry((r.ds_id.clone(), r.doc_id.clone()))
            .or_insert_with(|| Arc::new(serde_json::from_str(&r.doc_attrs).unwrap_or_default()))
            .clone();
        ix.insert(NewChunk {
            id: r.id,
            data_source: r.ds_id,
            document: r.doc_id,
            text: r.text,
            label: r.label,
            doc_label: r.doc_label,
            attrs,
            vector: r.vector,
        });
    }
    let ix = Arc::new(RwLock::new(ix));
    indexes.insert(kb_id.to_owned(), ix.clone());
    Ok(ix)
}

/// A retrieval.
pub struct RetrieveRequest {
    pub knowledge_base: String,
    pub query: String,
    pub number_of_results: usize,
    /// Results skipped (from the page token).
    pub offset: usize,
    pub mode: Mode,
    pub filter: Option<Filter>,
}

/// A passage returned.
#[derive(Debug, Clone)]
pub struct Passage {
    pub chunk: i64,
    pub text: String,
    pub label: Label,
    pub score: f32,
    /// The data source and document, when the caller may read the document's label.
    pub document: Option<(String, String)>,
    /// The document's attributes, under the same condition (else empty).
    pub attrs: Attrs,
}

pub struct Retrieved {
    pub passages: Vec<Passage>,
    /// Whether a further page exists.
    pub more: bool,
    pub withheld: usize,
}

/// A child record for a sub-invocation (the query's embedding): the request's identity,
/// none of its outcome, so that the sub-invocation's intent and completion are events of
/// their own and the request's own event stays the retrieval's.
fn child_slot(parent: Option<&Slot>) -> Option<Slot> {
    parent.map(|p| {
        let s = Slot::default();
        let parent = p.get();
        s.update(|e| {
            e.request_id = parent.request_id;
            e.source = parent.source;
            e.transport = parent.transport;
            e.principal = parent.principal;
            e.auth_method = parent.auth_method;
            e.detail.insert("part_of".into(), "retrieve".into());
        });
        s
    })
}

pub async fn retrieve(
    svc: &Service,
    call: &Call<'_>,
    req: RetrieveRequest,
) -> Result<Retrieved, Error> {
    let caller = call.caller;
    let kb = knowledge_base(
        svc,
        caller,
        call.slot,
        Action::Retrieve,
        &req.knowledge_base,
    )
    .await?;
    if req.query.trim().is_empty() {
        return Err(Error::invalid(
            "the query text must not be empty",
            Some("retrievalQuery"),
        ));
    }
    if !(1..=100).contains(&req.number_of_results) {
        return Err(Error::invalid(
            "numberOfResults must be 1 to 100",
            Some("numberOfResults"),
        ));
    }
    let window = req.offset + req.number_of_results;
    if window > MAX_WINDOW {
        return Err(Error::invalid(
            format!("a retrieval pages through at most {MAX_WINDOW} results"),
            Some("nextToken"),
        ));
    }
    let vector = if req.mode == Mode::Lexical {
        Vec::new()
    } else {
        let child = child_slot(call.slot);
        let embedded = crate::pipeline::embed(
            svc,
            Call {
                caller,
                slot: child.as_ref(),
                dialect: call.dialect,
                stream: false,
                guardrails: call.guardrails,
                declared_input_label: call.declared_input_label.clone(),
            },
            EmbedRequest {
                model: kb.embedding_model.clone(),
                inputs: vec![req.query.clone()],
                dimensions: None,
                input_label: Label::unclassified(),
            },
        )
        .await?;
        embedded
            .embeddings
            .vectors
            .into_iter()
            .next()
            .unwrap_or_default()
    };
    let ix = index(svc, &kb.id).await?;
    // The caller's readable labels, decided on this request from the principal as
    // authenticated now.
    let readable = |l: &Label| svc.access.may_receive(caller, l);
    let (passages, more, withheld) = {
        let ix = read(&ix);
        let results = ix.search(&Query {
            text: &req.query,
            vector: &vector,
            mode: req.mode,
            window: window + 1,
            filter: req.filter.as_ref(),
            readable: &readable,
        });
        let more = results.hits.len() > window;
        let passages: Vec<Passage> = results
            .hits
            .into_iter()
            .skip(req.offset)
            .take(req.number_of_results)
            .map(|h| Passage {
                chunk: h.entry.id,
                text: h.entry.text.clone(),
                label: h.label.clone(),
                score: h.score,
                document: h
                    .document_readable
                    .then(|| (h.entry.data_source.clone(), h.entry.document.clone())),
                attrs: if h.document_readable {
                    (*h.entry.attrs).clone()
                } else {
                    Attrs::new()
                },
            })
            .collect();
        (passages, more, results.withheld)
    };
    if let Some(slot) = call.slot {
        let returned: Vec<Value> = passages
            .iter()
            .map(|p| json!({"chunk": p.chunk, "label": p.label.banner()}))
            .collect();
        let label = passages
            .iter()
            .fold(Label::unclassified(), |a, p| a.join(&p.label));
        let digest = scif_knowledge::digest(req.query.as_bytes());
        slot.update(|e| {
            e.detail
                .insert("knowledge_base".into(), kb.id.clone().into());
            e.detail.insert("query_sha256".into(), digest.into());
            e.detail.insert("returned".into(), Value::from(returned));
            e.detail.insert("withheld".into(), withheld.into());
            e.detail.insert(
                "search_type".into(),
                format!("{:?}", req.mode).to_uppercase().into(),
            );
            if e.output_label.is_none() {
                e.output_label = Some(label.banner());
            }
        });
    }
    Ok(Retrieved {
        passages,
        more,
        withheld,
    })
}

// ---------------------------------------------------------------------------------------
// Retrieve and generate

/// The prompt a retrieve-and-generate uses unless the request gives one; `$search_results$`
/// and `$query$` are replaced.
pub const DEFAULT_TEMPLATE: &str = "You are a question answering assistant. Answer the user's question using only the search results below. If they do not contain the answer, say that you could not find it. Cite a result by its number in brackets, like [1].\n\nSearch results:\n$search_results$";

pub struct GenerateRequest {
    pub retrieve: RetrieveRequest,
    pub model: String,
    pub template: Option<String>,
    pub max_tokens: Option<usize>,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    pub session: Option<String>,
}

/// A span of the answer (character offsets, end exclusive) and the passages behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Citation {
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub references: Vec<usize>,
}

pub struct Generated {
    pub text: String,
    pub citations: Vec<Citation>,
    pub passages: Vec<Passage>,
    pub session: String,
    pub flow: Flow,
    pub guardrail: crate::guardrails::SharedReport,
}

/// Retrieves, then answers from the passages through the chat pipeline.
pub async fn retrieve_and_generate(
    svc: &Service,
    call: Call<'_>,
    req: GenerateRequest,
) -> Result<Generated, Error> {
    let caller = call.caller;
    let kb_id = req.retrieve.knowledge_base.clone();
    let query = req.retrieve.query.clone();
    // A session is the caller's own, on this knowledge base; any other answers like none.
    let history = match &req.session {
        None => Vec::new(),
        Some(id) => {
            let sessions = lock(&svc.knowledge.sessions);
            match sessions.get(id) {
                Some(s) if s.principal == caller.principal.id && s.knowledge_base == kb_id => {
                    s.turns.clone()
                }
                _ => {
                    return Err(Error::invalid(
                        format!("session {id:?} does not exist or has expired"),
                        Some("sessionId"),
                    ))
                }
            }
        }
    };
    let retrieved = retrieve(svc, &call, req.retrieve).await?;
    let passages = retrieved.passages;
    let results: String = passages
        .iter()
        .enumerate()
        .map(|(i, p)| format!("[{}] {}\n", i + 1, p.text))
        .collect();
    let template = req.template.as_deref().unwrap_or(DEFAULT_TEMPLATE);
    let system = template
        .replace("$search_results$", &results)
        .replace("$query$", &query);
    let mut messages = vec![ChatMessage {
        role: "system".into(),
        content: system,
        ..Default::default()
    }];
    for (q, a) in &history {
        messages.push(ChatMessage {
            role: "user".into(),
            content: q.clone(),
            ..Default::default()
        });
        messages.push(ChatMessage {
            role: "assistant".into(),
            content: a.clone(),
            ..Default::default()
        });
    }
    messages.push(ChatMessage {
        role: "user".into(),
        content: query.clone(),
        ..Default::default()
    });
    let passage_label = passages
        .iter()
        .fold(Label::unclassified(), |a, p| a.join(&p.label));
    // The passages join the input: a declared input label rises to cover them (undeclared,
    // the input is at the caller's clearance, which covers every passage returned).
    let declared = call
        .declared_input_label
        .as_ref()
        .map(|d| d.join(&passage_label));
    let chat = ChatRequest {
        model: req.model.clone(),
        messages,
        sampling: req.sampling,
        max_tokens: req.max_tokens,
        stop: req.stop,
        stream: false,
        input_label: Label::unclassified(),
        tools: Vec::new(),
        tool_choice: None,
    };
    let inv = crate::pipeline::invoke(
        svc,
        Call {
            caller,
            slot: call.slot,
            dialect: call.dialect,
            stream: false,
            guardrails: call.guardrails,
            declared_input_label: declared,
        },
        chat,
    )
    .await?;
    let flow = inv.flow.clone();
    let guardrail = inv.guardrail.clone();
    let answer = crate::answer::collect(inv.events).await?;
    let text = answer.text.trim().to_owned();
    let citations = cite(&text, &passages);
    let session = req
        .session
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    {
        let mut sessions = lock(&svc.knowledge.sessions);
        if sessions.len() >= MAX_SESSIONS && !sessions.contains_key(&session) {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        let s = sessions.entry(session.clone()).or_insert_with(|| Session {
            principal: caller.principal.id.clone(),
            knowledge_base: kb_id,
            turns: Vec::new(),
            used: Instant::now(),
        });
        s.turns.push((query, text.clone()));
        if s.turns.len() > MAX_TURNS {
            s.turns.remove(0);
        }
        s.used = Instant::now();
    }
    Ok(Generated {
        text,
        citations,
        passages,
        session,
        flow,
        guardrail,
    })
}

/// Which passages support which sentences of the answer: the passages a sentence cites by
/// number (`[2]`), else those sharing enough of its terms. When no sentence can be tied to a
/// passage, one citation covers the whole answer with every passage the model was given
/// (it was generated from them).
pub fn cite(answer: &str, passages: &[Passage]) -> Vec<Citation> {
    if answer.is_empty() || passages.is_empty() {
        return Vec::new();
    }
    let analyzer = scif_knowledge::lexical::Analyzer::default();
    let passage_terms: Vec<HashSet<String>> = passages
        .iter()
        .map(|p| analyzer.terms(&p.text).into_iter().collect())
        .collect();
    let mut out = Vec::new();
    for (start, end) in sentences(answer) {
        let sentence: String = answer.chars().skip(start).take(end - start).collect();
        let mut refs: Vec<usize> = (1..=passages.len())
            .filter(|n| sentence.contains(&format!("[{n}]")))
            .map(|n| n - 1)
            .collect();
        if refs.is_empty() {
            let terms: HashSet<String> = analyzer.terms(&sentence).into_iter().collect();
            let need = 2.max(terms.len() * 3 / 10);
            let mut scored: Vec<(usize, usize)> = passage_terms
                .iter()
                .enumerate()
                .map(|(i, pt)| (i, terms.intersection(pt).count()))
                .filter(|&(_, n)| n >= need)
                .collect();
            scored.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            refs = scored.into_iter().take(3).map(|(i, _)| i).collect();
        }
        if !refs.is_empty() {
            out.push(Citation {
                start,
                end,
                text: sentence,
                references: refs,
            });
        }
    }
    if out.is_empty() {
        out.push(Citation {
            start: 0,
            end: answer.chars().count(),
            text: answer.to_owned(),
            references: (0..passages.len()).collect(),
        });
    }
    out
}

/// Sentence spans of `text` in characters (end exclusive), trailing spaces excluded.
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let boundary = c == '\n'
            || (matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace()));
        if boundary || i + 1 == chars.len() {
            let end = i + 1;
            let (mut s, mut e) = (start, end);
            while s < e && chars[s].is_whitespace() {
                s += 1;
            }
            while e > s && chars[e - 1].is_whitespace() {
                e -= 1;
            }
            if e > s {
                out.push((s, e));
            }
            start = end;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(text: &str) -> Passage {
        Passage {
            chunk: 1,
            text: text.into(),
            label: Label::unclassified(),
            score: 1.0,
            document: None,
            attrs: Attrs::new(),
        }
    }

    #[test]
    fn citations_follow_numbers_then_terms() {
        let ps = [
            passage("The depot stores diesel fuel for the northern brigade."),
            passage("Cafeteria hours are seven to nine."),
        ];
        let c = cite("The depot stores diesel fuel. Meals are served [2].", &ps);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].start, c[0].end), (0, 29));
        assert_eq!(c[0].references, vec![0]);
        assert_eq!(c[1].references, vec![1]);
        let none = cite("I could not find it.", &ps);
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].references, vec![0, 1]);
    }

    #[test]
    fn ids_have_bedrocks_shape() {
        let id = new_id();
        assert_eq!(id.len(), 10);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    }
}
