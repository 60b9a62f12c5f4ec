//! `scif chat MODEL`: an interactive terminal chat against a running server, streaming.

use std::io::{BufRead, Write};

use clap::Args;
use futures::StreamExt;
use serde_json::{json, Value};

#[derive(Args)]
pub struct ChatArgs {
    /// The model to chat with
    model: String,
    /// Base URL of the scif server
    #[arg(long, env = "SCIF_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// System message that starts the conversation
    #[arg(long, default_value = "You are a helpful assistant.")]
    system: String,
    /// Sampling temperature (0 is greedy)
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Most tokens per answer
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// API key (or OIDC token) sent as `Authorization: Bearer`
    #[arg(long, env = "SCIF_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Label of what you type, sent as x-scif-input-label [default: your clearance]
    #[arg(long)]
    input_label: Option<String>,
}

pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", args.url.trim_end_matches('/'));
    let mut messages = vec![json!({"role": "system", "content": args.system})];
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "chatting with {} at {} (Ctrl-D or /exit to leave)",
        args.model, args.url
    );
    loop {
        let _ = write!(stdout, "> ");
        let _ = stdout.flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            let _ = writeln!(stdout);
            return Ok(());
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/exit" || line == "/quit" {
            return Ok(());
        }
        messages.push(json!({"role": "user", "content": line}));
        let body = json!({
            "model": args.model, "messages": messages, "stream": true,
            "temperature": args.temperature, "max_tokens": args.max_tokens,
        });
        let mut req = client.post(&url).bearer_auth(&args.api_key).json(&body);
        if let Some(l) = &args.input_label {
            req = req.header("x-scif-input-label", l);
        }
        let resp = req.send().await?;
        if let Some(label) = resp
            .headers()
            .get("x-scif-label")
            .and_then(|v| v.to_str().ok())
        {
            let _ = writeln!(stdout, "[{label}]");
        }
        if !resp.status().is_success() {
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            let msg = v["error"]["message"].as_str().unwrap_or("no details");
            let _ = writeln!(stdout, "[error {status}: {msg}]");
            messages.pop();
            continue;
        }
        let mut answer = String::new();
        let mut buf = String::new();
        let mut bytes = resp.bytes_stream();
        'stream: while let Some(chunk) = bytes.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(i) = buf.find("\n\n") {
                let event: String = buf.drain(..i + 2).collect();
                for data in event.lines().filter_map(|l| l.strip_prefix("data: ")) {
                    if data == "[DONE]" {
                        break 'stream;
                    }
                    let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                    if let Some(e) = v.get("error") {
                        let _ =
                            write!(stdout, "\n[error: {}]", e["message"].as_str().unwrap_or(""));
                    }
                    if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                        answer.push_str(t);
                        let _ = write!(stdout, "{t}");
                        let _ = stdout.flush();
                    }
                }
            }
        }
        let _ = writeln!(stdout);
        messages.push(json!({"role": "assistant", "content": answer}));
    }
}
