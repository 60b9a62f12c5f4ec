//! Generation through the scheduler with the real default model.

// Test helpers fail loudly; that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use scif_engine::{FinishReason, GenerationEvent, SamplingParams, TemplateMessage};

fn msg(role: &str, content: &str) -> TemplateMessage {
    TemplateMessage {
        role: role.into(),
        content: content.into(),
    }
}

fn greedy() -> SamplingParams {
    SamplingParams {
        temperature: 0.0,
        ..Default::default()
    }
}

async fn collect(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<GenerationEvent>,
) -> (String, Option<FinishReason>, usize) {
    let mut text = String::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            GenerationEvent::Text(t) => text.push_str(&t),
            GenerationEvent::Finished {
                reason,
                completion_tokens,
                ..
            } => return (text, Some(reason), completion_tokens),
            GenerationEvent::Error(e) => panic!("generation failed: {e}"),
        }
    }
    (text, None, 0)
}

fn prompt(question: &str) -> Vec<u32> {
    let e = common::engine();
    let text = e
        .render_chat(&[
            msg("system", "You are a helpful assistant."),
            msg("user", question),
        ])
        .unwrap();
    e.encode(&text).unwrap()
}

#[tokio::test]
async fn greedy_answers_the_capital_of_france() {
    let e = common::engine();
    let rx = e
        .submit(
            prompt("What is the capital of France?"),
            greedy(),
            Some(40),
            vec![],
        )
        .unwrap();
    let (text, reason, n) = collect(rx).await;
    assert_eq!(text.trim(), "The capital of France is Paris.");
    assert_eq!(reason, Some(FinishReason::Stop));
    assert_eq!(
        n,
        e.encode(&text).unwrap().len(),
        "usage matches the tokenizer's count"
    );
}

#[tokio::test]
async fn usage_counts_the_rendered_prompt() {
    let e = common::engine();
    let p = prompt("What is the capital of France?");
    let expected = p.len();
    let mut rx = e.submit(p, greedy(), Some(2), vec![]).unwrap();
    while let Some(ev) = rx.recv().await {
        if let GenerationEvent::Finished {
            prompt_tokens,
            completion_tokens,
            ..
        } = ev
        {
            assert_eq!((prompt_tokens, completion_tokens), (expected, 2));
            return;
        }
    }
    panic!("no Finished event");
}

#[tokio::test]
async fn greedy_is_deterministic_and_concurrent_streams_match_solo_runs() {
    let e = common::engine();
    let questions = [
        "What is the capital of France?",
        "Name three colors.",
        "What is 2 plus 2?",
        "Write a haiku about the sea.",
    ];
    let mut solo = Vec::new();
    for q in questions {
        solo.push(
            collect(e.submit(prompt(q), greedy(), Some(24), vec![]).unwrap())
                .await
                .0,
        );
    }
    let again = collect(
        e.submit(prompt(questions[1]), greedy(), Some(24), vec![])
            .unwrap(),
    )
    .await
    .0;
    assert_eq!(again, solo[1], "greedy decoding is deterministic");
    let rxs: Vec<_> = questions
        .iter()
        .map(|q| e.submit(prompt(q), greedy(), Some(24), vec![]).unwrap())
        .collect();
    let together = futures::future::join_all(rxs.into_iter().map(collect)).await;
    for (i, (text, _, _)) in together.iter().enumerate() {
        assert_eq!(text, &solo[i], "stream {i} batched with three others");
    }
}

#[tokio::test]
async fn same_seed_same_text() {
    let e = common::engine();
    let p = SamplingParams {
        temperature: 0.9,
        top_p: 0.95,
        seed: Some(42),
        ..Default::default()
    };
    let a = collect(
        e.submit(prompt("Tell me a story."), p.clone(), Some(20), vec![])
            .unwrap(),
    )
    .await
    .0;
    let b = collect(
        e.submit(prompt("Tell me a story."), p, Some(20), vec![])
            .unwrap(),
    )
    .await
    .0;
    assert_eq!(a, b);
    assert!(!a.is_empty());
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_end_generation() {
    let e = common::engine();
    let (text, reason, n) = collect(
        e.submit(
            prompt("Tell me a long story about a dragon."),
            greedy(),
            Some(5),
            vec![],
        )
        .unwrap(),
    )
    .await;
    assert_eq!((reason, n), (Some(FinishReason::Length), 5));
    assert!(!text.is_empty());
    let (text, reason, _) = collect(
        e.submit(
            prompt("What is the capital of France?"),
            greedy(),
            Some(40),
            vec![" is".into()],
        )
        .unwrap(),
    )
    .await;
    assert_eq!(
        (text.as_str(), reason),
        ("The capital of France", Some(FinishReason::Stop))
    );
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_refused() {
    let e = common::engine();
    let long = vec![42u32; e.context_length()];
    let err = e.submit(long, greedy(), None, vec![]).unwrap_err();
    assert!(err.to_string().contains("maximum context length"), "{err}");
}

#[tokio::test]
async fn dropping_the_receiver_cancels_the_generation() {
    use std::sync::atomic::Ordering;
    let e = common::fresh_engine();
    let p = prompt("Tell me a long story about a dragon.");
    let mut rx = e.submit(p, greedy(), Some(1000), vec![]).unwrap();
    // Wait until it is generating, then walk away.
    assert!(matches!(rx.recv().await, Some(GenerationEvent::Text(_))));
    drop(rx);
    for _ in 0..100 {
        if e.stats().active.load(Ordering::SeqCst) == 0 {
            let generated = e.stats().tokens_generated.load(Ordering::SeqCst);
            assert!(
                generated < 100,
                "generation went on after the receiver was dropped: {generated} tokens"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the cancelled sequence is still active");
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once() {
    let opts = scif_engine::EngineOptions {
        threads: 2,
        max_batch: 1,
        max_queue: 1,
        prefill_chunk: 128,
        max_context: Some(512),
    };
    let e = scif_engine::Engine::load(&common::model_path(), &opts).unwrap();
    let p = prompt("Tell me a long story about a dragon.");
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        match e.submit(p.clone(), greedy(), Some(200), vec![]) {
            Ok(rx) => held.push(rx),
            Err(scif_engine::SubmitError::QueueFull) => refused += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    // One running, one waiting (at most one more admitted meanwhile); the rest refused.
    assert!(
        held.len() <= 3 && refused >= 3,
        "held {} refused {refused}",
        held.len()
    );
}
