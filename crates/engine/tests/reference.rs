//! scif's engine against llama.cpp, the reference implementation, on the same GGUF. The
//! fixtures were recorded once with llama-cpp-python; `command` inside each says how.

// Test helpers fail loudly; that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::Value;

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(common::fixture(name)).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let e = common::engine();
    let cases = load("llamacpp_tokenize.json");
    let cases = cases.as_array().expect("list of cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let want = ids(&case["ids"]);
        assert_eq!(e.encode(text).unwrap(), want, "tokenizing {text:?}");
        // Decoding gives the text back (special tokens are left out of decoded text).
        if !text.contains("<|") {
            assert_eq!(e.decode(&want).unwrap(), text, "round trip of {text:?}");
        }
    }
}

#[test]
fn special_tokens_come_from_the_gguf_vocabulary() {
    let e = common::engine();
    let t = e.tokenizer();
    for name in ["<|im_start|>", "<|im_end|>", "<|endoftext|>"] {
        let ids = e.encode(name).unwrap();
        assert_eq!(ids.len(), 1, "{name} is one token");
        assert!(t.is_special(ids[0]), "{name} is special");
        assert_eq!(t.token(ids[0]), Some(name));
    }
    let im_end = e.encode("<|im_end|>").unwrap()[0];
    assert!(t.stop_ids.contains(&im_end), "<|im_end|> ends a turn");
    assert_eq!(t.vocab_size(), 49152);
}

#[test]
fn chat_template_is_the_models_own_chatml() {
    let e = common::engine();
    let msgs = [
        scif_engine::TemplateMessage {
            role: "system".into(),
            content: "You are a helpful assistant.".into(),
        },
        scif_engine::TemplateMessage {
            role: "user".into(),
            content: "Hi".into(),
        },
    ];
    assert_eq!(
        e.render_chat(&msgs).unwrap(),
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    // Without a system message the model's template adds its own default one.
    let out = e.render_chat(&msgs[1..]).unwrap();
    assert!(
        out.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
        "{out}"
    );
}

#[test]
fn teacher_forced_top1_agrees_with_llama_cpp() {
    let fx = load("llamacpp_top1.json");
    assert_eq!(
        fx["model_sha256"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    let tokens = ids(&fx["tokens"]);
    let want = ids(&fx["top1"]);
    let e = common::engine();
    assert_eq!(
        e.encode(fx["text"].as_str().unwrap()).unwrap(),
        tokens,
        "same tokens as llama.cpp"
    );
    let logits = e.teacher_forced_logits(&tokens).unwrap();
    assert_eq!(logits.len(), tokens.len());
    let got: Vec<u32> = logits
        .iter()
        .map(|l| scif_engine::model::argmax(l))
        .collect();
    let margins: Vec<f64> = fx["top2_margin"]
        .as_array()
        .expect("margins")
        .iter()
        .map(|m| m.as_f64().unwrap_or(0.0))
        .collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if g != w {
            eprintln!(
                "position {i}: scif {g} llama.cpp {w} (llama.cpp's own top-2 margin {:.3})",
                margins[i]
            );
        }
    }
    let agree = got.iter().zip(&want).filter(|(a, b)| a == b).count();
    let ratio = agree as f64 / tokens.len() as f64;
    eprintln!(
        "top-1 agreement with llama.cpp: {agree}/{} = {:.4}",
        tokens.len(),
        ratio
    );
    assert!(ratio >= 0.98, "top-1 agreement {ratio:.4} < 0.98");
}

#[test]
fn prefill_and_token_by_token_decoding_agree() {
    // The same positions computed as one prefill and as single-token decode steps (and as
    // uneven chunks) must give the same next-token choices: chunked prefill depends on it.
    // 150 positions cross the KV cache's growth points (64 and 128).
    let fx = load("llamacpp_top1.json");
    let tokens: Vec<u32> = ids(&fx["tokens"]).into_iter().take(150).collect();
    let e = common::engine();
    let whole = e.teacher_forced_logits(&tokens).unwrap();
    for chunk in [1usize, 7] {
        let stepped = e.chunked_logits(&tokens, chunk).unwrap();
        assert_eq!(stepped.len(), whole.len());
        let mut max_rel = 0f32;
        for (i, (a, b)) in whole.iter().zip(&stepped).enumerate() {
            let num: f32 = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt();
            let den: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
            max_rel = max_rel.max(num / den);
            assert_eq!(
                scif_engine::model::argmax(a),
                scif_engine::model::argmax(b),
                "chunk {chunk} position {i}: relative difference {}",
                num / den
            );
        }
        eprintln!("chunk {chunk}: max relative logit difference {max_rel:.2e}");
        assert!(max_rel < 1e-3, "chunk {chunk}: {max_rel}");
    }
}
