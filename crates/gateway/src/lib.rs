//! Remote model backends: models served by OpenAI-compatible upstreams (vLLM, TGI, llama.cpp
//! server, Ollama), behind the same [`Provider`] trait as the embedded engine.
//!
//! A remote model has one or more deployments, grouped in fallback tiers. For each request the
//! [`Gateway`]:
//!
//! 1. keeps only deployments accredited for the input's label (information never flows down,
//!    not even to a fallback), healthy by the last active check, and with a closed (or
//!    half-open, for one trial) circuit;
//! 2. picks one in the lowest tier by weighted power of two choices on requests in flight;
//! 3. on a failure that is safe to retry (connect error, 429, 502, 503, all before any token
//!    reached the caller) backs off with full jitter and tries another deployment of the tier,
//!    up to `gateway.max_retries` retries per tier, then falls back to the next tier;
//! 4. streams the upstream's answer back as [`ChatEvent`]s; a backend that fails mid-stream
//!    ends the caller's stream with an error event, never a silent truncation.
//!
//! Deployments and their settings are replaced whole by [`Gateway::reload`]; a deployment whose
//! settings did not change keeps its connections, counters and circuit.

mod deployment;
mod upstream;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use scif_config::{Config, DeploymentConfig, GatewayConfig};
use scif_labels::Label;
use scif_provider::{
    ChatEvent, ChatRequest, FinishReason, ModelInfo, ModelLoad, Provider, ProviderError, Started,
};
use tokio::sync::watch;
use tokio::time::Instant;

pub use deployment::{CircuitState, DeploymentStatus};
use deployment::{Deployment, InFlight};
use upstream::{SseReader, StreamFault};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Invalid(String),
}

/// A remote model as configured.
pub struct RemoteModel {
    pub info: ModelInfo,
    pub label: Label,
    pub handling: Vec<String>,
    /// Deployments by tier, lowest first.
    tiers: Vec<Vec<Arc<Deployment>>>,
}

struct Table {
    models: BTreeMap<String, RemoteModel>,
    settings: GatewayConfig,
}

/// Every remote model and its deployments.
pub struct Gateway {
    table: RwLock<Arc<Table>>,
    cancel: watch::Sender<bool>,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReloadSummary {
    pub models: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Reads a deployment's upstream credential from the file or environment variable it names.
fn read_secret(d: &DeploymentConfig) -> Result<Option<String>, GatewayError> {
    if let Some(path) = &d.api_key_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            GatewayError::Invalid(format!(
                "deployment {}: cannot read api_key_file {path}: {e}",
                d.name
            ))
        })?;
        return Ok(Some(text.trim().to_owned()));
    }
    if let Some(var) = &d.api_key_env {
        let value = std::env::var(var).map_err(|_| {
            GatewayError::Invalid(format!(
                "deployment {}: environment variable {var} is not set",
                d.name
            ))
        })?;
        return Ok(Some(value.trim().to_owned()));
    }
    Ok(None)
}

impl Gateway {
    /// Builds the remote models of a validated configuration.
    pub fn new(cfg: &Config) -> Result<Gateway, GatewayError> {
        let table = build(cfg, None)?;
        let (cancel, _) = watch::channel(false);
        Ok(Gateway {
            table: RwLock::new(Arc::new(table)),
            cancel,
        })
    }

    fn snapshot(&self) -> Arc<Table> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the remote models and deployments with those of `cfg` (already validated). On
    /// error nothing changes.
    pub fn reload(&self, cfg: &Config) -> Result<ReloadSummary, GatewayError> {
        let old = self.snapshot();
        let new = build(cfg, Some(&old))?;
        let mut summary = ReloadSummary {
            models: new.models.keys().cloned().collect(),
            ..Default::default()
        };
        let old_deps: BTreeMap<&str, &Arc<Deployment>> = deployments_of(&old)
            .map(|d| (d.cfg.name.as_str(), d))
            .collect();
        let new_deps: BTreeMap<&str, &Arc<Deployment>> = deployments_of(&new)
            .map(|d| (d.cfg.name.as_str(), d))
            .collect();
        for (name, d) in &new_deps {
            match old_deps.get(name) {
                None => summary.added.push((*name).to_owned()),
                Some(o) if Arc::ptr_eq(o, d) => summary.unchanged.push((*name).to_owned()),
                Some(_) => summary.changed.push((*name).to_owned()),
            }
        }
        summary.removed = old_deps
            .keys()
            .filter(|n| !new_deps.contains_key(*n))
            .map(|n| (*n).to_owned())
            .collect();
        let mut slot = match self.table.write() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(new);
        Ok(summary)
    }

    /// Each remote model's name, label and handling caveats.
    pub fn model_labels(&self) -> Vec<(String, Label, Vec<String>)> {
        self.snapshot()
            .models
            .values()
            .map(|m| (m.info.id.clone(), m.label.clone(), m.handling.clone()))
            .collect()
    }

    pub fn deployments(&self) -> Vec<DeploymentStatus> {
        deployments_of(&self.snapshot())
            .map(|d| d.status())
            .collect()
    }

    /// One round of active health checks, all deployments at once.
    pub async fn check_health(&self) {
        let table = self.snapshot();
        let checks = deployments_of(&table).map(|d| {
            let d = d.clone();
            async move {
                let timeout = Duration::from_millis(d.cfg.connect_timeout_ms.max(1000) * 2);
                let mut req = d.client.get(&d.health_url).timeout(timeout);
                if let Some(auth) = &d.auth {
                    req = req.header(http::header::AUTHORIZATION, auth.clone());
                }
                let ok = matches!(req.send().await, Ok(r) if r.status().is_success());
                let was = d.healthy.swap(ok, Ordering::AcqRel);
                if was != ok {
                    if ok {
                        tracing::info!(deployment = %d.cfg.name, "deployment healthy again");
                    } else {
                        tracing::warn!(deployment = %d.cfg.name, "deployment failed its health check");
                    }
                }
            }
        });
        futures::future::join_all(checks).await;
    }

    /// Runs health checks every `gateway.health_check_secs` (read each round, so a reload can
    /// change it) until the gateway is dropped.
    pub fn spawn_health_checks(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let secs = match weak.upgrade() {
                    Some(g) => g.snapshot().settings.health_check_secs,
                    None => return,
                };
                if secs == 0 {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
                tokio::time::sleep(Duration::from_secs(secs)).await;
                match weak.upgrade() {
                    Some(g) => g.check_health().await,
                    None => return,
                }
            }
        })
    }
}

fn deployments_of(t: &Table) -> impl Iterator<Item = &Arc<Deployment>> {
    t.models.values().flat_map(|m| m.tiers.iter().flatten())
}

fn build(cfg: &Config, previous: Option<&Table>) -> Result<Table, GatewayError> {
    let reuse: BTreeMap<&str, &Arc<Deployment>> = previous
        .map(|t| {
            deployments_of(t)
                .filter(|_| t.settings == cfg.gateway)
                .map(|d| (d.cfg.name.as_str(), d))
                .collect()
        })
        .unwrap_or_default();
    let mut models = BTreeMap::new();
    for m in &cfg.remote_models {
        let label = Label::parse_banner(&m.label)
            .map_err(|e| GatewayError::Invalid(format!("remote model {}: label: {e}", m.name)))?;
        let mut by_tier: BTreeMap<u32, Vec<Arc<Deployment>>> = BTreeMap::new();
        for d in cfg.deployments.iter().filter(|d| d.model == m.name) {
            // Unchanged settings keep the deployment's connections, counters and circuit; a
            // changed credential file counts as a change.
            let auth = secret_header(d)?;
            let dep = match reuse.get(d.name.as_str()) {
                Some(old) if old.cfg == *d && old.auth == auth => (*old).clone(),
                _ => Arc::new(Deployment::new(d, &cfg.gateway, auth)?),
            };
            by_tier.entry(d.tier).or_default().push(dep);
        }
        let info = ModelInfo {
            id: m.name.clone(),
            created: 0,
            owned_by: "scif-gateway".into(),
            context_length: m.context_length as usize,
            architecture: "remote".into(),
            quantization: String::new(),
            parameter_count: 0,
            sha256: String::new(),
            license: None,
            label: label.banner(),
        };
        models.insert(
            m.name.clone(),
            RemoteModel {
                info,
                label,
                handling: m.handling.clone(),
                tiers: by_tier.into_values().collect(),
            },
        );
    }
    Ok(Table {
        models,
        settings: cfg.gateway.clone(),
    })
}

/// The `Authorization` value for a deployment's credential; a credential that cannot be a
/// header value is refused (never silently sent without one).
fn secret_header(d: &DeploymentConfig) -> Result<Option<http::HeaderValue>, GatewayError> {
    let Some(token) = read_secret(d)? else {
        return Ok(None);
    };
    let mut v = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        GatewayError::Invalid(format!(
            "deployment {}: the API key is not a valid header value",
            d.name
        ))
    })?;
    v.set_sensitive(true);
    Ok(Some(v))
}

/// Why one attempt failed.
enum Failure {
    /// Safe to try again elsewhere.
    Retryable {
        detail: String,
        retry_after: Option<u64>,
    },
    /// Final: the caller gets this.
    Fatal(ProviderError),
}

#[async_trait]
impl Provider for Gateway {
    fn kind(&self) -> &'static str {
        "openai-upstream"
    }

    fn models(&self) -> Vec<ModelInfo> {
        self.snapshot()
            .models
            .values()
            .map(|m| m.info.clone())
            .collect()
    }

    fn serves(&self, model: &str) -> bool {
        self.snapshot().models.contains_key(model)
    }

    fn accepts(&self, model: &str, input: &Label) -> bool {
        self.snapshot().models.get(model).is_some_and(|m| {
            m.tiers
                .iter()
                .flatten()
                .any(|d| d.accreditation.dominates(input))
        })
    }

    fn load(&self, model: &str) -> ModelLoad {
        let active = self.snapshot().models.get(model).map_or(0, |m| {
            m.tiers
                .iter()
                .flatten()
                .map(|d| d.outstanding.load(Ordering::Relaxed) as usize)
                .sum()
        });
        ModelLoad {
            active,
            ..ModelLoad::default()
        }
    }

    async fn chat(&self, req: ChatRequest) -> Result<Started, ProviderError> {
        let table = self.snapshot();
        let Some(model) = table.models.get(&req.model) else {
            return Err(ProviderError::ModelNotFound(req.model.clone()));
        };
        let accredited: Vec<&Arc<Deployment>> = model
            .tiers
            .iter()
            .flatten()
            .filter(|d| d.accreditation.dominates(&req.input_label))
            .collect();
        if accredited.is_empty() {
            return Err(ProviderError::NotAccredited(
                "No backend of this model is accredited for the input's label.".into(),
            ));
        }
        let mut last: Option<(String, Option<u64>)> = None;
        let mut retries = 0u32;
        for tier in &model.tiers {
            let mut tried: Vec<&Arc<Deployment>> = Vec::new();
            for attempt in 0..=table.settings.max_retries {
                let eligible: Vec<&Arc<Deployment>> = tier
                    .iter()
                    .filter(|d| d.eligible(&req.input_label))
                    .collect();
                if eligible.is_empty() {
                    break;
                }
                // Another deployment of the tier when there is one; the same one again when
                // it is the only one left.
                let fresh: Vec<&Arc<Deployment>> = eligible
                    .iter()
                    .copied()
                    .filter(|d| !tried.iter().any(|t| Arc::ptr_eq(t, d)))
                    .collect();
                let pool = if fresh.is_empty() { &eligible } else { &fresh };
                let Some(dep) = deployment::pick(pool) else {
                    break;
                };
                if !dep.breaker.acquire() {
                    continue;
                }
                if attempt > 0 || retries > 0 {
                    tokio::time::sleep(upstream::backoff(
                        table.settings.retry_backoff_ms,
                        retries.max(1),
                    ))
                    .await;
                }
                tried.push(dep);
                match self.attempt(dep, &req).await {
                    Ok(started) => return Ok(started),
                    Err(Failure::Fatal(e)) => return Err(e),
                    Err(Failure::Retryable {
                        detail,
                        retry_after,
                    }) => {
                        tracing::warn!(deployment = %dep.cfg.name, model = %req.model, error = %detail, "deployment failed; trying another");
                        last = Some((detail, retry_after));
                        retries += 1;
                    }
                }
            }
        }
        match last {
            Some((_, Some(secs))) => Err(ProviderError::Overloaded {
                retry_after_secs: secs,
            }),
            Some(_) => Err(ProviderError::Unavailable(
                "Every backend of this model failed; try again later.".into(),
            )),
            None => Err(ProviderError::Unavailable(
                "No backend of this model is available now (failing health checks or circuit open); try again later.".into(),
            )),
        }
    }

    fn cancel_all(&self) {
        self.cancel.send_replace(true);
    }
}

impl Gateway {
    /// One request to one deployment, up to its first token (or whole answer).
    async fn attempt(&self, dep: &Arc<Deployment>, req: &ChatRequest) -> Result<Started, Failure> {
        let started = Instant::now();
        let first_token_deadline = started + Duration::from_millis(dep.cfg.first_token_timeout_ms);
        let request_deadline = started + Duration::from_millis(dep.cfg.request_timeout_ms);
        let mut in_flight = InFlight::new(dep.clone());
        let mut fail = |retryable: bool, detail: String, retry_after: Option<u64>| {
            in_flight.failure();
            if retryable {
                Failure::Retryable {
                    detail,
                    retry_after,
                }
            } else {
                tracing::error!(deployment = %dep.cfg.name, error = %detail, "deployment failed");
                Failure::Fatal(ProviderError::Unavailable(
                    "The model's backend failed; the error is in the server log.".into(),
                ))
            }
        };
        let body = match serde_json::to_vec(&upstream::body(req, &dep.upstream_model)) {
            Ok(b) => b,
            Err(e) => return Err(Failure::Fatal(ProviderError::Internal(e.to_string()))),
        };
        let mut builder = dep
            .client
            .post(dep.chat_url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(auth) = &dep.auth {
            builder = builder.header(http::header::AUTHORIZATION, auth.clone());
        }
        let sent = tokio::time::timeout_at(first_token_deadline, builder.send()).await;
        let resp = match sent {
            Err(_) => {
                return Err(fail(
                    false,
                    "no answer before the first-token timeout".into(),
                    None,
                ))
            }
            Ok(Err(e)) if e.is_connect() => {
                return Err(fail(true, format!("cannot connect: {e}"), None))
            }
            Ok(Err(e)) => return Err(fail(false, format!("request failed: {e}"), None)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        if status != 200 {
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let bytes = tokio::time::timeout_at(first_token_deadline, resp.bytes())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let message = upstream::error_message(&bytes);
            return Err(match status {
                429 => fail(true, "429".to_owned(), Some(retry_after.unwrap_or(1))),
                // Upstream error bodies are not logged: some servers echo the request (and so
                // the prompt) in them. The caller sees a 400's message; it is their own input.
                502 | 503 => fail(true, format!("status {status}"), None),
                400 | 413 | 422 => {
                    // The backend is fine; the request is not.
                    in_flight.success();
                    Failure::Fatal(ProviderError::InvalidRequest(format!(
                        "The model's backend refused the request: {message}"
                    )))
                }
                _ => fail(false, format!("status {status}"), None),
            });
        }
        if !req.stream {
            let bytes = match tokio::time::timeout_at(first_token_deadline, resp.bytes()).await {
                Err(_) => {
                    return Err(fail(
                        false,
                        "no answer before the first-token timeout".into(),
                        None,
                    ))
                }
                Ok(Err(e)) => return Err(fail(false, format!("reading the answer: {e}"), None)),
                Ok(Ok(b)) => b,
            };
            let events = match upstream::whole(&bytes, req) {
                Ok(ev) => ev,
                Err(e) => return Err(fail(false, e, None)),
            };
            in_flight.success();
            dep.observe_latency(started.elapsed());
            drop(in_flight);
            return Ok(Started {
                events: Box::pin(futures::stream::iter(events)),
                served_by: dep.cfg.name.clone(),
            });
        }
        // Streamed: wait for the first event, so that a backend failing before any token is
        // still retried elsewhere.
        let mut reader = SseReader::new(Box::pin(resp.bytes_stream()), req);
        let first = reader.next(first_token_deadline).await;
        let first = match first {
            Some(Ok(ev)) => ev,
            Some(Err(StreamFault::TimedOut)) => {
                return Err(fail(
                    false,
                    "no token before the first-token timeout".into(),
                    None,
                ))
            }
            Some(Err(StreamFault::Broken(e))) => {
                return Err(fail(
                    true,
                    format!("stream broke before any token: {e}"),
                    None,
                ))
            }
            Some(Err(StreamFault::Upstream(_))) => {
                return Err(fail(false, "an error event in the stream".into(), None))
            }
            None => return Err(fail(true, "empty stream".into(), None)),
        };
        // The breaker hears about this request when the stream ends: a backend that dies
        // mid-stream counts as failing.
        dep.observe_latency(started.elapsed());
        if matches!(first, ChatEvent::Done { .. }) {
            in_flight.success();
        }
        let state = StreamState {
            reader,
            first: Some(first),
            deadline: request_deadline,
            cancel: self.cancel.subscribe(),
            in_flight,
            ended: false,
        };
        let events = futures::stream::unfold(state, |mut s| async move {
            if s.ended {
                return None;
            }
            if let Some(ev) = s.first.take() {
                s.ended = matches!(ev, ChatEvent::Done { .. });
                return Some((ev, s));
            }
            if *s.cancel.borrow() {
                s.ended = true;
                return Some((cancelled(), s));
            }
            let next = tokio::select! {
                ev = s.reader.next(s.deadline) => ev,
                _ = s.cancel.changed() => {
                    s.ended = true;
                    return Some((cancelled(), s));
                }
            };
            let ev = match next {
                None => return None,
                Some(Ok(ev)) => ev,
                Some(Err(fault)) => {
                    s.in_flight.failure();
                    s.ended = true;
                    let what = match fault {
                        StreamFault::TimedOut => "the request timeout passed".to_owned(),
                        StreamFault::Broken(e) => e,
                        StreamFault::Upstream(_) => "an error event in the stream".to_owned(),
                    };
                    ChatEvent::Error(format!(
                        "deployment {} failed mid-stream: {what}",
                        s.in_flight.dep.cfg.name
                    ))
                }
            };
            if matches!(ev, ChatEvent::Done { .. }) {
                s.in_flight.success();
                s.ended = true;
            }
            Some((ev, s))
        });
        Ok(Started {
            events: Box::pin(events),
            served_by: dep.cfg.name.clone(),
        })
    }
}

fn cancelled() -> ChatEvent {
    ChatEvent::Done {
        finish_reason: FinishReason::Cancelled,
        usage: Default::default(),
    }
}

struct StreamState {
    reader: SseReader,
    first: Option<ChatEvent>,
    deadline: Instant,
    cancel: watch::Receiver<bool>,
    in_flight: InFlight,
    ended: bool,
}
