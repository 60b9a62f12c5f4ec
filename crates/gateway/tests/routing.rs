#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The gateway against in-process mock upstreams: routing by weight and tier, retries,
//! circuit breaking, timeouts, mid-stream failures, accreditation, health checks, reloads and
//! cancellation, as a caller of [`Provider::chat`] sees them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use scif_config::Config;
use scif_gateway::{CircuitState, DeploymentStatus, Gateway};
use scif_labels::Label;
use scif_provider::{
    ChatEvent, ChatMessage, ChatRequest, FinishReason, Provider, ProviderError, Started, Usage,
};
use serde_json::{json, Value};

/// What the mock answers to "alpha beta" with its default 8 words.
const TEXT8: &str = "alpha beta alpha beta alpha beta alpha beta";

/// The settings most tests use: quick retries, a circuit that opens after 3 failures for 1 s,
/// no background health checks.
const GATEWAY: &str = "max_retries = 2
retry_backoff_ms = 1
circuit_failures = 3
circuit_open_secs = 1
health_check_secs = 0
";

/// Generous bound on anything that must not hang.
const HANG: Duration = Duration::from_secs(20);

struct Mock {
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Mock {
    async fn start_with(options: scif_mock_upstream::Options) -> Mock {
        let addr = scif_mock_upstream::spawn(options).await.unwrap();
        Mock {
            addr,
            http: http_client(),
        }
    }

    async fn start() -> Mock {
        Self::start_with(Default::default()).await
    }

    /// A mock with its run-time config patched.
    async fn with(patch: Value) -> Mock {
        let m = Self::start().await;
        m.set(patch).await;
        m
    }

    fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    async fn set(&self, patch: Value) {
        let r = self
            .http
            .post(format!("http://{}/mock/config", self.addr))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "mock config {patch}: {}",
            r.status()
        );
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("http://{}/mock/stats", self.addr))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn requests(&self) -> u64 {
        self.stats().await["requests"].as_u64().unwrap()
    }

    async fn reset(&self) {
        let r = self
            .http
            .post(format!("http://{}/mock/reset", self.addr))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// A plain-http client for the mock's control routes.
fn http_client() -> reqwest::Client {
    reqwest::Client::new()
}

/// One `[[deployments]]` entry; `extra` holds more `key = value` lines (it may set `model` or
/// `accreditation`, which otherwise default to "m" and "SECRET").
fn dep(name: &str, url: &str, extra: &str) -> String {
    let sets = |key: &str| {
        extra.lines().any(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    let mut s = format!("[[deployments]]\nname = \"{name}\"\nurl = \"{url}\"\n");
    if !sets("model") {
        s += "model = \"m\"\n";
    }
    if !sets("accreditation") {
        s += "accreditation = \"SECRET\"\n";
    }
    s += extra;
    s += "\n";
    s
}

fn config(gateway: &str, models: &[&str], deployments: &[String]) -> Config {
    let mut text = format!("[security]\nsystem_high = \"TOP SECRET\"\n[gateway]\n{gateway}\n");
    for m in models {
        text += &format!("[[remote_models]]\nname = \"{m}\"\nlabel = \"UNCLASSIFIED\"\n");
    }
    for d in deployments {
        text += d;
    }
    Config::from_toml("test", &text, std::iter::empty())
        .unwrap_or_else(|e| panic!("invalid test config: {e}\n{text}"))
}

fn label(banner: &str) -> Label {
    Label::parse_banner(banner).unwrap()
}

fn request(model: &str, stream: bool, input: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![ChatMessage {
            role: "user".into(),
            content: "alpha beta".into(),
            ..Default::default()
        }],
        sampling: Default::default(),
        max_tokens: None,
        stop: vec![],
        stream,
        input_label: label(input),
        tools: Vec::new(),
        tool_choice: None,
    }
}

async fn chat(gw: &Gateway, req: ChatRequest) -> Result<Started, ProviderError> {
    tokio::time::timeout(HANG, gw.chat(req))
        .await
        .expect("chat() hung")
}

async fn drain(started: Started) -> Vec<ChatEvent> {
    tokio::time::timeout(HANG, started.events.collect::<Vec<_>>())
        .await
        .expect("the event stream hung")
}

/// A request that must succeed: who served it, and all its events.
async fn ok(gw: &Gateway, req: ChatRequest) -> (String, Vec<ChatEvent>) {
    match chat(gw, req).await {
        Ok(started) => {
            let served_by = started.served_by.clone();
            (served_by, drain(started).await)
        }
        Err(e) => panic!("expected an answer, got {e:?}"),
    }
}

/// A request that must fail before any event.
async fn fails(gw: &Gateway, req: ChatRequest) -> ProviderError {
    match chat(gw, req).await {
        Ok(started) => panic!("expected an error, but {} served it", started.served_by),
        Err(e) => e,
    }
}

fn text(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Delta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// A complete, successful answer: the mock's text, one `Done` with the mock's usage, last.
fn assert_complete(events: &[ChatEvent]) {
    assert_eq!(text(events), TEXT8, "events: {events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, ChatEvent::Error(_))),
        "events: {events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ChatEvent::Done { .. }))
            .count(),
        1,
        "events: {events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&ChatEvent::Done {
            finish_reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 2,
                completion_tokens: 8,
            },
        }),
        "the usage is the upstream's, not an estimate"
    );
}

fn status(gw: &Gateway, name: &str) -> DeploymentStatus {
    gw.deployments()
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no deployment {name} in {:?}", gw.deployments()))
}

/// An address where nobody listens (bound, then released).
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

// 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_and_streamed_answers_carry_the_upstream_text_usage_model_and_token() {
    let mock = Mock::start_with(scif_mock_upstream::Options {
        api_key: Some("s3cret-routing-1".into()),
        ..Default::default()
    })
    .await;
    std::env::set_var("SCIF_GATEWAY_ROUTING_TEST_1_KEY", "s3cret-routing-1");
    let cfg = config(
        GATEWAY,
        &["m"],
        &[dep(
            "a",
            &mock.url(),
            "upstream_model = \"served-name\"\napi_key_env = \"SCIF_GATEWAY_ROUTING_TEST_1_KEY\"",
        )],
    );
    let gw = Gateway::new(&cfg).unwrap();
    for stream in [false, true] {
        let (served_by, events) = ok(&gw, request("m", stream, "UNCLASSIFIED")).await;
        assert_eq!(served_by, "a");
        assert_complete(&events);
        let stats = mock.stats().await;
        assert_eq!(stats["last_request"]["model"], "served-name");
        assert_eq!(stats["last_request"]["stream"], stream);
        assert_eq!(
            stats["last_request"]["messages"][0]["content"],
            "alpha beta"
        );
        assert_eq!(stats["last_authorization"], "Bearer s3cret-routing-1");
    }
    let stats = mock.stats().await;
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["by_status"]["200"], 2);
    let a = status(&gw, "a");
    assert_eq!(a.requests, 2);
    assert_eq!(a.failures, 0);
    assert_eq!(a.outstanding, 0);

    // Without upstream_model the model's own name goes upstream.
    let plain = Mock::start().await;
    let gw = Gateway::new(&config(GATEWAY, &["m"], &[dep("p", &plain.url(), "")])).unwrap();
    let (_, events) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert_complete(&events);
    let stats = plain.stats().await;
    assert_eq!(stats["last_request"]["model"], "m");
    assert_eq!(stats["last_authorization"], Value::Null);
}

// 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_tier_splits_traffic_by_weight() {
    let heavy = Mock::start().await;
    let light = Mock::start().await;
    let cfg = config(
        GATEWAY,
        &["m"],
        &[
            dep("heavy", &heavy.url(), "weight = 3"),
            dep("light", &light.url(), "weight = 1"),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..400 {
        let (served_by, events) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
        assert_complete(&events);
        *counts.entry(served_by).or_default() += 1;
    }
    let h = counts.get("heavy").copied().unwrap_or(0);
    let l = counts.get("light").copied().unwrap_or(0);
    assert_eq!(h + l, 400, "{counts:?}");
    assert!((240..=360).contains(&h), "weights 3:1 gave {counts:?}");
    assert_eq!(heavy.requests().await, h);
    assert_eq!(light.requests().await, l);
}

// 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_503_is_retried_on_another_deployment_of_the_tier() {
    let failing = Mock::with(json!({"error_rate": 1.0, "error_status": 503})).await;
    let good = Mock::start().await;
    let cfg = config(
        GATEWAY,
        &["m"],
        &[
            // Heavier, so that it is drawn first for some requests.
            dep("failing", &failing.url(), "weight = 9"),
            dep("good", &good.url(), "weight = 1"),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    for i in 0..20 {
        let (served_by, events) = ok(&gw, request("m", i % 2 == 0, "UNCLASSIFIED")).await;
        assert_eq!(served_by, "good");
        assert_complete(&events);
    }
    assert_eq!(good.requests().await, 20);
    let f = failing.stats().await;
    assert!(f["requests"].as_u64().unwrap() > 0, "never tried: {f}");
    assert_eq!(f["requests"], f["by_status"]["503"]);
    assert!(status(&gw, "failing").failures > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lone_failing_deployment_is_retried_up_to_max_retries_then_unavailable() {
    let failing = Mock::with(json!({"error_rate": 1.0, "error_status": 503})).await;
    let no_retries = GATEWAY.replace("max_retries = 2", "max_retries = 0");
    let gw = Gateway::new(&config(
        &no_retries,
        &["m"],
        &[dep("failing", &failing.url(), "")],
    ))
    .unwrap();
    let e = fails(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    assert_eq!(failing.requests().await, 1, "max_retries = 0: one attempt");

    failing.reset().await;
    let retries = GATEWAY.replace("circuit_failures = 3", "circuit_failures = 10");
    let gw = Gateway::new(&config(
        &retries,
        &["m"],
        &[dep("failing", &failing.url(), "")],
    ))
    .unwrap();
    let e = fails(&gw, request("m", true, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    assert_eq!(failing.requests().await, 3, "one attempt and two retries");
}

// 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_429_from_the_only_deployment_is_overloaded() {
    let busy = Mock::with(json!({"error_rate": 1.0, "error_status": 429})).await;
    let gw = Gateway::new(&config(GATEWAY, &["m"], &[dep("busy", &busy.url(), "")])).unwrap();
    let e = fails(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert!(
        matches!(e, ProviderError::Overloaded { retry_after_secs } if retry_after_secs >= 1),
        "{e:?}"
    );
    assert!(busy.requests().await >= 1);
}

// 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_higher_tier_serves_only_when_the_lower_one_fails() {
    let primary = Mock::with(json!({"error_rate": 1.0, "error_status": 503})).await;
    let backup = Mock::start().await;
    let cfg = config(
        GATEWAY,
        &["m"],
        &[
            dep("backup", &backup.url(), "tier = 1"),
            dep("primary", &primary.url(), "tier = 0"),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    for i in 0..6 {
        let (served_by, events) = ok(&gw, request("m", i % 2 == 1, "UNCLASSIFIED")).await;
        assert_eq!(served_by, "backup");
        assert_complete(&events);
    }
    assert!(primary.requests().await >= 1, "tier 0 was never tried");
    assert_eq!(backup.requests().await, 6);

    primary.set(json!({"error_rate": 0.0})).await;
    backup.reset().await;
    let gw = Gateway::new(&cfg).unwrap();
    for i in 0..10 {
        let (served_by, events) = ok(&gw, request("m", i % 2 == 1, "UNCLASSIFIED")).await;
        assert_eq!(served_by, "primary");
        assert_complete(&events);
    }
    assert_eq!(
        backup.requests().await,
        0,
        "tier 1 got traffic while tier 0 was fine"
    );
}

// 6.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_500_is_not_retried() {
    let broken = Mock::with(json!({"error_rate": 1.0, "error_status": 500})).await;
    let good = Mock::start().await;
    let settings = GATEWAY.replace("circuit_failures = 3", "circuit_failures = 1000");
    let cfg = config(
        &settings,
        &["m"],
        &[
            dep("broken", &broken.url(), "weight = 3"),
            dep("good", &good.url(), "weight = 1"),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    let (mut failures, mut successes) = (0u64, 0u64);
    for i in 0..30 {
        let good_before = good.requests().await;
        match chat(&gw, request("m", i % 2 == 0, "UNCLASSIFIED")).await {
            Ok(started) => {
                assert_eq!(started.served_by, "good");
                assert_complete(&drain(started).await);
                successes += 1;
            }
            Err(e) => {
                assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
                assert_eq!(
                    good.requests().await,
                    good_before,
                    "a 500 was retried on the other deployment"
                );
                failures += 1;
            }
        }
    }
    assert!(failures > 0, "the broken deployment was never drawn");
    assert_eq!(broken.requests().await, failures, "each 500 is one failure");
    assert_eq!(good.requests().await, successes);
}

// 7.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_circuit_opens_after_consecutive_failures_and_closes_after_a_good_trial() {
    let flaky = Mock::with(json!({"error_rate": 1.0, "error_status": 503})).await;
    let settings = GATEWAY.replace("max_retries = 2", "max_retries = 0");
    let gw = Gateway::new(&config(&settings, &["m"], &[dep("a", &flaky.url(), "")])).unwrap();
    for _ in 0..3 {
        let e = fails(&gw, request("m", false, "UNCLASSIFIED")).await;
        assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    }
    assert_eq!(flaky.requests().await, 3);
    assert_eq!(status(&gw, "a").circuit, CircuitState::Open);

    let e = fails(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    assert_eq!(
        flaky.requests().await,
        3,
        "an open circuit let a request through"
    );

    flaky.set(json!({"error_rate": 0.0})).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(status(&gw, "a").circuit, CircuitState::HalfOpen);
    let (served_by, events) = ok(&gw, request("m", true, "UNCLASSIFIED")).await;
    assert_eq!(served_by, "a");
    assert_complete(&events);
    assert_eq!(flaky.requests().await, 4);
    assert_eq!(status(&gw, "a").circuit, CircuitState::Closed);
    let (_, events) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert_complete(&events);
}

// 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connect_error_is_retried_elsewhere_and_alone_is_unavailable() {
    let live = Mock::start().await;
    let dead = dead_url();
    let cfg = config(
        GATEWAY,
        &["m"],
        &[
            dep("dead", &dead, "weight = 9\nconnect_timeout_ms = 500"),
            dep("live", &live.url(), "weight = 1"),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    for i in 0..10 {
        let (served_by, events) = ok(&gw, request("m", i % 2 == 0, "UNCLASSIFIED")).await;
        assert_eq!(served_by, "live");
        assert_complete(&events);
    }
    assert!(
        status(&gw, "dead").failures > 0,
        "the dead one was never tried"
    );

    let gw = Gateway::new(&config(
        GATEWAY,
        &["m"],
        &[dep("dead", &dead, "connect_timeout_ms = 500")],
    ))
    .unwrap();
    let e = fails(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unroutable_deployment_fails_within_its_connect_timeout() {
    // 10.255.255.1 usually swallows SYNs (a real connect timeout); where there is no route it
    // fails at once. Either way the caller gets an error, not a hang.
    let gw = Gateway::new(&config(
        GATEWAY,
        &["m"],
        &[dep(
            "far",
            "http://10.255.255.1:9/v1",
            "connect_timeout_ms = 200",
        )],
    ))
    .unwrap();
    let t = Instant::now();
    let e = fails(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_token_timeout_ends_a_slow_request() {
    let slow = Mock::with(json!({"latency_ms": 2000})).await;
    let gw = Gateway::new(&config(
        GATEWAY,
        &["m"],
        &[dep("slow", &slow.url(), "first_token_timeout_ms = 200")],
    ))
    .unwrap();
    for stream in [false, true] {
        let t = Instant::now();
        let e = fails(&gw, request("m", stream, "UNCLASSIFIED")).await;
        assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "stream={stream}: the error took {:?}",
            t.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_request_timeout_ends_a_stream_with_an_error() {
    let slow = Mock::with(json!({"token_interval_ms": 300, "tokens": 20})).await;
    let gw = Gateway::new(&config(
        GATEWAY,
        &["m"],
        &[dep("slow", &slow.url(), "request_timeout_ms = 700")],
    ))
    .unwrap();
    let t = Instant::now();
    let (served_by, events) = ok(&gw, request("m", true, "UNCLASSIFIED")).await;
    assert_eq!(served_by, "slow");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    let deltas = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Delta(_)))
        .count();
    assert!((1..20).contains(&deltas), "events: {events:?}");
    assert!(
        matches!(events.last(), Some(ChatEvent::Error(_))),
        "events: {events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, ChatEvent::Done { .. })),
        "a timed-out stream must not look complete: {events:?}"
    );
    assert_eq!(status(&gw, "slow").failures, 1);
}

// 9.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_failing_midway_ends_in_an_error_and_is_not_retried() {
    // Spaced chunks, so the first ones leave the mock before its connection is aborted.
    let dying = Mock::with(json!({"fail_after": 2, "token_interval_ms": 50})).await;
    let good = Mock::start().await;
    let cfg = config(
        GATEWAY,
        &["m"],
        &[
            dep("dying", &dying.url(), "weight = 9"),
            dep("good", &good.url(), "weight = 1"),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    let mut died = 0;
    for _ in 0..10 {
        let good_before = good.requests().await;
        let (served_by, events) = ok(&gw, request("m", true, "UNCLASSIFIED")).await;
        if served_by == "good" {
            assert_complete(&events);
            continue;
        }
        assert_eq!(served_by, "dying");
        died += 1;
        assert_eq!(
            events[..2],
            [
                ChatEvent::Delta("alpha".into()),
                ChatEvent::Delta(" beta".into())
            ],
            "events: {events:?}"
        );
        assert_eq!(events.len(), 3, "events: {events:?}");
        assert!(
            matches!(&events[2], ChatEvent::Error(m) if m.contains("dying")),
            "events: {events:?}"
        );
        assert_eq!(
            good.requests().await,
            good_before,
            "a request that already streamed was sent elsewhere"
        );
    }
    assert!(died > 0, "the dying deployment was never drawn");
    assert_eq!(dying.requests().await, died);
    assert_eq!(status(&gw, "dying").outstanding, 0);
}

// 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_only_reaches_deployments_accredited_for_it() {
    let low = Mock::start().await;
    let low_fallback = Mock::start().await;
    let high = Mock::start().await;
    let cfg = config(
        GATEWAY,
        &["m"],
        &[
            dep(
                "low",
                &low.url(),
                "accreditation = \"UNCLASSIFIED\"\nweight = 9",
            ),
            dep(
                "high",
                &high.url(),
                "accreditation = \"SECRET\"\nweight = 1",
            ),
            dep(
                "low-fallback",
                &low_fallback.url(),
                "accreditation = \"UNCLASSIFIED\"\ntier = 1",
            ),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    for i in 0..20 {
        let (served_by, events) = ok(&gw, request("m", i % 2 == 0, "SECRET")).await;
        assert_eq!(served_by, "high");
        assert_complete(&events);
    }
    // Unclassified input may go to either.
    let (served_by, _) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert!(served_by == "low" || served_by == "high");
    low.reset().await;

    high.set(json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    for _ in 0..3 {
        let e = fails(&gw, request("m", false, "SECRET")).await;
        assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    }
    assert_eq!(
        low.requests().await,
        0,
        "SECRET input reached an UNCLASSIFIED backend"
    );
    assert_eq!(
        low_fallback.requests().await,
        0,
        "SECRET input reached an UNCLASSIFIED fallback"
    );

    let high_before = high.requests().await;
    let e = fails(&gw, request("m", false, "TOP SECRET")).await;
    assert!(matches!(e, ProviderError::NotAccredited(_)), "{e:?}");
    assert_eq!(high.requests().await, high_before);
    assert_eq!(low.requests().await, 0);

    assert!(gw.accepts("m", &label("UNCLASSIFIED")));
    assert!(gw.accepts("m", &label("SECRET")));
    assert!(!gw.accepts("m", &label("TOP SECRET")));
    assert!(!gw.accepts("other", &label("UNCLASSIFIED")));
}

// 11.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployment_failing_its_health_check_gets_no_traffic_until_it_passes() {
    let a = Mock::start().await;
    let b = Mock::start().await;
    let cfg = config(
        GATEWAY,
        &["m"],
        &[
            dep("a", &a.url(), "weight = 9"),
            dep("b", &b.url(), "weight = 1"),
        ],
    );
    let gw = Gateway::new(&cfg).unwrap();
    gw.check_health().await;
    assert!(status(&gw, "a").healthy && status(&gw, "b").healthy);

    a.set(json!({"healthy": false})).await;
    tokio::time::timeout(HANG, gw.check_health()).await.unwrap();
    assert!(!status(&gw, "a").healthy);
    assert!(status(&gw, "b").healthy);
    for _ in 0..10 {
        let (served_by, events) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
        assert_eq!(served_by, "b");
        assert_complete(&events);
    }
    assert_eq!(a.requests().await, 0);

    b.set(json!({"healthy": false})).await;
    gw.check_health().await;
    let e = fails(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    assert_eq!(a.requests().await, 0);
    assert_eq!(b.requests().await, 10);

    a.set(json!({"healthy": true})).await;
    b.set(json!({"healthy": true})).await;
    gw.check_health().await;
    assert!(status(&gw, "a").healthy && status(&gw, "b").healthy);
    let mut served = BTreeMap::<String, u32>::new();
    for _ in 0..10 {
        let (served_by, events) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
        assert_complete(&events);
        *served.entry(served_by).or_default() += 1;
    }
    assert!(served.contains_key("a"), "a never came back: {served:?}");
    assert!(a.requests().await > 0);
}

// 12.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_adds_removes_and_keeps_unchanged_deployments() {
    let ma = Mock::start().await;
    let mb = Mock::start().await;
    let mc = Mock::start().await;
    let md = Mock::start().await;
    let cfg1 = config(
        GATEWAY,
        &["m"],
        &[
            dep("a", &ma.url(), "weight = 8"),
            dep("b", &mb.url(), "weight = 1"),
            dep("d", &md.url(), "weight = 1"),
        ],
    );
    let gw = Gateway::new(&cfg1).unwrap();
    assert!(gw.serves("m"));
    assert!(!gw.serves("n"));
    for _ in 0..10 {
        let (_, events) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
        assert_complete(&events);
    }
    let a_before = status(&gw, "a").requests;
    assert!(a_before > 0);
    assert_eq!(a_before, ma.requests().await);

    let cfg2 = config(
        GATEWAY,
        &["m", "n"],
        &[
            dep("a", &ma.url(), "weight = 8"),
            dep("d", &md.url(), "weight = 2"),
            dep("c", &mc.url(), "model = \"n\""),
        ],
    );
    let summary = gw.reload(&cfg2).unwrap();
    assert_eq!(summary.models, ["m", "n"]);
    assert_eq!(summary.added, ["c"]);
    assert_eq!(summary.removed, ["b"]);
    assert_eq!(summary.changed, ["d"]);
    assert_eq!(summary.unchanged, ["a"]);
    assert!(gw.serves("m") && gw.serves("n"));
    let names: Vec<String> = gw.deployments().into_iter().map(|d| d.name).collect();
    assert!(!names.contains(&"b".to_owned()), "{names:?}");
    assert_eq!(
        status(&gw, "a").requests,
        a_before,
        "an unchanged deployment lost its counters"
    );
    assert_eq!(status(&gw, "d").requests, 0);
    assert_eq!(status(&gw, "d").weight, 2);
    assert_eq!(status(&gw, "c").model, "n");

    let (served_by, events) = ok(&gw, request("n", true, "UNCLASSIFIED")).await;
    assert_eq!(served_by, "c");
    assert_complete(&events);
    let b_before = mb.requests().await;
    for _ in 0..10 {
        let (served_by, _) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
        assert_ne!(served_by, "b");
    }
    assert_eq!(
        mb.requests().await,
        b_before,
        "a removed deployment got traffic"
    );

    let summary = gw.reload(&cfg1).unwrap();
    assert_eq!(summary.models, ["m"]);
    assert_eq!(summary.removed, ["c"]);
    assert!(!gw.serves("n"));
    let e = fails(&gw, request("n", false, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::ModelNotFound(_)), "{e:?}");
}

// 13.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_all_ends_a_running_stream_as_cancelled() {
    let slow = Mock::with(json!({"token_interval_ms": 5000, "tokens": 5})).await;
    let gw = Gateway::new(&config(GATEWAY, &["m"], &[dep("slow", &slow.url(), "")])).unwrap();
    let mut started = chat(&gw, request("m", true, "UNCLASSIFIED"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let first = tokio::time::timeout(HANG, started.events.next())
        .await
        .unwrap();
    assert_eq!(first, Some(ChatEvent::Delta("alpha".into())));
    // Read on while the next token is 5 s away, and cancel while the stream waits for it: it
    // must end on the cancel, not on the next token.
    let rest = tokio::spawn(started.events.collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!rest.is_finished(), "the stream ended before cancel_all");
    gw.cancel_all();
    let rest = tokio::time::timeout(Duration::from_secs(3), rest)
        .await
        .expect("the stream went on after cancel_all")
        .unwrap();
    assert!(
        matches!(
            rest.last(),
            Some(ChatEvent::Done {
                finish_reason: FinishReason::Cancelled,
                ..
            })
        ),
        "after cancel_all: {rest:?}"
    );
    assert!(
        rest.iter()
            .filter(|e| matches!(e, ChatEvent::Delta(_)))
            .count()
            < 10,
        "after cancel_all: {rest:?}"
    );
    assert!(!rest.iter().any(|e| matches!(e, ChatEvent::Error(_))));
    assert_eq!(status(&gw, "slow").outstanding, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backends_dying_mid_stream_open_their_circuit() {
    let dying = Mock::with(json!({"fail_after": 1, "token_interval_ms": 20})).await;
    let settings = GATEWAY.replace("max_retries = 2", "max_retries = 0");
    let gw = Gateway::new(&config(&settings, &["m"], &[dep("a", &dying.url(), "")])).unwrap();
    for _ in 0..3 {
        let (_, events) = ok(&gw, request("m", true, "UNCLASSIFIED")).await;
        assert!(
            matches!(events.last(), Some(ChatEvent::Error(_))),
            "{events:?}"
        );
    }
    assert_eq!(status(&gw, "a").circuit, CircuitState::Open);
    let e = fails(&gw, request("m", true, "UNCLASSIFIED")).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    assert_eq!(dying.requests().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_half_open_trial_abandoned_by_its_caller_frees_the_next_trial() {
    let flaky = Mock::with(json!({"error_rate": 1.0, "error_status": 503})).await;
    let settings = GATEWAY.replace("max_retries = 2", "max_retries = 0");
    let gw = Gateway::new(&config(&settings, &["m"], &[dep("a", &flaky.url(), "")])).unwrap();
    for _ in 0..3 {
        fails(&gw, request("m", false, "UNCLASSIFIED")).await;
    }
    assert_eq!(status(&gw, "a").circuit, CircuitState::Open);
    // Heal slowly: the trial request will still be waiting when its caller gives up.
    flaky
        .set(json!({"error_rate": 0.0, "latency_ms": 3000}))
        .await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        chat(&gw, request("m", false, "UNCLASSIFIED")),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the trial should still have been waiting"
    );
    flaky.set(json!({"latency_ms": 0})).await;
    let (served_by, events) = ok(&gw, request("m", false, "UNCLASSIFIED")).await;
    assert_eq!(served_by, "a");
    assert_complete(&events);
    assert_eq!(status(&gw, "a").circuit, CircuitState::Closed);
}
