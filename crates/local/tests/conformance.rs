#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The embedded engine passes the provider suite (`scif_provider::conformance`) on the default
//! model (`SCIF_TEST_MODEL`, which `make test` sets).

use std::path::PathBuf;
use std::sync::Arc;

use scif_engine::{Engine, EngineOptions};
use scif_local::{LocalModel, LocalProvider};
use scif_provider::ModelInfo;

fn model_path() -> PathBuf {
    let p = std::env::var_os("SCIF_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/scif/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    assert!(
        p.exists(),
        "model file {} missing: run scripts/fetch-model.sh (make test does)",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_passes_the_provider_suite() {
    let engine = Engine::load(&model_path(), &EngineOptions::default()).unwrap();
    let info = ModelInfo {
        id: "smol".into(),
        created: 0,
        owned_by: "scif".into(),
        context_length: engine.context_length(),
        architecture: "llama".into(),
        quantization: "Q4_1".into(),
        parameter_count: 0,
        sha256: String::new(),
        license: None,
        label: "UNCLASSIFIED".into(),
    };
    let provider = LocalProvider::new(
        vec![LocalModel {
            info,
            engine: Arc::new(engine),
        }],
        1,
    );
    if let Err(e) = scif_provider::conformance::check(&provider, "smol").await {
        panic!("the local provider fails the suite: {e}");
    }
}
