//! `Authorizer::decide` over the decision matrix's cases (the default policies, every
//! principal × resource × action). Criterion reports the mean time per pass over all cases;
//! then a plain loop times 100,000 single decisions and prints p50, p99 and max.
//!
//! Run: `cargo bench -p scif-authz --bench decide`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use scif_authz::{Action, Authorizer, Principal, Resource, DEFAULT_POLICIES};

fn cases() -> Vec<(Principal, Action, Resource)> {
    let mut out = Vec::new();
    for (resource, _) in common::resources() {
        for (principal, _) in common::principals() {
            for action in Action::ALL {
                out.push((principal.clone(), action, resource.clone()));
            }
        }
    }
    out
}

fn authorizer() -> Authorizer {
    Authorizer::new(common::label(common::SYSTEM_HIGH), DEFAULT_POLICIES).unwrap()
}

fn bench_decide(c: &mut Criterion) {
    let authz = authorizer();
    let cases = cases();
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("matrix", |b| {
        b.iter(|| {
            for (p, a, r) in &cases {
                black_box(authz.decide(black_box(p), *a, black_box(r)));
            }
        })
    });
    // The slowest path: every mandatory rule passes and Cedar decides.
    let allowed: Vec<_> = cases
        .iter()
        .filter(|(p, a, r)| authz.decide(p, *a, r).allowed)
        .cloned()
        .collect();
    group.throughput(Throughput::Elements(allowed.len() as u64));
    group.bench_function("matrix_allowed_only", |b| {
        b.iter(|| {
            for (p, a, r) in &allowed {
                black_box(authz.decide(black_box(p), *a, black_box(r)));
            }
        })
    });
    group.finish();
}

/// p50 and p99 of single decisions, which criterion does not report.
fn percentiles() {
    let authz = authorizer();
    for (name, cases) in [
        ("all matrix cases", cases()),
        ("allowed cases only", {
            let all = cases();
            all.into_iter()
                .filter(|(p, a, r)| authz.decide(p, *a, r).allowed)
                .collect()
        }),
    ] {
        let n = 100_000;
        let mut times = Vec::with_capacity(n);
        for (p, a, r) in cases.iter().cycle().take(10_000) {
            black_box(authz.decide(p, *a, r));
        }
        for (p, a, r) in cases.iter().cycle().take(n) {
            let start = Instant::now();
            black_box(authz.decide(black_box(p), *a, black_box(r)));
            times.push(start.elapsed());
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "decide ({name}, {} distinct, {n} decisions): p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs",
            cases.len(),
            us(at(0.50)),
            us(at(0.99)),
            us(times[times.len() - 1]),
        );
    }
}

criterion_group!(benches, bench_decide);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    percentiles();
}
