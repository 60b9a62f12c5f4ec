use super::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

const KINDS: [QuantType; 3] = [QuantType::Q4_0, QuantType::Q4_1, QuantType::Q8_0];

/// Random blocks (finite f16 scales, any quants) and the dense matrix they encode.
fn random(kind: QuantType, n: usize, k: usize, rng: &mut impl Rng) -> (Vec<u8>, Vec<f32>) {
    let mut raw = Vec::new();
    let mut dense = vec![0f32; n * k];
    for j in 0..n {
        for b in 0..k / QK {
            let d = f16::from_f32(rng.random_range(0.001..0.05));
            raw.extend_from_slice(&d.to_le_bytes());
            let base = j * k + b * QK;
            let d = d.to_f32();
            match kind {
                QuantType::Q4_0 | QuantType::Q4_1 => {
                    let (m, bias) = if kind == QuantType::Q4_1 {
                        let m = f16::from_f32(rng.random_range(-0.3..0.0));
                        raw.extend_from_slice(&m.to_le_bytes());
                        (m.to_f32(), 0.0)
                    } else {
                        (0.0, 8.0)
                    };
                    for i in 0..16 {
                        let (lo, hi) = (rng.random_range(0..16u8), rng.random_range(0..16u8));
                        raw.push(lo | (hi << 4));
                        dense[base + i] = (f32::from(lo) - bias) * d + m;
                        dense[base + i + 16] = (f32::from(hi) - bias) * d + m;
                    }
                }
                QuantType::Q8_0 => {
                    for i in 0..QK {
                        // Every byte, -128 included, is a valid Q8_0 quant.
                        let q = rng.random::<u8>() as i8;
                        raw.push(q as u8);
                        dense[base + i] = f32::from(q) * d;
                    }
                }
            }
        }
    }
    (raw, dense)
}

/// The exact product of the dense weights with the activations as quantized, and the sum of
/// the products' magnitudes (what f32 rounding error scales with).
fn exact(dense: &[f32], acts: &QuantActs, n: usize) -> Vec<(f64, f64)> {
    let (k, nb) = (acts.k, acts.k / QK);
    let mut out = vec![(0f64, 0f64); acts.rows * n];
    for r in 0..acts.rows {
        for j in 0..n {
            out[r * n + j] = (0..k)
                .map(|i| {
                    let x = f64::from(acts.qs[r * k + i]) * f64::from(acts.d[r * nb + i / QK]);
                    f64::from(dense[j * k + i]) * x
                })
                .fold((0.0, 0.0), |(s, a), p| (s + p, a + p.abs()));
        }
    }
    out
}

fn backends() -> Vec<Backend> {
    Backend::available()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// On random matrices and activations, every backend gives bit-identical results to the
    /// portable kernel, each row alone gives the same bits as in the batch, and the result is
    /// the exact product of the dequantized values up to f32 rounding.
    #[test]
    fn kernels_agree_with_the_reference(
        kind in prop::sample::select(KINDS.to_vec()),
        n in 1usize..40,
        blocks in 1usize..10,
        rows in 1usize..11,
        seed in any::<u64>(),
        scale in prop::sample::select(vec![1e-3f32, 1.0, 300.0]),
    ) {
        let k = blocks * QK;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let (raw, dense) = random(kind, n, k, &mut rng);
        let m = QuantMatrix::from_bytes(kind, &raw, n, k).unwrap();
        let x: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-1.0..1.0) * scale).collect();
        let acts = QuantActs::quantize(&x, rows, k);
        let reference = m.matmul_with(Backend::Portable, &acts);
        let want = exact(&dense, &acts, n);
        for (i, (got, (want, magnitude))) in reference.iter().zip(&want).enumerate() {
            // A few f32 roundings per block, each relative to the terms' magnitude.
            let bound = 1e-7 * (blocks as f64 + 4.0) * magnitude + 1e-30;
            prop_assert!((f64::from(*got) - want).abs() <= bound, "{kind:?} #{i}: {got} vs {want}");
        }
        for backend in backends() {
            let got = m.matmul_with(backend, &acts);
            prop_assert_eq!(&got, &reference, "{} differs from the portable kernel", backend.name());
            for r in 0..rows {
                let alone = m.matmul_with(backend, &QuantActs::quantize(&x[r * k..(r + 1) * k], 1, k));
                prop_assert_eq!(&got[r * n..(r + 1) * n], alone.as_slice(), "row {} alone", r);
            }
        }
    }
}

#[test]
fn quantized_activations_are_within_half_a_step() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let k = 256;
    let x: Vec<f32> = (0..2 * k).map(|_| rng.random_range(-4.0..4.0)).collect();
    let acts = QuantActs::quantize(&x, 2, k);
    for (i, v) in x.iter().enumerate() {
        let d = acts.d[i / QK];
        let back = f32::from(acts.qs[i]) * d;
        assert!(
            (back - v).abs() <= d * 0.5 + 1e-6,
            "{v} came back as {back}"
        );
    }
    for b in 0..2 * k / QK {
        let sum: i32 = acts.qs[b * QK..(b + 1) * QK]
            .iter()
            .map(|q| i32::from(*q))
            .sum();
        let (r, blk) = (b / (k / QK), b % (k / QK));
        assert_eq!(acts.s_t[blk * acts.rows + r], acts.d[b] * sum as f32);
    }
}

#[test]
fn zero_and_non_finite_activations_do_not_fail() {
    let mut x = vec![0f32; 96];
    x[40] = f32::NAN;
    x[70] = f32::INFINITY;
    let acts = QuantActs::quantize(&x, 1, 96);
    assert!(acts.qs[..32].iter().all(|q| *q == 0));
    assert_eq!(acts.d[0], 0.0);
    // Missing rows quantize as zeros.
    let short = QuantActs::quantize(&x[..32], 2, 32);
    assert!(short.qs[32..].iter().all(|q| *q == 0));
}

#[test]
fn large_batches_match_rows_alone() {
    // Past one tile and one task chunk: 37 rows, 300 features.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for kind in KINDS {
        let (n, k, rows) = (300, 576, 37);
        let (raw, _) = random(kind, n, k, &mut rng);
        let m = QuantMatrix::from_bytes(kind, &raw, n, k).unwrap();
        let x: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let all = m.matmul(&x, rows);
        for r in [0, 3, 4, 17, 36] {
            assert_eq!(
                &all[r * n..(r + 1) * n],
                m.matmul(&x[r * k..(r + 1) * k], 1).as_slice()
            );
        }
        for backend in backends() {
            let acts = QuantActs::quantize(&x, rows, k);
            assert_eq!(
                m.matmul_with(backend, &acts),
                m.matmul_with(Backend::Portable, &acts)
            );
        }
    }
}

#[test]
fn dequantized_rows_are_the_dense_rows() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for kind in KINDS {
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
    assert!(QuantMatrix::from_bytes(QuantType::Q4_0, &[0; 20], 1, 32).is_none());
    assert!(QuantMatrix::from_bytes(QuantType::Q8_0, &[0; 68], 1, 32).is_none());
    assert!(QuantMatrix::from_bytes(QuantType::Q8_0, &[0; 34], 1, 0).is_none());
    // Activations of the wrong width give zeros, not a fault.
    let m = QuantMatrix::from_bytes(QuantType::Q8_0, &[0; 34], 1, 32).unwrap();
    assert_eq!(
        m.matmul_q(&QuantActs::quantize(&[1.0; 64], 1, 64)),
        vec![0.0]
    );
}

#[test]
fn f32_products_are_exact_enough_identical_on_every_backend_and_batch_independent() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for (n, k, rows) in [
        (5, 16, 1),
        (13, 384, 3),
        (64, 1536, 40),
        (1152, 384, 33),
        (7, 32, 2),
    ] {
        let w: Vec<f32> = (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-2.0..2.0)).collect();
        let outs: Vec<Vec<f32>> = Backend::available()
            .into_iter()
            .map(|b| {
                F32Matrix::new(w.clone(), n, k)
                    .unwrap()
                    .with_backend(b)
                    .matmul(&x, rows)
            })
            .collect();
        for o in &outs[1..] {
            assert_eq!(o, &outs[0], "backends differ at {n}x{k}");
        }
        let m = F32Matrix::new(w.clone(), n, k).unwrap();
        for r in 0..rows {
            // Against f64, and against the row computed alone.
            for j in 0..n {
                let exact: f64 = (0..k)
                    .map(|i| f64::from(w[j * k + i]) * f64::from(x[r * k + i]))
                    .sum();
                assert!(
                    (f64::from(outs[0][r * n + j]) - exact).abs() < 1e-3,
                    "{r} {j}"
                );
            }
            let alone = m.matmul(&x[r * k..(r + 1) * k], 1);
            assert_eq!(
                alone[..],
                outs[0][r * n..(r + 1) * n],
                "row {r} depends on its batch"
            );
        }
    }
    assert!(F32Matrix::new(vec![0.0; 12], 2, 6).is_none());
    assert!(F32Matrix::new(vec![0.0; 24], 3, 8).is_none());
}

#[test]
fn q8_quantized_f32_weights_give_close_products() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let (n, k, rows) = (48, 384, 9);
    let w: Vec<f32> = (0..n * k).map(|_| rng.random_range(-0.1..0.1)).collect();
    let x: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-1.0..1.0)).collect();
    let q = QuantMatrix::quantize_q8_0(&w, n, k)
        .unwrap()
        .matmul(&x, rows);
    let f = F32Matrix::new(w, n, k).unwrap().matmul(&x, rows);
    let err = q
        .iter()
        .zip(&f)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err < 0.02, "{err}");
    assert!(QuantMatrix::quantize_q8_0(&[0.0; 40], 1, 40).is_none());
}
