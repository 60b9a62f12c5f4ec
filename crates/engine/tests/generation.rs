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
        ..Default::default()
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
    // One running plus one waiting, however fast the scheduler wakes; the rest refused.
    assert_eq!((held.len(), refused), (2, 4));
    // A place comes back when a held job goes away.
    drop(held.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match e.submit(p.clone(), greedy(), Some(200), vec![]) {
            Ok(rx) => {
                held.push(rx);
                break;
            }
            Err(scif_engine::SubmitError::QueueFull) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(other) => panic!("no place came back: {other}"),
        }
    }
}

const LONG_SYSTEM: &str = "You are the records assistant of a regional hospital. Answer in one or two short sentences, in plain English, without lists. Never invent patient details; if a question needs records you do not have, say so. Prefer metric units and ISO dates.";

fn with_system(e: &scif_engine::Engine, question: &str) -> Vec<u32> {
    let text = e
        .render_chat(&[msg("system", LONG_SYSTEM), msg("user", question)])
        .unwrap();
    e.encode(&text).unwrap()
}

fn engine_with(prefix_cache_bytes: usize, kv_budget_bytes: usize) -> scif_engine::Engine {
    let opts = scif_engine::EngineOptions {
        threads: 2,
        max_batch: 8,
        max_queue: 16,
        prefill_chunk: 128,
        max_context: Some(512),
        kv_budget_bytes,
        prefix_cache_bytes,
    };
    scif_engine::Engine::load(&common::model_path(), &opts).unwrap()
}

#[tokio::test]
async fn a_repeated_system_prompt_is_processed_once_and_changes_nothing() {
    let cached = engine_with(64 << 20, 256 << 20);
    let plain = engine_with(0, 256 << 20);
    let first = with_system(&cached, "What does MRN stand for?");
    let second = with_system(&cached, "How many days are in a leap year?");
    let shared = first
        .iter()
        .zip(&second)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        shared > 40,
        "the prompts share the system prompt ({shared} tokens)"
    );

    let (a, ..) = collect(cached.submit(first, greedy(), Some(24), vec![]).unwrap()).await;
    assert!(!a.is_empty());
    let stats = cached.stats();
    assert_eq!(
        stats.prefix_hits.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let (b, ..) = collect(
        cached
            .submit(second.clone(), greedy(), Some(24), vec![])
            .unwrap(),
    )
    .await;
    assert_eq!(
        stats.prefix_hits.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let reused = stats
        .prefix_tokens_reused
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(reused as usize, shared, "every shared token was reused");
    assert!(
        stats
            .prefix_cache_bytes
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );

    // The same prompt without a prefix cache gives exactly the same greedy answer.
    let (b_plain, ..) = collect(plain.submit(second, greedy(), Some(24), vec![]).unwrap()).await;
    assert_eq!(b, b_plain);
    assert_eq!(
        plain
            .stats()
            .prefix_hits
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn requests_wait_for_kv_memory_instead_of_exceeding_the_budget() {
    use std::sync::atomic::Ordering::SeqCst;
    // A budget that holds one sequence of this prompt plus 40 tokens, and not two.
    let p = prompt("Tell me a story about a lighthouse keeper.");
    let probe = engine_with(0, 256 << 20);
    let one = probe.kv_bytes_for(p.len() + 40);
    drop(probe);
    // The prefix cache is on: its entries count against the same budget.
    let e = engine_with(64 << 20, one + one / 2);
    // The longest sequence the budget can hold (the cache grows in powers of two).
    assert_eq!(e.context_length(), 128);
    let rxs: Vec<_> = (0..3)
        .map(|_| e.submit(p.clone(), greedy(), Some(40), vec![]).unwrap())
        .collect();
    // Each reserves the cache its prompt and max_tokens can grow to: they run one at a time, the others wait queued, and the reservation never passes the budget.
    let stats = e.stats();
    let mut most_active = 0;
    let mut saw_waiting = false;
    let watch = async {
        loop {
            most_active = most_active.max(stats.active.load(SeqCst));
            saw_waiting |= stats.queued.load(SeqCst) > 0 && stats.active.load(SeqCst) == 1;
            assert!(stats.kv_reserved_bytes.load(SeqCst) <= one + one / 2);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    };
    let all = async {
        let mut out = Vec::new();
        for rx in rxs {
            out.push(collect(rx).await);
        }
        out
    };
    let results = tokio::select! {
        r = all => r,
        _ = watch => unreachable!(),
    };
    for (text, reason, n) in &results {
        assert!(!text.is_empty() && *n > 0, "{reason:?}");
    }
    // Same prompt, greedy: the same answer whether it ran first or waited.
    assert!(results.windows(2).all(|w| w[0].0 == w[1].0));
    assert_eq!(
        most_active, 1,
        "only one sequence fits the budget at a time"
    );
    // The two that waited started from the first one's prompt, and the answers did not change.
    assert_eq!(stats.prefix_hits.load(SeqCst), 2);
    assert!(stats.prefix_cache_bytes.load(SeqCst) <= one / 2 + one);
    assert!(saw_waiting, "the others waited in the queue");
    // A request that could never fit is refused at submission, not queued forever.
    assert!(matches!(
        e.submit(p.clone(), greedy(), Some(600), vec![]),
        Err(scif_engine::SubmitError::ContextLength { limit: 128, .. })
    ));
}
