//! The scif side of the side-by-side benchmark (bench/run.sh runs both sides). Measures the
//! embedded engine in-process, through the same scheduler the server uses, with the same prompts
//! and definitions as bench/llamacpp_bench.py, and prints one JSON object.
//!
//! cargo run --release -p scif-engine --example engine_bench -- MODEL.gguf THREADS [PROMPT_TOKENS] [DECODE_TOKENS] [STREAMS]

// A benchmark harness, not library code: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::Instant;

use scif_engine::{Engine, EngineOptions, GenerationEvent, SamplingParams};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

const SHORT_PROMPT: &str = "The history of the printing press begins in";
const TTFT_PROMPT: &str = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France? Answer in one short sentence.<|im_end|>\n<|im_start|>assistant\n";
const FILLER: &str = "Rivers have shaped the growth of cities for thousands of years. A river provides fresh water for drinking and farming, a route for trade and travel, and a natural boundary that can be defended. Many of the oldest settlements grew up where a river could be crossed easily, or where it met the sea. Over time, bridges, docks and warehouses were built along the banks, and the river became the centre of economic life. In the modern era, railways and roads reduced the importance of river transport, but waterfronts were often rebuilt as parks, homes and places of culture. ";

fn greedy() -> SamplingParams {
    SamplingParams {
        temperature: 0.0,
        ignore_eos: true,
        ..Default::default()
    }
}

/// Wait for the first event, then for the end; returns (first, end) instants.
async fn drain(mut rx: UnboundedReceiver<GenerationEvent>) -> (Instant, Instant) {
    let mut first = None;
    while let Some(ev) = rx.recv().await {
        first.get_or_insert_with(Instant::now);
        match ev {
            GenerationEvent::Finished { .. } => break,
            GenerationEvent::Error(e) => panic!("generation failed: {e}"),
            GenerationEvent::Text(_) => {}
        }
    }
    let end = Instant::now();
    (first.unwrap_or(end), end)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .expect("usage: engine_bench MODEL THREADS [PROMPT_TOKENS] [DECODE_TOKENS] [STREAMS]");
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let n_prompt: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(512);
    let n_decode: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(128);
    let streams: Vec<usize> = args
        .get(5)
        .map(|s| s.as_str())
        .unwrap_or("1,4,16")
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect();
    let max_batch = streams.iter().copied().max().unwrap_or(1);
    let opts = EngineOptions {
        threads,
        max_batch,
        max_queue: 64,
        prefill_chunk: n_prompt,
        max_context: Some(2048),
        // Off unless asked for: the side-by-side compares the engines on the same work.
        prefix_cache_bytes: std::env::var("PREFIX_CACHE_MB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
            << 20,
        ..Default::default()
    };
    let e = Engine::load(std::path::Path::new(model), &opts).expect("model loads");

    // Warm-up.
    drain(
        e.submit(e.encode(SHORT_PROMPT).unwrap(), greedy(), Some(4), vec![])
            .unwrap(),
    )
    .await;

    // Prompt processing: one prompt of n_prompt tokens, time to its first sampled token; best of 3.
    let mut filler = Vec::new();
    while filler.len() < n_prompt {
        filler.extend(e.encode(FILLER).unwrap());
    }
    filler.truncate(n_prompt);
    let mut prompt_tps: f64 = 0.0;
    for _ in 0..3 {
        let t = Instant::now();
        let (first, _) = drain(e.submit(filler.clone(), greedy(), Some(1), vec![]).unwrap()).await;
        prompt_tps = prompt_tps.max(n_prompt as f64 / (first - t).as_secs_f64());
    }

    // Decode: n streams of n_decode tokens each, timed from the last stream's first token.
    let mut aggregate = serde_json::Map::new();
    let short = e.encode(SHORT_PROMPT).unwrap();
    let mut decode_1 = 0.0;
    for &s in &streams {
        let rxs: Vec<_> = (0..s)
            .map(|_| {
                e.submit(short.clone(), greedy(), Some(n_decode), vec![])
                    .unwrap()
            })
            .collect();
        let results = futures::future::join_all(rxs.into_iter().map(drain)).await;
        let start = results.iter().map(|r| r.0).max().unwrap();
        let end = results.iter().map(|r| r.1).max().unwrap();
        let tps = (s * (n_decode - 1)) as f64 / (end - start).as_secs_f64();
        if s == 1 {
            decode_1 = tps;
        }
        aggregate.insert(s.to_string(), json!((tps * 10.0).round() / 10.0));
    }

    // Time to first token of a ~40-token chat prompt, tokenization included; median of 5.
    let mut ttft = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let p = e.encode(TTFT_PROMPT).unwrap();
        let (first, _) = drain(e.submit(p, greedy(), Some(1), vec![]).unwrap()).await;
        ttft.push((first - t).as_secs_f64() * 1000.0);
    }
    ttft.sort_by(|a, b| a.total_cmp(b));
    let out = json!({
        "engine": "scif",
        "threads": threads,
        "prompt_tokens": n_prompt,
        "decode_tokens": n_decode,
        "prompt_tps": (prompt_tps * 10.0).round() / 10.0,
        "decode_tps_1": (decode_1 * 10.0).round() / 10.0,
        "aggregate_tps": aggregate,
        "ttft_ms": (ttft[2] * 10.0).round() / 10.0,
        "ttft_prompt_tokens": e.encode(TTFT_PROMPT).unwrap().len(),
        "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
    });
    println!("{out}");
}
