//! Teacher-forced top-1 agreement between scif and a llama.cpp fixture recorded on the same
//! GGUF (bench/record_llamacpp_fixture.py); bench/agreement.sh runs it for every quantization
//! type. Prints one JSON object.
//!
//! cargo run --release -p scif-engine --example agreement -- MODEL.gguf FIXTURE.json

// A benchmark harness, not library code: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use scif_engine::{kernels::Backend, Engine, EngineOptions};
use serde_json::{json, Value};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, fixture) = (&args[1], &args[2]);
    let fx: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect()
    };
    let (tokens, want) = (ids(&fx["tokens"]), ids(&fx["top1"]));
    let opts = EngineOptions {
        max_context: Some(2048),
        ..Default::default()
    };
    let e = Engine::load(std::path::Path::new(model), &opts).expect("model loads");
    let text = fx["text"].as_str().expect("text");
    assert_eq!(e.encode(text).unwrap(), tokens, "same tokens as llama.cpp");
    let logits = e.teacher_forced_logits(&tokens).unwrap();
    let agree = logits
        .iter()
        .zip(&want)
        .filter(|(l, w)| scif_engine::model::argmax(l) == **w)
        .count();
    println!(
        "{}",
        json!({
            "model": model,
            "kernels": Backend::detect().name(),
            "agree": agree,
            "positions": tokens.len(),
            "ratio": agree as f64 / tokens.len() as f64,
        })
    );
}
