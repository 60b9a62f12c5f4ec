//! The test suite every provider must pass, whatever serves its completions: call [`check`]
//! from the provider's own tests with a model it serves (the embedded engine runs it in
//! `crates/provider/tests/`, the gateway against the mock upstream in `crates/gateway/tests/`).
//!
//! It checks what the server relies on: the model is listed and served, an unknown model is
//! `ModelNotFound`, a generation (streamed or not) is text deltas then exactly one `Done` with
//! plausible usage and nothing after it, `max_tokens` is honoured with finish reason `length`,
//! a dropped stream leaves the provider able to serve the next request, and concurrent
//! requests each complete.

use std::time::Duration;

use futures::StreamExt;

use crate::{ChatEvent, ChatMessage, ChatRequest, FinishReason, Provider, ProviderError};

/// A request for `model` with `max_tokens`, streamed or not.
pub fn request(model: &str, stream: bool, max_tokens: usize) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![ChatMessage {
            role: "user".into(),
            content: "Count from one to twenty, in words.".into(),
            ..Default::default()
        }],
        sampling: crate::SamplingParams {
            temperature: 0.0,
            ..Default::default()
        },
        max_tokens: Some(max_tokens),
        stop: vec![],
        stream,
        input_label: scif_labels::Label::unclassified(),
        tools: Vec::new(),
        tool_choice: None,
    }
}

/// Every event of one generation, with a bound on how long it may take.
async fn events(p: &dyn Provider, req: ChatRequest) -> Result<(String, Vec<ChatEvent>), String> {
    let started = p
        .chat(req)
        .await
        .map_err(|e| format!("chat failed: {e:?}"))?;
    if started.served_by.is_empty() {
        return Err("served_by is empty".into());
    }
    let all = tokio::time::timeout(Duration::from_secs(120), started.events.collect::<Vec<_>>())
        .await
        .map_err(|_| "the generation did not end within 120 s".to_owned())?;
    Ok((started.served_by, all))
}

/// Deltas, then one `Done` last; returns the text, the finish reason and the usage.
fn shape(events: &[ChatEvent]) -> Result<(String, FinishReason, crate::Usage), String> {
    let Some((last, body)) = events.split_last() else {
        return Err("no events".into());
    };
    let mut text = String::new();
    for ev in body {
        match ev {
            ChatEvent::Delta(t) => text.push_str(t),
            other => return Err(format!("{other:?} before the end")),
        }
    }
    match last {
        ChatEvent::Done {
            finish_reason,
            usage,
        } => Ok((text, *finish_reason, *usage)),
        other => Err(format!("the last event is {other:?}, not Done")),
    }
}

/// Runs the whole suite against `p` serving `model`.
pub async fn check(p: &dyn Provider, model: &str) -> Result<(), String> {
    if !p.models().iter().any(|m| m.id == model) || !p.serves(model) {
        return Err(format!("{model} is not listed or not served"));
    }
    if p.serves("no-such-model-anywhere") {
        return Err("serves an unknown model".into());
    }
    match p.chat(request("no-such-model-anywhere", false, 4)).await {
        Err(ProviderError::ModelNotFound(_)) => {}
        Err(e) => return Err(format!("unknown model: expected ModelNotFound, got {e:?}")),
        Ok(_) => return Err("unknown model: a generation started".into()),
    }

    let mut texts = Vec::new();
    for stream in [false, true] {
        let (_, evs) = events(p, request(model, stream, 4)).await?;
        let (text, finish, usage) = shape(&evs).map_err(|e| format!("stream={stream}: {e}"))?;
        if text.is_empty() {
            return Err(format!("stream={stream}: no text"));
        }
        if usage.prompt_tokens == 0 || !(1..=4).contains(&usage.completion_tokens) {
            return Err(format!("stream={stream}: implausible usage {usage:?}"));
        }
        if usage.completion_tokens == 4 && finish != FinishReason::Length {
            return Err(format!(
                "stream={stream}: used all 4 tokens but finished with {finish:?}"
            ));
        }
        texts.push(text);
    }
    if texts[0] != texts[1] {
        return Err(format!(
            "greedy answers differ between streamed and whole: {:?} vs {:?}",
            texts[1], texts[0]
        ));
    }

    let (_, evs) = events(p, request(model, true, 1)).await?;
    let (_, finish, usage) = shape(&evs)?;
    if usage.completion_tokens != 1 || finish != FinishReason::Length {
        return Err(format!(
            "max_tokens 1: {usage:?}, {finish:?} (expected one token, length)"
        ));
    }

    // A caller that goes away mid-stream: the next request is still served.
    let started = p
        .chat(request(model, true, 16))
        .await
        .map_err(|e| format!("chat failed: {e:?}"))?;
    let mut stream = started.events;
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.next()).await;
    drop(stream);
    let (_, evs) = events(p, request(model, false, 2)).await?;
    shape(&evs).map_err(|e| format!("after a dropped stream: {e}"))?;

    // Concurrent requests each complete.
    let runs = (0..4).map(|i| events(p, request(model, i % 2 == 0, 3)));
    for r in futures::future::join_all(runs).await {
        let (_, evs) = r?;
        shape(&evs).map_err(|e| format!("concurrent: {e}"))?;
    }
    Ok(())
}
