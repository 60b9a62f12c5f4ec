//! Sentence encoders: BERT-family models in the sentence-transformers layout (a directory with
//! `config.json`, `model.safetensors`, `tokenizer.json`, and optionally `modules.json`,
//! `1_Pooling/config.json` and `sentence_bert_config.json`), run on the engine's own kernels.
//!
//! The forward pass: word, position and token-type embeddings, layer norm; per layer one stacked
//! query/key/value product, bidirectional attention within each sequence, the output projection,
//! residual and layer norm, the GELU feed-forward, residual and layer norm; then mean pooling
//! over the sequence's tokens (or its first token) and L2 normalization when the model's modules
//! ask for it. Sequences of a batch are concatenated (no padding): every matrix product runs over
//! all of their rows at once, attention per sequence, so a text's vector does not depend on
//! what else is in the batch (the kernels give each row the same operations wherever it sits).
//!
//! Two precisions: `F32` (the weights as shipped) and `Q8` (weights in 8-bit blocks and
//! activations quantized per product, on the engine's integer kernels).
//!
//! [`EncoderService`] is the batching front: one thread owns the encoder and runs whatever
//! requests are waiting as one batch, up to a token budget.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

use crate::kernels::{vectorized, F32Matrix, QuantMatrix};
use crate::safetensors::SafeTensors;
use crate::EngineError;

/// Numeric form of the encoder's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    Q8,
}

impl Precision {
    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "f32" => Some(Precision::F32),
            "q8" => Some(Precision::Q8),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Q8 => "q8",
        }
    }
}

#[derive(Debug, Deserialize)]
struct BertConfig {
    #[serde(default)]
    model_type: Option<String>,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    vocab_size: usize,
    #[serde(default = "eps")]
    layer_norm_eps: f64,
    #[serde(default = "gelu")]
    hidden_act: String,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

#[derive(Debug, Deserialize, Default)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Debug, Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Module {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// A product `x W^T + b` in either precision.
enum Linear {
    F32(F32Matrix, Vec<f32>),
    Q8(QuantMatrix, Vec<f32>),
}

impl Linear {
    fn new(
        w: Vec<f32>,
        b: Vec<f32>,
        n: usize,
        k: usize,
        p: Precision,
    ) -> Result<Self, EngineError> {
        let shape = || EngineError::InvalidModel(format!("a {n}x{k} weight has an unusable width"));
        Ok(match p {
            Precision::F32 => Linear::F32(F32Matrix::new(w, n, k).ok_or_else(shape)?, b),
            Precision::Q8 => Linear::Q8(QuantMatrix::quantize_q8_0(&w, n, k).ok_or_else(shape)?, b),
        })
    }

    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let (mut y, b) = match self {
            Linear::F32(m, b) => (m.matmul(x, rows), b),
            Linear::Q8(m, b) => (m.matmul(x, rows), b),
        };
        let n = b.len().max(1);
        for row in y.chunks_exact_mut(n) {
            for (v, b) in row.iter_mut().zip(b) {
                *v += *b;
            }
        }
        y
    }
}

struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
}

struct Layer {
    qkv: Linear,
    out: Linear,
    norm1: Norm,
    up: Linear,
    down: Linear,
    norm2: Norm,
}

/// A loaded sentence encoder.
pub struct Encoder {
    tokenizer: tokenizers::Tokenizer,
    hidden: usize,
    heads: usize,
    eps: f32,
    max_tokens: usize,
    vocab: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    pooling: Pooling,
    normalize: bool,
    precision: Precision,
    parameters: u64,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EngineError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EngineError::Io(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| EngineError::InvalidModel(format!("{}: {e}", path.display())))
}

/// What a directory holds, read without loading the weights (for `scif models import`).
#[derive(Debug, Clone)]
pub struct EncoderInfo {
    pub dims: usize,
    pub max_tokens: usize,
    pub layers: usize,
    pub parameters: u64,
    pub pooling: Pooling,
    pub normalize: bool,
}

/// The files an encoder directory is made of (relative paths), those that exist.
pub fn encoder_files(dir: &Path) -> Vec<&'static str> {
    [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ]
    .into_iter()
    .filter(|f| dir.join(f).is_file())
    .collect()
}

impl Encoder {
    /// Load the encoder in `dir` and check that it is one this engine can run.
    pub fn load(dir: &Path, precision: Precision) -> Result<Self, EngineError> {
        let cfg: BertConfig = read_json(&dir.join("config.json"))?;
        let unsupported = |m: String| Err(EngineError::Unsupported(m));
        if let Some(t) = &cfg.model_type {
            if !matches!(t.as_str(), "bert") {
                return unsupported(format!("encoder model type {t:?} (only \"bert\")"));
            }
        }
        if cfg.hidden_act != "gelu" {
            return unsupported(format!("activation {:?} (only \"gelu\")", cfg.hidden_act));
        }
        if cfg
            .position_embedding_type
            .as_deref()
            .is_some_and(|p| p != "absolute")
        {
            return unsupported("position embeddings other than absolute".into());
        }
        let (h, f) = (cfg.hidden_size, cfg.intermediate_size);
        if h == 0
            || cfg.num_attention_heads == 0
            || !h.is_multiple_of(cfg.num_attention_heads)
            || !(h / cfg.num_attention_heads).is_multiple_of(crate::kernels::F32_LANES)
            || !h.is_multiple_of(32)
            || !f.is_multiple_of(32)
            || cfg.num_hidden_layers == 0
            || cfg.num_hidden_layers > 64
            || h > 8192
            || f > 65536
            || cfg.vocab_size == 0
            || cfg.max_position_embeddings == 0
        {
            return Err(EngineError::InvalidModel(
                "config.json: sizes this engine cannot run".into(),
            ));
        }
        let pooling = match dir.join("1_Pooling/config.json") {
            p if p.is_file() => {
                let pc: PoolingConfig = read_json(&p)?;
                match (
                    pc.pooling_mode_mean_tokens,
                    pc.pooling_mode_cls_token,
                    pc.pooling_mode_max_tokens || pc.pooling_mode_mean_sqrt_len_tokens,
                ) {
                    (true, false, false) => Pooling::Mean,
                    (false, true, false) => Pooling::Cls,
                    _ => return unsupported("pooling other than mean or CLS alone".into()),
                }
            }
            _ => Pooling::Mean,
        };
        let normalize = match dir.join("modules.json") {
            p if p.is_file() => {
                let modules: Vec<Module> = read_json(&p)?;
                modules.iter().any(|m| m.kind.ends_with("Normalize"))
            }
            _ => true,
        };
        let max_seq = match dir.join("sentence_bert_config.json") {
            p if p.is_file() => read_json::<SentenceConfig>(&p)?.max_seq_length,
            _ => None,
        };
        let max_tokens = max_seq
            .unwrap_or(cfg.max_position_embeddings)
            .min(cfg.max_position_embeddings);

        let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?;

        let st = SafeTensors::open(&dir.join("model.safetensors"))?;
        // Some exports prefix every name with "bert.".
        let prefix = if st.names().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let t = |name: &str, shape: &[usize]| st.f32(&format!("{prefix}{name}"), shape);
        let norm = |name: &str| -> Result<Norm, EngineError> {
            Ok(Norm {
                w: t(&format!("{name}.weight"), &[h])?,
                b: t(&format!("{name}.bias"), &[h])?,
            })
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let mut w = t(&format!("{p}.attention.self.query.weight"), &[h, h])?;
            w.extend(t(&format!("{p}.attention.self.key.weight"), &[h, h])?);
            w.extend(t(&format!("{p}.attention.self.value.weight"), &[h, h])?);
            let mut b = t(&format!("{p}.attention.self.query.bias"), &[h])?;
            b.extend(t(&format!("{p}.attention.self.key.bias"), &[h])?);
            b.extend(t(&format!("{p}.attention.self.value.bias"), &[h])?);
            layers.push(Layer {
                qkv: Linear::new(w, b, 3 * h, h, precision)?,
                out: Linear::new(
                    t(&format!("{p}.attention.output.dense.weight"), &[h, h])?,
                    t(&format!("{p}.attention.output.dense.bias"), &[h])?,
                    h,
                    h,
                    precision,
                )?,
                norm1: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up: Linear::new(
                    t(&format!("{p}.intermediate.dense.weight"), &[f, h])?,
                    t(&format!("{p}.intermediate.dense.bias"), &[f])?,
                    f,
                    h,
                    precision,
                )?,
                down: Linear::new(
                    t(&format!("{p}.output.dense.weight"), &[h, f])?,
                    t(&format!("{p}.output.dense.bias"), &[h])?,
                    h,
                    f,
                    precision,
                )?,
                norm2: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let per_layer = (4 * h * h + 2 * h * f + 9 * h + f) as u64;
        let parameters =
            (cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) as u64 * h as u64
                + 2 * h as u64
                + per_layer * cfg.num_hidden_layers as u64;
        let vocab_in_tokenizer = tokenizer.get_vocab_size(true);
        if vocab_in_tokenizer > cfg.vocab_size {
            return Err(EngineError::InvalidModel(format!(
                "the tokenizer has {vocab_in_tokenizer} tokens but the model only {}",
                cfg.vocab_size
            )));
        }
        Ok(Self {
            word: t("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?,
            position: t(
                "embeddings.position_embeddings.weight",
                &[cfg.max_position_embeddings, h],
            )?,
            token_type: t(
                "embeddings.token_type_embeddings.weight",
                &[cfg.type_vocab_size, h],
            )?,
            embed_norm: norm("embeddings.LayerNorm")?,
            tokenizer,
            hidden: h,
            heads: cfg.num_attention_heads,
            eps: cfg.layer_norm_eps as f32,
            max_tokens,
            vocab: cfg.vocab_size,
            layers,
            pooling,
            normalize,
            precision,
            parameters,
        })
    }

    pub fn info(&self) -> EncoderInfo {
        EncoderInfo {
            dims: self.hidden,
            max_tokens: self.max_tokens,
            layers: self.layers.len(),
            parameters: self.parameters,
            pooling: self.pooling,
            normalize: self.normalize,
        }
    }

    pub fn dims(&self) -> usize {
        self.hidden
    }

    /// Most tokens in one input, its special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// A text's token ids with the model's special tokens (`[CLS] ... [SEP]`), not truncated.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| EngineError::Tokenizer(e.to_string()))
    }

    /// The byte spans in `text` of its tokens, without special tokens: where a chunker may cut.
    pub fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>, EngineError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_offsets().to_vec())
            .map_err(|e| EngineError::Tokenizer(e.to_string()))
    }

    /// One vector per sequence of token ids (each at most [`Self::max_tokens`] long, ids below
    /// the vocabulary size; anything else gives an error before any work).
    pub fn embed(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EngineError> {
        for s in seqs {
            if s.is_empty() || s.len() > self.max_tokens {
                return Err(EngineError::InvalidModel(format!(
                    "an input of {} tokens; this model takes 1 to {}",
                    s.len(),
                    self.max_tokens
                )));
            }
            if let Some(bad) = s.iter().find(|&&t| t as usize >= self.vocab) {
                return Err(EngineError::InvalidModel(format!(
                    "token id {bad} is outside the vocabulary of {} tokens",
                    self.vocab
                )));
            }
        }
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(rayon::scope(|_| self.forward(seqs)))
    }

    fn forward(&self, seqs: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let h = self.hidden;
        let rows: usize = seqs.iter().map(Vec::len).sum();
        let mut spans = Vec::with_capacity(seqs.len());
        let mut x = vec![0f32; rows * h];
        let mut r = 0;
        for s in seqs {
            spans.push((r, s.len()));
            for (p, &id) in s.iter().enumerate() {
                let row = &mut x[(r + p) * h..(r + p + 1) * h];
                let w = &self.word[id as usize * h..(id as usize + 1) * h];
                let pos = &self.position[p * h..(p + 1) * h];
                let ty = &self.token_type[..h];
                for (((o, a), b), c) in row.iter_mut().zip(w).zip(pos).zip(ty) {
                    *o = (a + b) + c;
                }
            }
            r += s.len();
        }
        layer_norm(&mut x, &self.embed_norm, self.eps);
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x, rows);
            let ctx = self.attention(&qkv, &spans);
            let mut a = layer.out.forward(&ctx, rows);
            add_into(&mut a, &x);
            layer_norm(&mut a, &layer.norm1, self.eps);
            let mut up = layer.up.forward(&a, rows);
            gelu_in_place(&mut up);
            let mut y = layer.down.forward(&up, rows);
            add_into(&mut y, &a);
            layer_norm(&mut y, &layer.norm2, self.eps);
            x = y;
        }
        spans
            .iter()
            .map(|&(start, len)| {
                let mut v = vec![0f32; h];
                match self.pooling {
                    Pooling::Cls => v.copy_from_slice(&x[start * h..(start + 1) * h]),
                    Pooling::Mean => {
                        for row in x[start * h..(start + len) * h].chunks_exact(h) {
                            add_into(&mut v, row);
                        }
                        let inv = 1.0 / len as f32;
                        v.iter_mut().for_each(|e| *e *= inv);
                    }
                }
                if self.normalize {
                    let norm = v.iter().map(|e| e * e).sum::<f32>().sqrt().max(1e-12);
                    v.iter_mut().for_each(|e| *e /= norm);
                }
                v
            })
            .collect()
    }

    /// Bidirectional attention within each sequence; `qkv` rows are `[q | k | v]`. Returns the
    /// context rows (`rows` x hidden).
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)]) -> Vec<f32> {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let tasks: Vec<(usize, usize)> = spans
            .iter()
            .enumerate()
            .flat_map(|(s, _)| (0..self.heads).map(move |head| (s, head)))
            .collect();
        let parts: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(s, head)| {
                let (start, len) = spans[s];
                // This head's queries, keys and values, contiguous.
                let gather = |which: usize| -> Vec<f32> {
                    let mut out = Vec::with_capacity(len * d);
                    for r in start..start + len {
                        let base = r * 3 * h + which * h + head * d;
                        out.extend_from_slice(&qkv[base..base + d]);
                    }
                    out
                };
                let (q, k, v) = (gather(0), gather(1), gather(2));
                // Scores: the queries against the keys as a weight matrix (len x len).
                // (`load` checked that the head width is a multiple of the kernel's lanes.)
                let Some(keys) = F32Matrix::new(k, len, d) else {
                    return vec![0f32; len * d];
                };
                let scores = keys.matmul_here(&q, len);
                // Probabilities, each row padded with zeros to a multiple of the lanes.
                let lanes = crate::kernels::F32_LANES;
                let padded = len.div_ceil(lanes) * lanes;
                let mut p = vec![0f32; len * padded];
                for (src, dst) in scores.chunks_exact(len).zip(p.chunks_exact_mut(padded)) {
                    for (o, s) in dst.iter_mut().zip(src) {
                        *o = s * scale;
                    }
                    vectorized(|| softmax(&mut dst[..len]));
                }
                // The values transposed (d x padded), so that P V is again rows against rows.
                let mut vt = vec![0f32; d * padded];
                for (pos, row) in v.chunks_exact(d).enumerate() {
                    for (c, x) in row.iter().enumerate() {
                        vt[c * padded + pos] = *x;
                    }
                }
                let Some(values) = F32Matrix::new(vt, d, padded) else {
                    return vec![0f32; len * d];
                };
                values.matmul_here(&p, len)
            })
            .collect();
        let rows: usize = spans.iter().map(|s| s.1).sum();
        let mut ctx = vec![0f32; rows * h];
        for (&(s, head), part) in tasks.iter().zip(&parts) {
            let (start, _) = spans[s];
            for (i, src) in part.chunks_exact(d).enumerate() {
                let base = (start + i) * h + head * d;
                ctx[base..base + d].copy_from_slice(src);
            }
        }
        ctx
    }
}

/// Layer norm of each row in place: `(x - mean) / sqrt(var + eps) * w + b`.
fn layer_norm(x: &mut [f32], n: &Norm, eps: f32) {
    let h = n.w.len().max(1);
    for row in x.chunks_exact_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&n.w).zip(&n.b) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += *b;
    }
}

#[inline(always)]
fn softmax(s: &mut [f32]) {
    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in s.iter_mut() {
        *v = fast_exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in s.iter_mut() {
        *v *= inv;
    }
}

/// `e^x` for `x <= 0` (softmax's range), to about two ulps, in plain arithmetic that vectorizes:
/// `x = n ln 2 + r` with `|r| <= ln 2 / 2`, `e^r` by a degree-6 polynomial, `2^n` from the bits.
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    let x = x.max(-87.0);
    // Round to nearest by the 1.5 * 2^23 trick (exact for |x log2 e| < 2^22), which
    // vectorizes where `round` is a library call.
    const SHIFT: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFT) - SHIFT;
    // ln 2 split in two, so that `r` is exact.
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_888_9)))));
    let bits = ((n as i32 + 127) as u32) << 23;
    p * f32::from_bits(bits)
}

/// GELU as BERT defines it, `x/2 (1 + erf(x / sqrt 2))`, read from a table of the exact
/// function (computed once in f64) with linear interpolation: within 1e-6 of it everywhere.
fn gelu_in_place(x: &mut [f32]) {
    let t = gelu_table();
    for v in x.iter_mut() {
        let u = *v;
        *v = if u >= GELU_MAX {
            u
        } else if u <= -GELU_MAX {
            0.0
        } else {
            let pos = (u + GELU_MAX) * GELU_STEPS;
            let i = pos as usize;
            let frac = pos - i as f32;
            let (a, b) = (t[i], t[(i + 1).min(t.len() - 1)]);
            a + (b - a) * frac
        };
    }
}

const GELU_MAX: f32 = 10.0;
/// Table entries per unit.
const GELU_STEPS: f32 = 512.0;

fn gelu_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let n = (2.0 * GELU_MAX * GELU_STEPS) as usize + 1;
        (0..n)
            .map(|i| {
                let x = i as f64 / GELU_STEPS as f64 - GELU_MAX as f64;
                (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
            })
            .collect()
    })
}

/// erf to about 1e-7 relative (Numerical Recipes' Chebyshev fit of erfc), in f64.
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

/// Why an embedding request was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmbedError {
    #[error("the embedding queue is full")]
    QueueFull,
    #[error("the encoder is not running")]
    Stopped,
    #[error("{0}")]
    Invalid(String),
}

/// What a submitted job answers: one vector per sequence, in order.
pub type EmbedReply = tokio::sync::oneshot::Receiver<Result<Vec<Vec<f32>>, EmbedError>>;

struct EmbedJob {
    seqs: Vec<Vec<u32>>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
}

/// An encoder behind one thread that batches concurrent requests: everything waiting when it
/// wakes (up to `batch_tokens` tokens) runs as one forward pass.
pub struct EncoderService {
    encoder: Arc<Encoder>,
    tx: SyncSender<EmbedJob>,
}

impl EncoderService {
    pub fn start(
        encoder: Encoder,
        max_queue: usize,
        batch_tokens: usize,
    ) -> Result<Self, EngineError> {
        let encoder = Arc::new(encoder);
        let (tx, rx) = sync_channel(max_queue.max(1));
        let e2 = encoder.clone();
        std::thread::Builder::new()
            .name("scif-encoder".into())
            .spawn(move || run(e2, rx, batch_tokens.max(1)))
            .map_err(|e| EngineError::Io(format!("cannot start the encoder thread: {e}")))?;
        Ok(Self { encoder, tx })
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Queue sequences of token ids (already checked with [`Encoder::embed`]'s rules by the
    /// caller or refused here); the vectors come back in order.
    pub fn submit(&self, seqs: Vec<Vec<u32>>) -> Result<EmbedReply, EmbedError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        match self.tx.try_send(EmbedJob { seqs, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(EmbedError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(EmbedError::Stopped),
        }
    }
}

fn run(encoder: Arc<Encoder>, rx: Receiver<EmbedJob>, batch_tokens: usize) {
    let mut pending: Option<EmbedJob> = None;
    loop {
        let first = match pending.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        let mut tokens: usize = first.seqs.iter().map(Vec::len).sum();
        let mut jobs = vec![first];
        while tokens < batch_tokens {
            match rx.try_recv() {
                Ok(j) => {
                    let n: usize = j.seqs.iter().map(Vec::len).sum();
                    if tokens + n > batch_tokens {
                        pending = Some(j);
                        break;
                    }
                    tokens += n;
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        // Jobs whose caller went away are not computed.
        jobs.retain(|j| !j.reply.is_closed());
        let all: Vec<Vec<u32>> = jobs.iter().flat_map(|j| j.seqs.iter().cloned()).collect();
        match encoder.embed(&all) {
            Ok(vectors) => {
                let mut it = vectors.into_iter();
                for j in jobs {
                    let mine: Vec<Vec<f32>> = it.by_ref().take(j.seqs.len()).collect();
                    let _ = j.reply.send(Ok(mine));
                }
            }
            Err(_) => {
                // One job's bad input must not fail the others: run each alone.
                for j in jobs {
                    let r = encoder
                        .embed(&j.seqs)
                        .map_err(|e| EmbedError::Invalid(e.to_string()));
                    let _ = j.reply.send(r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_close_to_exp() {
        let mut x = -87.0f32;
        while x <= 0.0 {
            let (a, b) = (fast_exp(x), x.exp());
            assert!(
                (a - b).abs() <= 4.0 * f32::EPSILON * b.max(f32::MIN_POSITIVE),
                "{x}: {a} {b}"
            );
            x += 0.0137;
        }
        assert_eq!(fast_exp(0.0), 1.0);
        assert!(fast_exp(-1000.0) >= 0.0 && fast_exp(-1000.0) < 1e-37);
    }

    #[test]
    fn gelu_table_is_close_to_erf_gelu() {
        let mut v: Vec<f32> = (-1200..1200).map(|i| i as f32 * 0.01 + 0.003).collect();
        let exact: Vec<f32> = v
            .iter()
            .map(|&x| {
                let x = f64::from(x);
                (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
            })
            .collect();
        gelu_in_place(&mut v);
        for (a, b) in v.iter().zip(&exact) {
            assert!((a - b).abs() < 2e-6, "{a} {b}");
        }
        // erf against known values.
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 2e-7);
        assert!((erf(-1.5) + 0.966_105_146_475_310_7).abs() < 2e-7);
    }
}
