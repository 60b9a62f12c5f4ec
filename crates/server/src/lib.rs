//! scif's HTTP server: the only crate that knows HTTP. It speaks the OpenAI and Bedrock
//! dialects and the admin API, exposes health and metrics, and routes each request to the
//! provider serving its model.
//!
//! The request path is the layer chain in [`router`]; read it first.

pub mod admin;
pub mod anthropic;
pub mod audit;
pub mod auth;
pub mod bedrock;
pub mod error;
pub mod guard;
pub mod guardrail_admin;
pub mod health;
pub mod metrics;
pub mod openai;
pub mod routes;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use scif_access::Access;
use scif_config::Config;
use scif_store::Store;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use error::ApiError;

pub use scif_service::{guardrails, metering, Providers, Service};

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

/// The shared state: the service (everything the pipeline reads) and what only the HTTP
/// side needs. It dereferences to the [`Service`], so `state.config` or `state.access` read
/// the service's fields.
pub struct State {
    pub service: Service,
    pub shutting_down: Arc<AtomicBool>,
    /// Remote deployments, when any are configured.
    pub gateway: Option<Arc<scif_gateway::Gateway>>,
    /// Re-reads the configuration for a reload (SIGHUP, `POST /admin/v1/config/reload`);
    /// `None`: reload is not available.
    pub reload_source: Option<ReloadSource>,
    /// The audit trail's witness, when one is configured.
    pub witness: Option<Arc<scif_audit::witness::WitnessStatus>>,
    /// Connections refused below HTTP (metrics, and a periodic audit summary).
    pub below_http: Arc<scif_tls::BelowHttp>,
}

impl std::ops::Deref for State {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.service
    }
}

impl std::ops::DerefMut for State {
    fn deref_mut(&mut self) -> &mut Service {
        &mut self.service
    }
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
        Ok(Self {
            service: Service::new(config, providers, store, access)?,
            shutting_down: Arc::new(AtomicBool::new(false)),
            gateway: None,
            reload_source: None,
            witness: None,
            below_http: Arc::default(),
        })
    }

    /// Puts the remote models' labels and handling caveats in place, and forgets remote models
    /// no longer served (after start and after each reload).
    pub fn sync_remote_models(&self) {
        if let Some(gateway) = &self.gateway {
            self.service.sync_remote_models(gateway.model_labels());
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
    let api = routes::router()
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
            .layer(from_fn(bedrock::errors::dialect))
            .layer(from_fn(anthropic::dialect)),
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
    let below_http = state.below_http.clone();
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
            Some(config) => Box::pin(scif_tls::serve_tls(
                listener, app, config, below_http, shutdown,
            )),
            // The same accept loop without TLS (TCP_NODELAY on, peer address in ConnectInfo),
            // so that bytes that are not HTTP are counted rather than dropped unseen.
            None => Box::pin(scif_tls::serve_plain(listener, app, below_http, shutdown)),
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
