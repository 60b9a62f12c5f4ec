//! Guardrails in the request path: which guardrail versions apply to a request (those attached
//! to its model, its principal and the principal's groups, plus those the request names), the
//! merged policy they make, and the input check and output filter every invocation passes
//! through (see `invoke.rs`). Spillage (text marked above the ceiling that applies) is checked
//! on every request, with or without guardrails.
//!
//! Versions are immutable, so a compiled guardrail and a merged policy are cached for good;
//! attachments are cached for one second (the admin API clears the cache at once, as for
//! identities), so a change made with the CLI from another process applies within a second.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use scif_guardrails::policy::{
    assessment, summary, Detection, Guardrail, GuardrailSpec, Kind, Policy, Source,
};
use scif_guardrails::stream::{Step, StreamGuard};
use scif_provider::{ChatEvent, ChatStream, FinishReason, Usage};
use scif_store::{AttachmentRow, Store};
use serde_json::{json, Value};

use crate::error::Error as ApiError;
use crate::record::Slot;

const ATTACHMENT_TTL: Duration = Duration::from_secs(1);
const MAX_CACHED_POLICIES: usize = 1024;

/// A guardrail a request names: its id and version (`None`: the latest, Bedrock's "DRAFT").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub id: String,
    pub version: Option<u32>,
}

impl Requested {
    /// `id` with a version string: a positive integer, or `DRAFT` for the latest.
    pub fn parse(id: &str, version: Option<&str>) -> Result<Requested, String> {
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return Err(format!("guardrail identifier {id:?} is not valid"));
        }
        let version = match version.map(str::trim) {
            None | Some("") | Some("DRAFT") => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    return Err(format!(
                        "guardrail version {v:?} must be a positive integer or DRAFT"
                    ))
                }
            },
        };
        Ok(Requested {
            id: id.to_owned(),
            version,
        })
    }

    /// The `x-scif-guardrail` header: `id[:version]`, comma-separated.
    pub fn parse_header(value: &str) -> Result<Vec<Requested>, String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| match item.split_once(':') {
                Some((id, v)) => Requested::parse(id, Some(v)),
                None => Requested::parse(item, None),
            })
            .collect()
    }
}

/// Merged policies by the guardrail versions they merge.
type PolicyCache = HashMap<Vec<(String, u32)>, Arc<Policy>>;

/// The request path's view of the stored guardrails.
/// A compiled guardrail version and its stored label.
type Labelled = (Arc<Guardrail>, String);

pub struct Guardrails {
    store: Store,
    /// Compiled versions, each with its label as stored (empty: the system high).
    specs: Mutex<HashMap<(String, u32), Labelled>>,
    policies: Mutex<PolicyCache>,
    attachments: Mutex<Option<(Instant, Arc<Vec<AttachmentRow>>)>>,
}

fn not_found(id: &str, version: Option<u32>) -> ApiError {
    ApiError::NotFound(match version {
        Some(v) => format!("guardrail {id:?} version {v} not found"),
        None => format!("guardrail {id:?} not found"),
    })
}

/// Whether `caller` may read a guardrail labelled `stored` (the stored text; empty is the
/// system high; an unreadable label is read by no one).
pub fn readable_by(svc: &crate::Service, caller: &scif_access::Caller, stored: &str) -> bool {
    let label = if stored.is_empty() {
        svc.access.system_high().clone()
    } else {
        match scif_labels::Label::parse_banner(stored) {
            Ok(l) => l,
            Err(_) => return false,
        }
    };
    svc.access.may_receive(caller, &label)
}

/// A mutex's guard; a poisoned lock still holds a consistent value here (every writer
/// replaces whole fields), so it is taken rather than failing the request.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Guardrails {
    pub fn new(store: Store) -> Guardrails {
        Guardrails {
            store,
            specs: Mutex::new(HashMap::new()),
            policies: Mutex::new(HashMap::new()),
            attachments: Mutex::new(None),
        }
    }

    /// Forgets cached attachments (after an admin change).
    pub fn attachments_changed(&self) {
        *lock(&self.attachments) = None;
    }

    /// One guardrail version (the latest with `None`), compiled and cached.
    pub async fn get(&self, id: &str, version: Option<u32>) -> Result<Arc<Guardrail>, ApiError> {
        Ok(self.labelled(id, version).await?.0)
    }

    /// A guardrail version a caller names, if the caller may read its label (`may_read`, over
    /// the stored label text). Unreadable and missing answer alike, so a caller cannot probe
    /// a guardrail above it, nor learn which ids exist.
    pub async fn get_for(
        &self,
        id: &str,
        version: Option<u32>,
        may_read: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Arc<Guardrail>, ApiError> {
        match self.labelled(id, version).await {
            Ok((g, label)) if may_read(&label) => Ok(g),
            Ok(_) => Err(not_found(id, version)),
            Err(e) => Err(e),
        }
    }

    async fn labelled(&self, id: &str, version: Option<u32>) -> Result<Labelled, ApiError> {
        if let Some(v) = version {
            if let Some(g) = lock(&self.specs).get(&(id.to_owned(), v)) {
                return Ok(g.clone());
            }
        }
        let row = self
            .store
            .get_guardrail(id, version)
            .await
            .map_err(|e| ApiError::Internal(format!("reading guardrails: {e}")))?
            .ok_or_else(|| not_found(id, version))?;
        if let Some(g) = lock(&self.specs).get(&(row.id.clone(), row.version)) {
            return Ok(g.clone());
        }
        // A stored spec was validated when written; one that no longer parses fails closed.
        let spec = GuardrailSpec::from_json(row.spec.as_bytes())
            .map_err(|e| ApiError::Internal(format!("stored guardrail {id:?} is unusable: {e}")))?;
        let g = Arc::new(Guardrail {
            id: row.id.clone(),
            version: row.version,
            spec,
        });
        lock(&self.specs).insert((row.id, row.version), (g.clone(), row.label.clone()));
        Ok((g, row.label))
    }

    async fn attachments(&self) -> Result<Arc<Vec<AttachmentRow>>, ApiError> {
        if let Some((at, rows)) = lock(&self.attachments).as_ref() {
            if at.elapsed() < ATTACHMENT_TTL {
                return Ok(rows.clone());
            }
        }
        let rows = Arc::new(
            self.store
                .guardrail_attachments()
                .await
                .map_err(|e| ApiError::Internal(format!("reading guardrail attachments: {e}")))?,
        );
        *lock(&self.attachments) = Some((Instant::now(), rows.clone()));
        Ok(rows)
    }

    /// The merged policy for a request: attachments to the model, the principal and its
    /// groups, then the guardrails the request names. A named guardrail that does not exist
    /// is an error (404), never skipped.
    pub async fn policy_for(
        &self,
        principal: &scif_authz::Principal,
        model: &str,
        requested: &[Requested],
        may_read: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Arc<Policy>, ApiError> {
        let mut keys: Vec<(String, u32)> = Vec::new();
        for a in self.attachments().await?.iter() {
            let applies = match a.target_kind.as_str() {
                "model" => a.target == model,
                "principal" => a.target == principal.id,
                "group" => principal.groups.contains(&a.target),
                _ => false,
            };
            if applies {
                keys.push((a.guardrail_id.clone(), a.version));
            }
        }
        for r in requested {
            let g = self.get_for(&r.id, r.version, may_read).await?;
            keys.push((g.id.clone(), g.version));
        }
        self.policy(keys).await
    }

    /// The merged policy of these guardrail versions, compiled once and cached.
    pub async fn policy(&self, mut keys: Vec<(String, u32)>) -> Result<Arc<Policy>, ApiError> {
        keys.sort();
        keys.dedup();
        if let Some(p) = lock(&self.policies).get(&keys) {
            return Ok(p.clone());
        }
        let mut guardrails = Vec::with_capacity(keys.len());
        for (id, v) in &keys {
            guardrails.push(self.get(id, Some(*v)).await?);
        }
        let refs: Vec<&Guardrail> = guardrails.iter().map(|g| g.as_ref()).collect();
        let policy = Arc::new(
            Policy::new(&refs).map_err(|e| ApiError::Internal(format!("guardrail: {e}")))?,
        );
        let mut cache = lock(&self.policies);
        if cache.len() >= MAX_CACHED_POLICIES {
            cache.clear();
        }
        cache.insert(keys, policy.clone());
        Ok(policy)
    }
}

/// What the guardrails found and did on one request, for the response's trace and the audit
/// event. Never holds matched text.
#[derive(Debug, Default)]
pub struct Report {
    pub guardrails: Vec<(String, u32)>,
    pub input: Vec<Detection>,
    pub output: Vec<Detection>,
    /// Which side was blocked, if any.
    pub blocked: Option<Source>,
}

pub type SharedReport = Arc<Mutex<Report>>;

impl Report {
    pub fn intervened(&self) -> bool {
        self.blocked.is_some()
            || self
                .input
                .iter()
                .chain(&self.output)
                .any(|d| d.action == scif_guardrails::Action::Anonymize)
    }

    /// Whether there is anything to say (a guardrail applied, or something was found).
    pub fn is_empty(&self) -> bool {
        self.guardrails.is_empty() && self.input.is_empty() && self.output.is_empty()
    }

    /// The audit event's view: guardrails, action, counts per type and action, spillage
    /// markings.
    pub fn audit(&self) -> Value {
        json!({
            "guardrails": self.guardrails.iter().map(|(id, v)| format!("{id}:{v}")).collect::<Vec<_>>(),
            "action": if self.intervened() { "GUARDRAIL_INTERVENED" } else { "NONE" },
            "blocked": self.blocked.map(|s| match s { Source::Input => "INPUT", Source::Output => "OUTPUT" }),
            "input": summary(&self.input),
            "output": summary(&self.output),
        })
    }

    /// The OpenAI response's `scif_guardrail` member.
    pub fn openai(&self) -> Value {
        json!({
            "action": if self.intervened() { "GUARDRAIL_INTERVENED" } else { "NONE" },
            "guardrails": self.guardrails.iter().map(|(id, v)| json!({"id": id, "version": v.to_string()})).collect::<Vec<_>>(),
            "input_assessment": assessment(&self.input),
            "output_assessment": assessment(&self.output),
        })
    }

    /// Bedrock's `trace.guardrail`: assessments keyed by guardrail id.
    pub fn bedrock_trace(&self) -> Value {
        let key = self
            .guardrails
            .first()
            .map_or_else(|| "scif-spillage".to_owned(), |(id, _)| id.clone());
        json!({
            "inputAssessment": {&key: assessment(&self.input)},
            "outputAssessments": {&key: [assessment(&self.output)]},
            "actionReason": if self.intervened() { "Guardrail intervened" } else { "No action" },
        })
    }
}

fn spillage_markings(detections: &[Detection]) -> Vec<String> {
    detections
        .iter()
        .filter_map(|d| match &d.kind {
            Kind::Spillage(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Logs spillage as a security event: who, where, which marking; never the text.
pub fn log_spillage(principal: &str, model: &str, source: Source, detections: &[Detection]) {
    let markings = spillage_markings(detections);
    if !markings.is_empty() {
        tracing::warn!(principal, model, side = ?source, markings = ?markings, "spillage blocked");
    }
}

/// Writes the report into the request's audit entry.
pub fn record(slot: Option<&Slot>, report: &Report) {
    if let Some(slot) = slot {
        if !report.is_empty() {
            let v = report.audit();
            slot.update(|e| {
                e.detail.insert("guardrail".into(), v);
            });
        }
    }
}

/// The events of an answer that was blocked before the model ran: the message, then the end
/// with the content-filter reason.
pub fn blocked_events(message: String) -> ChatStream {
    Box::pin(futures::stream::iter(vec![
        ChatEvent::Delta(message),
        ChatEvent::Done {
            usage: Usage::default(),
            finish_reason: FinishReason::ContentFilter,
        },
    ]))
}

type Ceiling = scif_guardrails::stream::OwnedCeiling;

enum Mode {
    /// A streamed answer: released as soon as it is settled.
    Stream(StreamGuard),
    /// A whole answer: evaluated once it is complete.
    Whole { text: String },
}

/// The output side: filters a model's events through the policy.
pub struct Filtered {
    inner: Option<ChatStream>,
    policy: Arc<Policy>,
    mode: Mode,
    pending: VecDeque<ChatEvent>,
    report: SharedReport,
    slot: Option<Slot>,
    released_any: bool,
    deltas: usize,
    /// The spillage ceiling for the answer (shared with the stream guard).
    ceiling: Ceiling,
}

impl Filtered {
    pub fn new(
        inner: ChatStream,
        policy: Arc<Policy>,
        ceiling: Ceiling,
        stream: bool,
        report: SharedReport,
        slot: Option<Slot>,
    ) -> Filtered {
        let mode = if stream {
            Mode::Stream(StreamGuard::new(policy.clone(), Some(ceiling.clone())))
        } else {
            Mode::Whole {
                text: String::new(),
            }
        };
        Filtered {
            inner: Some(inner),
            policy,
            mode,
            pending: VecDeque::new(),
            report,
            slot,
            released_any: false,
            deltas: 0,
            ceiling,
        }
    }

    fn release(&mut self, text: String) {
        if !text.is_empty() {
            self.released_any = true;
            self.pending.push_back(ChatEvent::Delta(text));
        }
    }

    fn block(&mut self, message: String, detections: Vec<Detection>, usage: Usage) {
        let message = if self.released_any {
            format!("\n\n{message}")
        } else {
            message
        };
        self.pending.push_back(ChatEvent::Delta(message));
        self.pending.push_back(ChatEvent::Done {
            usage,
            finish_reason: FinishReason::ContentFilter,
        });
        // Nothing more from the model: dropping its stream stops the generation.
        self.inner = None;
        let mut r = lock(&self.report);
        r.output.extend(detections);
        r.blocked = Some(Source::Output);
        record(self.slot.as_ref(), &r);
    }

    fn finish(&mut self, usage: Usage, finish_reason: FinishReason) {
        let mut out_detections = Vec::new();
        match &mut self.mode {
            Mode::Stream(g) => match g.finish() {
                Step::Emit(s) => {
                    out_detections.extend(g.detections().iter().cloned());
                    self.release(s);
                }
                Step::Blocked { message } => {
                    let d = g.detections().to_vec();
                    return self.block(message, d, usage);
                }
            },
            Mode::Whole { text } => {
                let o = self
                    .policy
                    .evaluate(text, Source::Output, Some(self.ceiling.as_ref()));
                if o.blocked {
                    return self.block(o.output, o.detections, usage);
                }
                out_detections = o.detections;
                let out = o.output;
                self.release(out);
            }
        }
        self.pending.push_back(ChatEvent::Done {
            usage,
            finish_reason,
        });
        let mut r = lock(&self.report);
        r.output = out_detections;
        record(self.slot.as_ref(), &r);
    }
}

impl Stream for Filtered {
    type Item = ChatEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChatEvent>> {
        let this = &mut *self;
        loop {
            if let Some(ev) = this.pending.pop_front() {
                return Poll::Ready(Some(ev));
            }
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            let ev = match inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(ev)) => ev,
                Poll::Ready(None) => {
                    this.inner = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            };
            match ev {
                ChatEvent::Delta(text) => {
                    this.deltas += 1;
                    match &mut this.mode {
                        Mode::Stream(g) => match g.push(&text) {
                            Step::Emit(s) => this.release(s),
                            Step::Blocked { message } => {
                                let d = g.detections().to_vec();
                                let usage = Usage {
                                    prompt_tokens: 0,
                                    completion_tokens: this.deltas,
                                };
                                this.block(message, d, usage);
                            }
                        },
                        Mode::Whole { text: all, .. } => all.push_str(&text),
                    }
                }
                ChatEvent::Done {
                    usage,
                    finish_reason,
                } => {
                    this.finish(usage, finish_reason);
                    this.inner = None;
                }
                ChatEvent::Error(e) => {
                    // The answer ends here: what was held back is final now, so it goes out
                    // (masked) before the error, as it would before a normal end.
                    let flushed = match &mut this.mode {
                        Mode::Stream(g) => Some((g.finish(), g.detections().to_vec())),
                        Mode::Whole { .. } => None,
                    };
                    if let Some((step, detections)) = flushed {
                        match step {
                            Step::Emit(s) => this.release(s),
                            Step::Blocked { message } => {
                                let usage = Usage {
                                    prompt_tokens: 0,
                                    completion_tokens: this.deltas,
                                };
                                this.block(message, detections, usage);
                                continue;
                            }
                        }
                        let mut r = lock(&this.report);
                        r.output = detections;
                        record(this.slot.as_ref(), &r);
                    }
                    this.pending.push_back(ChatEvent::Error(e));
                    this.inner = None;
                }
                ChatEvent::ToolCall(mut call) => {
                    // A call's arguments leave like text: the same filters, evaluated whole
                    // (a call arrives complete), on its JSON strings decoded.
                    let o = crate::inspect::evaluate_json(
                        &this.policy,
                        &call.arguments,
                        Source::Output,
                        Some(this.ceiling.as_ref()),
                    );
                    if o.blocked {
                        let usage = Usage {
                            prompt_tokens: 0,
                            completion_tokens: this.deltas,
                        };
                        let message = this.policy.block_message(Source::Output, &o.detections);
                        this.block(message, o.detections, usage);
                        continue;
                    }
                    // The call's name is text the caller receives too.
                    let n = this.policy.evaluate(
                        &call.name,
                        Source::Output,
                        Some(this.ceiling.as_ref()),
                    );
                    if n.blocked {
                        let usage = Usage {
                            prompt_tokens: 0,
                            completion_tokens: this.deltas,
                        };
                        let message = this.policy.block_message(Source::Output, &n.detections);
                        this.block(message, n.detections, usage);
                        continue;
                    }
                    lock(&this.report).output.extend(n.detections);
                    if !o.detections.is_empty() {
                        lock(&this.report).output.extend(o.detections);
                        call.arguments = o.output;
                    }
                    this.pending.push_back(ChatEvent::ToolCall(call));
                }
            }
        }
    }
}
