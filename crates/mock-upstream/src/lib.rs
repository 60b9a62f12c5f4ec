//! A deterministic OpenAI-compatible upstream for scif's tests and benchmarks.
//!
//! See the binary's documentation (`src/main.rs`) for the behaviour and the flags; this library
//! exposes the same server so tests can also run it in-process with [`spawn`].

mod chat;
mod state;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use tokio::net::TcpListener;

use chat::{Answer, ChatRequest, Envelope};
use state::{AppState, ConfigPatch};
pub use state::{Config, StatsView};

/// Everything fixed at start-up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The initial run-time config.
    pub config: Config,
    /// Reported as `system_fingerprint` and as the only model.
    pub name: String,
    /// When set, `/v1/*` requires `Authorization: Bearer <api_key>`.
    pub api_key: Option<String>,
    /// Seed of the error-injection RNG.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: Config::default(),
            name: "mock".to_owned(),
            api_key: None,
            seed: 0,
        }
    }
}

/// The mock's routes.
pub fn router(options: Options) -> Result<Router, String> {
    let state = AppState::new(
        options.config,
        options.name,
        options.api_key.as_deref(),
        options.seed,
    )?;
    Ok(Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/mock/config", get(get_config).post(set_config))
        .route("/mock/stats", get(stats))
        .route("/mock/reset", post(reset))
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(Arc::new(state)))
}

/// Serves `app` on `listener`, with TCP_NODELAY on every connection, until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Only latency suffers if this fails; the connection is still served.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Starts the mock on an ephemeral port of 127.0.0.1 in the current runtime; it runs until the
/// runtime shuts down.
pub async fn spawn(options: Options) -> io::Result<SocketAddr> {
    let app = router(options).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, app, std::future::pending()));
    Ok(addr)
}

type AppRef = Arc<AppState>;

const INJECTED_ERROR: &[u8] =
    br#"{"error":{"message":"mock failure","type":"server_error","param":null,"code":null}}"#;

fn json_bytes(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.into(),
    )
        .into_response()
}

/// An OpenAI-style error.
fn openai_error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": code},
    });
    (status, Json(body)).into_response()
}

fn internal_error(err: impl std::fmt::Display) -> Response {
    openai_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &err.to_string(),
        "server_error",
        None,
    )
}

/// Whether `headers` carry the API key, when one is required.
fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .expected_authorization
        .as_ref()
        .is_none_or(|expected| headers.get(AUTHORIZATION) == Some(expected))
}

fn unauthorized() -> Response {
    openai_error(
        StatusCode::UNAUTHORIZED,
        "Incorrect API key provided",
        "invalid_request_error",
        Some("invalid_api_key"),
    )
}

async fn health(State(state): State<AppRef>) -> Response {
    if state.config().healthy {
        json_bytes(StatusCode::OK, r#"{"status":"ok"}"#)
    } else {
        json_bytes(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"unhealthy"}"#)
    }
}

async fn models(State(state): State<AppRef>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return unauthorized();
    }
    if state.config().healthy {
        json_bytes(StatusCode::OK, state.models_body.clone())
    } else {
        openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "mock unhealthy",
            "server_error",
            None,
        )
    }
}

async fn chat_completions(
    State(state): State<AppRef>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (response, injected) = answer_chat(&state, &headers, &body).await;
    state.record(
        response.status(),
        injected,
        body,
        headers.get(AUTHORIZATION).cloned(),
    );
    response
}

/// The response to one chat request, and whether it is an injected error.
async fn answer_chat(state: &AppState, headers: &HeaderMap, body: &[u8]) -> (Response, bool) {
    if !authorized(state, headers) {
        return (unauthorized(), false);
    }
    let request: ChatRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(err) => {
            let response = openai_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid chat completions request: {err}"),
                "invalid_request_error",
                None,
            );
            return (response, false);
        }
    };
    let config = state.config();
    let injected = state.inject_error(config.error_rate);
    if config.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(config.latency_ms)).await;
    }
    if injected {
        return (json_bytes(config.error_status(), INJECTED_ERROR), true);
    }
    let response = completion(state, &config, &request).unwrap_or_else(internal_error);
    (response, false)
}

fn completion(
    state: &AppState,
    config: &Config,
    request: &ChatRequest,
) -> Result<Response, serde_json::Error> {
    let answer = Answer::plan(request, config.tokens, || state.next_tool_call_id())?;
    let id = format!("chatcmpl-mock-{}", state.next_completion_id());
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let envelope = Envelope {
        id: &id,
        created,
        model: request.model.as_deref().unwrap_or_default(),
        system_fingerprint: &state.name,
    };
    let prompt_tokens = request.prompt_tokens();
    if !request.streamed() {
        let body = chat::render_completion(&envelope, &answer, prompt_tokens)?;
        return Ok(json_bytes(StatusCode::OK, body));
    }
    let frames = chat::render_stream(
        &envelope,
        &answer,
        prompt_tokens,
        request.include_usage(),
        config.fail_after,
    )?;
    let interval = Duration::from_millis(config.token_interval_ms);
    let stream =
        futures::stream::iter(frames.into_iter().enumerate()).then(move |(i, frame)| async move {
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            frame
        });
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn get_config(State(state): State<AppRef>) -> Json<Config> {
    Json(state.config())
}

async fn set_config(State(state): State<AppRef>, body: Bytes) -> Response {
    let patch = match serde_json::from_slice::<ConfigPatch>(&body) {
        Ok(patch) => patch,
        Err(err) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid config: {err}"),
                "invalid_request_error",
                None,
            )
        }
    };
    match state.update_config(patch) {
        Ok(config) => Json(config).into_response(),
        Err(err) => openai_error(StatusCode::BAD_REQUEST, &err, "invalid_request_error", None),
    }
}

async fn stats(State(state): State<AppRef>) -> Json<StatsView> {
    Json(state.stats())
}

async fn reset(State(state): State<AppRef>) -> Json<StatsView> {
    state.reset_stats();
    Json(state.stats())
}
