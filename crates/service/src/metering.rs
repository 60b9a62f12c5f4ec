//! Metering: one usage record per model invocation (principal, key, groups, model, deployment,
//! tokens, latency, outcome), written to the store in batches by a background task so the
//! request path never waits on the database.
//!
//! Records are buffered for at most [`FLUSH_EVERY`] (or [`BATCH`] records); a crash can lose
//! that window of usage records. The audit trail, which is durable before a response leaves,
//! holds the same token counts and remains the record of account.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scif_store::{Store, UsageRecord};
use tokio::sync::Notify;

const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Records wait in a buffer that the writer empties every [`FLUSH_EVERY`]: adding one is a
/// push under a lock, with no task to wake on the request path.
#[derive(Clone)]
pub struct Meter {
    shared: Arc<Shared>,
}

struct Shared {
    buffer: Mutex<Vec<UsageRecord>>,
    /// Wakes the writer early: when a batch is full, and at shutdown.
    wake: Notify,
}

impl Meter {
    /// Starts the writer; it ends, after writing what is buffered, when every `Meter` clone
    /// is dropped.
    pub fn start(store: Store) -> (Meter, tokio::task::JoinHandle<()>) {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::with_capacity(BATCH)),
            wake: Notify::new(),
        });
        let writer = tokio::spawn(write(store, Arc::downgrade(&shared)));
        (Meter { shared }, writer)
    }

    pub fn record(&self, r: UsageRecord) {
        let full = {
            let mut buf = lock(&self.shared.buffer);
            buf.push(r);
            buf.len() >= BATCH
        };
        if full {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        // The last handle going away: let the writer see it now rather than at its next tick.
        if Arc::strong_count(&self.shared) == 1 {
            self.shared.wake.notify_one();
        }
    }
}

fn lock(m: &Mutex<Vec<UsageRecord>>) -> std::sync::MutexGuard<'_, Vec<UsageRecord>> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

async fn write(store: Store, shared: std::sync::Weak<Shared>) {
    loop {
        let (batch, open) = {
            let Some(s) = shared.upgrade() else {
                return;
            };
            let wake = s.wake.notified();
            tokio::pin!(wake);
            let _ = tokio::time::timeout(FLUSH_EVERY, &mut wake).await;
            let batch = std::mem::take(&mut *lock(&s.buffer));
            // Two strong references: ours here and at least one Meter.
            (batch, Arc::strong_count(&s) > 1)
        };
        if !batch.is_empty() {
            if let Err(e) = store.insert_usage(&batch).await {
                tracing::error!(error = %e, records = batch.len(), "cannot store usage records");
            }
        }
        if !open {
            // Every Meter is gone; anything recorded after the take above was recorded by a
            // Meter that still existed then, and is in `shared` only if one remained.
            if let Some(s) = shared.upgrade() {
                let rest = std::mem::take(&mut *lock(&s.buffer));
                if !rest.is_empty() {
                    if let Err(e) = store.insert_usage(&rest).await {
                        tracing::error!(error = %e, records = rest.len(), "cannot store usage records");
                    }
                }
            }
            return;
        }
    }
}

pub use scif_time::{days_of, stamp, utc_date};

/// Counts this month's stored usage against the day and month budgets, so that a restart
/// does not hand everyone a fresh budget.
pub async fn seed_limits(
    store: &Store,
    limits: &scif_limits::Limiter,
) -> Result<usize, scif_store::StoreError> {
    if limits.is_empty() {
        return Ok(0);
    }
    let now = SystemTime::now();
    let (_, today) = stamp(now);
    let month_start = format!("{}-01", &today[..7]);
    let today_n = days_of(&today).unwrap_or(0);
    let rows = store.usage_totals(Some(&month_start), Some(&today)).await?;
    for r in &rows {
        // Earlier days at the same time of day; today's a minute back, so that a restart does
        // not count the day's tokens against the per-minute limits too.
        let back = today_n - days_of(&r.day).unwrap_or(today_n);
        let midnight = UNIX_EPOCH + Duration::from_secs(86_400 * today_n.max(0) as u64);
        let at = if back <= 0 {
            (now - Duration::from_secs(61)).max(midnight)
        } else {
            now - Duration::from_secs(86_400 * back as u64)
        };
        let subject = scif_limits::Subject {
            principal: &r.principal,
            key: r.key_id.as_deref(),
            groups: &r.groups,
            model: &r.model,
        };
        limits.charge(&subject, r.prompt_tokens + r.completion_tokens, at);
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(20_454), "2026-01-01");
        assert_eq!(utc_date(19_782), "2024-02-29");
        assert_eq!(utc_date(-1), "1969-12-31");
        for n in [-800, -1, 0, 19_782, 20_454, 40_000] {
            assert_eq!(days_of(&utc_date(n)), Some(n));
        }
        assert_eq!(days_of("2026-13-01"), None);
    }
}
