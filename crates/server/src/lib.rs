//! scif's HTTP server: the only crate that knows HTTP. It speaks the OpenAI and Bedrock
//! dialects and the admin API, exposes health and metrics, and routes each request to the
//! provider serving its model.
//!
//! The request path is the layer chain in [`router`]; read it first.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod bedrock;
pub mod error;
pub mod guard;
pub mod guardrail_admin;
pub mod guardrails;
pub mod health;
pub mod invoke;
pub mod metering;
pub mod metrics;
pub mod openai;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use scif_access::Access;
use scif_authz::Handling;
use scif_config::Config;
use scif_labels::Label;
use scif_provider::{ModelInfo, ModelLoad, Provider};
use scif_store::Store;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use error::ApiError;

/// Which provider serves which model. Static providers (the embedded engine) serve a fixed
/// set; dynamic ones (remote deployments) are asked, since a reload changes what they serve.
/// A static provider wins a name both claim (configuration refuses that case anyway).
#[derive(Default)]
pub struct Providers {
    by_model: BTreeMap<String, Arc<dyn Provider>>,
    all: Vec<Arc<dyn Provider>>,
    dynamic: Vec<Arc<dyn Provider>>,
}

impl Providers {
    pub fn add(&mut self, p: Arc<dyn Provider>) {
        for m in p.models() {
            self.by_model.insert(m.id, p.clone());
        }
        self.all.push(p);
    }

    pub fn add_dynamic(&mut self, p: Arc<dyn Provider>) {
        self.dynamic.push(p);
    }

    pub fn for_model(&self, model: &str) -> Option<Arc<dyn Provider>> {
        if let Some(p) = self.by_model.get(model) {
            return Some(p.clone());
        }
        self.dynamic.iter().find(|p| p.serves(model)).cloned()
    }

    /// Whether a static provider (the embedded engine) serves `model`.
    pub fn is_static(&self, model: &str) -> bool {
        self.by_model.contains_key(model)
    }

    pub fn models(&self) -> Vec<ModelInfo> {
        let remote = self
            .dynamic
            .iter()
            .flat_map(|p| p.models())
            .filter(|m| !self.by_model.contains_key(&m.id));
        let mut v: Vec<ModelInfo> = self
            .all
            .iter()
            .flat_map(|p| p.models())
            .chain(remote)
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn loads(&self) -> Vec<(String, ModelLoad)> {
        let mut v: Vec<(String, ModelLoad)> = self
            .by_model
            .iter()
            .map(|(m, p)| (m.clone(), p.load(m)))
            .collect();
        for p in &self.dynamic {
            for m in p.models() {
                if !self.by_model.contains_key(&m.id) {
                    let load = p.load(&m.id);
                    v.push((m.id, load));
                }
            }
        }
        v
    }

    pub fn cancel_all(&self) {
        for p in self.all.iter().chain(self.dynamic.iter()) {
            p.cancel_all();
        }
    }
}

/// Everything the handlers share, behind one `Arc`: each layer and handler gets a clone per
/// request, which is one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<State>);

impl std::ops::Deref for AppState {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

impl From<State> for AppState {
    fn from(s: State) -> Self {
        AppState(Arc::new(s))
    }
}

/// The shared state, built with [`State::new`] and completed before it becomes an [`AppState`].
pub struct State {
    pub config: Arc<Config>,
    pub providers: Arc<Providers>,
    pub store: Store,
    pub access: Arc<Access>,
    /// Each served model's label, as the registry holds it (kept current by
    /// [`State::refresh_model_labels`] and the admin API).
    pub model_labels: Arc<RwLock<BTreeMap<String, Label>>>,
    /// Each served model's handling caveats (ITAR, PHI), from the registry.
    pub model_handling: Arc<RwLock<BTreeMap<String, BTreeSet<Handling>>>>,
    pub metrics: metrics::Metrics,
    pub shutting_down: Arc<AtomicBool>,
    /// The audit trail; `None` only in tests of the server alone.
    pub auditor: Option<audit::Auditor>,
    /// Rate, concurrency and budget limits (empty: none configured).
    pub limits: Arc<scif_limits::Limiter>,
    /// Usage records; `None` only in tests of the server alone.
    pub meter: Option<metering::Meter>,
    /// Remote deployments, when any are configured.
    pub gateway: Option<Arc<scif_gateway::Gateway>>,
    /// Re-reads the configuration for a reload (SIGHUP, `POST /admin/v1/config/reload`);
    /// `None`: reload is not available.
    pub reload_source: Option<ReloadSource>,
    /// Guardrail versions, attachments and merged policies.
    pub guardrails: Arc<guardrails::Guardrails>,
}

/// Produces the configuration a reload applies.
pub type ReloadSource = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// What a reload did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    pub deployments: scif_gateway::ReloadSummary,
    pub limits: usize,
    /// Sections that changed but only take effect at the next start.
    pub needs_restart: Vec<String>,
}

impl State {
    pub fn new(
        config: Config,
        providers: Providers,
        store: Store,
        access: Arc<Access>,
    ) -> Result<Self, prometheus::Error> {
        // Until the registry says otherwise, a model's label is what its provider reported;
        // one that does not parse is taken as the highest label there is (fail closed).
        let labels = providers
            .models()
            .into_iter()
            .map(|m| {
                let label = Label::parse_banner(&m.label).unwrap_or_else(|_| top_label());
                (m.id, label)
            })
            .collect();
        Ok(Self {
            config: Arc::new(config),
            providers: Arc::new(providers),
            store: store.clone(),
            access,
            model_labels: Arc::new(RwLock::new(labels)),
            model_handling: Arc::new(RwLock::new(BTreeMap::new())),
            metrics: metrics::Metrics::new()?,
            shutting_down: Arc::new(AtomicBool::new(false)),
            auditor: None,
            limits: Arc::new(scif_limits::Limiter::new(&[])),
            meter: None,
            gateway: None,
            reload_source: None,
            guardrails: Arc::new(guardrails::Guardrails::new(store.clone())),
        })
    }

    /// Puts the remote models' labels and handling caveats in place, and forgets remote models
    /// no longer served (after start and after each reload).
    pub fn sync_remote_models(&self) {
        let Some(gateway) = &self.gateway else {
            return;
        };
        let remote = gateway.model_labels();
        let mut labels = match self.model_labels.write() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut handling = match self.model_handling.write() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        labels.retain(|name, _| {
            self.providers.is_static(name) || remote.iter().any(|(n, _, _)| n == name)
        });
        handling.retain(|name, _| {
            self.providers.is_static(name) || remote.iter().any(|(n, _, _)| n == name)
        });
        for (name, label, caveats) in remote {
            if self.providers.is_static(&name) {
                continue;
            }
            handling.insert(name.clone(), scif_access::admin::handling_of(&caveats));
            labels.insert(name, label);
        }
    }

    /// Applies the deployments and limits of a freshly read configuration. Nothing changes
    /// unless all of it is valid; the old set keeps serving otherwise.
    pub fn reload(&self) -> Result<ReloadReport, String> {
        let source = self.reload_source.as_ref().ok_or_else(|| {
            "this server was started without a reloadable configuration".to_owned()
        })?;
        // The source loads through `Config::load`, which validates the whole file.
        let new = source()?;
        for m in &new.remote_models {
            if self.providers.is_static(&m.name) {
                return Err(format!(
                    "remote_models: {:?} is already served by the embedded engine",
                    m.name
                ));
            }
        }
        let deployments =
            match &self.gateway {
                Some(g) => g.reload(&new).map_err(|e| e.to_string())?,
                None if new.deployments.is_empty() => scif_gateway::ReloadSummary::default(),
                None => return Err(
                    "deployments were added to a server started without any; restart to serve them"
                        .into(),
                ),
            };
        self.limits.replace(&new.limits);
        self.sync_remote_models();
        let mut needs_restart = Vec::new();
        let old = &*self.config;
        for (name, changed) in [
            ("server", old.server != new.server),
            ("storage", old.storage != new.storage),
            ("engine", old.engine != new.engine),
            ("security", old.security != new.security),
            ("tls", old.tls != new.tls),
            ("oidc", old.oidc != new.oidc),
            ("audit", old.audit != new.audit),
            ("log", old.log != new.log),
        ] {
            if changed {
                needs_restart.push(name.to_owned());
            }
        }
        tracing::info!(added = ?deployments.added, removed = ?deployments.removed, changed = ?deployments.changed, limits = new.limits.len(), "configuration reloaded");
        Ok(ReloadReport {
            deployments,
            limits: new.limits.len(),
            needs_restart,
        })
    }

    /// The label of a served model; `None` when no provider serves it.
    pub fn model_label(&self, model: &str) -> Option<Label> {
        let labels = match self.model_labels.read() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        labels.get(model).cloned()
    }

    /// A served model's handling caveats.
    pub fn model_handling(&self, model: &str) -> BTreeSet<Handling> {
        let handling = match self.model_handling.read() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        handling.get(model).cloned().unwrap_or_default()
    }

    pub fn set_model_label(&self, model: &str, label: Label) {
        let mut labels = match self.model_labels.write() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(slot) = labels.get_mut(model) {
            *slot = label;
        }
    }

    /// Re-reads served models' labels and handling caveats from the registry (at start, and
    /// later because the CLI may have changed one). A
    /// label that no longer parses, or that is above the system high, makes the model
    /// unreachable (the highest label) until it is fixed.
    pub async fn refresh_model_labels(&self) -> Result<(), scif_store::StoreError> {
        let system_high = self.config.system_high();
        for record in self.store.list_models().await? {
            if !self.providers.is_static(&record.name) || self.model_label(&record.name).is_none() {
                continue;
            }
            let label = match Label::parse_banner(&record.label) {
                Ok(l) if system_high.dominates(&l) => l,
                _ => top_label(),
            };
            if self.model_label(&record.name).as_ref() != Some(&label) {
                tracing::info!(model = %record.name, "model label changed in the registry");
                self.set_model_label(&record.name, label);
            }
            let handling = scif_access::admin::handling_of(&record.handling);
            let mut map = match self.model_handling.write() {
                Ok(h) => h,
                Err(poisoned) => poisoned.into_inner(),
            };
            map.insert(record.name.clone(), handling);
        }
        Ok(())
    }
}

/// A label no principal dominates in practice: TOP SECRET with every SCI system scif knows,
/// NOFORN. Used where a label cannot be read, so that nothing is released on a bad record.
fn top_label() -> Label {
    let mut l = Label::new(scif_labels::Level::TopSecret);
    for system in scif_labels::SCI_SYSTEMS {
        if let Ok(next) = l.clone().with_sci(system, &["UNREADABLE"]) {
            l = next;
        }
    }
    l.with_releasability(scif_labels::Releasability::NoForn)
}

/// The whole request path. Layers run top to bottom on the way in:
///
/// 1. request id: every request gets an `x-request-id` (a caller-sent one is replaced: ids are
///    the server's, for correlating logs and, later, audit records) and the response carries it;
/// 2. panic guard: a bug answers 500 in the OpenAI shape instead of dropping the connection;
/// 3. access log and metrics, by route template and status (never bodies); on Bedrock paths,
///    errors are translated to Bedrock's shape and `x-amzn-RequestId` added
///    ([`bedrock::errors::dialect`]);
/// 4. audit ([`audit::record`]): every request but the probes becomes one event in the
///    hash-chained trail, durable before its response leaves (503 if the trail cannot take it);
///    the layers and handlers below fill in who, what, which label and why;
/// 5. authentication ([`auth::authenticate`]): headers a client could impersonate with are
///    stripped, then every route but `/healthz` and `/readyz` needs a verified caller (401
///    otherwise, before routing, so unknown routes are not revealed either);
/// 6. body limit: larger bodies are refused with 413 before they are buffered;
/// 7. routing to the handlers, each of which authorizes its action on its resource through
///    [`scif_access::Access::authorize`] (deny by default) before doing anything, then
///    translates to the provider-neutral request and calls the provider that serves the model.
///
/// Guardrails (a later issue) slot in after authentication.
pub fn router(state: AppState) -> Router {
    let limit = state.config.server.max_body_bytes;
    let api = Router::new()
        .route("/v1/chat/completions", post(openai::chat::chat_completions))
        .route("/v1/models", get(openai::models::list))
        .route("/v1/models/{id}", get(openai::models::get))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::handler))
        .nest("/admin/v1", admin::routes())
        .merge(bedrock::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(state.clone(), auth::authenticate))
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .with_state(state);
    api.layer(
        ServiceBuilder::new()
            .layer(from_fn(strip_client_request_id))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::Internal("internal error".into()).into_response()
            }))
            .layer(from_fn(access_log))
            .layer(from_fn(bedrock::errors::dialect)),
    )
}

/// Request ids are assigned by the server, never taken from the caller.
async fn strip_client_request_id(mut req: Request, next: Next) -> Response {
    req.headers_mut().remove("x-request-id");
    next.run(req).await
}

async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|r| r.header_value().to_str().ok())
        .unwrap_or("")
        .to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    tracing::info!(request_id = %id, %method, %path, status = resp.status().as_u16(), latency_ms = start.elapsed().as_millis() as u64, "request");
    resp
}

async fn unknown_route(req: Request) -> ApiError {
    ApiError::UnknownRoute(format!("{} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} {}", req.method(), req.uri().path()))
}

/// Serve until `shutdown` resolves; then stop accepting, give in-flight requests the configured
/// grace period, and cancel whatever is still generating. With `tls`, connections are TLS
/// (and client certificates, when configured, are verified in the handshake).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<Arc<scif_tls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_secs(state.config.server.shutdown_grace_secs);
    let (began_tx, began_rx) = tokio::sync::oneshot::channel::<()>();
    let flag = state.shutting_down.clone();
    let providers = state.providers.clone();
    let app = router(state);
    let shutdown = async move {
        shutdown.await;
        flag.store(true, Ordering::SeqCst);
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: no new connections, finishing in-flight requests"
        );
        let _ = began_tx.send(());
    };
    let server: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> =
        match tls {
            Some(config) => Box::pin(scif_tls::serve_tls(listener, app, config, shutdown)),
            None => {
                // Without TCP_NODELAY a keep-alive client waits ~40 ms per small response
                // (Nagle plus delayed ACK); axum does not set it by default.
                let listener = listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                });
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                Box::pin(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                })
            }
        };
    let mut handle = tokio::spawn(server);
    tokio::select! {
        r = &mut handle => return r.map_err(std::io::Error::other)?,
        _ = began_rx => {}
    }
    match tokio::time::timeout(grace, &mut handle).await {
        Ok(r) => r.map_err(std::io::Error::other)?,
        Err(_) => {
            tracing::warn!("grace period over: cancelling in-flight generations");
            providers.cancel_all();
            match tokio::time::timeout(Duration::from_secs(5), &mut handle).await {
                Ok(r) => r.map_err(std::io::Error::other)?,
                Err(_) => {
                    handle.abort();
                    Ok(())
                }
            }
        }
    }
}
