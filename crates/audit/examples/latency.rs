//! Latency the trail adds to one request: time from `append` to durable, at p50 and p99, with
//! 1, 16 and 64 concurrent writers, beside the disk's own `write + fdatasync` latency (the
//! physical floor). Run: `cargo run --release -p scif-audit --example latency [-- DIR]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write;
use std::time::{Duration, Instant};

use scif_audit::{Event, Trail, TrailConfig};

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e6
}

fn event(i: usize) -> Event {
    Event {
        time: scif_audit::time::now_rfc3339(),
        request_id: Some(format!("req-{i:08}")),
        principal: Some("analyst@example.mil".into()),
        auth_method: Some("api_key".into()),
        source: Some("127.0.0.1".into()),
        action: "invoke_model".into(),
        resource: Some("model/smollm2-135m-instruct".into()),
        resource_label: Some("SECRET//NOFORN".into()),
        output_label: Some("SECRET//NOFORN".into()),
        decision: "allow".into(),
        reasons: vec!["permitted".into(), "models-use".into()],
        model: Some("smollm2-135m-instruct".into()),
        prompt_tokens: Some(31),
        completion_tokens: Some(64),
        latency_ms: Some(1200),
        outcome: Some("200".into()),
        ..Default::default()
    }
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).unwrap();

    // The floor: one write + fdatasync per event.
    let mut f = std::fs::File::create(dir.path().join("fsync-probe")).unwrap();
    let mut raw = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        f.write_all(&[b'x'; 650]).unwrap();
        f.sync_data().unwrap();
        raw.push(t.elapsed());
    }
    println!(
        "raw write(650 B)+fdatasync: p50 {:.0} us, p99 {:.0} us",
        pct(&mut raw, 0.5),
        pct(&mut raw, 0.99)
    );

    for writers in [1usize, 16, 64] {
        let tdir = dir.path().join(format!("trail-{writers}"));
        let key = scif_audit::load_or_create_signing_key(&tdir.join("keys")).unwrap();
        let (trail, _) =
            Trail::open(TrailConfig::new(tdir.join("segments"), "bench"), key).unwrap();
        let per = 8000 / writers;
        let started = Instant::now();
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let trail = trail.clone();
                std::thread::spawn(move || {
                    let mut lat = Vec::with_capacity(per);
                    for i in 0..per {
                        let t = Instant::now();
                        trail.append(event(w * per + i)).wait().unwrap();
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        let mut all: Vec<Duration> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let secs = started.elapsed().as_secs_f64();
        let stats = trail.stats();
        trail.close().unwrap();
        println!(
            "{writers:>2} writers: {:.0} durable events/s, append-to-durable p50 {:.0} us, p99 {:.0} us, {:.1} events per fsync",
            all.len() as f64 / secs,
            pct(&mut all, 0.5),
            pct(&mut all, 0.99),
            stats.events as f64 / stats.fsyncs.max(1) as f64
        );
    }
}
