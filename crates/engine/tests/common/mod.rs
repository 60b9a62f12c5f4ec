// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use scif_engine::{Engine, EngineOptions};

/// `$var` if set, else `name` in the model cache the fetch scripts fill.
pub fn cached_model(var: &str, name: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or(home.join(".cache"));
            cache.join("scif/models").join(name)
        }
    }
}

/// The default model, fetched by `scripts/fetch-model.sh` (which `make test` runs first).
pub fn model_path() -> PathBuf {
    let p = cached_model("SCIF_TEST_MODEL", "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.exists(),
        "model file {} missing: run scripts/fetch-model.sh (make test does)",
        p.display()
    );
    p
}

/// One engine shared by the tests of a binary (loading takes a second).
pub fn engine() -> Arc<Engine> {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(|| Arc::new(fresh_engine())).clone()
}

/// An engine of its own, for tests that watch the scheduler's counters.
pub fn fresh_engine() -> Engine {
    let opts = EngineOptions {
        threads: 2,
        max_batch: 8,
        max_queue: 32,
        prefill_chunk: 128,
        max_context: Some(2048),
        ..Default::default()
    };
    Engine::load(&model_path(), &opts).expect("default model loads")
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}
