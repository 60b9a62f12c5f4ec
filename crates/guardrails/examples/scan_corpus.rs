//! Scans the labeled corpus, writes predictions and timings for `bench/guardrails/score.py`:
//!
//! `cargo run --release -p scif-guardrails --example scan_corpus -- CORPUS PREDICTIONS TIMING`
//!
//! Timing covers two setups on one core: the entity scanner alone, and a policy with every
//! detector on (all entity types, the profanity list, PROMPT_ATTACK at HIGH, a site regex and
//! the spillage check).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::Write;
use std::time::Instant;

mod common;

use scif_guardrails::policy::Source;
use scif_guardrails::scan::{scan, EntitySet};
use scif_guardrails::EntityType;
use serde_json::json;

#[derive(serde::Deserialize)]
struct Doc {
    id: String,
    text: String,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, corpus, predictions, timing] = args.as_slice() else {
        eprintln!("usage: scan_corpus CORPUS PREDICTIONS TIMING");
        std::process::exit(2);
    };
    let docs: Vec<Doc> = std::fs::read_to_string(corpus)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();

    let mut out = std::io::BufWriter::new(std::fs::File::create(predictions).unwrap());
    for d in &docs {
        let entities: Vec<_> = scan(&d.text, EntitySet::all())
            .into_iter()
            .map(|f| json!({"type": f.entity.name(), "start": f.start, "end": f.end}))
            .collect();
        writeln!(out, "{}", json!({"id": d.id, "entities": entities})).unwrap();
    }
    out.flush().unwrap();

    let policy = common::bench_policy(true);
    let allowed = common::secret_ceiling();

    // Warm up, then time passes over the whole corpus until two seconds have gone by.
    let measure = |f: &mut dyn FnMut(&str)| {
        for d in docs.iter().take(50) {
            f(&d.text);
        }
        let mut lat = Vec::new();
        let started = Instant::now();
        let mut passes = 0;
        while passes == 0 || started.elapsed().as_secs_f64() < 2.0 {
            for d in &docs {
                let t = Instant::now();
                f(&d.text);
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            passes += 1;
        }
        let seconds = started.elapsed().as_secs_f64() / passes as f64;
        lat.sort_by(|a, b| a.total_cmp(b));
        (seconds, percentile(&lat, 0.5), percentile(&lat, 0.99))
    };
    let mut sink = 0usize;
    let (scan_s, scan_p50, scan_p99) = measure(&mut |t| sink += scan(t, EntitySet::all()).len());
    let (all_s, all_p50, all_p99) = measure(&mut |t| {
        sink += policy
            .evaluate(t, Source::Input, Some(&allowed))
            .detections
            .len()
    });
    let covers: Vec<&str> = EntityType::ALL.iter().map(|t| t.name()).collect();
    let report = json!({
        "tool": "scif",
        "bytes": bytes,
        "docs": docs.len(),
        "seconds": scan_s,
        "mb_per_s": bytes as f64 / scan_s / 1e6,
        "latency_ms": {"p50": scan_p50, "p99": scan_p99},
        "all_detectors": {
            "seconds": all_s,
            "mb_per_s": bytes as f64 / all_s / 1e6,
            "latency_ms": {"p50": all_p50, "p99": all_p99},
        },
        "covers": covers,
        "checksum": sink,
    });
    std::fs::write(timing, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
