//! Time each stage of inspection on a JSONL corpus (one `text` per line), one thread:
//! `cargo run --release -p scif-guardrails --example stage_timing -- CORPUS`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

mod common;

use scif_guardrails::attack;
use scif_guardrails::markings;
use scif_guardrails::normalize::View;
use scif_guardrails::policy::Source;
use scif_guardrails::scan::{scan, scan_detailed, EntitySet};

fn main() {
    let path = std::env::args().nth(1).expect("usage: stage_timing CORPUS");
    let texts: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut sink = 0usize;
    let mut time = |name: &str, f: &mut dyn FnMut(&str) -> usize| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for x in &texts {
                sink += f(x);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{name:>22}: {:8.1} MB/s", bytes as f64 / best / 1e6);
    };
    time("view", &mut |t| View::new(t).text().len());
    time("scan (raw)", &mut |t| {
        scan_detailed(t, EntitySet::all()).findings.len()
    });
    time("scan (view+decode)", &mut |t| {
        scan(t, EntitySet::all()).len()
    });
    time("markings", &mut |t| markings::find(t).len());
    time("attack", &mut |t| attack::detect(t).len());
    time("attack techniques", &mut |t| {
        scif_guardrails::techniques::detect(t).len()
    });
    let (with, without) = (common::bench_policy(true), common::bench_policy(false));
    let allowed = common::secret_ceiling();
    time("policy: everything", &mut |t| {
        with.evaluate(t, Source::Input, Some(&allowed))
            .detections
            .len()
    });
    time("policy: no spillage", &mut |t| {
        with.evaluate(t, Source::Input, None).detections.len()
    });
    time("policy: no attack", &mut |t| {
        without
            .evaluate(t, Source::Input, Some(&allowed))
            .detections
            .len()
    });
    std::hint::black_box(sink);
}
