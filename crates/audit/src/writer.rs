//! The writer: one thread, group commit, rotation, checkpoints, fail-closed health.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use crate::merkle::CompactTree;
use crate::record::{
    build_checkpoint_with_tree, build_record_canonical, decode_hash, Event, GENESIS_HASH,
};
use crate::segment::{head_before, list_segments, scan_for_recovery, segment_file_name};
use crate::time::now_rfc3339;
use crate::AuditError;

/// Most events committed by one write (and one fsync).
pub const MAX_BATCH: usize = 4096;

/// When an append is acknowledged relative to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` before acknowledging. Concurrent appends share one fsync (group commit).
    Fsync,
    /// Acknowledge after `write(2)`; `fdatasync` at most this often (and on checkpoints,
    /// rotation and close). A power loss can lose up to this much acknowledged history;
    /// a process crash loses nothing that was acknowledged.
    FlushEvery(Duration),
}

/// Writer configuration.
#[derive(Debug, Clone)]
pub struct TrailConfig {
    /// Directory holding the segment files.
    pub dir: PathBuf,
    /// Node name written into every record and checkpoint.
    pub node: String,
    /// Start a new segment once the current one reaches this size.
    pub max_segment_bytes: u64,
    /// Start a new segment once the current one has been open this long.
    pub max_segment_age: Duration,
    /// Write a checkpoint after this many events since the last one.
    pub checkpoint_every_events: u64,
    /// Write a checkpoint this often when there are uncheckpointed events.
    pub checkpoint_every: Duration,
    /// Acknowledgement policy.
    pub durability: Durability,
}

impl TrailConfig {
    /// Defaults: 64 MiB / 24 h segments, checkpoint every 1000 events or 60 s, fsync.
    pub fn new(dir: impl Into<PathBuf>, node: impl Into<String>) -> Self {
        TrailConfig {
            dir: dir.into(),
            node: node.into(),
            max_segment_bytes: 64 * 1024 * 1024,
            max_segment_age: Duration::from_secs(24 * 3600),
            checkpoint_every_events: 1000,
            checkpoint_every: Duration::from_secs(60),
            durability: Durability::Fsync,
        }
    }
}

/// What `Trail::open` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Bytes of a torn tail that were truncated away from the last segment.
    pub truncated_bytes: u64,
    /// Last seq on disk before this open (0 for an empty trail).
    pub last_seq: u64,
    /// The previous writer did not shut down cleanly (torn tail, or no final checkpoint).
    pub recovered: bool,
    /// Seq of the `trail_recovered` event appended, if any.
    pub recovery_event_seq: Option<u64>,
    /// Number of segments found.
    pub segments: usize,
}

/// Counters since `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrailStats {
    /// Events committed.
    pub events: u64,
    /// Write batches (group commits).
    pub batches: u64,
    /// `fdatasync` calls on segment files.
    pub fsyncs: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Segment files created.
    pub segments_created: u64,
    /// Bytes written.
    pub bytes_written: u64,
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    checkpoints: AtomicU64,
    segments_created: AtomicU64,
    bytes_written: AtomicU64,
}

struct State {
    /// The last record known to be on disk (fsync'd): its seq and hash. What the node
    /// anchors the trail to, outside the segment files.
    durable: Mutex<(u64, String)>,
    /// The latest signed tree note on disk: its size and text (what a witness is sent).
    latest_note: Mutex<Option<(u64, String)>>,
    failed: Mutex<Option<String>>,
    failed_flag: AtomicBool,
    inject_failure: AtomicBool,
    counters: Counters,
}

impl State {
    fn fail(&self, msg: String) {
        let mut g = lock(&self.failed);
        if g.is_none() {
            tracing::error!(error = %msg, "audit trail failed; refusing further appends (fail closed)");
            *g = Some(msg);
        }
        self.failed_flag.store(true, Ordering::SeqCst);
    }
    fn failure(&self) -> Option<String> {
        if self.failed_flag.load(Ordering::SeqCst) {
            lock(&self.failed).clone()
        } else {
            None
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------- receipts

struct SlotState {
    result: Option<Result<u64, AuditError>>,
    waker: Option<Waker>,
}

struct Slot {
    state: Mutex<SlotState>,
    cv: Condvar,
}

impl Slot {
    fn new() -> Arc<Slot> {
        Arc::new(Slot {
            state: Mutex::new(SlotState {
                result: None,
                waker: None,
            }),
            cv: Condvar::new(),
        })
    }
    fn set(&self, r: Result<u64, AuditError>) {
        let waker = {
            let mut g = lock(&self.state);
            if g.result.is_none() {
                g.result = Some(r);
            }
            g.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Completes a receipt; if dropped without completing, the receipt fails with `Closed`.
struct Completer(Option<Arc<Slot>>);

impl Completer {
    fn complete(mut self, r: Result<u64, AuditError>) {
        if let Some(s) = self.0.take() {
            s.set(r);
        }
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.set(Err(AuditError::Closed));
        }
    }
}

/// The acknowledgement of one append. Wait on it (blocking) or `.await` it (it is a
/// `Future`, runtime-agnostic: it stores the task's `Waker` and the writer wakes it).
///
/// `Ok(seq)` means the record is committed per [`Durability`]. `Err` means the event must
/// be treated as NOT audited (fail closed: refuse the operation). After a failed fsync the
/// record may nevertheless be on disk and part of the chain; it is never retried, because
/// after an fsync error the kernel may already have dropped the dirty pages.
#[must_use = "an audit append is only durable once its receipt resolves to Ok"]
pub struct Receipt {
    slot: Arc<Slot>,
}

impl Receipt {
    fn ready(r: Result<u64, AuditError>) -> Receipt {
        let slot = Slot::new();
        slot.set(r);
        Receipt { slot }
    }

    /// Blocks until the record is committed; returns its seq.
    pub fn wait(self) -> Result<u64, AuditError> {
        let mut g = lock(&self.slot.state);
        loop {
            if let Some(r) = g.result.take() {
                return r;
            }
            g = self.slot.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Like [`Receipt::wait`] but gives up after `d` with [`AuditError::Timeout`]
    /// (the record may still be committed afterwards).
    pub fn wait_timeout(self, d: Duration) -> Result<u64, AuditError> {
        let Some(deadline) = Instant::now().checked_add(d) else {
            return self.wait();
        };
        let mut g = lock(&self.slot.state);
        loop {
            if let Some(r) = g.result.take() {
                return r;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(AuditError::Timeout);
            }
            g = match self.slot.cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Non-blocking: the outcome if it is known, else the receipt back.
    pub fn try_wait(self) -> Result<Result<u64, AuditError>, Receipt> {
        let r = lock(&self.slot.state).result.take();
        match r {
            Some(r) => Ok(r),
            None => Err(self),
        }
    }
}

impl Future for Receipt {
    type Output = Result<u64, AuditError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut g = lock(&self.slot.state);
        if let Some(r) = g.result.take() {
            return Poll::Ready(r);
        }
        match &g.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => g.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

// ---------------------------------------------------------------- handle

#[allow(clippy::large_enum_variant)] // nearly every message is an Append
/// The longest a deferred append waits for an fsync (see [`Trail::append_deferred`]).
pub const DEFERRED_SYNC: Duration = Duration::from_millis(5);

enum Msg {
    /// The event in canonical form, encoded by the appending thread; `true`: deferred (see
    /// [`Trail::append_deferred`]).
    Append(String, Completer, bool),
    Close(mpsc::Sender<Result<(), AuditError>>),
}

struct Handle {
    tx: mpsc::Sender<Msg>,
    state: Arc<State>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The writer lock on `<dir>/writer.lock`, held until `close` (or the last handle drops).
    lock: Mutex<Option<fs::File>>,
}

/// Handle to an open trail. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Trail {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail")
            .field("healthy", &self.healthy().is_ok())
            .finish()
    }
}

impl Trail {
    /// Opens (or creates) the trail in `cfg.dir`, recovering from a crash if needed, and
    /// starts the writer thread.
    ///
    /// Recovery: the last segment is scanned and its internal chain verified. An incomplete
    /// last line (no newline) or an unparseable last line is truncated away; nothing else
    /// is ever rewritten. Any other damage fails with [`AuditError::Corrupt`] (run the
    /// verifier). If the previous writer did not close cleanly, a `trail_recovered` event
    /// is appended (and waited for) before this returns.
    pub fn open(cfg: TrailConfig, key: SigningKey) -> Result<(Trail, OpenReport), AuditError> {
        if cfg.node.is_empty() {
            return Err(AuditError::Config("node must not be empty".into()));
        }
        if cfg.max_segment_bytes == 0 || cfg.checkpoint_every_events == 0 {
            return Err(AuditError::Config(
                "max_segment_bytes and checkpoint_every_events must be > 0".into(),
            ));
        }
        fs::create_dir_all(&cfg.dir)
            .map_err(|e| AuditError::io(format!("create {}", cfg.dir.display()), e))?;
        // One writer per trail: two would fork the chain. The lock is released when the
        // process exits, however it exits.
        let lock_path = cfg.dir.join("writer.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| AuditError::io(format!("open {}", lock_path.display()), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(AuditError::Locked(cfg.dir.display().to_string()))
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(AuditError::io(format!("lock {}", lock_path.display()), e))
            }
        }
        let segments = list_segments(&cfg.dir)?;
        let mut report = OpenReport {
            truncated_bytes: 0,
            last_seq: 0,
            recovered: false,
            recovery_event_seq: None,
            segments: segments.len(),
        };
        let mut next_seq = 1u64;
        let mut last_hash = GENESIS_HASH.to_owned();
        let mut reopen: Option<(PathBuf, u64)> = None;
        if let Some((name_seq, path)) = segments.last() {
            let scan = scan_for_recovery(path)?;
            let (head_seq, head_hash) = head_before(&segments, segments.len() - 1)?;
            if let Some((first_seq, first_prev)) = &scan.first_record {
                if *first_seq != *name_seq || *first_seq != head_seq + 1 || *first_prev != head_hash
                {
                    return Err(AuditError::Corrupt(format!(
                        "{} does not continue the chain (expected seq {})",
                        path.display(),
                        head_seq + 1
                    )));
                }
            } else if *name_seq != head_seq + 1 {
                return Err(AuditError::Corrupt(format!(
                    "{} is empty but named for seq {name_seq}, expected {}",
                    path.display(),
                    head_seq + 1
                )));
            }
            if scan.torn_bytes > 0 {
                tracing::warn!(segment = %path.display(), bytes = scan.torn_bytes, "truncating torn audit tail");
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| AuditError::io(format!("open {}", path.display()), e))?;
                f.set_len(scan.valid_len)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| AuditError::io(format!("truncate {}", path.display()), e))?;
                report.truncated_bytes = scan.torn_bytes;
            }
            let (seq, hash) = scan.last_record.clone().unwrap_or((head_seq, head_hash));
            next_seq = seq + 1;
            last_hash = hash;
            report.last_seq = seq;
            let clean = scan.torn_bytes == 0 && scan.ends_with_checkpoint;
            if !clean {
                report.recovered = true;
                reopen = Some((path.clone(), scan.valid_len));
            }
        }

        let segments_now = list_segments(&cfg.dir)?;
        let tree = rebuild_tree(&segments_now)?;
        let latest_note = crate::latest_tree_checkpoint(&cfg.dir)?;
        if tree.size() != next_seq - 1 {
            return Err(AuditError::Corrupt(format!(
                "the Merkle tree holds {} records but the trail {}",
                tree.size(),
                next_seq - 1
            )));
        }
        let state = Arc::new(State {
            durable: Mutex::new((next_seq - 1, last_hash.clone())),
            latest_note: Mutex::new(latest_note.clone()),
            failed: Mutex::new(None),
            failed_flag: AtomicBool::new(false),
            inject_failure: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let mut writer = Writer {
            node: cfg.node.clone(),
            key,
            next_seq,
            last_hash,
            file: None,
            seg_path: PathBuf::new(),
            seg_bytes: 0,
            seg_opened: Instant::now(),
            ends_with_checkpoint: true,
            events_since_cp: 0,
            last_cp: Instant::now(),
            dirty: false,
            deferred_since: None,
            last_sync: Instant::now(),
            tree_store: match crate::tree_store::TreeStore::open(
                &cfg.dir,
                &tree,
                latest_note.as_ref().map(|(n, _)| *n),
                |after| record_hashes_after(&segments_now, after),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot keep the audit tree's level files; proofs will read the segments");
                    None
                }
            },
            tree,
            unsynced_note: None,
            state: state.clone(),
            cfg,
        };
        if let Some((path, len)) = reopen {
            let f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| AuditError::io(format!("open {}", path.display()), e))?;
            writer.file = Some(f);
            writer.seg_path = path;
            writer.seg_bytes = len;
            // Whatever the crashed writer left unsigned gets covered by the next checkpoint.
            writer.ends_with_checkpoint = false;
            writer.events_since_cp = 1;
        }
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("scif-audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AuditError::io("spawn audit writer thread", e))?;
        let trail = Trail {
            inner: Arc::new(Handle {
                tx,
                state,
                thread: Mutex::new(Some(thread)),
                lock: Mutex::new(Some(lock)),
            }),
        };
        if report.recovered {
            let mut detail = serde_json::Map::new();
            detail.insert("truncated_bytes".into(), report.truncated_bytes.into());
            detail.insert("last_seq_before_recovery".into(), report.last_seq.into());
            let ev = Event {
                time: now_rfc3339(),
                action: "trail_recovered".into(),
                decision: "info".into(),
                reasons: vec![if report.truncated_bytes > 0 {
                    "torn_tail_truncated".into()
                } else {
                    "unclean_shutdown".into()
                }],
                detail,
                ..Event::default()
            };
            report.recovery_event_seq = Some(trail.append(ev).wait()?);
        }
        Ok((trail, report))
    }

    /// Enqueues an event; never blocks (the queue is unbounded: back-pressure comes from
    /// callers waiting on their receipts). The receipt resolves once the record is committed
    /// (per [`Durability`]), or fails if the trail is unhealthy or closed.
    pub fn append(&self, e: Event) -> Receipt {
        self.enqueue(e, false)
    }

    /// Appends an event that need not be synced on its own: with `durability = "fsync"` it is
    /// written at once (its receipt resolves then, in chain order) and made durable by the next
    /// synced append, a checkpoint, or at most [`DEFERRED_SYNC`] later, so that it does not
    /// cost an fsync of its own. For records that follow a durable one (an invocation's
    /// completion after its intent); with `interval` durability it is like [`Trail::append`].
    pub fn append_deferred(&self, e: Event) -> Receipt {
        self.enqueue(e, true)
    }

    fn enqueue(&self, e: Event, deferred: bool) -> Receipt {
        if let Some(msg) = self.inner.state.failure() {
            return Receipt::ready(Err(AuditError::Unhealthy(msg)));
        }
        // Encoding here spreads the work over the callers' threads; the writer thread only
        // assembles, hashes and writes.
        let event = match crate::record::canonical_event(&e.bounded()) {
            Ok(ev) => ev,
            Err(err) => return Receipt::ready(Err(AuditError::Json(err))),
        };
        let slot = Slot::new();
        let receipt = Receipt { slot: slot.clone() };
        // On a send error the message (and its Completer) is dropped: the receipt fails
        // with Closed.
        let _ = self
            .inner
            .tx
            .send(Msg::Append(event, Completer(Some(slot)), deferred));
        receipt
    }

    /// Async form of [`Trail::append`]: the returned future needs no particular runtime.
    pub fn append_async(
        &self,
        e: Event,
    ) -> impl Future<Output = Result<u64, AuditError>> + Send + Unpin + 'static {
        self.append(e)
    }

    /// `Err` once a write or fsync has failed; from then on every append fails.
    pub fn healthy(&self) -> Result<(), String> {
        match self.inner.state.failure() {
            Some(m) => Err(m),
            None => Ok(()),
        }
    }

    /// The last record known to be on disk (fsync'd): `(seq, hash)`; `(0, genesis)` for an
    /// empty trail. A node keeps this outside the segments (its anchor) to catch a trail
    /// later found shorter than, older than or different from what it wrote.
    pub fn durable_head(&self) -> (u64, String) {
        lock(&self.inner.state.durable).clone()
    }

    /// The latest signed tree note on disk (fsync'd): its tree size and text. What the
    /// node sends its witness, without reading the segments.
    pub fn latest_tree_note(&self) -> Option<(u64, String)> {
        lock(&self.inner.state.latest_note).clone()
    }

    /// Counters since open.
    pub fn stats(&self) -> TrailStats {
        let c = &self.inner.state.counters;
        TrailStats {
            events: c.events.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            segments_created: c.segments_created.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
        }
    }

    /// Commits everything queued before this call, writes a final checkpoint, fsyncs and
    /// joins the writer thread. Other clones fail with `Closed` afterwards.
    pub fn close(self) -> Result<(), AuditError> {
        let (tx, rx) = mpsc::channel();
        let res = if self.inner.tx.send(Msg::Close(tx)).is_ok() {
            rx.recv().unwrap_or(Err(AuditError::Closed))
        } else {
            Err(AuditError::Closed)
        };
        if let Some(t) = lock(&self.inner.thread).take() {
            let _ = t.join();
        }
        drop(lock(&self.inner.lock).take());
        res
    }

    /// Test hook: makes the writer's next write fail as if the disk had returned EIO.
    #[doc(hidden)]
    pub fn inject_write_failure(&self) {
        self.inner
            .state
            .inject_failure
            .store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------- writer thread

struct Writer {
    cfg: TrailConfig,
    node: String,
    key: SigningKey,
    next_seq: u64,
    last_hash: String,
    file: Option<File>,
    seg_path: PathBuf,
    seg_bytes: u64,
    seg_opened: Instant,
    ends_with_checkpoint: bool,
    events_since_cp: u64,
    last_cp: Instant,
    dirty: bool,
    /// When the oldest deferred append not yet synced was written.
    deferred_since: Option<Instant>,
    last_sync: Instant,
    /// The Merkle tree over every record written (see `crate::merkle`).
    tree: CompactTree,
    /// The tree's subtrees on disk, for fast proofs (derived; `None` if it cannot be kept).
    tree_store: Option<crate::tree_store::TreeStore>,
    /// The note of the last checkpoint written, published to `State` at the next sync.
    unsynced_note: Option<(u64, String)>,
    state: Arc<State>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            let first = match self.next_deadline() {
                Some(d) => match rx.recv_timeout(d) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                },
            };
            if let Some(first) = first {
                let mut batch = Vec::new();
                let mut close = None;
                match first {
                    Msg::Append(e, c, d) => batch.push((e, c, d)),
                    Msg::Close(r) => close = Some(r),
                }
                while close.is_none() && batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Msg::Append(e, c, d)) => batch.push((e, c, d)),
                        Ok(Msg::Close(r)) => close = Some(r),
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                if !batch.is_empty() {
                    self.commit(batch);
                }
                if let Some(reply) = close {
                    let res = self.shutdown();
                    let _ = reply.send(res);
                    // Appends queued after close: dropping rx drops their completers,
                    // which fail them with Closed.
                    return;
                }
            }
            self.on_timers();
        }
        // All handles dropped without close(): still seal what we have.
        let _ = self.shutdown();
    }

    fn next_deadline(&self) -> Option<Duration> {
        let mut dl: Option<Instant> = None;
        let mut consider = |t: Instant| {
            dl = Some(match dl {
                Some(d) if d <= t => d,
                _ => t,
            })
        };
        if self.state.failure().is_some() {
            return None;
        }
        if self.events_since_cp > 0 {
            if let Some(t) = self.last_cp.checked_add(self.cfg.checkpoint_every) {
                consider(t);
            }
        }
        if self.file.is_some() {
            if let Some(t) = self.seg_opened.checked_add(self.cfg.max_segment_age) {
                consider(t);
            }
        }
        if let (true, Durability::FlushEvery(d)) = (self.dirty, self.cfg.durability) {
            if let Some(t) = self.last_sync.checked_add(d) {
                consider(t);
            }
        }
        if let Some(t) = self
            .deferred_since
            .and_then(|t| t.checked_add(DEFERRED_SYNC))
        {
            consider(t);
        }
        dl.map(|t| t.saturating_duration_since(Instant::now()))
    }

    fn on_timers(&mut self) {
        if self.state.failure().is_some() {
            return;
        }
        let now = Instant::now();
        let due = |t: Instant, d: Duration| t.checked_add(d).is_some_and(|t| now >= t);
        if self.file.is_some() && due(self.seg_opened, self.cfg.max_segment_age) {
            if let Err(e) = self.seal() {
                self.state.fail(e);
            }
            return;
        }
        if self.events_since_cp > 0 && due(self.last_cp, self.cfg.checkpoint_every) {
            let mut buf = String::new();
            let r = self
                .push_checkpoint(&mut buf)
                .and_then(|()| self.write(&buf))
                .and_then(|()| self.sync());
            if let Err(e) = r {
                self.state.fail(e);
            }
            return;
        }
        if let Durability::FlushEvery(d) = self.cfg.durability {
            if self.dirty && due(self.last_sync, d) {
                if let Err(e) = self.sync() {
                    self.state.fail(e);
                }
                return;
            }
        }
        if self.dirty && self.deferred_since.is_some_and(|t| due(t, DEFERRED_SYNC)) {
            if let Err(e) = self.sync() {
                self.state.fail(e);
            }
        }
    }

    fn commit(&mut self, batch: Vec<(String, Completer, bool)>) {
        // Deferred appends alone do not pay for an fsync (see `Trail::append_deferred`).
        let urgent = batch.iter().any(|(_, _, deferred)| !deferred);
        let batch: Vec<(String, Completer)> = batch.into_iter().map(|(e, c, _)| (e, c)).collect();
        if let Some(msg) = self.state.failure() {
            for (_, c) in batch {
                c.complete(Err(AuditError::Unhealthy(msg.clone())));
            }
            return;
        }
        if let Err(e) = self.ensure_segment() {
            self.state.fail(e.clone());
            for (_, c) in batch {
                c.complete(Err(AuditError::Unhealthy(e.clone())));
            }
            return;
        }
        let mut buf = String::with_capacity(batch.len() * 400);
        let mut done = Vec::with_capacity(batch.len());
        for (event, c) in batch {
            let (hash, line) =
                build_record_canonical(self.next_seq, &self.node, &self.last_hash, &event);
            buf.push_str(&line);
            buf.push('\n');
            done.push((c, self.next_seq));
            let store = &mut self.tree_store;
            self.tree.push_with(
                &decode_hash(&hash).unwrap_or([0u8; 32]),
                &mut |level, node| {
                    if let Some(s) = store.as_mut() {
                        s.record(level, node);
                    }
                },
            );
            self.last_hash = hash;
            self.next_seq += 1;
        }
        if done.is_empty() {
            return;
        }
        self.ends_with_checkpoint = false;
        self.events_since_cp += done.len() as u64;
        let mut res = Ok(());
        if self.events_since_cp >= self.cfg.checkpoint_every_events {
            res = self.push_checkpoint(&mut buf);
        }
        let res = res
            .and_then(|()| self.write(&buf))
            .and_then(|()| match self.cfg.durability {
                Durability::Fsync if urgent => self.sync(),
                Durability::Fsync => {
                    self.deferred_since.get_or_insert_with(Instant::now);
                    Ok(())
                }
                Durability::FlushEvery(d) => {
                    if self.last_sync.elapsed() >= d {
                        self.sync()
                    } else {
                        Ok(())
                    }
                }
            });
        match res {
            Ok(()) => {
                let c = &self.state.counters;
                c.events.fetch_add(done.len() as u64, Ordering::Relaxed);
                c.batches.fetch_add(1, Ordering::Relaxed);
                for (c, seq) in done {
                    c.complete(Ok(seq));
                }
                if self.seg_bytes >= self.cfg.max_segment_bytes {
                    if let Err(e) = self.seal() {
                        self.state.fail(e);
                    }
                }
            }
            Err(e) => {
                self.state.fail(e.clone());
                for (c, _) in done {
                    c.complete(Err(AuditError::Unhealthy(e.clone())));
                }
            }
        }
    }

    fn ensure_segment(&mut self) -> Result<(), String> {
        if self.file.is_some() {
            return Ok(());
        }
        let path = self.cfg.dir.join(segment_file_name(self.next_seq));
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("create {}: {e}", path.display()))?;
        sync_dir(&self.cfg.dir).map_err(|e| format!("fsync {}: {e}", self.cfg.dir.display()))?;
        self.file = Some(f);
        self.seg_path = path;
        self.seg_bytes = 0;
        self.seg_opened = Instant::now();
        self.state
            .counters
            .segments_created
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn push_checkpoint(&mut self, buf: &mut String) -> Result<(), String> {
        let (cp, line) = build_checkpoint_with_tree(
            &self.key,
            &self.node,
            self.next_seq - 1,
            &self.last_hash,
            &now_rfc3339(),
            Some(&self.tree),
        )
        .map_err(|e| format!("encode checkpoint: {e}"))?;
        if let Some(tlog) = &cp.tlog {
            if let Some(store) = self.tree_store.as_mut() {
                store.note(cp.seq, &tlog.note);
            }
            self.unsynced_note = Some((cp.seq, tlog.note.clone()));
        }
        buf.push_str(&line);
        buf.push('\n');
        self.events_since_cp = 0;
        self.last_cp = Instant::now();
        self.ends_with_checkpoint = true;
        self.state
            .counters
            .checkpoints
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn write(&mut self, buf: &str) -> Result<(), String> {
        let Some(f) = self.file.as_mut() else {
            return Err("internal: no open segment".into());
        };
        if self.state.inject_failure.swap(false, Ordering::SeqCst) {
            return Err(format!(
                "write {}: injected failure",
                self.seg_path.display()
            ));
        }
        f.write_all(buf.as_bytes())
            .map_err(|e| format!("write {}: {e}", self.seg_path.display()))?;
        self.seg_bytes += buf.len() as u64;
        self.dirty = true;
        if let Some(store) = self.tree_store.as_mut() {
            store.flush();
        }
        self.state
            .counters
            .bytes_written
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), String> {
        if let Some(f) = &self.file {
            f.sync_data()
                .map_err(|e| format!("fsync {}: {e}", self.seg_path.display()))?;
            self.state.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        *lock(&self.state.durable) = (self.next_seq - 1, self.last_hash.clone());
        if let Some(note) = self.unsynced_note.take() {
            *lock(&self.state.latest_note) = Some(note);
        }
        self.dirty = false;
        self.deferred_since = None;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Ends the current segment with a checkpoint, fsyncs and closes it.
    fn seal(&mut self) -> Result<(), String> {
        if self.file.is_none() {
            return Ok(());
        }
        if !self.ends_with_checkpoint {
            let mut buf = String::new();
            self.push_checkpoint(&mut buf)?;
            self.write(&buf)?;
        }
        self.sync()?;
        self.file = None;
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), AuditError> {
        if let Some(msg) = self.state.failure() {
            return Err(AuditError::Unhealthy(msg));
        }
        self.seal().map_err(|e| {
            self.state.fail(e.clone());
            AuditError::Unhealthy(e)
        })
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The Merkle tree over every record of the trail in `segments`: continued from the last
/// checkpoint that stored the tree's peaks (when they fold to its signed root), then the
/// records after it; or built from the first record when no checkpoint has them.
pub(crate) fn rebuild_tree(segments: &[(u64, PathBuf)]) -> Result<CompactTree, AuditError> {
    use crate::record::{parse_line, Line};
    let read = |path: &PathBuf| {
        fs::read(path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))
    };
    let mut start = (0usize, CompactTree::new());
    'search: for (idx, (_, path)) in segments.iter().enumerate().rev() {
        let data = read(path)?;
        for line in data.split(|&b| b == b'\n').rev() {
            if !line.starts_with(b"{\"checkpoint\"") {
                continue;
            }
            let Ok(Line::Checkpoint(cp)) = parse_line(line) else {
                continue;
            };
            let Some(tlog) = cp.tlog else { continue };
            let peaks: Option<Vec<[u8; 32]>> = tlog.peaks.iter().map(|p| decode_hash(p)).collect();
            let tree = peaks.and_then(|p| CompactTree::from_parts(cp.seq, p));
            let note = crate::merkle::Note::parse(&tlog.note);
            if let (Some(tree), Some(note)) = (tree, note) {
                if note.size == cp.seq && note.root == tree.root() {
                    start = (idx, tree);
                    break 'search;
                }
            }
        }
    }
    let (first, mut tree) = start;
    for (_, path) in &segments[first..] {
        let data = read(path)?;
        for line in data.split(|&b| b == b'\n') {
            if !line.starts_with(b"{\"event\"") {
                continue;
            }
            let Some((seq, hash)) = crate::record::record_seq_hash(line) else {
                continue;
            };
            if seq == tree.size() + 1 {
                tree.push(&hash.unwrap_or([0u8; 32]));
            }
        }
    }
    Ok(tree)
}

/// The hashes of the records after seq `after`, in order (for the tree store's repair).
fn record_hashes_after(
    segments: &[(u64, PathBuf)],
    after: u64,
) -> Result<Vec<crate::merkle::Hash>, AuditError> {
    let start = segments
        .iter()
        .rposition(|(first, _)| *first <= after + 1)
        .unwrap_or(0);
    let mut out = Vec::new();
    for (_, path) in &segments[start..] {
        let data =
            fs::read(path).map_err(|e| AuditError::io(format!("read {}", path.display()), e))?;
        for line in data.split(|&b| b == b'\n') {
            if !line.starts_with(b"{\"event\"") {
                continue;
            }
            let Some((seq, hash)) = crate::record::record_seq_hash(line) else {
                continue;
            };
            if seq == after + out.len() as u64 + 1 {
                out.push(hash.unwrap_or([0u8; 32]));
            }
        }
    }
    Ok(out)
}
