//! A tokenizer built from the GGUF file's own vocabulary, so that any GGUF chat model of the
//! `gpt2` (byte-level BPE) tokenizer family works, not only the default one.

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

use crate::gguf::GgufFile;
use crate::EngineError;

/// GGUF `tokenizer.ggml.token_type` value for an ordinary token.
const TOKEN_TYPE_NORMAL: i32 = 1;

pub struct Tokenizer {
    inner: HfTokenizer,
    tokens: Vec<String>,
    special: Vec<bool>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Tokens that end generation: eos plus end-of-turn tokens the vocabulary names.
    pub stop_ids: Vec<u32>,
}

impl Tokenizer {
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self, EngineError> {
        let bad = |m: &str| EngineError::InvalidModel(format!("tokenizer: {m}"));
        let model = gguf.get_str("tokenizer.ggml.model").unwrap_or("");
        if model != "gpt2" {
            return Err(EngineError::Unsupported(format!(
                "tokenizer model {model:?} (only byte-level BPE, \"gpt2\", is supported)"
            )));
        }
        let tokens = string_array(gguf.get("tokenizer.ggml.tokens"))
            .ok_or_else(|| bad("missing tokenizer.ggml.tokens"))?;
        let merges = string_array(gguf.get("tokenizer.ggml.merges"))
            .ok_or_else(|| bad("missing tokenizer.ggml.merges"))?;
        let types: Vec<i32> = match gguf.get("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.to_i32().unwrap_or(TOKEN_TYPE_NORMAL))
                .collect(),
            _ => vec![TOKEN_TYPE_NORMAL; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut merge_pairs = Vec::with_capacity(merges.len());
        for m in &merges {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| bad("a merge is not two tokens"))?;
            merge_pairs.push((a.to_string(), b.to_string()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merge_pairs)
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        let mut inner = HfTokenizer::new(bpe);
        let pre: Vec<PreTokenizerWrapper> =
            match gguf.get_str("tokenizer.ggml.pre").unwrap_or("default") {
                // GPT-2 splitting, with every digit its own piece, as llama.cpp does for these.
                "smollm" | "qwen2" | "llama3" | "llama-bpe" | "deepseek-llm" => {
                    vec![
                        Digits::new(true).into(),
                        ByteLevel::new(false, true, true).into(),
                    ]
                }
                _ => vec![ByteLevel::new(false, true, true).into()],
            };
        inner.with_pre_tokenizer(Some(Sequence::new(pre)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        let bos = gguf
            .get_u64("tokenizer.ggml.bos_token_id")
            .map(|v| v as u32);
        let eos = gguf
            .get_u64("tokenizer.ggml.eos_token_id")
            .map(|v| v as u32);
        let mut special = vec![false; tokens.len()];
        for (i, t) in types.iter().enumerate() {
            if *t != TOKEN_TYPE_NORMAL && i < special.len() {
                special[i] = true;
            }
        }
        for key in ["bos", "eos", "padding", "unknown", "eot", "eom"] {
            if let Some(id) = gguf.get_u64(&format!("tokenizer.ggml.{key}_token_id")) {
                if let Some(s) = special.get_mut(id as usize) {
                    *s = true;
                }
            }
        }
        let added: Vec<AddedToken> = tokens
            .iter()
            .zip(&special)
            .filter(|(_, s)| **s)
            .map(|(t, _)| AddedToken::from(t.clone(), true))
            .collect();
        inner.add_special_tokens(&added);

        let mut stop_ids: Vec<u32> = eos.into_iter().collect();
        for key in ["eot", "eom"] {
            if let Some(id) = gguf.get_u64(&format!("tokenizer.ggml.{key}_token_id")) {
                stop_ids.push(id as u32);
            }
        }
        for name in [
            "<|im_end|>",
            "<|eot_id|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
        ] {
            if let Some(id) = tokens.iter().position(|t| t == name) {
                if special[id] {
                    stop_ids.push(id as u32);
                }
            }
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        Ok(Self {
            inner,
            tokens,
            special,
            bos,
            eos,
            stop_ids,
        })
    }

    /// Encode text; special-token strings in it become their special ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| EngineError::Tokenizer(e.to_string()))
    }

    /// Decode ids to text, leaving out special tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String, EngineError> {
        self.inner
            .decode(ids, true)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }
}

fn string_array(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(a) => a.iter().map(|v| v.to_string().ok().cloned()).collect(),
        _ => None,
    }
}

/// Turns a growing list of token ids into text deltas without splitting a UTF-8 character.
#[derive(Default)]
pub struct IncrementalDecoder {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
}

impl IncrementalDecoder {
    /// Add a token; returns the new text it completes (possibly empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String, EngineError> {
        self.ids.push(id);
        let prefix = tok.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = tok.decode(&self.ids[self.prefix_offset..])?;
        if full.len() > prefix.len()
            && !full.ends_with('\u{FFFD}')
            && full.is_char_boundary(prefix.len())
        {
            let delta = full[prefix.len()..].to_string();
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
            Ok(delta)
        } else {
            Ok(String::new())
        }
    }
}
