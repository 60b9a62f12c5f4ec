#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::time::Duration;

use scif_audit::*;

fn ev(i: u64) -> Event {
    let mut detail = serde_json::Map::new();
    detail.insert("prompt_sha256".into(), format!("{i:064x}").into());
    Event {
        time: scif_audit::time::format_epoch_ms(1_764_400_000_000 + i as i64),
        request_id: Some(format!("req-{i}")),
        principal: Some(if i.is_multiple_of(2) { "alice" } else { "bob" }.into()),
        auth_method: Some("api_key".into()),
        source: Some("10.0.0.7:51234".into()),
        action: "invoke_model".into(),
        resource: Some("model/smollm2".into()),
        resource_label: Some("SECRET".into()),
        output_label: Some("SECRET".into()),
        decision: if i.is_multiple_of(5) { "deny" } else { "allow" }.into(),
        reasons: vec!["rule.clearance".into()],
        model: Some("smollm2".into()),
        prompt_tokens: Some(10 + i),
        completion_tokens: Some(20),
        latency_ms: Some(5),
        outcome: Some("200".into()),
        detail,
    }
}

fn cfg(dir: &Path) -> TrailConfig {
    TrailConfig::new(dir, "node-a")
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn write_trail(_dir: &Path, n: u64, c: TrailConfig) {
    let (t, _) = Trail::open(c, key()).unwrap();
    for i in 1..=n {
        assert_eq!(t.append(ev(i)).wait().unwrap(), i);
    }
    t.close().unwrap();
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, l: &[String]) {
    let mut s = l.join("\n");
    s.push('\n');
    fs::write(p, s).unwrap();
}

fn line_of_seq(l: &[String], seq: u64) -> usize {
    l.iter()
        .position(|x| x.ends_with(&format!(",\"seq\":{seq}}}")))
        .unwrap()
}

fn pubkey() -> VerifyingKey {
    key().verifying_key()
}

fn brk(dir: &Path, pk: Option<&VerifyingKey>) -> Break {
    verify(dir, None, pk).unwrap_err().0
}

#[test]
fn roundtrip_verifies() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 50, cfg(d.path()));
    let r = verify(d.path(), None, Some(&pubkey())).unwrap();
    assert_eq!(
        (r.events, r.first_seq, r.last_seq, r.segments),
        (50, 1, 50, 1)
    );
    assert_eq!(r.first_time, ev(1).time);
    assert_eq!(r.last_time, ev(50).time);
    assert_eq!(r.unsigned_tail_events, 0);
    assert_eq!(r.last_signed_seq, 50);
    let l = lines(&segments(d.path())[0]);
    assert!(l.last().unwrap().starts_with("{\"checkpoint\":"));
    // events round-trip exactly
    let recs = read(d.path(), &Filter::default()).unwrap();
    assert_eq!(recs.len(), 50);
    assert_eq!(recs[9].event, ev(10));
    // verify from the middle
    let r = verify(d.path(), Some(20), Some(&pubkey())).unwrap();
    assert_eq!((r.events, r.first_seq), (31, 20));
}

#[test]
fn tamper_flipped_character() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 30, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let mut l = lines(seg);
    let i = line_of_seq(&l, 7);
    l[i] = l[i].replace("\"principal\":\"bob\"", "\"principal\":\"bop\"");
    write_lines(seg, &l);
    assert_eq!(brk(d.path(), None), Break::BadHash { seq: 7 });
    let (b, partial) = verify(d.path(), None, Some(&pubkey())).unwrap_err();
    assert_eq!(b, Break::BadHash { seq: 7 });
    assert_eq!(partial.last_seq, 6);
    assert!(b.to_string().contains("seq 7"));
}

#[test]
fn tamper_non_canonical_byte() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 10, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let mut l = lines(seg);
    let i = line_of_seq(&l, 4);
    // Same JSON value, different bytes.
    l[i] = l[i].replace(
        "\"action\":\"invoke_model\"",
        "\"action\":\"invoke\\u005fmodel\"",
    );
    write_lines(seg, &l);
    assert_eq!(brk(d.path(), None), Break::NonCanonical { seq: 4 });
}

#[test]
fn tamper_deleted_line() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 30, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let mut l = lines(seg);
    let i = line_of_seq(&l, 7);
    l.remove(i);
    write_lines(seg, &l);
    assert_eq!(
        brk(d.path(), None),
        Break::SeqGap {
            expected: 7,
            found: 8
        }
    );
}

#[test]
fn tamper_inserted_line() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 30, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let orig = lines(seg);
    // A forged record, correctly hashed and linked, claiming seq 8.
    let rec7: Record = serde_json::from_str(&orig[line_of_seq(&orig, 7)]).unwrap();
    let mut forged = ev(999);
    forged.principal = Some("mallory".into());
    let (_, line) = build_record(8, "node-a", &rec7.hash, &forged).unwrap();
    let mut l = orig.clone();
    l.insert(line_of_seq(&orig, 7) + 1, line);
    write_lines(seg, &l);
    assert_eq!(
        brk(d.path(), None),
        Break::SeqGap {
            expected: 9,
            found: 8
        }
    );
    // A replayed copy of an earlier record.
    let mut l = orig.clone();
    l.insert(
        line_of_seq(&orig, 7) + 1,
        orig[line_of_seq(&orig, 3)].clone(),
    );
    write_lines(seg, &l);
    assert_eq!(
        brk(d.path(), None),
        Break::SeqGap {
            expected: 8,
            found: 3
        }
    );
    // A forged record that renumbers everything after it: caught at the next checkpoint.
    let mut recs: Vec<Record> = orig
        .iter()
        .filter(|x| !x.starts_with("{\"checkpoint\""))
        .map(|x| serde_json::from_str(x).unwrap())
        .collect();
    recs.insert(
        7,
        Record {
            seq: 0,
            node: "node-a".into(),
            prev_hash: String::new(),
            event: forged,
            hash: String::new(),
        },
    );
    let mut prev = recs[6].hash.clone();
    let mut out: Vec<String> = orig[..line_of_seq(&orig, 7) + 1].to_vec();
    for (k, r) in recs.iter().enumerate().skip(7) {
        let (h, line) = build_record(k as u64 + 1, "node-a", &prev, &r.event).unwrap();
        prev = h;
        out.push(line);
    }
    out.push(orig.last().unwrap().clone()); // the original final checkpoint
    write_lines(seg, &out);
    assert_eq!(brk(d.path(), None), Break::CheckpointMismatch { seq: 30 });
}

#[test]
fn tamper_swapped_lines() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 30, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let mut l = lines(seg);
    let i = line_of_seq(&l, 7);
    l.swap(i, i + 1);
    write_lines(seg, &l);
    assert_eq!(
        brk(d.path(), None),
        Break::SeqGap {
            expected: 7,
            found: 8
        }
    );
}

#[test]
fn truncated_tail_detected_then_recovered() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 20, cfg(d.path()));
    let seg = segments(d.path())[0].clone();
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    // Simulate a crash mid-write of record 21: a partial line after the last checkpoint.
    let mut l = lines(&seg);
    l.pop(); // lose the final checkpoint too, as if the writer crashed before close
    write_lines(&seg, &l);
    let mut data = fs::read(&seg).unwrap();
    let (_, partial) = build_record(21, "node-a", "00", &ev(21)).unwrap();
    data.extend_from_slice(&partial.as_bytes()[..partial.len() / 2]);
    fs::write(&seg, &data).unwrap();

    assert_eq!(
        brk(d.path(), None),
        Break::TruncatedTail {
            segment: name.clone()
        }
    );
    let torn = (partial.len() / 2) as u64;

    let (t, rep) = Trail::open(cfg(d.path()), key()).unwrap();
    assert_eq!(rep.truncated_bytes, torn);
    assert_eq!(rep.last_seq, 20);
    assert!(rep.recovered);
    assert_eq!(rep.recovery_event_seq, Some(21));
    assert_eq!(t.append(ev(22)).wait().unwrap(), 22);
    t.close().unwrap();
    let r = verify(d.path(), None, Some(&pubkey())).unwrap();
    assert_eq!(r.events, 22);
    let rec = read(
        d.path(),
        &Filter {
            action: Some("trail_recovered".into()),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].seq, 21);
    assert_eq!(rec[0].event.detail["truncated_bytes"], torn);
    // Earlier lines were not rewritten.
    assert!(fs::read(&seg)
        .unwrap()
        .starts_with(&data[..data.len() - torn as usize]));
}

#[test]
fn unclean_shutdown_without_torn_line_is_recovered() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 5, cfg(d.path()));
    let seg = segments(d.path())[0].clone();
    let mut l = lines(&seg);
    l.pop(); // no final checkpoint
    write_lines(&seg, &l);
    assert!(matches!(
        brk(d.path(), Some(&pubkey())),
        Break::NoCheckpointCoversTail { last_seq: 5, .. }
    ));
    let (t, rep) = Trail::open(cfg(d.path()), key()).unwrap();
    assert_eq!(
        (rep.truncated_bytes, rep.recovered, rep.recovery_event_seq),
        (0, true, Some(6))
    );
    t.close().unwrap();
    verify(d.path(), None, Some(&pubkey())).unwrap();
    assert_eq!(segments(d.path()).len(), 1);
}

#[test]
fn missing_middle_segment() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_segment_bytes = 3000;
    write_trail(d.path(), 60, c);
    let segs = list_segments(d.path()).unwrap();
    assert!(segs.len() >= 3, "{}", segs.len());
    verify(d.path(), None, Some(&pubkey())).unwrap();
    fs::remove_file(&segs[1].1).unwrap();
    assert_eq!(
        brk(d.path(), None),
        Break::MissingSegment {
            expected_first_seq: segs[1].0,
            found: segs[2].0
        }
    );
    // Removing the first segment is caught too.
    fs::remove_file(&segs[0].1).unwrap();
    assert_eq!(
        brk(d.path(), None),
        Break::MissingSegment {
            expected_first_seq: 1,
            found: segs[2].0
        }
    );
}

#[test]
fn checkpoint_resigned_with_other_key() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 10, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let orig = lines(seg);
    let last = orig.len() - 1;
    let cp: CheckpointLine = serde_json::from_str(&orig[last]).unwrap();
    let other = SigningKey::from_bytes(&[9u8; 32]);
    let (_, line) = build_checkpoint(
        &other,
        "node-a",
        cp.checkpoint.seq,
        &cp.checkpoint.hash,
        &cp.checkpoint.time,
    )
    .unwrap();
    let mut l = orig.clone();
    l[last] = line;
    write_lines(seg, &l);
    // Self-consistent without a trusted key...
    verify(d.path(), None, None).unwrap();
    // ...but not with it.
    assert_eq!(
        brk(d.path(), Some(&pubkey())),
        Break::UnknownKey { seq: 10 }
    );

    // Keep the original public key but substitute another key's signature.
    let mut forged = cp.checkpoint.clone();
    let (other_cp, _) = build_checkpoint(
        &other,
        "node-a",
        cp.checkpoint.seq,
        &cp.checkpoint.hash,
        &cp.checkpoint.time,
    )
    .unwrap();
    forged.signature_b64 = other_cp.signature_b64;
    let mut l = orig.clone();
    l[last] = canonical_json(&serde_json::to_value(CheckpointLine { checkpoint: forged }).unwrap());
    write_lines(seg, &l);
    assert_eq!(
        brk(d.path(), None),
        Break::BadCheckpointSignature { seq: 10 }
    );
}

fn rebuild(dir: &Path, signer: Option<&SigningKey>) {
    let seg = &segments(dir)[0];
    let orig = lines(seg);
    let mut prev = GENESIS_HASH.to_owned();
    let mut out = Vec::new();
    let mut seq = 0;
    for x in orig.iter().filter(|x| !x.starts_with("{\"checkpoint\"")) {
        let r: Record = serde_json::from_str(x).unwrap();
        let mut e = r.event;
        if r.seq == 4 {
            e.decision = "allow".into(); // the edit the attacker wanted
        }
        let (h, line) = build_record(r.seq, "node-a", &prev, &e).unwrap();
        prev = h;
        seq = r.seq;
        out.push(line);
    }
    if let Some(k) = signer {
        out.push(
            build_checkpoint(k, "node-a", seq, &prev, "2026-01-01T00:00:00.000Z")
                .unwrap()
                .1,
        );
    }
    write_lines(seg, &out);
}

#[test]
fn chain_rebuilt_without_key() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 10, cfg(d.path()));
    rebuild(d.path(), None);
    verify(d.path(), None, None).unwrap(); // consistent, but...
    assert_eq!(
        brk(d.path(), Some(&pubkey())),
        Break::NoCheckpointCoversTail {
            last_signed_seq: 0,
            last_seq: 10
        }
    );
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 10, cfg(d.path()));
    rebuild(d.path(), Some(&SigningKey::from_bytes(&[3u8; 32])));
    verify(d.path(), None, None).unwrap();
    assert_eq!(
        brk(d.path(), Some(&pubkey())),
        Break::UnknownKey { seq: 10 }
    );
}

#[test]
fn group_commit_64_threads() {
    let d = tempfile::tempdir().unwrap();
    let (t, _) = Trail::open(cfg(d.path()), key()).unwrap();
    let threads = 64u64;
    let per = 200u64;
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let t = t.clone();
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| t.append(ev(k * per + i)).wait().unwrap())
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    seqs.sort_unstable();
    let n = threads * per;
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    let stats = t.stats();
    t.close().unwrap();
    eprintln!("group commit: {n} events, {stats:?}");
    assert_eq!(stats.events, n);
    assert!(
        stats.fsyncs * 4 < n,
        "fsyncs {} for {n} events",
        stats.fsyncs
    );
    let r = verify(d.path(), None, Some(&pubkey())).unwrap();
    assert_eq!(r.events, n);
    assert!(r.checkpoints >= n / 1000);
}

#[test]
fn fail_closed_on_injected_write_failure() {
    let d = tempfile::tempdir().unwrap();
    let (t, _) = Trail::open(cfg(d.path()), key()).unwrap();
    assert_eq!(t.append(ev(1)).wait().unwrap(), 1);
    assert!(t.healthy().is_ok());
    t.inject_write_failure();
    let e = t.append(ev(2)).wait().unwrap_err();
    assert!(matches!(e, AuditError::Unhealthy(_)), "{e}");
    assert!(t.healthy().is_err());
    for i in 3..10 {
        assert!(matches!(
            t.append(ev(i)).wait(),
            Err(AuditError::Unhealthy(_))
        ));
    }
    assert!(t.close().is_err());
    // What was acknowledged before the failure is intact and signed chain is consistent.
    let r = verify(d.path(), None, None).unwrap();
    assert_eq!(r.last_seq, 1);
}

#[test]
fn fail_closed_on_real_io_error() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("trail");
    let mut c = cfg(&dir);
    c.max_segment_bytes = 1; // every batch closes its segment; the next needs a new file
    let (t, _) = Trail::open(c, key()).unwrap();
    assert_eq!(t.append(ev(1)).wait().unwrap(), 1);
    fs::remove_dir_all(&dir).unwrap();
    assert!(t.append(ev(2)).wait().is_err());
    assert!(t.healthy().is_err());
    assert!(t.append(ev(3)).wait().is_err());
}

#[test]
fn rotation_by_size() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_segment_bytes = 4000;
    write_trail(d.path(), 100, c.clone());
    let segs = list_segments(d.path()).unwrap();
    assert!(segs.len() >= 5, "{}", segs.len());
    for (first, p) in &segs {
        let l = lines(p);
        assert!(
            l.last().unwrap().starts_with("{\"checkpoint\":"),
            "{}",
            p.display()
        );
        let r: Record = serde_json::from_str(&l[0]).unwrap();
        assert_eq!(r.seq, *first);
    }
    let r = verify(d.path(), None, Some(&pubkey())).unwrap();
    assert_eq!((r.events, r.segments), (100, segs.len()));
    // Reopen after a clean close: nothing recovered, a new segment is started.
    let (t, rep) = Trail::open(c, key()).unwrap();
    assert!(!rep.recovered);
    assert_eq!(t.append(ev(101)).wait().unwrap(), 101);
    t.close().unwrap();
    assert_eq!(list_segments(d.path()).unwrap().last().unwrap().0, 101);
    verify(d.path(), None, Some(&pubkey())).unwrap();
}

#[test]
fn rotation_by_age_and_timed_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.checkpoint_every = Duration::from_millis(50);
    c.max_segment_age = Duration::from_millis(300);
    let (t, _) = Trail::open(c, key()).unwrap();
    t.append(ev(1)).wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(t.stats().checkpoints >= 1);
    // Tail is signed without closing.
    verify(d.path(), None, Some(&pubkey())).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    t.append(ev(2)).wait().unwrap();
    t.close().unwrap();
    assert_eq!(list_segments(d.path()).unwrap().len(), 2);
    verify(d.path(), None, Some(&pubkey())).unwrap();
}

#[test]
fn flush_every_durability() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.durability = Durability::FlushEvery(Duration::from_millis(20));
    let (t, _) = Trail::open(c, key()).unwrap();
    for i in 1..=500 {
        assert_eq!(t.append(ev(i)).wait().unwrap(), i);
    }
    let s = t.stats();
    assert!(s.fsyncs < 100, "{s:?}");
    t.close().unwrap();
    assert_eq!(verify(d.path(), None, Some(&pubkey())).unwrap().events, 500);
}

struct ThreadWaker(std::thread::Thread);
impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: std::future::Future + Unpin>(mut f: F) -> F::Output {
    let waker = Arc::new(ThreadWaker(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = std::pin::Pin::new(&mut f).poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn append_async_without_runtime() {
    let d = tempfile::tempdir().unwrap();
    let (t, _) = Trail::open(cfg(d.path()), key()).unwrap();
    for i in 1..=20 {
        assert_eq!(block_on(t.append_async(ev(i))).unwrap(), i);
    }
    t.close().unwrap();
    // After close: fails, does not hang.
    let (t2, _) = Trail::open(cfg(d.path()), key()).unwrap();
    let t3 = t2.clone();
    t2.close().unwrap();
    assert!(matches!(t3.append(ev(0)).wait(), Err(AuditError::Closed)));
    assert!(matches!(
        block_on(t3.append_async(ev(0))),
        Err(AuditError::Closed)
    ));
}

#[test]
fn keys_on_disk() {
    let d = tempfile::tempdir().unwrap();
    let k = load_or_create_signing_key(d.path()).unwrap();
    let pk = read_public_key(&d.path().join(PUBLIC_KEY_FILE)).unwrap();
    assert_eq!(pk, k.verifying_key());
    let t = d.path().join("trail");
    let (tr, _) = Trail::open(cfg(&t), load_or_create_signing_key(d.path()).unwrap()).unwrap();
    tr.append(ev(1)).wait().unwrap();
    tr.close().unwrap();
    verify(&t, None, Some(&pk)).unwrap();
}

#[test]
fn query_and_ocsf() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 40, cfg(d.path()));
    let f = Filter {
        principal: Some("alice".into()),
        decision: Some("deny".into()),
        ..Filter::default()
    };
    let r = read(d.path(), &f).unwrap();
    assert_eq!(
        r.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![10, 20, 30, 40]
    );
    let f = Filter {
        after_seq: Some(30),
        limit: Some(3),
        label: Some("SECRET".into()),
        ..Filter::default()
    };
    assert_eq!(
        read(d.path(), &f)
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        vec![31, 32, 33]
    );
    let f = Filter {
        from_time: Some(ev(5).time),
        to_time: Some(ev(8).time),
        request_id: None,
        ..Filter::default()
    };
    assert_eq!(read(d.path(), &f).unwrap().len(), 3);
    let o = ocsf(&r_at(d.path(), 10));
    assert_eq!(o["class_uid"], 6003);
    assert_eq!(o["category_uid"], 6);
    assert_eq!(o["activity_id"], 1);
    assert_eq!(o["type_uid"], 600301);
    assert_eq!(o["time"], 1_764_400_000_010i64);
    assert_eq!(o["actor"]["user"]["name"], "alice");
    assert_eq!(o["src_endpoint"]["ip"], "10.0.0.7");
    assert_eq!(o["api"]["operation"], "invoke_model");
    assert_eq!(o["status"], "Failure");
    assert_eq!(o["status_id"], 2);
    assert_eq!(o["metadata"]["product"]["name"], "scif");
    assert_eq!(o["metadata"]["version"], "1.1.0");
    assert_eq!(o["resources"][0]["name"], "smollm2");
    assert_eq!(o["unmapped"]["model"], "smollm2");
    assert_eq!(
        o["unmapped"]["detail"]["prompt_sha256"],
        format!("{:064x}", 10)
    );
}

fn r_at(dir: &Path, seq: u64) -> Record {
    read(
        dir,
        &Filter {
            after_seq: Some(seq - 1),
            limit: Some(1),
            ..Filter::default()
        },
    )
    .unwrap()
    .remove(0)
}

#[test]
fn verify_from_seq_across_segments_and_display() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path());
    c.max_segment_bytes = 3000;
    write_trail(d.path(), 60, c);
    let segs = list_segments(d.path()).unwrap();
    // Start in the middle of the third segment, after its first record.
    let from = segs[2].0 + 1;
    let r = verify(d.path(), Some(from), Some(&pubkey())).unwrap();
    assert_eq!((r.first_seq, r.last_seq, r.events), (from, 60, 61 - from));
    assert_eq!(r.segments, segs.len() - 2);
    // Earlier segments can be archived away when verifying from a later seq.
    fs::remove_file(&segs[0].1).unwrap();
    verify(d.path(), Some(from), Some(&pubkey())).unwrap();
    let b = Break::MissingSegment {
        expected_first_seq: 5,
        found: 9,
    };
    assert!(b.to_string().contains("missing segment"));
    assert!(Break::SeqGap {
        expected: 7,
        found: 8
    }
    .to_string()
    .contains("expected seq 7"));
}

#[test]
fn receipt_try_wait_and_timeout() {
    let d = tempfile::tempdir().unwrap();
    let (t, _) = Trail::open(cfg(d.path()), key()).unwrap();
    let mut r = t.append(ev(1));
    let seq = loop {
        match r.try_wait() {
            Ok(res) => break res.unwrap(),
            Err(back) => {
                r = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };
    assert_eq!(seq, 1);
    assert_eq!(
        t.append(ev(2))
            .wait_timeout(Duration::from_secs(10))
            .unwrap(),
        2
    );
    t.close().unwrap();
}

#[test]
fn checkpoint_with_unknown_field_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 3, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let mut l = lines(seg);
    let last = l.len() - 1;
    l[last] = l[last].replacen("{\"checkpoint\":{", "{\"checkpoint\":{\"a\":1,", 1);
    write_lines(seg, &l);
    assert!(matches!(
        brk(d.path(), None),
        Break::Unparseable { line: 4, .. }
    ));
}

#[test]
fn open_refuses_tampered_last_segment() {
    let d = tempfile::tempdir().unwrap();
    write_trail(d.path(), 10, cfg(d.path()));
    let seg = &segments(d.path())[0];
    let mut l = lines(seg);
    let i = line_of_seq(&l, 5);
    l[i] = l[i].replace("\"decision\":\"deny\"", "\"decision\":\"allo\"");
    write_lines(seg, &l);
    assert_eq!(brk(d.path(), None), Break::BadHash { seq: 5 });
    let e = Trail::open(cfg(d.path()), key()).unwrap_err();
    assert!(matches!(e, AuditError::Corrupt(_)), "{e}");
    // Nothing was written.
    assert_eq!(lines(seg), l);
}

#[test]
fn handle_types_are_thread_safe() {
    fn send_sync<T: Send + Sync + Clone>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<Trail>();
    send::<Receipt>();
}

#[test]
fn a_second_writer_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let key = scif_audit::load_or_create_signing_key(&dir.path().join("keys")).unwrap();
    let cfg = scif_audit::TrailConfig::new(dir.path().join("t"), "n");
    let (first, _) = scif_audit::Trail::open(cfg.clone(), key.clone()).unwrap();
    match scif_audit::Trail::open(cfg.clone(), key.clone()) {
        Err(scif_audit::AuditError::Locked(_)) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    first.close().unwrap();
    let (second, _) = scif_audit::Trail::open(cfg, key).unwrap();
    second.close().unwrap();
}

#[test]
fn deferred_appends_ride_on_the_next_fsync() {
    let d = tempfile::tempdir().unwrap();
    let (t, _) = Trail::open(cfg(d.path()), key()).unwrap();
    assert_eq!(t.append(ev(1)).wait().unwrap(), 1);
    let synced = t.stats().fsyncs;
    // A deferred append is written (its receipt resolves, in chain order) without an fsync
    // of its own; the next ordinary append's fsync covers both.
    let (r2, r3) = (t.append_deferred(ev(2)), t.append(ev(3)));
    assert_eq!((r2.wait().unwrap(), r3.wait().unwrap()), (2, 3));
    assert!(t.stats().fsyncs <= synced + 1, "{:?}", t.stats());
    // Alone, a deferred append is still synced, soon after.
    assert_eq!(t.append_deferred(ev(4)).wait().unwrap(), 4);
    let before = t.stats().fsyncs;
    let mut waited = 0;
    while t.stats().fsyncs == before && waited < 200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    assert!(
        t.stats().fsyncs > before,
        "the deferred append was never synced"
    );
    t.close().unwrap();
    let r = verify(d.path(), None, Some(&pubkey())).unwrap();
    assert_eq!(r.events, 4);
}
