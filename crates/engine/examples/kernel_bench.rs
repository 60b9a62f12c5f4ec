//! Microbenchmark of the quantized matrix kernel alone: one 1536 x 576 Q4_1 matrix (the shape
//! of SmolLM2-135M's feed-forward projections) times 1, 4 and 16 activation rows.
//!
//! RAYON_NUM_THREADS=1 cargo run --release -p scif-engine --example kernel_bench

// A benchmark harness, not library code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]
use scif_engine::kernels::{QuantMatrix, QuantType};
use std::time::Instant;

fn main() {
    let (n, k) = (1536usize, 576usize);
    let raw: Vec<u8> = (0..n * k / 32 * 20)
        .map(|i| (i * 7 % 251) as u8 & 0x3f)
        .collect();
    let m = QuantMatrix::from_bytes(QuantType::Q4_1, &raw, n, k).unwrap();
    for rows in [1usize, 4, 16] {
        let x: Vec<f32> = (0..rows * k).map(|i| (i % 13) as f32 * 0.01).collect();
        let _ = m.matmul(&x, rows);
        let t = Instant::now();
        let iters = 300;
        let mut s = 0.0;
        for _ in 0..iters {
            s += m.matmul(&x, rows)[0];
        }
        let el = t.elapsed().as_secs_f64() / iters as f64;
        println!(
            "rows {rows}: {:.1} us/matmul, {:.2} GMAC/s {s}",
            el * 1e6,
            (n * k * rows) as f64 / el / 1e9
        );
    }
}
