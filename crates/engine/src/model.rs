//! A llama-family decoder on candle's quantized tensors, built for continuous batching.
//!
//! candle's own `quantized_llama` runs a batch in lockstep with one shared KV cache. Here one
//! forward step takes any number of sequences, each with its own position, its own KV cache and
//! its own number of new tokens (a prefill chunk or a single decode token). The rows of all
//! sequences go through every weight matrix together; only attention runs per sequence.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};

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
    Candle(QMatMul),
}

impl Linear {
    fn new(t: QTensor) -> std::result::Result<Self, EngineError> {
        let kind = match t.dtype() {
            GgmlDType::Q4_1 => Some(QuantType::Q4_1),
            GgmlDType::Q8_0 => Some(QuantType::Q8_0),
            _ => None,
        };
        if let (Some(kind), [n, k]) = (kind, t.shape().dims()) {
            let raw = t.data()?;
            if let Some(m) = QuantMatrix::from_bytes(kind, &raw, *n, *k) {
                return Ok(Linear::Own(Arc::new(m)));
            }
        }
        Ok(Linear::Candle(QMatMul::from_qtensor(t)?))
    }

    /// x: (rows, k) -> (rows, n)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Candle(m) => m.forward(x),
            Linear::Own(m) => {
                let rows = x.dim(0)?;
                let data = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
                Tensor::from_vec(m.matmul(&data, rows), (rows, m.n), x.device())
            }
        }
    }
}

/// The token embedding table. Kept quantized when scif's kernels know its type (rows are
/// dequantized as tokens are looked up), shared with the output layer when the model ties them;
/// otherwise dequantized once at load.
enum Embeddings {
    Quant(Arc<QuantMatrix>),
    Dense(Tensor),
}

impl Embeddings {
    fn lookup(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        match self {
            Embeddings::Dense(t) => t.index_select(&Tensor::new(ids, device)?, 0),
            Embeddings::Quant(m) => {
                let mut out = vec![0f32; ids.len() * m.k];
                for (row, id) in out.chunks_exact_mut(m.k).zip(ids) {
                    if !m.dequantize_row(*id as usize, row) {
                        candle_core::bail!("token id {id} is outside the vocabulary");
                    }
                }
                Tensor::from_vec(out, (ids.len(), m.k), device)
            }
        }
    }
}

struct Layer {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    attn_norm: Tensor,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

pub struct Llama {
    pub cfg: LlamaConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

/// One sequence's keys and values for every layer, stored as (n_kv_head, capacity, head_dim)
/// buffers that grow by doubling.
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    capacity: usize,
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
            .flatten()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * 4)
            .sum()
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
        let embd_q = load("token_embd.weight")?;
        let vocab_size = embd_q.shape().dims().first().copied().unwrap_or(0);
        let embd_linear = Linear::new(embd_q)?;
        let embeddings = match &embd_linear {
            Linear::Own(m) => Embeddings::Quant(m.clone()),
            Linear::Candle(_) => Embeddings::Dense(load("token_embd.weight")?.dequantize(&device)?),
        };
        let norm = load("output_norm.weight")?.dequantize(&device)?;
        // Models with tied embeddings have no output.weight: the output layer shares the table.
        let output = match load("output.weight") {
            Ok(t) => Linear::new(t)?,
            Err(_) => embd_linear,
        };
        let mut layers = Vec::with_capacity(n_layer);
        for i in 0..n_layer {
            let mut q = |n: &str| -> std::result::Result<Linear, EngineError> {
                Linear::new(load(&format!("blk.{i}.{n}.weight"))?)
            };
            let layer = Layer {
                wq: q("attn_q")?,
                wk: q("attn_k")?,
                wv: q("attn_v")?,
                wo: q("attn_output")?,
                gate: q("ffn_gate")?,
                up: q("ffn_up")?,
                down: q("ffn_down")?,
                attn_norm: load(&format!("blk.{i}.attn_norm.weight"))?.dequantize(&device)?,
                ffn_norm: load(&format!("blk.{i}.ffn_norm.weight"))?.dequantize(&device)?,
            };
            layers.push(layer);
        }
        let (cos, sin) = rope_tables(head_dim, rope_base, context_length, &device)?;
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
            device,
        })
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: (0..self.cfg.n_layer).map(|_| None).collect(),
            len: 0,
            capacity: 0,
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
        for s in seqs.iter() {
            if s.tokens.is_empty() {
                candle_core::bail!("a sequence step has no tokens");
            }
            if s.cache.len + s.tokens.len() > cfg.context_length {
                candle_core::bail!("sequence exceeds the context length {}", cfg.context_length);
            }
        }
        let all: Vec<u32> = seqs.iter().flat_map(|s| s.tokens.iter().copied()).collect();
        let mut x = self.embeddings.lookup(&all, &self.device)?; // (T, hidden)

        for (li, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, cfg.rms_eps)?;
            let q = layer.wq.forward(&h)?;
            let k = layer.wk.forward(&h)?;
            let v = layer.wv.forward(&h)?;
            let mut outs = Vec::with_capacity(seqs.len());
            let mut off = 0;
            for s in seqs.iter_mut() {
                let n = s.tokens.len();
                let pos = s.cache.len;
                let qs = self.rope(
                    &heads(&q.narrow(0, off, n)?, cfg.n_head, cfg.head_dim)?,
                    pos,
                )?;
                let ks = self.rope(
                    &heads(&k.narrow(0, off, n)?, cfg.n_kv_head, cfg.head_dim)?,
                    pos,
                )?;
                let vs = heads(&v.narrow(0, off, n)?, cfg.n_kv_head, cfg.head_dim)?;
                let (kc, vc) = s.cache.append(li, &ks, &vs, pos)?;
                outs.push(self.attention(&qs, &kc, &vc, pos)?);
                off += n;
            }
            let attn = Tensor::cat(&outs, 0)?; // (T, hidden)
            x = (x + layer.wo.forward(&attn)?)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, cfg.rms_eps)?;
            let g = candle_nn::ops::silu(&layer.gate.forward(&h)?)?;
            let u = layer.up.forward(&h)?;
            x = (x + layer.down.forward(&(g * u)?)?)?;
        }
        for s in seqs.iter_mut() {
            s.cache.len += s.tokens.len();
        }

        // Only the rows whose logits someone wants go through the (large) output matrix.
        let mut rows = Vec::new();
        let mut off = 0u32;
        for s in seqs.iter() {
            let n = s.tokens.len() as u32;
            if s.want_logits {
                if all_positions {
                    rows.extend(off..off + n);
                } else {
                    rows.push(off + n - 1);
                }
            }
            off += n;
        }
        let mut result: Vec<Option<Vec<Vec<f32>>>> = Vec::with_capacity(seqs.len());
        if rows.is_empty() {
            return Ok(seqs.iter().map(|_| None).collect());
        }
        let idx = Tensor::new(rows.as_slice(), &self.device)?;
        let h = candle_nn::ops::rms_norm(&x.index_select(&idx, 0)?, &self.norm, cfg.rms_eps)?;
        let logits = self
            .output
            .forward(&h)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?;
        let mut it = logits.into_iter();
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

    fn rope(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let n = x.dim(1)?;
        let cos = self.cos.narrow(0, pos, n)?;
        let sin = self.sin.narrow(0, pos, n)?;
        let x = x.unsqueeze(0)?.contiguous()?;
        let y = if self.cfg.rope_is_neox {
            candle_nn::rotary_emb::rope(&x, &cos, &sin)?
        } else {
            candle_nn::rotary_emb::rope_i(&x, &cos, &sin)?
        };
        y.squeeze(0)
    }

    /// Causal attention of `n` new queries (n_head, n, d) over the cache (n_kv, pos + n, d).
    fn attention(&self, q: &Tensor, k: &Tensor, v: &Tensor, pos: usize) -> Result<Tensor> {
        let cfg = &self.cfg;
        let n = q.dim(1)?;
        let rep = cfg.n_head / cfg.n_kv_head;
        let kv_len = pos + n;
        let scale = 1.0 / (cfg.head_dim as f64).sqrt();
        // Grouped-query attention without copying the cache: the `rep` query heads that share a
        // KV head are stacked as extra rows, (n_kv, rep * n, d).
        let q = q.reshape((cfg.n_kv_head, rep * n, cfg.head_dim))?;
        let att = (q.matmul(&k.t()?)? * scale)?; // (n_kv, rep*n, kv_len)
        let att = if n > 1 {
            let mask: Vec<f32> = (0..rep * n)
                .flat_map(|r| {
                    let qpos = pos + r % n;
                    (0..kv_len).map(move |j| if j <= qpos { 0.0 } else { f32::NEG_INFINITY })
                })
                .collect();
            let mask = Tensor::from_vec(mask, (1, rep * n, kv_len), &self.device)?;
            att.broadcast_add(&mask)?
        } else {
            att
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(v)?; // (n_kv, rep*n, d) == (n_head, n, d)
        y.reshape((cfg.n_head, n, cfg.head_dim))?
            .transpose(0, 1)?
            .reshape((n, cfg.hidden))
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl KvCache {
    /// Write keys and values for positions `pos..pos+n` of layer `li`; return views of the whole
    /// cache so far, contiguous and ready for attention.
    fn append(
        &mut self,
        li: usize,
        k: &Tensor,
        v: &Tensor,
        pos: usize,
    ) -> Result<(Tensor, Tensor)> {
        let n = k.dim(1)?;
        let need = pos + n;
        if need > self.capacity {
            self.capacity = need.next_power_of_two().max(64);
        }
        let cap = self.capacity;
        let too_small = match &self.layers[li] {
            Some((kb, _)) => kb.dim(1)? < need,
            None => true,
        };
        if too_small {
            // Grow this layer's buffers to the sequence's capacity, keeping what they hold.
            let grow = |old: Option<&Tensor>, like: &Tensor| -> Result<Tensor> {
                let (h, _, d) = like.dims3()?;
                let buf = Tensor::zeros((h, cap, d), DType::F32, like.device())?;
                if let (Some(old), true) = (old, pos > 0) {
                    buf.slice_set(&old.narrow(1, 0, pos)?.contiguous()?, 1, 0)?;
                }
                Ok(buf)
            };
            let old = self.layers[li].take();
            let entry = (
                grow(old.as_ref().map(|o| &o.0), k)?,
                grow(old.as_ref().map(|o| &o.1), v)?,
            );
            self.layers[li] = Some(entry);
        }
        let Some((kb, vb)) = &self.layers[li] else {
            candle_core::bail!("kv cache layer {li} missing");
        };
        kb.slice_set(&k.contiguous()?, 1, pos)?;
        vb.slice_set(&v.contiguous()?, 1, pos)?;
        Ok((
            kb.narrow(1, 0, need)?.contiguous()?,
            vb.narrow(1, 0, need)?.contiguous()?,
        ))
    }
}

/// (n, heads * d) -> (heads, n, d)
fn heads(x: &Tensor, h: usize, d: usize) -> Result<Tensor> {
    let n = x.dim(0)?;
    x.reshape((n, h, d))?.transpose(0, 1)?.contiguous()
}

fn rope_tables(
    head_dim: usize,
    base: f32,
    max_len: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
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
    Ok((
        Tensor::from_vec(cos, (max_len, half), device)?,
        Tensor::from_vec(sin, (max_len, half), device)?,
    ))
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
