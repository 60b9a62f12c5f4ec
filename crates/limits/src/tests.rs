use super::*;
use std::sync::atomic::AtomicUsize;

fn lim(name: &str, scope: &str, subject: Option<&str>) -> LimitConfig {
    LimitConfig {
        name: name.into(),
        scope: scope.into(),
        subject: subject.map(Into::into),
        requests_per_minute: None,
        tokens_per_minute: None,
        concurrent: None,
        tokens_per_day: None,
        tokens_per_month: None,
    }
}

fn rpm(name: &str, scope: &str, subject: Option<&str>, n: u64) -> LimitConfig {
    LimitConfig {
        requests_per_minute: Some(n),
        ..lim(name, scope, subject)
    }
}

/// Unix seconds of a UTC date and time.
fn utc(y: i64, mo: u32, d: u32, h: u64, mi: u64, s: u64) -> u64 {
    let days = u64::try_from(civil::days_from_civil(y, mo, d)).unwrap();
    days * 86_400 + h * 3600 + mi * 60 + s
}

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A minute-aligned base time: 2024-02-28 12:00:00 UTC.
fn base() -> u64 {
    utc(2024, 2, 28, 12, 0, 0)
}

const NO_GROUPS: &[String] = &[];

fn who(principal: &str) -> Subject<'_> {
    Subject {
        principal,
        key: None,
        groups: NO_GROUPS,
        model: "m",
    }
}

/// (inflight, requests in the current minute, tokens in the current minute, day tokens)
/// of a bucket, as last written.
fn bucket(l: &Limiter, name: &str, key: &str) -> Option<(u64, u64, u64, u64)> {
    let rules = l.snapshot();
    let rule = rules.iter().find(|r| r.name == name)?;
    let buckets = rule.store.lock();
    let b = buckets.map.get(key)?;
    Some((b.inflight, b.requests.cur, b.tokens.cur, b.day.tokens))
}

#[test]
fn requests_per_minute_refuses_and_slides() {
    let l = Limiter::new(&[rpm("rpm", "principal", None, 3)]);
    let s = who("alice");
    let b = base();
    for _ in 0..3 {
        l.admit(&s, t(b)).unwrap().finish(0, t(b));
    }
    let e = l.admit(&s, t(b + 10)).unwrap_err();
    assert_eq!(e.limit, "rpm");
    assert_eq!(e.kind, Kind::RequestsPerMinute);
    // In the next minute at +20 s the previous 3 weigh 3 * 40/60 = 2: room for one.
    assert_eq!(e.retry_after, Duration::from_secs(70));
    assert_eq!(e.retry_after_secs(), 70);
    assert_eq!(e.to_string(), "limit rpm (requests_per_minute) exceeded");
    assert!(l.admit(&s, t(b + 59)).is_err());
    assert!(l.admit(&s, t(b + 60)).is_err());
    assert!(l.admit(&s, t(b + 79)).is_err());
    l.admit(&s, t(b + 80)).unwrap();
    // Two minutes later the window is empty.
    for _ in 0..3 {
        l.admit(&s, t(b + 240)).unwrap();
    }
    assert!(l.admit(&s, t(b + 240)).is_err());
}

#[test]
fn requests_retry_after_is_when_room_returns() {
    let l = Limiter::new(&[rpm("r", "principal", None, 2)]);
    let s = who("a");
    let b = base();
    l.admit(&s, t(b + 30)).unwrap();
    l.admit(&s, t(b + 30)).unwrap();
    let e = l.admit(&s, t(b + 40)).unwrap_err();
    // Next minute: prev 2 weighs 2 * (60 - x)/60 <= 1 at x = 30 s: 50 s from b + 40.
    assert_eq!(e.retry_after_secs(), 50);
    assert!(l.admit(&s, t(b + 89)).is_err());
    l.admit(&s, t(b + 90)).unwrap();
}

#[test]
fn zero_limit_refuses_everything() {
    let l = Limiter::new(&[rpm("none", "principal", None, 0)]);
    let e = l.admit(&who("a"), t(base())).unwrap_err();
    assert_eq!(e.kind, Kind::RequestsPerMinute);
    assert_eq!(e.retry_after_secs(), 60);
}

#[test]
fn tokens_per_minute_overshoots_once_then_refuses() {
    let l = Limiter::new(&[LimitConfig {
        tokens_per_minute: Some(100),
        ..lim("tpm", "model", None)
    }]);
    let s = who("alice");
    let b = base();
    // Both admitted: nothing counted yet.
    let p1 = l.admit(&s, t(b)).unwrap();
    let p2 = l.admit(&s, t(b)).unwrap();
    p1.finish(60, t(b + 1));
    l.admit(&s, t(b + 2)).unwrap().finish(0, t(b + 2));
    p2.finish(90, t(b + 2));
    let e = l.admit(&s, t(b + 3)).unwrap_err();
    assert_eq!((e.limit.as_str(), e.kind), ("tpm", Kind::TokensPerMinute));
    // Next minute: 150 * (60 - x)/60 < 100 from x = 21 s: 78 s from b + 3.
    assert_eq!(e.retry_after_secs(), 78);
    assert!(l.admit(&s, t(b + 80)).is_err());
    l.admit(&s, t(b + 81)).unwrap();
    // Another model has its own window.
    let other = Subject { model: "m2", ..s };
    l.admit(&other, t(b + 3)).unwrap();
}

#[test]
fn concurrent_refuses_and_drop_releases() {
    let l = Limiter::new(&[LimitConfig {
        concurrent: Some(2),
        ..lim("conc", "principal", Some("alice"))
    }]);
    let s = who("alice");
    let now = t(base());
    let p1 = l.admit(&s, now).unwrap();
    let p2 = l.admit(&s, now).unwrap();
    let e = l.admit(&s, now).unwrap_err();
    assert_eq!((e.limit.as_str(), e.kind), ("conc", Kind::Concurrent));
    assert_eq!(e.retry_after, Duration::from_secs(1));
    drop(p1);
    let p3 = l.admit(&s, now).unwrap();
    assert!(l.admit(&s, now).is_err());
    p2.finish(10, now);
    let p4 = l.admit(&s, now).unwrap();
    assert_eq!(bucket(&l, "conc", "alice").unwrap().0, 2);
    drop((p3, p4));
    assert_eq!(bucket(&l, "conc", "alice").unwrap().0, 0);
    // Dropping charged nothing; finishing charged 10.
    assert_eq!(bucket(&l, "conc", "alice").unwrap().3, 10);
}

#[test]
fn day_budget_resets_at_utc_midnight() {
    let l = Limiter::new(&[LimitConfig {
        tokens_per_day: Some(1000),
        ..lim("day", "principal", None)
    }]);
    let s = who("alice");
    let late = utc(2024, 2, 28, 23, 59, 0);
    l.admit(&s, t(late)).unwrap().finish(999, t(late));
    l.admit(&s, t(late)).unwrap().finish(1, t(late));
    let e = l.admit(&s, t(late + 30)).unwrap_err();
    assert_eq!((e.limit.as_str(), e.kind), ("day", Kind::TokensPerDay));
    assert_eq!(e.retry_after_secs(), 30);
    assert!(l.admit(&s, t(utc(2024, 2, 28, 23, 59, 59))).is_err());
    // Leap day: a new day.
    l.admit(&s, t(utc(2024, 2, 29, 0, 0, 0))).unwrap();
}

#[test]
fn month_budget_resets_at_month_change() {
    let l = Limiter::new(&[LimitConfig {
        tokens_per_month: Some(500),
        ..lim("month", "key", None)
    }]);
    let s = Subject {
        key: Some("k1"),
        ..who("alice")
    };
    let dec = utc(2023, 12, 1, 0, 0, 0);
    l.admit(&s, t(dec)).unwrap().finish(500, t(dec));
    let e = l.admit(&s, t(utc(2023, 12, 31, 23, 0, 0))).unwrap_err();
    assert_eq!((e.limit.as_str(), e.kind), ("month", Kind::TokensPerMonth));
    assert_eq!(e.retry_after_secs(), 3600);
    l.admit(&s, t(utc(2024, 1, 1, 0, 0, 0)))
        .unwrap()
        .finish(500, t(utc(2024, 1, 1, 0, 0, 0)));
    // Leap February, then March.
    let feb = utc(2024, 2, 29, 12, 0, 0);
    l.admit(&s, t(feb)).unwrap().finish(600, t(feb));
    let e = l.admit(&s, t(feb)).unwrap_err();
    assert_eq!(e.retry_after_secs(), 12 * 3600);
    l.admit(&s, t(utc(2024, 3, 1, 0, 0, 0))).unwrap();
}

#[test]
fn each_principal_separately_vs_fixed_subject() {
    let l = Limiter::new(&[
        rpm("each", "principal", None, 1),
        rpm("alice-only", "principal", Some("alice"), 2),
    ]);
    let now = t(base());
    l.admit(&who("alice"), now).unwrap();
    l.admit(&who("bob"), now).unwrap();
    let e = l.admit(&who("alice"), now).unwrap_err();
    assert_eq!(e.limit, "each");
    assert!(l.admit(&who("bob"), now).is_err());
    l.admit(&who("carol"), now).unwrap();

    // A fixed subject is shared by nobody else and ignores others.
    let l = Limiter::new(&[rpm("alice-only", "principal", Some("alice"), 1)]);
    l.admit(&who("alice"), now).unwrap();
    assert_eq!(l.admit(&who("alice"), now).unwrap_err().limit, "alice-only");
    for _ in 0..5 {
        l.admit(&who("bob"), now).unwrap();
    }
}

#[test]
fn group_scope_counts_each_group() {
    let l = Limiter::new(&[
        rpm("per-group", "group", None, 2),
        rpm("ops", "group", Some("ops"), 1),
    ]);
    let now = t(base());
    let ab = ["a".to_string(), "b".to_string(), "a".to_string()];
    let b = ["b".to_string()];
    let c = ["c".to_string()];
    let ops = ["x".to_string(), "ops".to_string()];
    let s = |groups| Subject { groups, ..who("u") };
    l.admit(&s(&ab), now).unwrap();
    // The duplicate "a" was counted once.
    assert_eq!(bucket(&l, "per-group", "a").unwrap().1, 1);
    assert_eq!(bucket(&l, "per-group", "b").unwrap().1, 1);
    l.admit(&s(&b), now).unwrap();
    // "b" is full, so a member of a and b is refused.
    let e = l.admit(&s(&ab), now).unwrap_err();
    assert_eq!(e.limit, "per-group");
    assert!(l.admit(&s(&b), now).is_err());
    l.admit(&s(&c), now).unwrap();
    // No groups: group limits do not apply.
    for _ in 0..5 {
        l.admit(&who("u"), now).unwrap();
    }
    // Fixed group.
    l.admit(&s(&ops), now).unwrap();
    assert_eq!(l.admit(&s(&ops), now).unwrap_err().limit, "ops");
    assert_eq!(bucket(&l, "per-group", "x").unwrap().1, 1);
}

#[test]
fn key_scope_ignores_callers_without_key() {
    let l = Limiter::new(&[rpm("keys", "key", None, 1)]);
    let now = t(base());
    for _ in 0..5 {
        l.admit(&who("alice"), now).unwrap();
    }
    let k1 = Subject {
        key: Some("k1"),
        ..who("alice")
    };
    let k2 = Subject {
        key: Some("k2"),
        ..who("alice")
    };
    l.admit(&k1, now).unwrap();
    assert_eq!(l.admit(&k1, now).unwrap_err().limit, "keys");
    l.admit(&k2, now).unwrap();
    l.admit(&who("alice"), now).unwrap();
}

#[test]
fn longest_retry_after_is_reported() {
    let l = Limiter::new(&[
        LimitConfig {
            concurrent: Some(1),
            ..lim("conc", "principal", None)
        },
        LimitConfig {
            tokens_per_day: Some(10),
            ..lim("day", "model", None)
        },
        rpm("rpm", "principal", None, 1),
    ]);
    let s = who("alice");
    let now = utc(2024, 2, 28, 22, 0, 0);
    let p = l.admit(&s, t(now)).unwrap();
    // conc (1 s) and rpm (60 s) exceeded: rpm is longer.
    let e = l.admit(&s, t(now)).unwrap_err();
    assert_eq!((e.limit.as_str(), e.kind), ("rpm", Kind::RequestsPerMinute));
    p.finish(5, t(now));
    let _p = l.admit(&s, t(now + 600)).unwrap();
    l.charge(&s, 5, t(now + 600));
    // Now conc (1 s), rpm (2 min) and day (2 h less 10 min) exceeded: day wins.
    let e = l.admit(&s, t(now + 600)).unwrap_err();
    assert_eq!((e.limit.as_str(), e.kind), ("day", Kind::TokensPerDay));
    assert_eq!(e.retry_after_secs(), 6600);

    // Several kinds in one limit: the longest of them.
    let l = Limiter::new(&[LimitConfig {
        concurrent: Some(1),
        requests_per_minute: Some(1),
        ..lim("both", "principal", None)
    }]);
    let _p = l.admit(&s, t(now)).unwrap();
    let e = l.admit(&s, t(now)).unwrap_err();
    assert_eq!(e.kind, Kind::RequestsPerMinute);
}

#[test]
fn refusal_changes_no_counters() {
    let l = Limiter::new(&[
        LimitConfig {
            concurrent: Some(5),
            ..rpm("wide", "principal", None, 10)
        },
        rpm("narrow", "model", None, 1),
        rpm("fresh", "group", None, 10),
    ]);
    let now = t(base());
    let g = ["g".to_string()];
    let s = Subject {
        groups: &g,
        ..who("alice")
    };
    let _p = l.admit(&who("alice"), now).unwrap();
    assert_eq!(bucket(&l, "wide", "alice"), Some((1, 1, 0, 0)));
    assert_eq!(bucket(&l, "narrow", "m"), Some((1, 1, 0, 0)));
    assert!(l.admit(&s, now).is_err());
    assert!(l.admit(&s, now).is_err());
    assert_eq!(bucket(&l, "wide", "alice"), Some((1, 1, 0, 0)));
    assert_eq!(bucket(&l, "narrow", "m"), Some((1, 1, 0, 0)));
    // Not even a bucket was created.
    assert_eq!(bucket(&l, "fresh", "g"), None);
}

#[test]
fn replace_keeps_unchanged_counters() {
    let now = t(base());
    let s = who("alice");
    let l = Limiter::new(&[
        rpm("a", "principal", None, 1),
        rpm("b", "principal", Some("alice"), 1),
        LimitConfig {
            concurrent: Some(1),
            ..lim("c", "principal", None)
        },
    ]);
    let held = l.admit(&s, now).unwrap();
    assert!(l.admit(&s, now).is_err());

    // "a" changes its number (kept), "b" its subject (fresh), "c" its scope (fresh).
    l.replace(&[
        rpm("a", "principal", None, 2),
        rpm("b", "principal", None, 5),
        LimitConfig {
            concurrent: Some(1),
            ..lim("c", "model", None)
        },
    ]);
    assert_eq!(bucket(&l, "a", "alice").unwrap().1, 1);
    assert_eq!(bucket(&l, "b", "alice"), None);
    l.admit(&s, now).unwrap();
    assert_eq!(bucket(&l, "b", "alice").unwrap().1, 1);
    let e = l.admit(&s, now).unwrap_err();
    assert_eq!(e.limit, "a");

    // Concurrency carries over too: reloading keeps the held slot.
    let l = Limiter::new(&[LimitConfig {
        concurrent: Some(1),
        ..lim("c", "principal", None)
    }]);
    let p = l.admit(&s, now).unwrap();
    l.replace(&[LimitConfig {
        concurrent: Some(1),
        ..lim("c", "principal", None)
    }]);
    assert_eq!(l.admit(&s, now).unwrap_err().kind, Kind::Concurrent);
    drop(p);
    let p = l.admit(&s, now).unwrap();
    // Permits of removed limits release cleanly.
    l.replace(&[]);
    assert!(l.is_empty());
    p.finish(100, now);
    drop(held);
}

#[test]
fn charge_seeds_budgets() {
    let l = Limiter::new(&[LimitConfig {
        tokens_per_day: Some(1000),
        tokens_per_month: Some(5500),
        tokens_per_minute: Some(100),
        ..lim("budget", "principal", None)
    }]);
    let s = who("alice");
    let now = utc(2024, 2, 28, 12, 0, 30);
    // Older usage: earlier this month (counts to the month only), last month (ignored).
    l.charge(&s, 4000, t(utc(2024, 2, 27, 10, 0, 0)));
    l.charge(&s, 9000, t(utc(2024, 1, 31, 10, 0, 0)));
    l.admit(&s, t(now)).unwrap().finish(0, t(now));
    // Today, and within the last minute.
    l.charge(&s, 100, t(now - 20));
    assert_eq!(l.admit(&s, t(now)).unwrap_err().kind, Kind::TokensPerMinute);
    let later = now + 300;
    l.admit(&s, t(later)).unwrap();
    l.charge(&s, 900, t(utc(2024, 2, 28, 1, 0, 0)));
    let e = l.admit(&s, t(later)).unwrap_err();
    assert_eq!(e.kind, Kind::TokensPerDay);
    // Tomorrow: the day's 1000 is gone, the month holds 5000.
    let tomorrow = t(utc(2024, 2, 29, 0, 0, 0));
    l.admit(&s, tomorrow).unwrap();
    l.charge(&s, 500, tomorrow);
    let e = l.admit(&s, tomorrow).unwrap_err();
    assert_eq!(e.kind, Kind::TokensPerMonth);
    assert_eq!(e.retry_after_secs(), 86_400);
    // Someone else is untouched.
    l.admit(&who("bob"), t(later)).unwrap();
}

#[test]
fn is_empty() {
    assert!(Limiter::new(&[]).is_empty());
    let l = Limiter::new(&[rpm("a", "principal", None, 1)]);
    assert!(!l.is_empty());
    // Unmatched requests get an empty permit.
    let l = Limiter::new(&[rpm("k", "key", None, 0)]);
    l.admit(&who("a"), t(base())).unwrap().finish(5, t(base()));
}

#[test]
fn idle_buckets_are_swept() {
    let l = Limiter::new(&[rpm("each", "principal", None, 10)]);
    {
        let rules = l.snapshot();
        let mut b = rules[0].store.lock();
        b.floor = 4;
        b.sweep_at = 4;
    }
    let b0 = base();
    let held = l.admit(&who("busy"), t(b0)).unwrap();
    for name in ["p1", "p2", "p3"] {
        l.admit(&who(name), t(b0)).unwrap();
    }
    // Two minutes later the windows of p1..p3 are empty; "busy" holds a permit.
    l.admit(&who("p4"), t(b0 + 120)).unwrap();
    let rules = l.snapshot();
    let mut keys: Vec<String> = rules[0]
        .store
        .lock()
        .map
        .keys()
        .map(|k| k.to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["busy", "p4"]);
    drop(held);
    assert_eq!(bucket(&l, "each", "busy").unwrap().0, 0);
}

#[test]
fn concurrent_under_threads_never_over_admits() {
    let l = Arc::new(Limiter::new(&[
        LimitConfig {
            concurrent: Some(3),
            ..lim("conc", "principal", Some("alice"))
        },
        LimitConfig {
            concurrent: Some(5),
            ..lim("model", "model", None)
        },
    ]));
    let active = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let admitted = Arc::new(AtomicUsize::new(0));
    let now = t(base());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (l, active, max, admitted) = (
                Arc::clone(&l),
                Arc::clone(&active),
                Arc::clone(&max),
                Arc::clone(&admitted),
            );
            std::thread::spawn(move || {
                for i in 0..2000 {
                    if let Ok(p) = l.admit(&who("alice"), now) {
                        let n = active.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        admitted.fetch_add(1, Ordering::SeqCst);
                        std::thread::yield_now();
                        active.fetch_sub(1, Ordering::SeqCst);
                        if i % 2 == 0 {
                            p.finish(1, now);
                        } else {
                            drop(p);
                        }
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert!(max.load(Ordering::SeqCst) <= 3);
    assert!(admitted.load(Ordering::SeqCst) > 0);
    assert_eq!(bucket(&l, "conc", "alice").unwrap().0, 0);
    assert_eq!(bucket(&l, "model", "m").unwrap().0, 0);
}

#[test]
fn permit_is_send_and_static() {
    fn check<T: Send + 'static>() {}
    fn shared<T: Send + Sync>() {}
    check::<Permit>();
    shared::<Limiter>();
}

/// `cargo test --release -p scif-limits -- --ignored --nocapture admit_speed`
#[test]
#[ignore]
fn admit_speed() {
    let l = Limiter::new(&[
        LimitConfig {
            concurrent: Some(1000),
            ..rpm("p", "principal", None, u64::MAX / 1_000_000)
        },
        LimitConfig {
            tokens_per_minute: Some(u64::MAX / 1_000_000),
            tokens_per_day: Some(u64::MAX),
            tokens_per_month: Some(u64::MAX),
            ..lim("k", "key", None)
        },
        rpm("g", "group", None, u64::MAX / 1_000_000),
        rpm("m", "model", None, u64::MAX / 1_000_000),
        rpm("fixed", "principal", Some("someone"), 1),
    ]);
    let groups = ["eng".to_string(), "all".to_string()];
    let s = Subject {
        principal: "alice@example.com",
        key: Some("AKIAEXAMPLE"),
        groups: &groups,
        model: "llama",
    };
    let now = SystemTime::now();
    let n = 1_000_000u32;
    let mut in_admit = Duration::ZERO;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let a = std::time::Instant::now();
        let p = l.admit(&s, now).unwrap();
        in_admit += a.elapsed();
        p.finish(10, now);
    }
    eprintln!(
        "admit + finish: {:?} each, admit {:?}",
        start.elapsed() / n,
        in_admit / n
    );
}
