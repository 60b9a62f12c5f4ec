//! Quantized matrix kernels the engine owns, in safe Rust.
//!
//! Weights stay quantized in memory (Q4_1, Q8_0, with their f16 scales converted once at load);
//! each 32-value block is dequantized into registers and multiplied with f32 activations. Activations are *not* quantized: measured
//! against llama.cpp (which quantizes them to Q8 blocks before every product), rounding the
//! activations makes the network's output depend on tiny summation-order differences, because
//! an element that moves across a rounding boundary moves by a whole quantization step. Keeping
//! them in f32 is closer to the model's true arithmetic and makes every row's result independent
//! of what else is in the batch, so a sequence gives the same tokens alone or batched, and in a
//! prefill or token by token.
//!
//! A weight block is dequantized once and applied to every row of the batch, so batching
//! sequences and prompt processing reuse each weight load. Work is split by output rows over
//! the global thread pool.

use half::f16;
use rayon::prelude::*;

const QK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantType {
    Q4_1,
    Q8_0,
}

impl QuantType {
    /// Bytes of one block in the GGUF file.
    fn block_bytes(self) -> usize {
        match self {
            QuantType::Q4_1 => 20,
            QuantType::Q8_0 => 34,
        }
    }

    /// Bytes of one block's quants alone.
    fn quant_bytes(self) -> usize {
        match self {
            QuantType::Q4_1 => 16,
            QuantType::Q8_0 => 32,
        }
    }
}

/// An `n` x `k` quantized matrix (n output features), in GGUF's block layout.
pub struct QuantMatrix {
    pub n: usize,
    pub k: usize,
    kind: QuantType,
    /// Per block: scale and offset, converted from f16 once at load.
    dm: Vec<[f32; 2]>,
    /// Per block: the packed quants (16 bytes for Q4_1, 32 for Q8_0).
    qs: Vec<u8>,
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
        let mut dm = Vec::with_capacity(raw.len() / bb);
        let mut qs = Vec::with_capacity(raw.len() / bb * kind.quant_bytes());
        for b in raw.chunks_exact(bb) {
            let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            match kind {
                QuantType::Q4_1 => {
                    dm.push([d, f16::from_le_bytes([b[2], b[3]]).to_f32()]);
                    qs.extend_from_slice(&b[4..20]);
                }
                QuantType::Q8_0 => {
                    dm.push([d, 0.0]);
                    qs.extend_from_slice(&b[2..34]);
                }
            }
        }
        Some(Self { n, k, kind, dm, qs })
    }

    /// Dequantize row `j` (for embedding lookups) into `out` (length `k`); false if `j` is out of
    /// range or `out` has the wrong length.
    pub fn dequantize_row(&self, j: usize, out: &mut [f32]) -> bool {
        let nb = self.k / QK;
        let qb = self.kind.quant_bytes();
        if j >= self.n || out.len() != self.k {
            return false;
        }
        let mut w = [0f32; QK];
        let wq = &self.qs[j * nb * qb..(j + 1) * nb * qb];
        let wdm = &self.dm[j * nb..(j + 1) * nb];
        for ((blk, &[d, m]), o) in wq.chunks_exact(qb).zip(wdm).zip(out.chunks_exact_mut(QK)) {
            dequantize(self.kind, blk, d, m, &mut w);
            o.copy_from_slice(&w);
        }
        true
    }

    /// `x` is `rows` x `k`, row-major; returns `rows` x `n`.
    pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let (n, k) = (self.n, self.k);
        let nb = k / QK;
        let qb = self.kind.quant_bytes();
        const CHUNK: usize = 8;
        // Each task: CHUNK output features for all rows; results are transposed back below.
        let parts: Vec<Vec<f32>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let start = c * CHUNK;
                let end = (start + CHUNK).min(n);
                let mut local = vec![0f32; (end - start) * rows];
                let mut w = [0f32; QK];
                // Eight running sums per row, reduced once at the end of the weight row: the
                // order of additions is fixed, whatever the batch.
                let mut lanes = vec![[0f32; 8]; rows];
                for j in start..end {
                    let wq = &self.qs[j * nb * qb..(j + 1) * nb * qb];
                    let wdm = &self.dm[j * nb..(j + 1) * nb];
                    lanes.iter_mut().for_each(|l| *l = [0.0; 8]);
                    for (b, (blk, &[d, m])) in wq.chunks_exact(qb).zip(wdm).enumerate() {
                        dequantize(self.kind, blk, d, m, &mut w);
                        for (r, lane) in lanes.iter_mut().enumerate() {
                            let off = (r * nb + b) * QK;
                            if let Ok(xb) = <&[f32; QK]>::try_from(&x[off..off + QK]) {
                                fma32(lane, &w, xb);
                            }
                        }
                    }
                    for (r, lane) in lanes.iter().enumerate() {
                        local[(j - start) * rows + r] = reduce8(*lane);
                    }
                }
                local
            })
            .collect();
        let mut out = vec![0f32; rows * n];
        for (c, local) in parts.into_iter().enumerate() {
            let start = c * CHUNK;
            for (jj, col) in local.chunks_exact(rows.max(1)).enumerate() {
                for (r, v) in col.iter().enumerate() {
                    out[r * n + start + jj] = *v;
                }
            }
        }
        out
    }
}

/// Dequantize one block into `w` (value = q*d + m).
#[inline]
fn dequantize(kind: QuantType, b: &[u8], d: f32, m: f32, w: &mut [f32; QK]) {
    match kind {
        QuantType::Q4_1 => {
            let (lo, hi) = w.split_at_mut(16);
            for ((l, h), p) in lo.iter_mut().zip(hi.iter_mut()).zip(b) {
                *l = f32::from(p & 0x0F) * d + m;
                *h = f32::from(p >> 4) * d + m;
            }
        }
        QuantType::Q8_0 => {
            for (o, p) in w.iter_mut().zip(b) {
                *o = f32::from(*p as i8) * d;
            }
        }
    }
}

/// `lane[l] += w[c*8+l] * x[c*8+l]` over the block: vectorized by the compiler.
#[inline]
fn fma32(lane: &mut [f32; 8], w: &[f32; QK], x: &[f32; QK]) {
    for c in 0..4 {
        for l in 0..8 {
            lane[l] += w[c * 8 + l] * x[c * 8 + l];
        }
    }
}

#[inline]
fn reduce8(l: [f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random blocks and the dense matrix they encode.
    fn random(kind: QuantType, n: usize, k: usize, rng: &mut impl Rng) -> (Vec<u8>, Vec<f32>) {
        let mut raw = Vec::new();
        let mut dense = vec![0f32; n * k];
        for j in 0..n {
            for b in 0..k / QK {
                let d = f16::from_f32(rng.random_range(0.001..0.05));
                raw.extend_from_slice(&d.to_le_bytes());
                let base = j * k + b * QK;
                match kind {
                    QuantType::Q4_1 => {
                        let m = f16::from_f32(rng.random_range(-0.3..0.0));
                        raw.extend_from_slice(&m.to_le_bytes());
                        for i in 0..16 {
                            let (lo, hi) = (rng.random_range(0..16u8), rng.random_range(0..16u8));
                            raw.push(lo | (hi << 4));
                            dense[base + i] = f32::from(lo) * d.to_f32() + m.to_f32();
                            dense[base + i + 16] = f32::from(hi) * d.to_f32() + m.to_f32();
                        }
                    }
                    QuantType::Q8_0 => {
                        for i in 0..QK {
                            let q: i8 = rng.random_range(-127..=127);
                            raw.push(q as u8);
                            dense[base + i] = f32::from(q) * d.to_f32();
                        }
                    }
                }
            }
        }
        (raw, dense)
    }

    #[test]
    fn matches_the_dense_product_and_is_independent_of_the_batch() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for kind in [QuantType::Q4_1, QuantType::Q8_0] {
            for (n, k, rows) in [(1, 32, 1), (7, 64, 2), (33, 576, 3), (64, 1536, 5)] {
                let (raw, dense) = random(kind, n, k, &mut rng);
                let m = QuantMatrix::from_bytes(kind, &raw, n, k).unwrap();
                let x: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-1.0..1.0)).collect();
                let got = m.matmul(&x, rows);
                for r in 0..rows {
                    // Each row alone gives bit-identical results to the batched product.
                    let alone = m.matmul(&x[r * k..(r + 1) * k], 1);
                    assert_eq!(&got[r * n..(r + 1) * n], alone.as_slice());
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|i| f64::from(dense[j * k + i]) * f64::from(x[r * k + i]))
                            .sum();
                        let err = (f64::from(got[r * n + j]) - want).abs();
                        assert!(
                            err < 1e-4 * (1.0 + want.abs()),
                            "{kind:?} ({n},{k},{rows}) r{r} j{j}: {} vs {want}",
                            got[r * n + j]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dequantized_rows_are_the_dense_rows() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for kind in [QuantType::Q4_1, QuantType::Q8_0] {
            let (n, k) = (5, 96);
            let (raw, dense) = random(kind, n, k, &mut rng);
            let m = QuantMatrix::from_bytes(kind, &raw, n, k).unwrap();
            let mut row = vec![0f32; k];
            for j in 0..n {
                assert!(m.dequantize_row(j, &mut row));
                assert_eq!(
                    row.as_slice(),
                    &dense[j * k..(j + 1) * k],
                    "{kind:?} row {j}"
                );
            }
            assert!(!m.dequantize_row(n, &mut row));
            assert!(!m.dequantize_row(0, &mut row[..k - 1]));
        }
    }

    #[test]
    fn malformed_sizes_are_refused() {
        assert!(QuantMatrix::from_bytes(QuantType::Q4_1, &[0; 20], 1, 31).is_none());
        assert!(QuantMatrix::from_bytes(QuantType::Q4_1, &[0; 19], 1, 32).is_none());
        assert!(QuantMatrix::from_bytes(QuantType::Q8_0, &[0; 68], 1, 32).is_none());
        assert!(QuantMatrix::from_bytes(QuantType::Q8_0, &[0; 34], 1, 0).is_none());
    }
}
