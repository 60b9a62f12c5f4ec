//! Embedding throughput of the sentence encoder, for the side-by-side benchmark in
//! `bench/embeddings/run.sh` (see BENCHMARKS.md).
//!
//! `embed_bench MODEL_DIR WORKLOAD.json [SECONDS]`: the workload is what
//! `bench/embeddings/peers.py --dump-workload` writes (the same documents and queries the peers
//! embed); documents are cut to the model's 256 tokens as the peers cut them. Prints one JSON
//! object: items per second for each precision, workload and batch size, at the kernel pool's
//! two threads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use scif_engine::{Encoder, Precision};

fn texts(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .expect("workload key")
        .iter()
        .map(|d| match d {
            serde_json::Value::String(s) => s.clone(),
            other => other["text"].as_str().expect("text").to_owned(),
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let workload: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let seconds: f64 = args.get(3).map_or(5.0, |s| s.parse().unwrap());
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global()
        .unwrap();
    let mut out = serde_json::Map::new();
    for p in [Precision::F32, Precision::Q8] {
        let enc = Encoder::load(&dir, p).unwrap();
        let max = enc.max_tokens();
        let cut = |t: &String| {
            let mut ids = enc.tokenize(t).unwrap();
            if ids.len() > max {
                let sep = *ids.last().unwrap();
                ids.truncate(max - 1);
                ids.push(sep);
            }
            ids
        };
        let docs: Vec<Vec<u32>> = texts(&workload, "documents").iter().map(cut).collect();
        let queries: Vec<Vec<u32>> = texts(&workload, "queries").iter().map(cut).collect();
        for (name, items) in [("documents", &docs), ("queries", &queries)] {
            let tokens: usize = items.iter().map(Vec::len).sum();
            for batch in [1usize, 32] {
                // Warm up, then repeat the workload until `seconds` have passed.
                for c in items.chunks(batch).take(2) {
                    enc.embed(c).unwrap();
                }
                let start = Instant::now();
                let mut done = 0usize;
                while start.elapsed().as_secs_f64() < seconds {
                    for c in items.chunks(batch) {
                        enc.embed(c).unwrap();
                        done += c.len();
                    }
                }
                let rate = done as f64 / start.elapsed().as_secs_f64();
                out.insert(
                    format!("scif_{}_{name}_batch{batch}", p.as_str()),
                    serde_json::json!({"items_per_s": rate, "mean_tokens": tokens as f64 / items.len() as f64}),
                );
                eprintln!("{} {name} batch {batch}: {rate:.1}/s", p.as_str());
            }
        }
    }
    println!("{}", serde_json::Value::Object(out));
}
