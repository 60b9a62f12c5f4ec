//! One pass of the entity scanner (`scan`) or of a policy with every detector on (`all`, the
//! default) over a corpus, for instruction counts that do not depend on a noisy machine:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='*measure_loop*' \
//!   "$CARGO_TARGET_DIR"/release/examples/one_pass crates/guardrails/tests/data/corpus.jsonl all
//! ```
//!
//! The name tables are built on first use inside the loop; their one-time cost is the
//! `names::build` line of `callgrind_annotate --inclusive=yes`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use scif_guardrails::policy::{Policy, Source};
use scif_guardrails::scan::{scan, EntitySet};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let texts: Vec<String> = std::fs::read_to_string(&args[1])
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    let policy = common::bench_policy(true);
    let allowed = common::secret_ceiling();
    let mut sink = 0;
    // warm the automata
    sink += policy
        .evaluate("warm up SECRET", Source::Input, Some(&allowed))
        .detections
        .len();
    let mode = args.get(2).map(String::as_str).unwrap_or("all");
    sink += measure_loop(&texts, mode, &policy, &allowed);
    println!("{sink}");
}

#[inline(never)]
fn measure_loop(
    texts: &[String],
    mode: &str,
    policy: &Policy,
    allowed: &(dyn Fn(&scif_labels::Label) -> bool + Sync),
) -> usize {
    let mut sink = 0;
    for t in texts {
        if mode == "scan" {
            sink += scan(t, EntitySet::all()).len();
        } else {
            sink += policy
                .evaluate(t, Source::Input, Some(allowed))
                .detections
                .len();
        }
    }
    sink
}
