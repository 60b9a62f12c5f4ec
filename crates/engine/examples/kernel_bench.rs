//! Microbenchmark of the quantized matrix kernels alone: a 1536 x 576 matrix (the shape of
//! SmolLM2-135M's feed-forward projections) of each supported type times 1, 4, 16 and 512
//! activation rows, on the portable kernel and on the SIMD kernel this CPU supports.
//!
//! RAYON_NUM_THREADS=1 cargo run --release -p scif-engine --example kernel_bench

// A benchmark harness, not library code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]
use scif_engine::kernels::{Backend, QuantActs, QuantMatrix, QuantType};
use std::time::Instant;

fn main() {
    let (n, k) = (1536usize, 576usize);
    let backends = Backend::available();
    for (kind, bytes) in [
        (QuantType::Q4_0, 18),
        (QuantType::Q4_1, 20),
        (QuantType::Q8_0, 34),
    ] {
        // Scales are small positive f16 values (0x1000..0x13ff); quants are arbitrary bytes.
        let raw: Vec<u8> = (0..n * k / 32 * bytes)
            .map(|i| match i % bytes {
                1 | 3 if kind == QuantType::Q4_1 => 0x10,
                1 => 0x10,
                _ => (i * 7 % 251) as u8,
            })
            .collect();
        let m = QuantMatrix::from_bytes(kind, &raw, n, k).unwrap();
        for backend in &backends {
            for rows in [1usize, 4, 16, 512] {
                let x: Vec<f32> = (0..rows * k).map(|i| (i % 13) as f32 * 0.01).collect();
                let acts = QuantActs::quantize(&x, rows, k);
                let _ = m.matmul_with(*backend, &acts);
                let iters = (2000 / rows).max(3);
                let t = Instant::now();
                let mut s = 0.0;
                for _ in 0..iters {
                    s += m.matmul_with(*backend, &acts)[0];
                }
                let el = t.elapsed().as_secs_f64() / iters as f64;
                println!(
                    "{kind:?} {:>9} rows {rows:>3}: {:>9.1} us/matmul, {:6.2} GMAC/s  ({s:.1})",
                    backend.name(),
                    el * 1e6,
                    (n * k * rows) as f64 / el / 1e9
                );
            }
        }
    }
}
