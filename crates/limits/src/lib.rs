//! Request, token and concurrency limits for the gateway.
//!
//! # Model
//!
//! Each configured [`LimitConfig`] is a *rule* with a scope (`principal`, `key`, `group` or
//! `model`) and an optional subject. A rule with a subject applies only to that one principal,
//! key, group or model; a rule without one gives *each* principal (key, group, model) its own
//! allowance. A rule keeps one *bucket* of counters per subject value it has seen, created on
//! demand:
//!
//! * `requests_per_minute` / `tokens_per_minute`: a sliding 60 s window, approximated by two
//!   fixed minute windows (the current minute's count plus the previous minute's count
//!   weighted by the share of the previous minute still inside the sliding window).
//! * `concurrent`: the number of in-flight requests, held by a [`Permit`].
//! * `tokens_per_day` / `tokens_per_month`: tokens in the current UTC calendar day / month.
//!
//! [`Limiter::admit`] checks every rule that applies to a request's [`Subject`] and either
//! refuses with the [`Exceeded`] that has the longest `retry_after` (changing nothing), or
//! counts the request, takes a concurrency slot in every matched bucket and returns a
//! [`Permit`]. [`Permit::finish`] charges the tokens the request used and releases the slots;
//! dropping a permit without finishing releases the slots and charges nothing.
//!
//! Token limits are checked at admission against the tokens already counted, and charged
//! when the request finishes, because the completion length is not known up front: the
//! request that crosses a token limit is admitted and may overshoot it once; the next one is
//! refused.
//!
//! All buckets of one rule sit behind one [`Mutex`]. An admission locks the rules it matches
//! in a fixed global order (by creation id), so checks and updates across several rules are
//! atomic and a concurrency limit is never over-admitted. Time is passed in by the caller
//! (unix wall-clock time), so day and month budgets follow UTC calendar boundaries.
//!
//! Idle buckets (no in-flight permits, all windows and budgets empty) are swept when a
//! rule's map grows beyond [`SWEEP_THRESHOLD`] entries.

pub mod civil;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scif_config::LimitConfig;

/// Length of the sliding window of the per-minute limits, in milliseconds.
const WINDOW_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// Number of buckets in one rule above which idle buckets are swept.
pub const SWEEP_THRESHOLD: usize = 100_000;

/// Who is making a request, as far as limits are concerned.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub principal: &'a str,
    /// The API key or SigV4 access key used, if any.
    pub key: Option<&'a str>,
    pub groups: &'a [String],
    pub model: &'a str,
}

/// Which counter of a limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    RequestsPerMinute,
    TokensPerMinute,
    Concurrent,
    TokensPerDay,
    TokensPerMonth,
}

impl Kind {
    /// The name of the matching [`LimitConfig`] field.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RequestsPerMinute => "requests_per_minute",
            Kind::TokensPerMinute => "tokens_per_minute",
            Kind::Concurrent => "concurrent",
            Kind::TokensPerDay => "tokens_per_day",
            Kind::TokensPerMonth => "tokens_per_month",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit {limit} ({kind}) exceeded")]
pub struct Exceeded {
    /// The [`LimitConfig::name`] of the limit.
    pub limit: String,
    pub kind: Kind,
    /// When to try again: whole seconds, at least 1 s, rounded up.
    pub retry_after: Duration,
}

impl Exceeded {
    /// `retry_after` in whole seconds (for a `Retry-After` header).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs()
    }
}

/// The limits in force, with their counters. Shared as `Arc<Limiter>`.
pub struct Limiter {
    rules: RwLock<Arc<[Rule]>>,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("rules", &self.snapshot().len())
            .finish()
    }
}

impl Limiter {
    pub fn new(limits: &[LimitConfig]) -> Limiter {
        Limiter {
            rules: RwLock::new(build(limits, &[])),
        }
    }

    /// Replaces the limits (config reload). The counters of a limit whose name, scope and
    /// subject are unchanged carry over, even if its numbers changed; other limits start
    /// fresh. Permits taken under removed limits still release cleanly.
    pub fn replace(&self, limits: &[LimitConfig]) {
        let mut rules = self.rules.write().unwrap_or_else(PoisonError::into_inner);
        *rules = build(limits, &rules);
    }

    /// No limits are configured.
    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }

    /// Admits one request at wall-clock time `now`, or refuses it.
    ///
    /// Checks every limit that applies to `s`. If any is exceeded, returns the [`Exceeded`]
    /// with the longest `retry_after` and changes no counter. Otherwise counts one request in
    /// every matched per-minute request window, takes one concurrency slot in every matched
    /// bucket and returns the [`Permit`] that holds them.
    ///
    /// Token limits are checked against tokens already counted: the request that crosses a
    /// token limit is admitted (its size is unknown until it finishes) and may overshoot the
    /// limit once.
    pub fn admit(&self, s: &Subject<'_>, now: SystemTime) -> Result<Permit, Exceeded> {
        let rules = self.snapshot();
        if rules.is_empty() {
            return Ok(Permit::default());
        }
        // (rule, bucket key, index of the rule's lock guard, bucket exists).
        let mut slots: Vec<(usize, &str, usize, bool)> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            rule.matches(s, |key| slots.push((i, key, 0, false)));
        }
        if slots.is_empty() {
            return Ok(Permit::default());
        }
        // A fixed global lock order (stores' creation ids) rules out deadlocks with admissions
        // that see another rule order after a reload. The sort is stable: a rule's keys stay
        // together.
        slots.sort_by_key(|&(i, ..)| rules[i].store.id);
        let mut guards: Vec<MutexGuard<'_, Buckets>> = Vec::with_capacity(slots.len());
        let mut last = usize::MAX;
        for slot in &mut slots {
            if slot.0 != last {
                guards.push(rules[slot.0].store.lock());
                last = slot.0;
            }
            slot.2 = guards.len() - 1;
        }

        let clock = Clock::at(now);
        let empty = Bucket::default();
        let mut worst: Option<(usize, Kind, u64)> = None;
        for (i, key, g, exists) in &mut slots {
            let bucket = match guards[*g].map.get(*key) {
                Some(b) => {
                    *exists = true;
                    b
                }
                None => &empty,
            };
            if let Some((kind, ms)) = rules[*i].check(bucket, &clock) {
                if worst.is_none_or(|(_, _, w)| ms > w) {
                    worst = Some((*i, kind, ms));
                }
            }
        }
        if let Some((i, kind, ms)) = worst {
            return Err(Exceeded {
                limit: rules[i].name.clone(),
                kind,
                retry_after: Duration::from_secs(ms.div_ceil(1000).max(1)),
            });
        }

        let mut held = Vec::with_capacity(slots.len());
        for &(i, key, g, exists) in &slots {
            let buckets = &mut *guards[g];
            let bucket = if exists {
                buckets.map.get_mut(key)
            } else {
                buckets.get_or_insert(key, &clock)
            };
            let Some(bucket) = bucket else {
                continue;
            };
            bucket.requests.add(clock.minute, 1);
            bucket.inflight += 1;
            held.push(Held {
                store: Arc::clone(&rules[i].store),
                key: Arc::clone(&bucket.key),
            });
        }
        drop(guards);
        Ok(Permit { held })
    }

    /// Counts `tokens` already used at time `at` against every limit that applies to `s`:
    /// the day and month budgets (when `at` falls in the current day / month), and the
    /// per-minute token window (when `at` falls in it). Used at startup to seed budgets from
    /// stored usage, so that a restart does not reset them.
    pub fn charge(&self, s: &Subject<'_>, tokens: u64, at: SystemTime) {
        if tokens == 0 {
            return;
        }
        let rules = self.snapshot();
        let clock = Clock::at(at);
        for rule in rules.iter() {
            rule.matches(s, |key| {
                let mut buckets = rule.store.lock();
                if let Some(bucket) = buckets.get_or_insert(key, &clock) {
                    bucket.charge(tokens, &clock);
                }
            });
        }
    }

    fn snapshot(&self) -> Arc<[Rule]> {
        Arc::clone(&self.rules.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// An admitted request's hold on its limits: concurrency slots, and where its tokens go.
///
/// Finish it with [`Permit::finish`]; dropping it releases the slots and charges nothing.
#[derive(Default)]
pub struct Permit {
    held: Vec<Held>,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("buckets", &self.held.len())
            .finish()
    }
}

impl Permit {
    /// The request finished having used `tokens` (prompt plus completion): charges them to the
    /// per-minute, day and month token counters of every bucket the admission matched, at
    /// time `now`, and releases the concurrency slots.
    pub fn finish(mut self, tokens: u64, now: SystemTime) {
        let clock = Clock::at(now);
        for h in self.held.drain(..) {
            let mut buckets = h.store.lock();
            if let Some(bucket) = buckets.map.get_mut(&*h.key) {
                bucket.inflight = bucket.inflight.saturating_sub(1);
                if tokens > 0 {
                    bucket.charge(tokens, &clock);
                }
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        for h in self.held.drain(..) {
            let mut buckets = h.store.lock();
            if let Some(bucket) = buckets.map.get_mut(&*h.key) {
                bucket.inflight = bucket.inflight.saturating_sub(1);
            }
        }
    }
}

/// One bucket a permit holds a slot in.
struct Held {
    store: Arc<Store>,
    key: Arc<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Principal,
    Key,
    Group,
    Model,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "principal" => Some(Scope::Principal),
            "key" => Some(Scope::Key),
            "group" => Some(Scope::Group),
            "model" => Some(Scope::Model),
            _ => None,
        }
    }
}

/// A configured limit and the store of its counters.
struct Rule {
    name: String,
    scope: Scope,
    subject: Option<String>,
    requests_per_minute: Option<u64>,
    tokens_per_minute: Option<u64>,
    concurrent: Option<u64>,
    tokens_per_day: Option<u64>,
    tokens_per_month: Option<u64>,
    store: Arc<Store>,
}

fn build(limits: &[LimitConfig], old: &[Rule]) -> Arc<[Rule]> {
    limits
        .iter()
        .filter_map(|c| {
            // Scopes are validated with the config; an unknown one never applies.
            let scope = Scope::parse(&c.scope)?;
            let store = old
                .iter()
                .find(|r| r.name == c.name && r.scope == scope && r.subject == c.subject)
                .map(|r| Arc::clone(&r.store))
                .unwrap_or_else(Store::new);
            Some(Rule {
                name: c.name.clone(),
                scope,
                subject: c.subject.clone(),
                requests_per_minute: c.requests_per_minute,
                tokens_per_minute: c.tokens_per_minute,
                concurrent: c.concurrent,
                tokens_per_day: c.tokens_per_day,
                tokens_per_month: c.tokens_per_month,
                store,
            })
        })
        .collect()
}

impl Rule {
    /// Calls `f` with the bucket key of each bucket of this rule that applies to `s`.
    fn matches<'s>(&self, s: &Subject<'s>, mut f: impl FnMut(&'s str)) {
        let fits = |v: &str| self.subject.as_deref().is_none_or(|x| x == v);
        match self.scope {
            Scope::Principal => {
                if fits(s.principal) {
                    f(s.principal);
                }
            }
            Scope::Model => {
                if fits(s.model) {
                    f(s.model);
                }
            }
            Scope::Key => {
                if let Some(key) = s.key {
                    if fits(key) {
                        f(key);
                    }
                }
            }
            Scope::Group => {
                for (i, g) in s.groups.iter().enumerate() {
                    if fits(g) && !s.groups[..i].contains(g) {
                        f(g.as_str());
                    }
                }
            }
        }
    }

    /// The exceeded counter of `b` with the longest wait (in ms), if any.
    fn check(&self, b: &Bucket, c: &Clock) -> Option<(Kind, u64)> {
        let mut worst: Option<(Kind, u64)> = None;
        let mut note = |kind: Kind, ms: u64| {
            if worst.is_none_or(|(_, w)| ms > w) {
                worst = Some((kind, ms));
            }
        };
        let w = i128::from(WINDOW_MS);
        if let Some(limit) = self.requests_per_minute {
            // Room for one more request: estimate + 1 <= limit.
            if let Some(ms) = b.requests.wait(c, i128::from(limit) * w - w) {
                note(Kind::RequestsPerMinute, ms);
            }
        }
        if let Some(limit) = self.tokens_per_minute {
            // Room while estimate < limit.
            if let Some(ms) = b.tokens.wait(c, i128::from(limit) * w - 1) {
                note(Kind::TokensPerMinute, ms);
            }
        }
        if let Some(limit) = self.concurrent {
            if b.inflight >= limit {
                note(Kind::Concurrent, 1000);
            }
        }
        if let Some(limit) = self.tokens_per_day {
            if b.day.at(c.day) >= limit {
                note(Kind::TokensPerDay, c.day_end_ms.saturating_sub(c.ms));
            }
        }
        if let Some(limit) = self.tokens_per_month {
            if b.month.at(c.month) >= limit {
                note(Kind::TokensPerMonth, c.month_end_ms.saturating_sub(c.ms));
            }
        }
        worst
    }
}

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(0);

/// The buckets of one rule; outlives the rule while permits hold it.
struct Store {
    /// Global lock order.
    id: u64,
    buckets: Mutex<Buckets>,
}

impl Store {
    fn new() -> Arc<Store> {
        Arc::new(Store {
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            buckets: Mutex::new(Buckets {
                map: HashMap::with_hasher(FastHash::new()),
                sweep_at: SWEEP_THRESHOLD,
                floor: SWEEP_THRESHOLD,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Buckets {
    map: HashMap<Arc<str>, Bucket, FastHash>,
    /// Size at which the next sweep of idle buckets runs.
    sweep_at: usize,
    /// The least `sweep_at`.
    floor: usize,
}

impl Buckets {
    fn get_or_insert(&mut self, key: &str, clock: &Clock) -> Option<&mut Bucket> {
        if !self.map.contains_key(key) {
            if self.map.len() >= self.sweep_at {
                self.map.retain(|_, b| !b.idle(clock));
                // Amortized: the next sweep waits until the map has doubled.
                self.sweep_at = self.floor.max(self.map.len().saturating_mul(2));
            }
            let key: Arc<str> = Arc::from(key);
            self.map.insert(
                Arc::clone(&key),
                Bucket {
                    key,
                    ..Bucket::default()
                },
            );
        }
        self.map.get_mut(key)
    }
}

/// A fast multiplicative (Fx-style) string hash, seeded randomly per map. Bucket keys are
/// authenticated principals, keys, groups and served models, not arbitrary caller input, and
/// the hash is on every request's path.
#[derive(Clone, Copy)]
struct FastHash {
    seed: u64,
}

impl FastHash {
    fn new() -> FastHash {
        FastHash {
            seed: RandomState::new().hash_one(0u64),
        }
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher { hash: self.seed }
    }
}

struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Spread the high bits into the low ones the table indexes by.
        self.hash ^ (self.hash >> 29)
    }
}

/// The counters of one subject value under one rule.
#[derive(Default)]
struct Bucket {
    key: Arc<str>,
    inflight: u64,
    requests: Window,
    tokens: Window,
    day: Period,
    month: Period,
}

impl Bucket {
    fn charge(&mut self, tokens: u64, c: &Clock) {
        self.tokens.add(c.minute, tokens);
        self.day.add(c.day, tokens);
        self.month.add(c.month, tokens);
    }

    fn idle(&self, c: &Clock) -> bool {
        self.inflight == 0
            && self.requests.view(c.minute) == (0, 0)
            && self.tokens.view(c.minute) == (0, 0)
            && self.day.at(c.day) == 0
            && self.month.at(c.month) == 0
    }
}

/// Two fixed minute windows approximating a sliding 60 s one.
#[derive(Default, Clone, Copy)]
struct Window {
    /// Index (unix minutes) of the current window.
    minute: u64,
    prev: u64,
    cur: u64,
}

impl Window {
    /// The (previous, current) minute counts as seen in minute `m`.
    fn view(&self, m: u64) -> (u64, u64) {
        if m <= self.minute {
            // A clock that went back is treated as still in the current minute.
            (self.prev, self.cur)
        } else if m == self.minute + 1 {
            (self.cur, 0)
        } else {
            (0, 0)
        }
    }

    fn add(&mut self, m: u64, n: u64) {
        if m > self.minute {
            (self.prev, self.cur) = self.view(m);
            self.minute = m;
            self.cur = self.cur.saturating_add(n);
        } else if m == self.minute {
            self.cur = self.cur.saturating_add(n);
        } else if m + 1 == self.minute {
            self.prev = self.prev.saturating_add(n);
        }
        // Older: outside the sliding window.
    }

    /// Milliseconds until the estimate scaled by the window length,
    /// `prev * (W - elapsed) + cur * W`, is at most `t`; `None` if it is already.
    fn wait(&self, c: &Clock, t: i128) -> Option<u64> {
        let (prev, cur) = self.view(c.minute);
        let w = i128::from(WINDOW_MS);
        let (p, q) = (i128::from(prev), i128::from(cur));
        let e = i128::from(c.ms % WINDOW_MS);
        if p * (w - e) + q * w <= t {
            return None;
        }
        if t < 0 {
            // A zero limit never has room; come back in a minute.
            return Some(WINDOW_MS);
        }
        let ms = |x: i128| u64::try_from(x).unwrap_or(u64::MAX);
        // Later in the current minute: p * (w - x) <= t - q * w.
        let room = t - q * w;
        if room >= 0 && p > 0 {
            let x = (w - room / p).max(e);
            if x < w {
                return Some(ms(x - e));
            }
        }
        // In the next minute the current count becomes the previous: q * (w - x) <= t.
        let to_next = w - e;
        if q == 0 {
            return Some(ms(to_next));
        }
        let x = (w - t / q).max(0);
        Some(ms(to_next + x.min(w)))
    }
}

/// Tokens in one calendar period (day or month index).
#[derive(Default, Clone, Copy)]
struct Period {
    id: i64,
    tokens: u64,
}

impl Period {
    fn at(&self, id: i64) -> u64 {
        if id == self.id {
            self.tokens
        } else {
            0
        }
    }

    fn add(&mut self, id: i64, n: u64) {
        if id > self.id {
            *self = Period { id, tokens: n };
        } else if id == self.id {
            self.tokens = self.tokens.saturating_add(n);
        }
        // Older: a past period, irrelevant.
    }
}

/// A point in time, with the periods it falls in.
struct Clock {
    /// Unix milliseconds.
    ms: u64,
    minute: u64,
    /// Days since 1970-01-01, UTC.
    day: i64,
    day_end_ms: u64,
    /// year * 12 + month - 1.
    month: i64,
    month_end_ms: u64,
}

impl Clock {
    fn at(t: SystemTime) -> Clock {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let days = ms / DAY_MS;
        let day = i64::try_from(days).unwrap_or(i64::MAX);
        let (month, next_month) = civil::month_of(day);
        let next_month = u64::try_from(next_month).unwrap_or(u64::MAX);
        Clock {
            ms,
            minute: ms / WINDOW_MS,
            day,
            day_end_ms: (days + 1).saturating_mul(DAY_MS),
            month,
            month_end_ms: next_month.saturating_mul(DAY_MS),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
