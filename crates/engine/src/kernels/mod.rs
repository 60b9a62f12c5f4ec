//! Quantized matrix kernels the engine owns.
//!
//! Weights stay quantized in memory in GGUF's 32-value blocks (Q4_0, Q4_1, Q8_0; the f16
//! scales are converted to f32 once at load). Activations are quantized once per step to 8-bit
//! blocks with one f32 scale each ([`QuantActs`], llama.cpp's Q8_1 layout with an f32 scale),
//! so a block's dot product is an exact integer sum of 32 products followed by one scaled
//! floating-point accumulation. One set of quantized activations serves every matrix that
//! reads the same input (query, key and value; gate and up).
//!
//! Every (weight row, activation row) product is computed with the same sequence of operations
//! whatever else is in the batch: eight integer lanes per block (lane `u` sums elements
//! `4u..4u+4`), each accumulated into its own f32 lane with a fused multiply-add, reduced in a
//! fixed tree at the end. A sequence therefore gets bit-identical results alone, batched with
//! others, in a prefill or token by token; and the AVX2 kernel gives bit-identical results to
//! the portable one, which the tests check on random inputs.
//!
//! The SIMD kernel (x86-64 with AVX2 and FMA, detected at run time) lives in [`avx2`], the only
//! module of the engine allowed `unsafe`. Everywhere else the portable kernel runs.
//!
//! A batch is processed in tiles of eight activation rows against one weight row at a time, so
//! each weight block is unpacked once per tile; prompt processing is a matrix-matrix product, not
//! a loop of matrix-vector ones. Over the thread pool, a few rows (decoding) are split by output
//! features and many rows (prompt processing) by bands of rows, each band walking the weights in
//! L1-sized groups and writing its rows in place.

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2;

use half::f16;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Values per quantization block.
pub const QK: usize = 32;
/// Activation rows computed together against one weight block.
const TILE: usize = 8;
/// From this many activation rows on, work is split by rows rather than by output features.
const ROW_SPLIT: usize = 32;
/// Weight rows a row-split task walks at a time (about 9 KB of Q4 weights at width 576).
const WEIGHT_GROUP: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantType {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl QuantType {
    /// Bytes of one block in the GGUF file.
    fn block_bytes(self) -> usize {
        match self {
            QuantType::Q4_0 => 18,
            QuantType::Q4_1 => 20,
            QuantType::Q8_0 => 34,
        }
    }

    /// Bytes of one block's quants alone.
    fn quant_bytes(self) -> usize {
        match self {
            QuantType::Q4_0 | QuantType::Q4_1 => 16,
            QuantType::Q8_0 => 32,
        }
    }
}

/// Which implementation runs the products on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2(avx2::Token),
    /// AVX-512F for the f32 products; the quantized ones run the AVX2 kernel.
    #[cfg(target_arch = "x86_64")]
    Avx512(avx2::Token512),
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2(_) => "avx2+fma",
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512(_) => "avx512f",
        }
    }

    /// Every backend this CPU can run, the portable one first (tests and benchmarks compare
    /// them).
    pub fn available() -> Vec<Backend> {
        let mut all = vec![Backend::Portable];
        #[cfg(target_arch = "x86_64")]
        if let Some(cpu) = avx2::Token::detect() {
            all.push(Backend::Avx2(cpu));
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(cpu) = avx2::Token512::detect() {
            all.push(Backend::Avx512(cpu));
        }
        all
    }

    /// The fastest backend this CPU supports, unless `SCIF_KERNELS=portable` asks for the
    /// portable one. Detected once.
    pub fn detect() -> Backend {
        static DETECTED: OnceLock<Backend> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            if std::env::var("SCIF_KERNELS").is_ok_and(|v| v == "portable") {
                return Backend::Portable;
            }
            Backend::available().pop().unwrap_or(Backend::Portable)
        })
    }
}

/// Run `f` compiled for the widest vector unit this CPU has (plain loops inlined into it are
/// vectorized accordingly); the results are the same on every backend.
#[inline]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    match Backend::detect() {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2(cpu) => avx2::run(cpu, f),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512(cpu) => avx2::run(cpu.avx2(), f),
        Backend::Portable => f(),
    }
}

/// An `n` x `k` quantized matrix (n output features), in GGUF's block layout.
pub struct QuantMatrix {
    pub n: usize,
    pub k: usize,
    kind: QuantType,
    /// Per block: the scale, converted from f16 once at load.
    d: Vec<f32>,
    /// Per block: the offset (Q4_1 only; empty otherwise).
    m: Vec<f32>,
    /// Per block: the packed quants (16 bytes for Q4_0 and Q4_1, 32 for Q8_0).
    qs: Vec<u8>,
}

/// One weight row's blocks.
#[derive(Clone, Copy)]
pub(crate) struct WeightRow<'a> {
    pub(crate) qs: &'a [u8],
    pub(crate) d: &'a [f32],
    /// Empty unless Q4_1.
    pub(crate) m: &'a [f32],
}

/// Activations quantized to signed 8-bit blocks: `rows` x `k` values, each 32-value block with
/// its scale `d` (largest magnitude / 127) and its sum `s` = `d` times the sum of its quants.
pub struct QuantActs {
    pub rows: usize,
    pub k: usize,
    d: Vec<f32>,
    /// The blocks' sums, block-major (`s_t[b * rows + r]`), so the SIMD kernel loads a tile's
    /// rows at once.
    s_t: Vec<f32>,
    qs: Vec<i8>,
}

/// One row of [`QuantActs`] being filled: its index, quants, scales and sums.
type RowParts<'a> = (usize, ((&'a mut [i8], &'a mut [f32]), &'a mut [f32]));

impl QuantActs {
    /// Quantize `rows` rows of `k` values from `x` (row-major). `k` must be a multiple of 32;
    /// rows missing from `x` are quantized as zeros.
    pub fn quantize(x: &[f32], rows: usize, k: usize) -> Self {
        let nb = k / QK;
        let k = nb * QK;
        let mut d = vec![0f32; rows * nb];
        let mut s = vec![0f32; rows * nb];
        let mut qs = vec![0i8; rows * k];
        // Rows are independent; many rows (prompt processing) are quantized in parallel.
        let quantize_row = |(r, ((qs, d), s)): RowParts<'_>| {
            for b in 0..nb {
                let start = r * k + b * QK;
                let src = x.get(start..start + QK).unwrap_or(&[]);
                let amax = src.iter().fold(0f32, |a, v| a.max(v.abs()));
                let scale = amax / 127.0;
                let inv = if scale > 0.0 && scale.is_finite() {
                    1.0 / scale
                } else {
                    0.0
                };
                let mut sum = 0i32;
                for (q, v) in qs[b * QK..(b + 1) * QK].iter_mut().zip(src) {
                    // `as` saturates (and maps NaN to 0), so a bad value cannot overflow.
                    *q = (v * inv).round().clamp(-127.0, 127.0) as i8;
                    sum += i32::from(*q);
                }
                d[b] = scale;
                s[b] = scale * sum as f32;
            }
        };
        if k > 0 && rows >= ROW_SPLIT {
            qs.par_chunks_mut(k)
                .zip(d.par_chunks_mut(nb))
                .zip(s.par_chunks_mut(nb))
                .enumerate()
                .for_each(quantize_row);
        } else if k > 0 {
            qs.chunks_mut(k)
                .zip(d.chunks_mut(nb))
                .zip(s.chunks_mut(nb))
                .enumerate()
                .for_each(quantize_row);
        }
        let mut s_t = vec![0f32; rows * nb];
        for (r, row) in s.chunks_exact(nb.max(1)).enumerate() {
            for (b, v) in row.iter().enumerate() {
                s_t[b * rows + r] = *v;
            }
        }
        Self {
            rows,
            k,
            d,
            s_t,
            qs,
        }
    }

    fn blocks(&self) -> usize {
        self.k / QK
    }
}

impl QuantMatrix {
    /// From the raw GGUF bytes of an `n` x `k` tensor; `None` if the sizes do not fit.
    pub fn from_bytes(kind: QuantType, raw: &[u8], n: usize, k: usize) -> Option<Self> {
        if k == 0
            || !k.is_multiple_of(QK)
            || raw.len() != n.checked_mul(k / QK)?.checked_mul(kind.block_bytes())?
        {
            return None;
        }
        let bb = kind.block_bytes();
        let blocks = raw.len() / bb;
        let mut d = Vec::with_capacity(blocks);
        let mut m = Vec::new();
        let mut qs = Vec::with_capacity(blocks * kind.quant_bytes());
        for b in raw.chunks_exact(bb) {
            d.push(f16::from_le_bytes([b[0], b[1]]).to_f32());
            match kind {
                QuantType::Q4_0 => qs.extend_from_slice(&b[2..18]),
                QuantType::Q4_1 => {
                    m.push(f16::from_le_bytes([b[2], b[3]]).to_f32());
                    qs.extend_from_slice(&b[4..20]);
                }
                QuantType::Q8_0 => qs.extend_from_slice(&b[2..34]),
            }
        }
        Some(Self {
            n,
            k,
            kind,
            d,
            m,
            qs,
        })
    }

    /// The matrices stacked by rows (one product then serves several projections of the same
    /// input); `None` unless they share type and width.
    pub fn stack(parts: &[&QuantMatrix]) -> Option<QuantMatrix> {
        let first = parts.first()?;
        if parts.iter().any(|p| p.kind != first.kind || p.k != first.k) {
            return None;
        }
        Some(QuantMatrix {
            n: parts.iter().map(|p| p.n).sum(),
            k: first.k,
            kind: first.kind,
            d: parts.iter().flat_map(|p| p.d.iter().copied()).collect(),
            m: parts.iter().flat_map(|p| p.m.iter().copied()).collect(),
            qs: parts.iter().flat_map(|p| p.qs.iter().copied()).collect(),
        })
    }

    fn row(&self, j: usize) -> WeightRow<'_> {
        let nb = self.k / QK;
        let qb = self.kind.quant_bytes();
        WeightRow {
            qs: &self.qs[j * nb * qb..(j + 1) * nb * qb],
            d: &self.d[j * nb..(j + 1) * nb],
            m: if self.kind == QuantType::Q4_1 {
                &self.m[j * nb..(j + 1) * nb]
            } else {
                &[]
            },
        }
    }

    /// Dequantize row `j` (for embedding lookups) into `out` (length `k`); false if `j` is out of
    /// range or `out` has the wrong length.
    pub fn dequantize_row(&self, j: usize, out: &mut [f32]) -> bool {
        if j >= self.n || out.len() != self.k {
            return false;
        }
        let w = self.row(j);
        let qb = self.kind.quant_bytes();
        for (b, o) in out.chunks_exact_mut(QK).enumerate() {
            let q = weight_block(self.kind, &w.qs[b * qb..(b + 1) * qb]);
            let m = w.m.get(b).copied().unwrap_or(0.0);
            for (o, q) in o.iter_mut().zip(q) {
                *o = q as f32 * w.d[b] + m;
            }
        }
        true
    }

    /// `x` is `rows` x `k`, row-major; returns `rows` x `n`.
    pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.matmul_q(&QuantActs::quantize(x, rows, self.k))
    }

    /// The product with already quantized activations: `acts.rows` x `n`, row-major. Activations
    /// of another width give zeros.
    pub fn matmul_q(&self, acts: &QuantActs) -> Vec<f32> {
        self.matmul_with(Backend::detect(), acts)
    }

    /// [`Self::matmul_q`] on a chosen backend (the tests compare them).
    pub fn matmul_with(&self, backend: Backend, acts: &QuantActs) -> Vec<f32> {
        let (n, rows) = (self.n, acts.rows);
        let mut out = vec![0f32; rows * n];
        if acts.k != self.k || rows == 0 || n == 0 {
            return out;
        }
        let threads = rayon::current_num_threads();
        if rows >= ROW_SPLIT {
            // Many rows (prompt processing, large batches): each task owns a band of output rows
            // and walks the weights in L1-sized groups of rows, writing its band in place.
            let band = (rows / (threads * 4)).clamp(TILE, 64) / TILE * TILE;
            out.par_chunks_mut(band * n)
                .enumerate()
                .for_each(|(c, dst)| {
                    let r_first = c * band;
                    let r_count = dst.len() / n;
                    for j0 in (0..n).step_by(WEIGHT_GROUP) {
                        let j_end = (j0 + WEIGHT_GROUP).min(n);
                        self.block(backend, acts, r_first, r_count, j0, j_end, |r, j, v| {
                            dst[(r - r_first) * n + j] = v;
                        });
                    }
                });
            return out;
        }
        // Few rows (decoding): each task owns a range of output features for every row.
        let per_task = (n / (threads * 8)).clamp(16, 256);
        split_by_features(&mut out, n, rows, per_task, |j0, j_end, local| {
            let width = j_end - j0;
            self.block(backend, acts, 0, rows, j0, j_end, |r, j, v| {
                local[r * width + j - j0] = v;
            });
        });
        out
    }

    /// Products of activation rows `r_first..r_first + r_count` with weight rows `j0..j_end`,
    /// handed to `put(row, feature, value)`: tiles of [`TILE`] rows against one weight row.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        backend: Backend,
        acts: &QuantActs,
        r_first: usize,
        r_count: usize,
        j0: usize,
        j_end: usize,
        mut put: impl FnMut(usize, usize, f32),
    ) {
        let mut r0 = r_first;
        while r0 < r_first + r_count {
            let t = (r_first + r_count - r0).min(TILE);
            for j in j0..j_end {
                let w = self.row(j);
                let mut res = [0f32; TILE];
                match backend {
                    #[cfg(target_arch = "x86_64")]
                    Backend::Avx2(cpu) => avx2::tile(cpu, self.kind, w, acts, r0, &mut res[..t]),
                    #[cfg(target_arch = "x86_64")]
                    Backend::Avx512(cpu) => {
                        avx2::tile(cpu.avx2(), self.kind, w, acts, r0, &mut res[..t])
                    }
                    Backend::Portable => portable_tile(self.kind, w, acts, r0, &mut res[..t]),
                }
                for (i, v) in res[..t].iter().enumerate() {
                    put(r0 + i, j, *v);
                }
            }
            r0 += t;
        }
    }
}

impl QuantMatrix {
    /// An `n` x `k` matrix of f32 weights (row-major, one output feature per row) quantized to
    /// 8-bit blocks of 32 with one f32 scale each (Q8_0 with the scale kept in full precision);
    /// `None` unless `k` is a multiple of 32 and `w` holds `n * k` values.
    pub fn quantize_q8_0(w: &[f32], n: usize, k: usize) -> Option<Self> {
        if k == 0 || !k.is_multiple_of(QK) || w.len() != n.checked_mul(k)? {
            return None;
        }
        let mut d = Vec::with_capacity(w.len() / QK);
        let mut qs = Vec::with_capacity(w.len());
        for block in w.chunks_exact(QK) {
            let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
            let scale = amax / 127.0;
            let inv = if scale > 0.0 && scale.is_finite() {
                1.0 / scale
            } else {
                0.0
            };
            d.push(scale);
            // `as` saturates (and maps NaN to 0).
            qs.extend(
                block
                    .iter()
                    .map(|v| (v * inv).round().clamp(-127.0, 127.0) as i8 as u8),
            );
        }
        Some(Self {
            n,
            k,
            kind: QuantType::Q8_0,
            d,
            m: Vec::new(),
            qs,
        })
    }
}

/// An `n` x `k` matrix of f32 weights, row-major (one output feature per row, as PyTorch's
/// `Linear` stores them), for models kept in full precision (the sentence encoders).
///
/// Every (weight row, activation row) product is sixteen running sums of lane `l` = elements
/// `l, l + 16, ...`, reduced in a fixed tree, whatever tile it falls in: a row's result does not
/// depend on the rest of the batch. Tiles of four activation rows by four weight rows keep the
/// sums in registers (the AVX2 and AVX-512 kernels in [`avx2`]; the portable one gives the
/// same bits).
pub struct F32Matrix {
    pub n: usize,
    pub k: usize,
    w: Vec<f32>,
    backend: Backend,
}

/// Weight rows and activation rows a tile reads together.
const F32_TILE_W: usize = 4;
const F32_TILE_R: usize = 4;
/// Running sums per f32 product (and the multiple of it the width must be).
pub const F32_LANES: usize = 16;

impl F32Matrix {
    /// `None` unless `w` holds `n * k` values and `k` is a multiple of [`F32_LANES`].
    pub fn new(w: Vec<f32>, n: usize, k: usize) -> Option<Self> {
        if k == 0 || !k.is_multiple_of(F32_LANES) || w.len() != n.checked_mul(k)? {
            return None;
        }
        Some(Self {
            n,
            k,
            w,
            backend: Backend::detect(),
        })
    }

    /// The same matrix on a chosen backend (the tests compare them).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// `x` is `rows` x `k`, row-major; returns `rows` x `n`. Rows missing from `x` give zeros.
    pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let (n, k) = (self.n, self.k);
        let mut out = vec![0f32; rows * n];
        if rows == 0 || n == 0 || x.len() < rows * k {
            return out;
        }
        let threads = rayon::current_num_threads();
        // Weight rows walked per pass over a band: about 24 KB, so they stay in L1 while every
        // row of the band reads them.
        let group = (6144 / k).clamp(F32_TILE_W, 64) / F32_TILE_W * F32_TILE_W;
        if rows >= ROW_SPLIT {
            let band = (rows / (threads * 4)).clamp(8, 64);
            out.par_chunks_mut(band * n)
                .enumerate()
                .for_each(|(c, dst)| {
                    let r0 = c * band;
                    let count = dst.len() / n;
                    let xs = &x[r0 * k..(r0 + count) * k];
                    for j0 in (0..n).step_by(group) {
                        self.band(xs, count, j0, (j0 + group).min(n), |r, j, v| {
                            dst[r * n + j] = v;
                        });
                    }
                });
            return out;
        }
        let per_task = (n / (threads * 4)).clamp(16, 256);
        split_by_features(&mut out, n, rows, per_task, |j0, j_end, local| {
            let width = j_end - j0;
            self.band(&x[..rows * k], rows, j0, j_end, |r, j, v| {
                local[r * width + j - j0] = v;
            });
        });
        out
    }

    /// [`Self::matmul`] on the calling thread alone (for products inside tasks that are
    /// already parallel, such as one attention head's).
    pub fn matmul_here(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let (n, k) = (self.n, self.k);
        let mut out = vec![0f32; rows * n];
        if rows == 0 || n == 0 || x.len() < rows * k {
            return out;
        }
        self.band(&x[..rows * k], rows, 0, n, |r, j, v| out[r * n + j] = v);
        out
    }

    /// Every row of `xs` (`rows` x `k`) against weight rows `j0..j_end`, handed to
    /// `put(row, feature, value)`.
    #[inline(always)]
    fn band(
        &self,
        xs: &[f32],
        rows: usize,
        j0: usize,
        j_end: usize,
        mut put: impl FnMut(usize, usize, f32),
    ) {
        let k = self.k;
        let mut j = j0;
        while j < j_end {
            let t = (j_end - j).min(F32_TILE_W);
            let mut ws: [&[f32]; F32_TILE_W] = [&[]; F32_TILE_W];
            for (i, w) in ws.iter_mut().enumerate().take(t) {
                *w = &self.w[(j + i) * k..(j + i + 1) * k];
            }
            for i in t..F32_TILE_W {
                ws[i] = ws[0];
            }
            let mut r = 0;
            while r < rows {
                // A short last tile repeats its last row; each row's products are its own.
                let valid = (rows - r).min(F32_TILE_R);
                let x: [&[f32]; F32_TILE_R] = std::array::from_fn(|a| {
                    let i = r + a.min(valid - 1);
                    &xs[i * k..(i + 1) * k]
                });
                let res = f32_tile(self.backend, x, ws);
                for (a, row) in res.iter().enumerate().take(valid) {
                    for (b, v) in row.iter().enumerate().take(t) {
                        put(r + a, j + b, *v);
                    }
                }
                r += F32_TILE_R;
            }
            j += t;
        }
    }
}

/// Four activation rows against four weight rows on `backend`.
#[inline(always)]
fn f32_tile(
    backend: Backend,
    x: [&[f32]; F32_TILE_R],
    w: [&[f32]; F32_TILE_W],
) -> [[f32; F32_TILE_W]; F32_TILE_R] {
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2(cpu) => {
            let (a, b) = (
                avx2::f32_tile(cpu, [x[0], x[1]], w),
                avx2::f32_tile(cpu, [x[2], x[3]], w),
            );
            [a[0], a[1], b[0], b[1]]
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512(cpu) => avx2::f32_tile512(cpu, x, w),
        Backend::Portable => portable_f32_tile(x, w),
    }
}

/// The portable f32 kernel, the reference the SIMD ones reproduce bit for bit: lane `l` of a
/// product is the fused multiply-add chain over elements `l, l + 16, ...`; lanes `l` and
/// `l + 8` are added, and the eight reduced by [`reduce8`].
fn portable_f32_tile(
    x: [&[f32]; F32_TILE_R],
    w: [&[f32]; F32_TILE_W],
) -> [[f32; F32_TILE_W]; F32_TILE_R] {
    let mut out = [[0f32; F32_TILE_W]; F32_TILE_R];
    for (a, xr) in x.iter().enumerate() {
        for (b, wr) in w.iter().enumerate() {
            let mut lanes = [0f32; F32_LANES];
            for (xc, wc) in xr.chunks_exact(F32_LANES).zip(wr.chunks_exact(F32_LANES)) {
                for l in 0..F32_LANES {
                    lanes[l] = xc[l].mul_add(wc[l], lanes[l]);
                }
            }
            out[a][b] = reduce8(std::array::from_fn(|l| lanes[l] + lanes[l + 8]));
        }
    }
    out
}

/// A product of few rows (decoding, short inputs) split over the thread pool by output
/// features: each task computes features `j0..j_end` of every row with
/// `compute(j0, j_end, local)` into a buffer of its own (`rows` x `j_end - j0`), copied into
/// `out` (`rows` x `n`).
fn split_by_features(
    out: &mut [f32],
    n: usize,
    rows: usize,
    per_task: usize,
    compute: impl Fn(usize, usize, &mut [f32]) + Sync,
) {
    let parts: Vec<Vec<f32>> = (0..n.div_ceil(per_task))
        .into_par_iter()
        .map(|c| {
            let (j0, j_end) = (c * per_task, ((c + 1) * per_task).min(n));
            let width = j_end - j0;
            let mut local = vec![0f32; rows * width];
            compute(j0, j_end, &mut local);
            local
        })
        .collect();
    for (c, local) in parts.iter().enumerate() {
        let j0 = c * per_task;
        let width = local.len() / rows.max(1);
        for (r, src) in local.chunks_exact(width.max(1)).enumerate() {
            out[r * n + j0..r * n + j0 + width].copy_from_slice(src);
        }
    }
}

/// One weight block as signed integers in element order (Q4_0's offset of 8 removed; Q4_1's
/// quants are 0..=15 and its offset is applied separately).
fn weight_block(kind: QuantType, b: &[u8]) -> [i32; QK] {
    let mut w = [0i32; QK];
    match kind {
        QuantType::Q4_0 | QuantType::Q4_1 => {
            let bias = if kind == QuantType::Q4_0 { 8 } else { 0 };
            for (i, p) in b.iter().take(16).enumerate() {
                w[i] = i32::from(p & 0x0F) - bias;
                w[i + 16] = i32::from(p >> 4) - bias;
            }
        }
        QuantType::Q8_0 => {
            for (o, p) in w.iter_mut().zip(b) {
                *o = i32::from(*p as i8);
            }
        }
    }
    w
}

/// Reduce eight lanes in the fixed order the SIMD kernel uses.
#[inline]
fn reduce8(a: [f32; 8]) -> f32 {
    let l = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    (l[0] + l[2]) + (l[1] + l[3])
}

/// The portable kernel: activation rows `r0..r0 + out.len()` against one weight row. This is the
/// reference the SIMD kernels must reproduce bit for bit.
fn portable_tile(kind: QuantType, w: WeightRow<'_>, acts: &QuantActs, r0: usize, out: &mut [f32]) {
    let nb = acts.blocks();
    let qb = kind.quant_bytes();
    for (i, o) in out.iter_mut().enumerate() {
        let r = r0 + i;
        let mut lanes = [0f32; 8];
        // Q4_1's offsets.
        let mut offsets = 0f32;
        for b in 0..nb {
            let wq = weight_block(kind, &w.qs[b * qb..(b + 1) * qb]);
            let xq = &acts.qs[(r * nb + b) * QK..(r * nb + b + 1) * QK];
            let dd = w.d[b] * acts.d[r * nb + b];
            for (u, lane) in lanes.iter_mut().enumerate() {
                let sum: i32 = (4 * u..4 * u + 4).map(|e| wq[e] * i32::from(xq[e])).sum();
                *lane = (sum as f32).mul_add(dd, *lane);
            }
            if let Some(m) = w.m.get(b) {
                offsets = m.mul_add(acts.s_t[b * acts.rows + r], offsets);
            }
        }
        *o = reduce8(lanes) + offsets;
    }
}

#[cfg(test)]
mod tests;
