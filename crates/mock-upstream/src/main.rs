//! `scif-mock-upstream`: a deterministic OpenAI-compatible upstream standing in for
//! vLLM/TGI/llama.cpp/Ollama in scif's tests and benchmarks.
//!
//! It binds `--listen` (default `127.0.0.1:0`), prints one line `listening on ADDR` to stdout,
//! and serves until SIGTERM or ctrl-c:
//!
//! - `GET /health`, `GET /v1/models`: 200 while healthy, else 503; the only model is `--name`.
//! - `POST /v1/chat/completions`: the answer is `--tokens` words cycling through the words of
//!   the last user message (`ok` when it has none), capped by `max_tokens` /
//!   `max_completion_tokens` (finish reason `length`). With a non-empty `tools` array the
//!   answer is one call of the first (or the `tool_choice`d) function with arguments
//!   `{"query": <last user text>}`; after a `tool` message it is `tool said: <its content>`.
//!   `stream: true` answers with SSE chunks, one per word, ending in `data: [DONE]`.
//! - `GET|POST /mock/config`, `GET /mock/stats`, `POST /mock/reset`: inspect and change the
//!   behaviour below at run time.
//!
//! Flags (all but `--listen`, `--threads`, `--seed`, `--api-key` and `--name` can also be changed
//! through `POST /mock/config`):
//!
//! - `--latency-ms N`: delay before the response head of a chat completion.
//! - `--token-interval-ms N`: delay between streamed chunks.
//! - `--tokens N`: completion length in words (default 8).
//! - `--error-rate F`, `--error-status S`, `--seed N`: answer a seeded-random fraction `F` of
//!   chat requests with status `S` (default 503) and an OpenAI error body.
//! - `--fail-after N`: streamed answers die (the body ends in an error, no `[DONE]`) after `N`
//!   content chunks.
//! - `--api-key K`: `/v1/*` requires `Authorization: Bearer K`, else 401.
//! - `--name NAME`: reported as `system_fingerprint` (default `mock`).
//! - `--threads N`: tokio worker threads (default 1).

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use scif_mock_upstream::{router, serve, Config, Options};

#[derive(Debug, Parser)]
#[command(
    name = "scif-mock-upstream",
    version,
    about = "Deterministic OpenAI-compatible mock upstream"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Delay before the response head of a chat completion, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    token_interval_ms: u64,
    /// Completion length in words.
    #[arg(long, default_value_t = 8)]
    tokens: usize,
    /// Fraction of chat requests answered with an injected error (0.0..=1.0).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Status of injected errors.
    #[arg(long, default_value_t = 503, value_parser = clap::value_parser!(u16).range(100..=999))]
    error_status: u16,
    /// Seed of the error-injection RNG.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Streamed answers abort after this many content chunks.
    #[arg(long)]
    fail_after: Option<usize>,
    /// Require `Authorization: Bearer <KEY>` on /v1/*.
    #[arg(long)]
    api_key: Option<String>,
    /// Name reported as `system_fingerprint` and as the model id.
    #[arg(long, default_value = "mock")]
    name: String,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not in 0.0..=1.0"))
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(cli.threads))
        .enable_all()
        .build()
        .context("building the tokio runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let options = Options {
        config: Config {
            latency_ms: cli.latency_ms,
            token_interval_ms: cli.token_interval_ms,
            tokens: cli.tokens,
            error_rate: cli.error_rate,
            error_status: cli.error_status,
            fail_after: cli.fail_after,
            healthy: true,
        },
        name: cli.name,
        api_key: cli.api_key,
        seed: cli.seed,
    };
    let app = router(options).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {addr}")?;
        stdout.flush()?;
    }
    serve(listener, app, shutdown_signal())
        .await
        .context("serving")
}

/// Resolves on ctrl-c or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed, only SIGTERM (or a kill) ends the process.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
