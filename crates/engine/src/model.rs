//! A llama-family decoder on plain `f32` buffers, built for continuous batching.
//!
//! One forward step takes any number of sequences, each with its own position, its own KV cache
//! and its own number of new tokens (a prefill chunk or a single decode token). The hidden state
//! of all new tokens is one row-major `(T, hidden)` `Vec<f32>`; its rows go through every weight
//! matrix together (scif's quantized kernels in [`crate::kernels`]), and RMS norm, RoPE, SiLU and
//! the residual adds are plain loops over those rows. Only attention runs per sequence: each
//! (query position, query head) pair is one task on the rayon pool, reading its sequence's cache.
//!
//! candle is used to read the GGUF file's tensors and, through `QMatMul`, for the weight
//! matrices whose quantization type scif's own kernels do not handle; no candle tensor
//! operation runs on the forward pass otherwise.
//!
//! Every row's arithmetic (matrix products, norms, RoPE, and each query's dot products over keys
//! `0..=p`, softmax and weighted sum of values) is done in the same order whatever else is in the
//! step, so a position gets bit-identical logits in a long prefill, in chunks, token by token, or
//! batched with other sequences.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use rayon::prelude::*;

use crate::gguf::GgufFile;
use crate::kernels::{QuantMatrix, QuantType};
use crate::EngineError;

type Result<T> = std::result::Result<T, candle_core::Error>;

#[derive(Debug, Clone)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub hidden: usize,
    pub rms_eps: f32,
    pub rope_base: f32,
    pub rope_is_neox: bool,
    pub context_length: usize,
    pub vocab_size: usize,
}

/// A weight matrix: scif's own kernel where it has one for the type, candle's otherwise.
#[derive(Clone)]
enum Linear {
    Own(Arc<QuantMatrix>),
    Candle { m: QMatMul, n: usize, k: usize },
}

impl Linear {
    fn new(t: QTensor) -> std::result::Result<Self, EngineError> {
        let kind = match t.dtype() {
            GgmlDType::Q4_0 => Some(QuantType::Q4_0),
            GgmlDType::Q4_1 => Some(QuantType::Q4_1),
            GgmlDType::Q8_0 => Some(QuantType::Q8_0),
            _ => None,
        };
        let (n, k) = match t.shape().dims() {
            [n, k] => (*n, *k),
            dims => {
                return Err(EngineError::InvalidModel(format!(
                    "a weight matrix has shape {dims:?}"
                )))
            }
        };
        if let Some(kind) = kind {
            let raw = t.data()?;
            if let Some(m) = QuantMatrix::from_bytes(kind, &raw, n, k) {
                return Ok(Linear::Own(Arc::new(m)));
            }
        }
        Ok(Linear::Candle {
            m: QMatMul::from_qtensor(t)?,
            n,
            k,
        })
    }

    /// (output features, input features)
    fn dims(&self) -> (usize, usize) {
        match self {
            Linear::Own(m) => (m.n, m.k),
            Linear::Candle { n, k, .. } => (*n, *k),
        }
    }

    /// x: (rows, k) row-major -> (rows, n)
    fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        let (n, k) = self.dims();
        if x.len() != rows * k {
            candle_core::bail!("matrix input has {} values, expected {rows} x {k}", x.len());
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        match self {
            Linear::Own(m) => Ok(m.matmul(x, rows)),
            Linear::Candle { m, .. } => {
                let t = Tensor::from_slice(x, (rows, k), &Device::Cpu)?;
                let y = m.forward(&t)?.to_dtype(DType::F32)?.flatten_all()?;
                let y = y.to_vec1::<f32>()?;
                if y.len() != rows * n {
                    candle_core::bail!(
                        "matrix output has {} values, expected {rows} x {n}",
                        y.len()
                    );
                }
                Ok(y)
            }
        }
    }
}

/// The token embedding table. Kept quantized when scif's kernels know its type (rows are
/// dequantized as tokens are looked up), shared with the output layer when the model ties them;
/// otherwise dequantized once at load into a (vocab, hidden) table.
enum Embeddings {
    Quant(Arc<QuantMatrix>),
    Dense { table: Vec<f32>, hidden: usize },
}

impl Embeddings {
    /// (ids.len(), hidden) row-major.
    fn lookup(&self, ids: &[u32], hidden: usize) -> Result<Vec<f32>> {
        let mut out = vec![0f32; ids.len() * hidden];
        match self {
            Embeddings::Dense { table, hidden: h } => {
                if *h != hidden {
                    candle_core::bail!("embedding width {h} is not the hidden size {hidden}");
                }
                for (row, id) in out.chunks_exact_mut(hidden).zip(ids) {
                    let start = *id as usize * hidden;
                    match table.get(start..start + hidden) {
                        Some(src) => row.copy_from_slice(src),
                        None => candle_core::bail!("token id {id} is outside the vocabulary"),
                    }
                }
            }
            Embeddings::Quant(m) => {
                for (row, id) in out.chunks_exact_mut(hidden).zip(ids) {
                    if !m.dequantize_row(*id as usize, row) {
                        candle_core::bail!("token id {id} is outside the vocabulary");
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Several projections of the same input: stacked into one matrix when scif's kernels hold them
/// all (one activation quantization and one pass over the thread pool instead of several),
/// kept apart otherwise.
enum Projections {
    Stacked { all: Linear, widths: Vec<usize> },
    Apart(Vec<Linear>),
}

impl Projections {
    fn new(parts: Vec<Linear>) -> Self {
        let own: Vec<&QuantMatrix> = parts
            .iter()
            .filter_map(|l| match l {
                Linear::Own(m) => Some(m.as_ref()),
                Linear::Candle { .. } => None,
            })
            .collect();
        if own.len() == parts.len() {
            if let Some(m) = QuantMatrix::stack(&own) {
                return Projections::Stacked {
                    widths: own.iter().map(|p| p.n).collect(),
                    all: Linear::Own(Arc::new(m)),
                };
            }
        }
        Projections::Apart(parts)
    }

    /// x: (rows, k) -> one (rows, n_i) output per projection.
    fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<Vec<f32>>> {
        match self {
            Projections::Apart(parts) => parts.iter().map(|l| l.forward(x, rows)).collect(),
            Projections::Stacked { all, widths } => {
                let n = all.dims().0;
                let all = all.forward(x, rows)?;
                let mut outs: Vec<Vec<f32>> = widths
                    .iter()
                    .map(|w| Vec::with_capacity(rows * w))
                    .collect();
                for row in all.chunks_exact(n.max(1)) {
                    let mut at = 0;
                    for (out, w) in outs.iter_mut().zip(widths) {
                        out.extend_from_slice(&row[at..at + w]);
                        at += w;
                    }
                }
                Ok(outs)
            }
        }
    }
}

struct Layer {
    /// Query, key and value.
    qkv: Projections,
    wo: Linear,
    attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    /// Gate and up.
    gate_up: Projections,
    down: Linear,
}

pub struct Llama {
    pub cfg: LlamaConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    output: Linear,
    /// (context_length, head_dim / 2) row-major.
    cos: Vec<f32>,
    sin: Vec<f32>,
}

/// One layer's keys and values, each laid out `[kv_head][capacity][head_dim]`: a query head
/// reads its KV head's keys (and values) as one contiguous run of positions.
#[derive(Clone, Default)]
struct LayerKv {
    k: Vec<f32>,
    v: Vec<f32>,
}

/// One sequence's keys and values for every layer. All layers share one capacity (positions per
/// KV head), grown by doubling: the next power of two of what a step needs, at least 64, at most
/// the context length.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<LayerKv>,
    len: usize,
    capacity: usize,
    n_kv_head: usize,
    head_dim: usize,
    max_len: usize,
}

impl KvCache {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the cache's buffers.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| (l.k.capacity() + l.v.capacity()) * std::mem::size_of::<f32>())
            .sum()
    }

    /// Forget positions `len..`; the buffers keep their size. A `len` at or past the current
    /// length changes nothing.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// A compact copy of the first `len` positions (capacity exactly `len`): what the prefix
    /// cache keeps. Keys and values at a position depend only on the tokens up to it, so any
    /// prefix of a sequence's cache is a valid cache for that prefix.
    pub fn prefix(&self, len: usize) -> KvCache {
        let len = len.min(self.len);
        let d = self.head_dim;
        let copy = |old: &[f32]| -> Vec<f32> {
            let mut buf = Vec::with_capacity(self.n_kv_head * len * d);
            for head in old.chunks_exact((self.capacity * d).max(1)) {
                buf.extend_from_slice(&head[..len * d]);
            }
            buf
        };
        KvCache {
            layers: self
                .layers
                .iter()
                .map(|l| LayerKv {
                    k: copy(&l.k),
                    v: copy(&l.v),
                })
                .collect(),
            len,
            capacity: len,
            n_kv_head: self.n_kv_head,
            head_dim: self.head_dim,
            max_len: self.max_len,
        }
    }

    /// The capacity a sequence of `need` positions grows to.
    fn capacity_for(need: usize, max_len: usize) -> usize {
        need.next_power_of_two().max(64).min(max_len).max(need)
    }

    /// Make room for `need` positions, keeping the first `len` of every layer.
    fn reserve(&mut self, need: usize) {
        if need <= self.capacity {
            return;
        }
        let cap = Self::capacity_for(need, self.max_len);
        let (d, heads) = (self.head_dim, self.n_kv_head);
        let (old_cap, keep) = (self.capacity, self.len.min(self.capacity));
        let grow = |old: &[f32]| -> Vec<f32> {
            let mut buf = vec![0f32; heads * cap * d];
            if keep > 0 {
                for (dst, src) in buf
                    .chunks_exact_mut(cap * d)
                    .zip(old.chunks_exact(old_cap * d))
                {
                    dst[..keep * d].copy_from_slice(&src[..keep * d]);
                }
            }
            buf
        };
        for l in &mut self.layers {
            let k = grow(&l.k);
            let v = grow(&l.v);
            *l = LayerKv { k, v };
        }
        self.capacity = cap;
    }
}

/// One sequence's part of a forward step.
pub struct SeqStep<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
    /// Whether to compute next-token logits at the last new position.
    pub want_logits: bool,
}

impl Llama {
    pub fn load(gguf: &GgufFile, path: &std::path::Path) -> std::result::Result<Self, EngineError> {
        let arch = gguf.architecture()?.to_string();
        if !matches!(arch.as_str(), "llama" | "mistral" | "granite" | "qwen2") {
            return Err(EngineError::Unsupported(format!(
                "model architecture {arch:?}"
            )));
        }
        let need = |k: &str| {
            gguf.get_u64(&format!("{arch}.{k}"))
                .map(|v| v as usize)
                .ok_or_else(|| EngineError::InvalidModel(format!("missing {arch}.{k}")))
        };
        let n_head = need("attention.head_count")?;
        let n_kv_head = gguf
            .get_u64(&format!("{arch}.attention.head_count_kv"))
            .map(|v| v as usize)
            .unwrap_or(n_head);
        let hidden = need("embedding_length")?;
        let n_layer = need("block_count")?;
        let context_length = need("context_length")?;
        if n_head == 0
            || n_kv_head == 0
            || hidden % n_head != 0
            || n_head % n_kv_head != 0
            || n_layer == 0
            || (hidden / n_head) % 2 != 0
            || context_length == 0
        {
            return Err(EngineError::InvalidModel(
                "inconsistent attention head counts".into(),
            ));
        }
        let head_dim = hidden / n_head;
        let rms_eps = gguf
            .get(&format!("{arch}.attention.layer_norm_rms_epsilon"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(1e-5);
        let rope_base = gguf
            .get(&format!("{arch}.rope.freq_base"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10000.0);
        let device = Device::Cpu;
        let file = std::fs::File::open(path).map_err(|e| EngineError::Io(e.to_string()))?;
        let mut reader = std::io::BufReader::new(file);
        let mut load = |name: &str| {
            gguf.content
                .tensor(&mut reader, name, &device)
                .map_err(|e| EngineError::InvalidModel(format!("tensor {name}: {e}")))
        };
        let dense =
            |t: QTensor, name: &str, len: usize| -> std::result::Result<Vec<f32>, EngineError> {
                let v = t
                    .dequantize(&Device::Cpu)?
                    .to_dtype(DType::F32)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                if v.len() != len {
                    return Err(EngineError::InvalidModel(format!(
                        "tensor {name} has {} values, expected {len}",
                        v.len()
                    )));
                }
                Ok(v)
            };
        let embd_q = load("token_embd.weight")?;
        let vocab_size = embd_q.shape().dims().first().copied().unwrap_or(0);
        let embd_linear = Linear::new(embd_q)?;
        let embeddings = match &embd_linear {
            Linear::Own(m) => Embeddings::Quant(m.clone()),
            Linear::Candle { .. } => Embeddings::Dense {
                table: dense(
                    load("token_embd.weight")?,
                    "token_embd.weight",
                    vocab_size * hidden,
                )?,
                hidden,
            },
        };
        if embd_linear.dims() != (vocab_size, hidden) {
            return Err(EngineError::InvalidModel(
                "token_embd.weight does not match the hidden size".into(),
            ));
        }
        let norm = dense(load("output_norm.weight")?, "output_norm.weight", hidden)?;
        // Models with tied embeddings have no output.weight: the output layer shares the table.
        let output = match load("output.weight") {
            Ok(t) => Linear::new(t)?,
            Err(_) => embd_linear,
        };
        let check = |l: &Linear, name: &str, n: usize, k: usize| {
            if l.dims() == (n, k) {
                Ok(())
            } else {
                Err(EngineError::InvalidModel(format!(
                    "{name} has shape {:?}, expected ({n}, {k})",
                    l.dims()
                )))
            }
        };
        check(&output, "output.weight", vocab_size, hidden)?;
        let kv_dim = n_kv_head * head_dim;
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut q = |n: &str| -> std::result::Result<Linear, EngineError> {
                Linear::new(load(&format!("blk.{i}.{n}.weight"))?)
            };
            let (wq, wk, wv) = (q("attn_q")?, q("attn_k")?, q("attn_v")?);
            let (wo, gate, up, down) = (
                q("attn_output")?,
                q("ffn_gate")?,
                q("ffn_up")?,
                q("ffn_down")?,
            );
            let ffn = gate.dims().0;
            check(&wq, "attn_q", hidden, hidden)?;
            check(&wk, "attn_k", kv_dim, hidden)?;
            check(&wv, "attn_v", kv_dim, hidden)?;
            check(&wo, "attn_output", hidden, hidden)?;
            check(&gate, "ffn_gate", ffn, hidden)?;
            check(&up, "ffn_up", ffn, hidden)?;
            check(&down, "ffn_down", hidden, ffn)?;
            let layer = Layer {
                qkv: Projections::new(vec![wq, wk, wv]),
                wo,
                gate_up: Projections::new(vec![gate, up]),
                down,
                attn_norm: dense(
                    load(&format!("blk.{i}.attn_norm.weight"))?,
                    "attn_norm.weight",
                    hidden,
                )?,
                ffn_norm: dense(
                    load(&format!("blk.{i}.ffn_norm.weight"))?,
                    "ffn_norm.weight",
                    hidden,
                )?,
            };
            layers.push(layer);
        }
        let (cos, sin) = rope_tables(head_dim, rope_base, context_length);
        let cfg = LlamaConfig {
            n_layer,
            n_head,
            n_kv_head,
            head_dim,
            hidden,
            rms_eps,
            rope_base,
            rope_is_neox: arch == "qwen2",
            context_length,
            vocab_size,
        };
        Ok(Self {
            cfg,
            embeddings,
            layers,
            norm,
            output,
            cos,
            sin,
        })
    }

    /// Bytes a sequence's KV cache holds once it has grown to `tokens` positions (its buffers
    /// grow by doubling, so this is at least, not exactly, `tokens` positions' worth).
    pub fn kv_bytes_for(&self, tokens: usize) -> usize {
        let per_position = 2 * self.cfg.n_layer * self.cfg.n_kv_head * self.cfg.head_dim * 4;
        KvCache::capacity_for(tokens, self.cfg.context_length) * per_position
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![LayerKv::default(); self.cfg.n_layer],
            len: 0,
            capacity: 0,
            n_kv_head: self.cfg.n_kv_head,
            head_dim: self.cfg.head_dim,
            max_len: self.cfg.context_length,
        }
    }

    /// Run one step over several sequences. Returns, for each sequence that asked, the logits
    /// for the token after its last new position.
    pub fn forward(
        &self,
        seqs: &mut [SeqStep<'_>],
    ) -> std::result::Result<Vec<Option<Vec<f32>>>, EngineError> {
        Ok(self
            .forward_inner(seqs, false)?
            .into_iter()
            .map(|v| v.and_then(|mut rows| rows.pop()))
            .collect())
    }

    /// Teacher forcing: logits at every position of one sequence's new tokens.
    pub fn forward_all_logits(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> std::result::Result<Vec<Vec<f32>>, EngineError> {
        let mut seqs = [SeqStep {
            tokens,
            cache,
            want_logits: true,
        }];
        Ok(self
            .forward_inner(&mut seqs, true)?
            .into_iter()
            .next()
            .flatten()
            .unwrap_or_default())
    }

    fn forward_inner(
        &self,
        seqs: &mut [SeqStep<'_>],
        all_positions: bool,
    ) -> Result<Vec<Option<Vec<Vec<f32>>>>> {
        let cfg = &self.cfg;
        let (hidden, d) = (cfg.hidden, cfg.head_dim);
        let kv_dim = cfg.n_kv_head * d;
        for s in seqs.iter() {
            if s.tokens.is_empty() {
                candle_core::bail!("a sequence step has no tokens");
            }
            if s.cache.len + s.tokens.len() > cfg.context_length {
                candle_core::bail!("sequence exceeds the context length {}", cfg.context_length);
            }
            if s.cache.layers.len() != cfg.n_layer
                || s.cache.n_kv_head != cfg.n_kv_head
                || s.cache.head_dim != d
            {
                candle_core::bail!("a KV cache was made for another model");
            }
        }
        let all: Vec<u32> = seqs.iter().flat_map(|s| s.tokens.iter().copied()).collect();
        let t_all = all.len();
        let mut x = self.embeddings.lookup(&all, hidden)?; // (T, hidden)
                                                           // Each new row's sequence and absolute position.
        let mut rows: Vec<(usize, usize)> = Vec::with_capacity(t_all);
        for (si, s) in seqs.iter_mut().enumerate() {
            let pos = s.cache.len;
            s.cache.reserve(pos + s.tokens.len());
            rows.extend((0..s.tokens.len()).map(|i| (si, pos + i)));
        }

        let mut attn = vec![0f32; t_all * hidden];
        for (li, layer) in self.layers.iter().enumerate() {
            let h = rms_norm(&x, &layer.attn_norm, cfg.rms_eps);
            let [mut q, mut k, v]: [Vec<f32>; 3] = layer
                .qkv
                .forward(&h, t_all)?
                .try_into()
                .map_err(|_| candle_core::Error::Msg("query, key and value".into()))?;
            for (t, &(si, pos)) in rows.iter().enumerate() {
                self.rope(&mut q[t * hidden..(t + 1) * hidden], pos);
                self.rope(&mut k[t * kv_dim..(t + 1) * kv_dim], pos);
                let cache = &mut *seqs[si].cache;
                let cap = cache.capacity;
                let lkv = &mut cache.layers[li];
                for kh in 0..cfg.n_kv_head {
                    let src = t * kv_dim + kh * d;
                    let dst = (kh * cap + pos) * d;
                    lkv.k[dst..dst + d].copy_from_slice(&k[src..src + d]);
                    lkv.v[dst..dst + d].copy_from_slice(&v[src..src + d]);
                }
            }
            let caches: Vec<&KvCache> = seqs.iter().map(|s| &*s.cache).collect();
            self.attention(&q, &caches, li, &rows, &mut attn);
            add_into(&mut x, &layer.wo.forward(&attn, t_all)?);
            let h = rms_norm(&x, &layer.ffn_norm, cfg.rms_eps);
            let [mut g, u]: [Vec<f32>; 2] = layer
                .gate_up
                .forward(&h, t_all)?
                .try_into()
                .map_err(|_| candle_core::Error::Msg("gate and up".into()))?;
            for (g, u) in g.iter_mut().zip(&u) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            add_into(&mut x, &layer.down.forward(&g, t_all)?);
        }
        for s in seqs.iter_mut() {
            s.cache.len += s.tokens.len();
        }

        // Only the rows whose logits someone wants go through the (large) output matrix.
        let mut picked = Vec::new();
        let mut off = 0usize;
        for s in seqs.iter() {
            let n = s.tokens.len();
            if s.want_logits {
                if all_positions {
                    picked.extend(off..off + n);
                } else {
                    picked.push(off + n - 1);
                }
            }
            off += n;
        }
        if picked.is_empty() {
            return Ok(seqs.iter().map(|_| None).collect());
        }
        let mut sel = Vec::with_capacity(picked.len() * hidden);
        for &r in &picked {
            sel.extend_from_slice(&x[r * hidden..(r + 1) * hidden]);
        }
        let h = rms_norm(&sel, &self.norm, cfg.rms_eps);
        let logits = self.output.forward(&h, picked.len())?;
        let mut it = logits
            .chunks_exact(cfg.vocab_size.max(1))
            .map(<[f32]>::to_vec);
        let mut result: Vec<Option<Vec<Vec<f32>>>> = Vec::with_capacity(seqs.len());
        for s in seqs.iter() {
            if s.want_logits {
                let take = if all_positions { s.tokens.len() } else { 1 };
                result.push(Some(it.by_ref().take(take).collect()));
            } else {
                result.push(None);
            }
        }
        Ok(result)
    }

    /// Rotate every head of one row (`heads * head_dim` values) for position `pos`, in place:
    /// the same arithmetic as candle-nn's `rope_i` (interleaved pairs) or, for NeoX-style models,
    /// `rope` (pairs `i`, `i + head_dim / 2`).
    fn rope(&self, row: &mut [f32], pos: usize) {
        let d = self.cfg.head_dim;
        let half = d / 2;
        let cos = &self.cos[pos * half..(pos + 1) * half];
        let sin = &self.sin[pos * half..(pos + 1) * half];
        for head in row.chunks_exact_mut(d) {
            if self.cfg.rope_is_neox {
                let (a, b) = head.split_at_mut(half);
                for (((x1, x2), c), s) in a.iter_mut().zip(b.iter_mut()).zip(cos).zip(sin) {
                    let (v1, v2) = (*x1, *x2);
                    *x1 = v1 * c - v2 * s;
                    *x2 = v1 * s + v2 * c;
                }
            } else {
                for ((pair, c), s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
                    let (v0, v1) = (pair[0], pair[1]);
                    pair[0] = v0 * c - v1 * s;
                    pair[1] = v0 * s + v1 * c;
                }
            }
        }
    }

    /// Causal grouped-query attention for every new row: `q` is (T, n_head * head_dim) after
    /// RoPE, the caches already hold this step's keys and values; writes (T, hidden) into `out`.
    /// One task per (row, query head); each task's arithmetic depends only on its query and the
    /// keys and values at positions `0..=pos`, never on the rest of the step.
    fn attention(
        &self,
        q: &[f32],
        caches: &[&KvCache],
        li: usize,
        rows: &[(usize, usize)],
        out: &mut [f32],
    ) {
        let cfg = &self.cfg;
        let (n_head, d) = (cfg.n_head, cfg.head_dim);
        let rep = n_head / cfg.n_kv_head;
        let scale = 1.0 / (d as f32).sqrt();
        out.par_chunks_mut(d)
            .zip(q.par_chunks(d))
            .enumerate()
            .for_each_init(Vec::new, |scores: &mut Vec<f32>, (i, (o, qh))| {
                let (t, h) = (i / n_head, i % n_head);
                let Some(&(si, pos)) = rows.get(t) else {
                    return;
                };
                let Some(c) = caches.get(si) else {
                    return;
                };
                let Some(lkv) = c.layers.get(li) else {
                    return;
                };
                let base = (h / rep) * c.capacity * d;
                let end = base + (pos + 1) * d;
                let (Some(keys), Some(vals)) = (lkv.k.get(base..end), lkv.v.get(base..end)) else {
                    return;
                };
                crate::kernels::vectorized(|| attend(qh, keys, vals, scale, scores, o));
            });
    }
}

/// One query head over `keys.len() / d` positions: softmax(q·k * scale) weighted sum of values.
#[inline(always)]
fn attend(
    q: &[f32],
    keys: &[f32],
    vals: &[f32],
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let d = q.len();
    scores.clear();
    for k in keys.chunks_exact(d) {
        scores.push(dot(q, k) * scale);
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
    out.fill(0.0);
    for (p, v) in scores.iter().zip(vals.chunks_exact(d)) {
        for (o, v) in out.iter_mut().zip(v) {
            *o += p * v;
        }
    }
}

/// Dot product in eight independent running sums, reduced in a fixed order (vectorizes).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// RMS norm of each `w.len()`-wide row of `x`: `x / sqrt(mean(x^2) + eps) * w`, as candle-nn's.
fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let n = w.len().max(1);
    let mut out = vec![0f32; x.len()];
    for (src, dst) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let sum2: f32 = src.iter().map(|v| v * v).sum();
        let m = (sum2 / n as f32 + eps).sqrt();
        for ((d, s), a) in dst.iter_mut().zip(src).zip(w) {
            *d = *s / m * *a;
        }
    }
    out
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += *b;
    }
}

/// cos and sin of every (position, frequency) pair, each (max_len, head_dim / 2) row-major.
fn rope_tables(head_dim: usize, base: f32, max_len: usize) -> (Vec<f32>, Vec<f32>) {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let half = inv.len();
    let mut cos = Vec::with_capacity(max_len * half);
    let mut sin = Vec::with_capacity(max_len * half);
    for p in 0..max_len {
        for f in &inv {
            let a = p as f32 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    (cos, sin)
}

/// Index of the largest value (first one on ties).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, rng: &mut impl Rng) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-2.0..2.0)).collect()
    }

    #[test]
    fn rms_norm_matches_candle() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (rows, n) = (5, 576);
        let x = random(rows * n, &mut rng);
        let w = random(n, &mut rng);
        let got = rms_norm(&x, &w, 1e-5);
        let xt = Tensor::from_slice(&x, (rows, n), &Device::Cpu).unwrap();
        let wt = Tensor::from_slice(&w, n, &Device::Cpu).unwrap();
        let want = candle_nn::ops::rms_norm(&xt, &wt, 1e-5)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn rope_matches_candle_in_both_forms() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let (heads, n, d, start, ctx) = (3, 4, 64, 5, 16);
        let (cos, sin) = rope_tables(d, 10000.0, ctx);
        for neox in [false, true] {
            let model = Llama {
                cfg: LlamaConfig {
                    n_layer: 0,
                    n_head: heads,
                    n_kv_head: heads,
                    head_dim: d,
                    hidden: heads * d,
                    rms_eps: 1e-5,
                    rope_base: 10000.0,
                    rope_is_neox: neox,
                    context_length: ctx,
                    vocab_size: 0,
                },
                embeddings: Embeddings::Dense {
                    table: Vec::new(),
                    hidden: heads * d,
                },
                layers: Vec::new(),
                norm: Vec::new(),
                output: Linear::Own(Arc::new(
                    QuantMatrix::from_bytes(QuantType::Q8_0, &[0; 34], 1, 32).unwrap(),
                )),
                cos: cos.clone(),
                sin: sin.clone(),
            };
            // (n, heads * d) rows, rotated one position at a time.
            let x = random(n * heads * d, &mut rng);
            let mut got = x.clone();
            for (t, row) in got.chunks_exact_mut(heads * d).enumerate() {
                model.rope(row, start + t);
            }
            // candle: (1, heads, n, d) against the table rows start..start+n.
            let xt = Tensor::from_slice(&x, (n, heads, d), &Device::Cpu)
                .unwrap()
                .transpose(0, 1)
                .unwrap()
                .unsqueeze(0)
                .unwrap()
                .contiguous()
                .unwrap();
            let ct = Tensor::from_slice(&cos, (ctx, d / 2), &Device::Cpu)
                .unwrap()
                .narrow(0, start, n)
                .unwrap();
            let st = Tensor::from_slice(&sin, (ctx, d / 2), &Device::Cpu)
                .unwrap()
                .narrow(0, start, n)
                .unwrap();
            let y = if neox {
                candle_nn::rotary_emb::rope(&xt, &ct, &st).unwrap()
            } else {
                candle_nn::rotary_emb::rope_i(&xt, &ct, &st).unwrap()
            };
            let want = y
                .squeeze(0)
                .unwrap()
                .transpose(0, 1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(got, want, "neox {neox}");
        }
    }

    #[test]
    fn attention_of_one_query_matches_a_plain_softmax() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (d, n) = (64, 37);
        let q = random(d, &mut rng);
        let keys = random(n * d, &mut rng);
        let vals = random(n * d, &mut rng);
        let scale = 1.0 / (d as f32).sqrt();
        let mut out = vec![0f32; d];
        attend(&q, &keys, &vals, scale, &mut Vec::new(), &mut out);
        let s: Vec<f64> = keys
            .chunks_exact(d)
            .map(|k| q.iter().zip(k).map(|(a, b)| f64::from(a * b)).sum::<f64>() * f64::from(scale))
            .collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        for (i, o) in out.iter().enumerate() {
            let want: f64 = e
                .iter()
                .zip(vals.chunks_exact(d))
                .map(|(p, v)| p / sum * f64::from(v[i]))
                .sum();
            assert!((f64::from(*o) - want).abs() < 1e-4, "{i}: {o} vs {want}");
        }
        assert_eq!(dot(&q[..13], &keys[..13]), {
            let mut acc = [0f32; 8];
            for l in 0..8 {
                acc[l] = q[l] * keys[l];
            }
            let tail: f32 = (8..13).map(|i| q[i] * keys[i]).sum();
            ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
        });
    }

    #[test]
    fn candle_fallback_matrix_matches_the_dense_product() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let (n, k, rows) = (8, 256, 3);
        let w = Tensor::from_vec(random(n * k, &mut rng), (n, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let dense = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let lin = Linear::new(q).unwrap();
        assert!(matches!(lin, Linear::Candle { .. }));
        assert_eq!(lin.dims(), (n, k));
        let x = random(rows * k, &mut rng);
        let y = lin.forward(&x, rows).unwrap();
        assert_eq!(y.len(), rows * n);
        for r in 0..rows {
            for (j, wj) in dense.iter().enumerate() {
                let want: f32 = wj
                    .iter()
                    .zip(&x[r * k..(r + 1) * k])
                    .map(|(a, b)| a * b)
                    .sum();
                let got = y[r * n + j];
                assert!(
                    (got - want).abs() < 0.05 * (1.0 + want.abs()),
                    "{got} vs {want}"
                );
            }
        }
        assert!(
            lin.forward(&x[1..], rows).is_err(),
            "wrong input size is an error"
        );
    }

    #[test]
    fn kv_cache_grows_by_doubling_keeps_its_contents_and_truncates() {
        let (heads, d) = (2, 4);
        let mut c = KvCache {
            layers: vec![LayerKv::default(); 2],
            len: 0,
            capacity: 0,
            n_kv_head: heads,
            head_dim: d,
            max_len: 100,
        };
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
        c.reserve(3);
        assert_eq!(c.capacity, 64);
        assert_eq!(c.bytes(), 2 * 2 * heads * 64 * d * 4);
        for l in &mut c.layers {
            for (i, x) in l.k.iter_mut().enumerate() {
                *x = i as f32;
            }
        }
        c.len = 3;
        let before = c.clone();
        c.reserve(65);
        assert_eq!(c.capacity, 100, "capped at the context length");
        for (a, b) in c.layers.iter().zip(&before.layers) {
            for h in 0..heads {
                assert_eq!(
                    a.k[h * 100 * d..(h * 100 + 3) * d],
                    b.k[h * 64 * d..(h * 64 + 3) * d]
                );
            }
        }
        c.truncate(1);
        assert_eq!(c.len(), 1);
        c.truncate(5);
        assert_eq!(c.len(), 1);
        assert_eq!(before.len(), 3);
    }
}
