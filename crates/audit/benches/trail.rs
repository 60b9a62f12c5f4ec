#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Durable append throughput (group commit), verify throughput, and the raw fsync rate of
//! the disk (the physical limit for `Durability::Fsync` with one writer).

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scif_audit::{verify, Durability, Event, SigningKey, Trail, TrailConfig};

fn ev(i: u64) -> Event {
    Event {
        time: scif_audit::time::format_epoch_ms(1_764_400_000_000 + i as i64),
        request_id: Some(format!("req-{i}")),
        principal: Some("alice".into()),
        auth_method: Some("api_key".into()),
        source: Some("10.0.0.7:51234".into()),
        action: "invoke_model".into(),
        resource: Some("model/smollm2".into()),
        resource_label: Some("SECRET".into()),
        output_label: Some("SECRET".into()),
        decision: "allow".into(),
        reasons: vec!["rule.clearance".into()],
        model: Some("smollm2".into()),
        prompt_tokens: Some(12),
        completion_tokens: Some(34),
        latency_ms: Some(56),
        outcome: Some("200".into()),
        detail: serde_json::Map::new(),
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn durable_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_append_fsync");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    for threads in [1u64, 16, 64] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = TrailConfig::new(dir.path(), "bench");
        cfg.durability = Durability::Fsync;
        let (trail, _) = Trail::open(cfg, key()).unwrap();
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for k in 0..t {
                        let n = iters / t + u64::from(k < iters % t);
                        let trail = trail.clone();
                        s.spawn(move || {
                            for i in 0..n {
                                trail.append(ev(i)).wait().unwrap();
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
        let st = trail.stats();
        eprintln!(
            "threads={threads}: {} events, {} fsyncs, {:.1} events/fsync",
            st.events,
            st.fsyncs,
            st.events as f64 / st.fsyncs.max(1) as f64
        );
        trail.close().unwrap();
    }
    g.finish();
}

fn verify_throughput(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = TrailConfig::new(dir.path(), "bench");
    cfg.durability = Durability::FlushEvery(Duration::from_secs(1));
    cfg.max_segment_bytes = 4 * 1024 * 1024;
    let (trail, _) = Trail::open(cfg, key()).unwrap();
    let receipts: Vec<_> = (0..20_000).map(|i| trail.append(ev(i))).collect();
    for r in receipts {
        r.wait().unwrap();
    }
    trail.close().unwrap();
    let pk = key().verifying_key();
    let bytes = verify(dir.path(), None, Some(&pk)).unwrap().bytes;
    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("20k_events_with_pubkey", |b| {
        b.iter(|| verify(dir.path(), None, Some(&pk)).unwrap())
    });
    g.finish();
}

fn raw_fsync(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("fsync-probe"))
        .unwrap();
    let buf = [b'x'; 64];
    // The literal probe: 2000 x (write N bytes + fdatasync), N = 64 (the requested probe),
    // 640 (about one audit record) and 4096 (one page), each on a fresh file.
    for size in [64usize, 640, 4096] {
        let mut p = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join(format!("fsync-probe-{size}")))
            .unwrap();
        let data = vec![b'x'; size];
        let start = Instant::now();
        for _ in 0..2000 {
            p.write_all(&data).unwrap();
            p.sync_data().unwrap();
        }
        let el = start.elapsed();
        eprintln!(
            "raw fsync probe: 2000 x (write {size} B + fdatasync) in {:.3} s = {:.0} fsyncs/s",
            el.as_secs_f64(),
            2000.0 / el.as_secs_f64()
        );
    }
    let mut g = c.benchmark_group("raw_fsync");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function("write64_fdatasync", |b| {
        b.iter(|| {
            f.write_all(&buf).unwrap();
            f.sync_data().unwrap();
        })
    });
    g.finish();
}

/// Proof generation for a 200,000-record trail: from the tree's level files (what
/// `scif audit prove` does: O(log^2 n) reads, plus the record's line from its segment), and from
/// the segments alone (the fallback, one pass over the records).
fn proofs(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = TrailConfig::new(dir.path(), "bench");
    cfg.durability = Durability::FlushEvery(Duration::from_secs(1));
    cfg.max_segment_bytes = 8 * 1024 * 1024;
    let (trail, _) = Trail::open(cfg, key()).unwrap();
    for chunk in 0..20u64 {
        let receipts: Vec<_> = (chunk * 10_000..(chunk + 1) * 10_000)
            .map(|i| trail.append(ev(i)))
            .collect();
        for r in receipts {
            r.wait().unwrap();
        }
    }
    trail.close().unwrap();
    let mut g = c.benchmark_group("proofs");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("prove_200k_level_files", |b| {
        b.iter(|| scif_audit::prove(dir.path(), 123_457, None).unwrap())
    });
    let sizes: Vec<u64> = std::fs::read_to_string(dir.path().join("tree/checkpoints.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["size"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let (old, new) = (sizes[0], sizes[sizes.len() - 1]);
    g.bench_function("consistency_200k_level_files", |b| {
        b.iter(|| scif_audit::consistency(dir.path(), old, new).unwrap())
    });
    let tree = dir.path().join("tree");
    std::fs::rename(&tree, dir.path().join("aside")).unwrap();
    g.bench_function("prove_200k_from_segments", |b| {
        b.iter(|| scif_audit::prove(dir.path(), 123_457, None).unwrap())
    });
    std::fs::rename(dir.path().join("aside"), &tree).unwrap();
    g.finish();
}

criterion_group!(
    benches,
    raw_fsync,
    durable_append,
    verify_throughput,
    proofs
);
criterion_main!(benches);
