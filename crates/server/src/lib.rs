//! scif's HTTP server: the only crate that knows HTTP. It speaks the OpenAI dialect (Bedrock and
//! the admin API come later), exposes health and metrics, and routes each request to the
//! provider serving its model.
//!
//! The request path is the layer chain in [`router`]; read it first.

pub mod error;
pub mod health;
pub mod metrics;
pub mod openai;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use scif_config::Config;
use scif_provider::{ModelInfo, ModelLoad, Provider};
use scif_store::Store;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use error::ApiError;

/// Which provider serves which model.
#[derive(Default)]
pub struct Providers {
    by_model: BTreeMap<String, Arc<dyn Provider>>,
    all: Vec<Arc<dyn Provider>>,
}

impl Providers {
    pub fn add(&mut self, p: Arc<dyn Provider>) {
        for m in p.models() {
            self.by_model.insert(m.id, p.clone());
        }
        self.all.push(p);
    }

    pub fn for_model(&self, model: &str) -> Option<&Arc<dyn Provider>> {
        self.by_model.get(model)
    }

    pub fn models(&self) -> Vec<ModelInfo> {
        let mut v: Vec<ModelInfo> = self.all.iter().flat_map(|p| p.models()).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn loads(&self) -> Vec<(String, ModelLoad)> {
        self.by_model
            .iter()
            .map(|(m, p)| (m.clone(), p.load(m)))
            .collect()
    }

    pub fn cancel_all(&self) {
        for p in &self.all {
            p.cancel_all();
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub providers: Arc<Providers>,
    pub store: Store,
    pub metrics: metrics::Metrics,
    pub shutting_down: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(
        config: Config,
        providers: Providers,
        store: Store,
    ) -> Result<Self, prometheus::Error> {
        Ok(Self {
            config: Arc::new(config),
            providers: Arc::new(providers),
            store,
            metrics: metrics::Metrics::new()?,
            shutting_down: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// The whole request path. Layers run top to bottom on the way in:
///
/// 1. request id: every request gets an `x-request-id` (a caller-sent one is replaced: ids are
///    the server's, for correlating logs and, later, audit records) and the response carries it;
/// 2. panic guard: a bug answers 500 in the OpenAI shape instead of dropping the connection;
/// 3. access log and metrics, by route template and status (never bodies);
/// 4. body limit: larger bodies are refused with 413 before they are buffered;
/// 5. routing to the dialect handlers, which translate to the provider-neutral request and
///    call the provider that serves the model.
///
/// Identity, authorization, guardrails and audit (later issues) slot in as layers between 3 and
/// 4, in that order for the way in, so that nothing reaches a handler unauthenticated.
pub fn router(state: AppState) -> Router {
    let limit = state.config.server.max_body_bytes;
    let api = Router::new()
        .route("/v1/chat/completions", post(openai::chat::chat_completions))
        .route("/v1/models", get(openai::models::list))
        .route("/v1/models/{id}", get(openai::models::get))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::handler))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
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
            .layer(from_fn(access_log)),
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
/// grace period, and cancel whatever is still generating.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_secs(state.config.server.shutdown_grace_secs);
    let (began_tx, began_rx) = tokio::sync::oneshot::channel::<()>();
    let flag = state.shutting_down.clone();
    let providers = state.providers.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Without TCP_NODELAY a keep-alive client waits ~40 ms per small response (Nagle plus
    // delayed ACK); axum does not set it by default.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        flag.store(true, Ordering::SeqCst);
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutting down: no new connections, finishing in-flight requests"
        );
        let _ = began_tx.send(());
    });
    let mut handle = tokio::spawn(async move { server.await });
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
