//! Prometheus metrics: request counts and latency by route and status, token counts, time to
//! first token, and the engine's queue depth and active sequences (read at scrape time). The
//! transport counts requests; the pipeline's accounting stage counts tokens.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub prompt_tokens: IntCounterVec,
    pub completion_tokens: IntCounterVec,
    pub time_to_first_token: HistogramVec,
    pub queue_depth: IntGaugeVec,
    pub active_sequences: IntGaugeVec,
    pub kv_reserved_bytes: IntGaugeVec,
    pub prefix_cache_bytes: IntGaugeVec,
    pub prefix_tokens_reused: IntCounterVec,
    /// Remote deployments, read from the gateway at scrape time.
    pub deployment_requests: IntCounterVec,
    pub deployment_failures: IntCounterVec,
    pub deployment_healthy: IntGaugeVec,
    pub deployment_circuit_open: IntGaugeVec,
    pub deployment_in_flight: IntGaugeVec,
    pub deployment_latency: prometheus::GaugeVec,
    /// The audit witness: the tree size it last co-signed, and 1 while it keeps up.
    pub witness_cosigned_size: prometheus::IntGauge,
    pub witness_healthy: prometheus::IntGauge,
    /// Connections refused below HTTP, by reason (read from the listener at scrape time).
    pub connections_refused: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("scif".into()), None)?;
        let latency_buckets = vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
        ];
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to the response head (streamed bodies continue after)",
            )
            .buckets(latency_buckets.clone()),
            &["route", "method", "status"],
        )?;
        let prompt_tokens = IntCounterVec::new(
            Opts::new("prompt_tokens_total", "Prompt tokens processed"),
            &["model"],
        )?;
        let completion_tokens = IntCounterVec::new(
            Opts::new("completion_tokens_total", "Tokens generated"),
            &["model"],
        )?;
        let time_to_first_token = HistogramVec::new(
            HistogramOpts::new(
                "time_to_first_token_seconds",
                "Time from request to the first generated text",
            )
            .buckets(latency_buckets),
            &["model"],
        )?;
        let queue_depth = IntGaugeVec::new(
            Opts::new("queue_depth", "Requests waiting for a place in the batch"),
            &["model"],
        )?;
        let active_sequences = IntGaugeVec::new(
            Opts::new("active_sequences", "Sequences being generated"),
            &["model"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(prompt_tokens.clone()))?;
        registry.register(Box::new(completion_tokens.clone()))?;
        registry.register(Box::new(time_to_first_token.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(active_sequences.clone()))?;
        let kv_reserved_bytes = IntGaugeVec::new(
            Opts::new(
                "kv_cache_reserved_bytes",
                "KV cache bytes reserved by running sequences (local engine)",
            ),
            &["model"],
        )?;
        let prefix_cache_bytes = IntGaugeVec::new(
            Opts::new(
                "prefix_cache_bytes",
                "KV cache bytes held by the prefix cache (local engine)",
            ),
            &["model"],
        )?;
        let prefix_tokens_reused = IntCounterVec::new(
            Opts::new(
                "prefix_cache_reused_tokens_total",
                "Prompt tokens taken from the prefix cache instead of computed (local engine)",
            ),
            &["model"],
        )?;
        registry.register(Box::new(kv_reserved_bytes.clone()))?;
        registry.register(Box::new(prefix_cache_bytes.clone()))?;
        registry.register(Box::new(prefix_tokens_reused.clone()))?;
        let labels = &["deployment", "model"];
        let deployment_requests = IntCounterVec::new(
            Opts::new(
                "deployment_requests_total",
                "Requests sent to a remote deployment (attempts, retries included)",
            ),
            labels,
        )?;
        let deployment_failures = IntCounterVec::new(
            Opts::new(
                "deployment_failures_total",
                "Attempts that failed (status, connection, timeout, mid-stream)",
            ),
            labels,
        )?;
        let deployment_healthy = IntGaugeVec::new(
            Opts::new(
                "deployment_healthy",
                "1 if the deployment passed its last health check",
            ),
            labels,
        )?;
        let deployment_circuit_open = IntGaugeVec::new(
            Opts::new(
                "deployment_circuit_open",
                "1 if the deployment's circuit is not closed (open, or half-open waiting on a trial)",
            ),
            labels,
        )?;
        let deployment_in_flight = IntGaugeVec::new(
            Opts::new(
                "deployment_in_flight",
                "Requests in flight to the deployment",
            ),
            labels,
        )?;
        let deployment_latency = prometheus::GaugeVec::new(
            Opts::new(
                "deployment_first_token_seconds_ewma",
                "Time to first token (whole answer when not streamed), exponentially weighted",
            ),
            labels,
        )?;
        registry.register(Box::new(deployment_requests.clone()))?;
        registry.register(Box::new(deployment_failures.clone()))?;
        registry.register(Box::new(deployment_healthy.clone()))?;
        registry.register(Box::new(deployment_circuit_open.clone()))?;
        registry.register(Box::new(deployment_in_flight.clone()))?;
        registry.register(Box::new(deployment_latency.clone()))?;
        let witness_cosigned_size = prometheus::IntGauge::new(
            "audit_witness_cosigned_size",
            "Records in the audit tree the witness last co-signed",
        )?;
        let witness_healthy = prometheus::IntGauge::new(
            "audit_witness_healthy",
            "1 while the audit witness keeps up with the trail's checkpoints",
        )?;
        registry.register(Box::new(witness_cosigned_size.clone()))?;
        registry.register(Box::new(witness_healthy.clone()))?;
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "connections_refused_total",
                "Connections refused below HTTP: failed or timed-out TLS handshakes, bytes that are not HTTP",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(connections_refused.clone()))?;
        Ok(Self {
            registry,
            requests,
            request_duration,
            prompt_tokens,
            completion_tokens,
            time_to_first_token,
            queue_depth,
            active_sequences,
            kv_reserved_bytes,
            prefix_cache_bytes,
            prefix_tokens_reused,
            deployment_requests,
            deployment_failures,
            deployment_healthy,
            deployment_circuit_open,
            deployment_in_flight,
            deployment_latency,
            witness_cosigned_size,
            witness_healthy,
            connections_refused,
        })
    }

    pub fn render(&self) -> String {
        self.render_visible(|_, _| true)
    }

    /// The exposition with only the series whose `model` and `deployment` labels the reader
    /// may know of (`visible(label_name, value)`); a family left with no series is dropped.
    pub fn render_visible(&self, visible: impl Fn(&str, &str) -> bool) -> String {
        let mut families = self.registry.gather();
        for family in &mut families {
            family.mut_metric().retain(|m| {
                m.get_label().iter().all(|pair| {
                    let name = pair.name();
                    !matches!(name, "model" | "deployment") || visible(name, pair.value())
                })
            });
        }
        families.retain(|f| !f.get_metric().is_empty());
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
