//! End-to-end tests of the `scif-mock-upstream` binary over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use futures::StreamExt;
use serde_json::{json, Value};

/// A running mock; killed on drop.
struct Mock {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Mock {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scif-mock-upstream"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn mock");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listen line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn chat(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The `data:` payloads of a streamed answer, and whether the body ended in an error.
    async fn stream(&self, body: Value) -> (Vec<String>, bool) {
        let response = self.chat(body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut raw = Vec::new();
        let mut failed = false;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => raw.extend_from_slice(&bytes),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let text = String::from_utf8(raw).unwrap();
        let events = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").expect("data event").to_owned())
            .collect();
        (events, failed)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_chunks(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"].get(0)?["delta"]["content"].as_str())
        .collect()
}

fn prompt() -> Value {
    json!({
        "model": "m1",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "alpha beta gamma"},
        ],
    })
}

#[tokio::test]
async fn non_streamed_answer() {
    let mock = Mock::start(&["--tokens", "5", "--name", "inst-a"]);
    let response = mock.chat(prompt()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "m1");
    assert_eq!(body["system_fingerprint"], "inst-a");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "alpha beta gamma alpha beta");
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})
    );

    let mut capped = prompt();
    capped["max_tokens"] = json!(2);
    let body: Value = mock.chat(capped).await.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "alpha beta");
    assert_eq!(body["choices"][0]["finish_reason"], "length");

    let stats = mock.get_json("/mock/stats").await;
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["by_status"]["200"], 2);
    assert_eq!(stats["last_request"]["max_tokens"], 2);

    let response = mock
        .http
        .post(mock.url("/v1/chat/completions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let response = mock.chat(json!({"model": "m"})).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn streamed_answer_matches() {
    let mock = Mock::start(&["--tokens", "5"]);
    let mut request = prompt();
    request["stream"] = json!(true);
    let (events, failed) = mock.stream(request.clone()).await;
    assert!(!failed);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = parse_chunks(&events);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "alpha");
    assert_eq!(chunks[2]["choices"][0]["delta"]["content"], " beta");
    assert_eq!(streamed_text(&chunks), "alpha beta gamma alpha beta");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));

    request["stream_options"] = json!({"include_usage": true});
    let (events, _) = mock.stream(request).await;
    let chunks = parse_chunks(&events);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})
    );
    assert_eq!(events.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn tool_calls() {
    let mock = Mock::start(&[]);
    let mut request = json!({
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "weather in Paris"}]}],
        "tools": [
            {"type": "function", "function": {"name": "search", "parameters": {}}},
            {"type": "function", "function": {"name": "weather", "parameters": {}}},
        ],
    });
    let body: Value = mock.chat(request.clone()).await.json().await.unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "search");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"query": "weather in Paris"}));

    request["tool_choice"] = json!({"type": "function", "function": {"name": "weather"}});
    request["stream"] = json!(true);
    let (events, _) = mock.stream(request.clone()).await;
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = parse_chunks(&events);
    let head = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(head["index"], 0);
    assert_eq!(head["type"], "function");
    assert_eq!(
        head["function"],
        json!({"name": "weather", "arguments": ""})
    );
    assert_ne!(head["id"], call["id"]);
    let args = &chunks[2]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(
        args["function"]["arguments"],
        r#"{"query":"weather in Paris"}"#
    );
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "tool_calls");

    request["stream"] = json!(false);
    let messages = request["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21C"}));
    let body: Value = mock.chat(request).await.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "tool said: sunny, 21C"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn injected_errors_are_counted() {
    let mock = Mock::start(&["--error-rate", "1"]);
    let response = mock.chat(prompt()).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "mock failure", "type": "server_error", "param": null, "code": null}})
    );
    let stats = mock.get_json("/mock/stats").await;
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["errors"], 1);
    assert_eq!(stats["by_status"], json!({"503": 1}));

    let config: Value = mock
        .post_json("/mock/config", json!({"error_rate": 0.0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config["error_rate"], 0.0);
    assert_eq!(mock.chat(prompt()).await.status(), 200);
    let reset = mock.post_json("/mock/reset", json!({})).await;
    assert_eq!(reset.status(), 200);
    let stats = mock.get_json("/mock/stats").await;
    assert_eq!(stats["requests"], 0);
    assert_eq!(stats["last_request"], Value::Null);
}

#[tokio::test]
async fn runtime_config() {
    let mock = Mock::start(&["--name", "cfg"]);
    assert_eq!(mock.get_json("/mock/config").await["tokens"], 8);
    let config: Value = mock
        .post_json(
            "/mock/config",
            json!({"tokens": 3, "healthy": false, "fail_after": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config["tokens"], 3);
    assert_eq!(config["healthy"], false);
    assert_eq!(config["fail_after"], 1);
    assert_eq!(config["error_status"], 503);

    let health = mock.http.get(mock.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let models = mock.http.get(mock.url("/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 503);

    let config = mock
        .post_json("/mock/config", json!({"healthy": true, "fail_after": null}))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(config["fail_after"], Value::Null);
    assert_eq!(config["tokens"], 3);
    let health = mock.http.get(mock.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let models = mock.get_json("/v1/models").await;
    assert_eq!(
        models,
        json!({"object": "list", "data": [{"id": "cfg", "object": "model", "created": 0, "owned_by": "mock"}]})
    );

    let body: Value = mock.chat(prompt()).await.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "alpha beta gamma");

    let bad = mock
        .post_json("/mock/config", json!({"error_rate": 3}))
        .await;
    assert_eq!(bad.status(), 400);
    let bad = mock.post_json("/mock/config", json!({"tokenz": 3})).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn fail_after_cuts_the_stream() {
    let mock = Mock::start(&["--fail-after", "2", "--token-interval-ms", "5"]);
    let mut request = prompt();
    request["stream"] = json!(true);
    let (events, failed) = mock.stream(request).await;
    assert!(failed, "the body should end in an error");
    assert!(!events.iter().any(|e| e == "[DONE]"));
    let chunks = parse_chunks(&events);
    assert_eq!(streamed_text(&chunks), "alpha beta");
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
}

#[tokio::test]
async fn api_key_is_required() {
    let mock = Mock::start(&["--api-key", "sekret"]);
    let response = mock.chat(prompt()).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let models = mock.http.get(mock.url("/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 401);
    let health = mock.http.get(mock.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let response = mock
        .http
        .post(mock.url("/v1/chat/completions"))
        .bearer_auth("sekret")
        .json(&prompt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stats = mock.get_json("/mock/stats").await;
    assert_eq!(stats["last_authorization"], "Bearer sekret");
    assert_eq!(stats["by_status"], json!({"200": 1, "401": 1}));
}

#[tokio::test]
async fn latency_delays_the_head() {
    let mock = Mock::start(&["--latency-ms", "150"]);
    let start = std::time::Instant::now();
    assert_eq!(mock.chat(prompt()).await.status(), 200);
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));
}
