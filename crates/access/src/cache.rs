//! A short-lived cache of the identity records authentication reads on every request (API key
//! rows and principals), so that a request does not wait on the database twice.
//!
//! Entries live for [`TTL`]. Changes made through this process (the admin API) clear the cache
//! at once; changes made by another process (the CLI on the same data directory) take effect
//! within [`TTL`]. Negative answers (no such key) are cached too, so a flood of unknown key ids
//! does not reach the database either; key ids are random, so a new key is never shadowed by a
//! cached miss for longer than [`TTL`] after its creation by the CLI.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use scif_store::{ApiKeyRow, PrincipalRecord, StoreError};

/// How long a record read from the database is trusted.
pub const TTL: Duration = Duration::from_secs(1);

/// Most entries per map; past it the map is emptied (cheap, and rare: one entry per key in use).
const MAX_ENTRIES: usize = 50_000;

pub(crate) struct Ttl<K, V> {
    map: Mutex<HashMap<K, (Instant, Option<V>)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Ttl<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, Option<V>)>> {
        match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The cached value of `key`, or `load`'s (then cached). Errors are not cached.
    pub(crate) async fn get<F, Fut>(&self, key: &K, load: F) -> Result<Option<V>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, StoreError>>,
    {
        if let Some((at, v)) = self.lock().get(key) {
            if at.elapsed() < TTL {
                return Ok(v.clone());
            }
        }
        let v = load().await?;
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.clone(), (Instant::now(), v.clone()));
        Ok(v)
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

pub(crate) struct IdentityCache {
    pub(crate) keys: Ttl<String, ApiKeyRow>,
    pub(crate) principals: Ttl<String, PrincipalRecord>,
    /// Ids of deleted principals (`Some(())`: retired).
    pub(crate) retired: Ttl<String, ()>,
}

impl IdentityCache {
    pub(crate) fn new() -> Self {
        Self {
            keys: Ttl::new(),
            principals: Ttl::new(),
            retired: Ttl::new(),
        }
    }

    pub(crate) fn clear(&self) {
        self.keys.clear();
        self.principals.clear();
        self.retired.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn caches_until_cleared_or_expired() {
        let c: Ttl<String, u32> = Ttl::new();
        let k = "a".to_string();
        assert_eq!(c.get(&k, || async { Ok(Some(1)) }).await.unwrap(), Some(1));
        assert_eq!(c.get(&k, || async { Ok(Some(2)) }).await.unwrap(), Some(1));
        c.clear();
        assert_eq!(c.get(&k, || async { Ok(None) }).await.unwrap(), None);
        assert_eq!(c.get(&k, || async { Ok(Some(3)) }).await.unwrap(), None);
        tokio::time::sleep(TTL + Duration::from_millis(50)).await;
        assert_eq!(c.get(&k, || async { Ok(Some(3)) }).await.unwrap(), Some(3));
        let err = c
            .get(&"b".to_string(), || async {
                Err(StoreError::Corrupt("x".into()))
            })
            .await;
        assert!(err.is_err());
        assert_eq!(
            c.get(&"b".to_string(), || async { Ok(Some(4)) })
                .await
                .unwrap(),
            Some(4)
        );
    }
}
