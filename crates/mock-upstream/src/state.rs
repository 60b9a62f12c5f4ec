//! Run-time configuration, statistics and the shared state behind every handler.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use axum::http::{HeaderValue, StatusCode};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Deserializer, Serialize};

/// The knobs that shape every answer; all of them can be replaced at run time through
/// `POST /mock/config`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Config {
    /// Delay before the response head of a chat completion.
    pub latency_ms: u64,
    /// Delay between streamed chunks.
    pub token_interval_ms: u64,
    /// Completion length in words.
    pub tokens: usize,
    /// Fraction (0.0..=1.0) of chat completions answered with `error_status`.
    pub error_rate: f64,
    /// Status of injected errors.
    pub error_status: u16,
    /// Streamed answers die after this many content chunks.
    pub fail_after: Option<usize>,
    /// Whether `/health` and `/v1/models` answer 200 (else 503).
    pub healthy: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            token_interval_ms: 0,
            tokens: 8,
            error_rate: 0.0,
            error_status: 503,
            fail_after: None,
            healthy: true,
        }
    }
}

impl Config {
    /// Checks the values that can be out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must lie in 0.0..=1.0, got {}",
                self.error_rate
            ));
        }
        if StatusCode::from_u16(self.error_status).is_err() {
            return Err(format!(
                "error_status {} is not a valid HTTP status",
                self.error_status
            ));
        }
        Ok(())
    }

    /// The status of injected errors.
    pub fn error_status(&self) -> StatusCode {
        StatusCode::from_u16(self.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    }
}

/// A partial update of [`Config`], as accepted by `POST /mock/config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    latency_ms: Option<u64>,
    token_interval_ms: Option<u64>,
    tokens: Option<usize>,
    error_rate: Option<f64>,
    error_status: Option<u16>,
    /// Absent: unchanged; `null`: cleared; a number: set.
    #[serde(default, deserialize_with = "present")]
    fail_after: Option<Option<usize>>,
    healthy: Option<bool>,
}

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`, via `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ConfigPatch {
    /// The config with this patch applied, validated.
    pub fn apply(self, mut config: Config) -> Result<Config, String> {
        if let Some(v) = self.latency_ms {
            config.latency_ms = v;
        }
        if let Some(v) = self.token_interval_ms {
            config.token_interval_ms = v;
        }
        if let Some(v) = self.tokens {
            config.tokens = v;
        }
        if let Some(v) = self.error_rate {
            config.error_rate = v;
        }
        if let Some(v) = self.error_status {
            config.error_status = v;
        }
        if let Some(v) = self.fail_after {
            config.fail_after = v;
        }
        if let Some(v) = self.healthy {
            config.healthy = v;
        }
        config.validate()?;
        Ok(config)
    }
}

#[derive(Default)]
struct Stats {
    requests: u64,
    errors: u64,
    by_status: BTreeMap<u16, u64>,
    last_request: Option<Bytes>,
    last_authorization: Option<HeaderValue>,
}

/// What `GET /mock/stats` returns.
#[derive(Debug, Serialize)]
pub struct StatsView {
    pub requests: u64,
    pub errors: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub last_request: serde_json::Value,
    pub last_authorization: Option<String>,
}

/// Everything the handlers share.
pub struct AppState {
    config: RwLock<Config>,
    stats: Mutex<Stats>,
    rng: Mutex<StdRng>,
    completion_ids: AtomicU64,
    tool_call_ids: AtomicU64,
    /// `--name`, reported as `system_fingerprint` and as the model id.
    pub name: String,
    /// `Bearer <--api-key>`, when one is required.
    pub expected_authorization: Option<HeaderValue>,
    /// The `/v1/models` body, fixed at start-up.
    pub models_body: Bytes,
}

impl AppState {
    pub fn new(
        config: Config,
        name: String,
        api_key: Option<&str>,
        seed: u64,
    ) -> Result<Self, String> {
        config.validate()?;
        let expected_authorization = api_key
            .map(|key| {
                HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| "the API key must be a valid header value".to_owned())
            })
            .transpose()?;
        let models_body = serde_json::to_vec(&serde_json::json!({
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "mock"}],
        }))
        .map_err(|e| e.to_string())?
        .into();
        Ok(Self {
            config: RwLock::new(config),
            stats: Mutex::new(Stats::default()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            completion_ids: AtomicU64::new(0),
            tool_call_ids: AtomicU64::new(0),
            name,
            expected_authorization,
            models_body,
        })
    }

    /// A copy of the current config.
    pub fn config(&self) -> Config {
        *self.config.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the config; returns the new one.
    pub fn update_config(&self, patch: ConfigPatch) -> Result<Config, String> {
        let mut config = self.config.write().unwrap_or_else(PoisonError::into_inner);
        *config = patch.apply(*config)?;
        Ok(*config)
    }

    /// Draws whether this request gets an injected error.
    pub fn inject_error(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            false
        } else if rate >= 1.0 {
            true
        } else {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            rng.random::<f64>() < rate
        }
    }

    pub fn next_completion_id(&self) -> u64 {
        self.completion_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_tool_call_id(&self) -> u64 {
        self.tool_call_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts one chat request.
    pub fn record(
        &self,
        status: StatusCode,
        injected: bool,
        body: Bytes,
        authorization: Option<HeaderValue>,
    ) {
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.requests += 1;
        if injected {
            stats.errors += 1;
        }
        *stats.by_status.entry(status.as_u16()).or_default() += 1;
        stats.last_request = Some(body);
        stats.last_authorization = authorization;
    }

    pub fn stats(&self) -> StatsView {
        let stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let last_request = match &stats.last_request {
            None => serde_json::Value::Null,
            Some(body) => serde_json::from_slice(body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(body).into_owned())
            }),
        };
        StatsView {
            requests: stats.requests,
            errors: stats.errors,
            by_status: stats.by_status.clone(),
            last_request,
            last_authorization: stats
                .last_authorization
                .as_ref()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        }
    }

    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner) = Stats::default();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn patch_sets_and_clears_fields() {
        let base = Config {
            fail_after: Some(3),
            ..Config::default()
        };
        let patch: ConfigPatch = serde_json::from_str(r#"{"tokens": 2}"#).unwrap();
        assert_eq!(patch.apply(base).unwrap().fail_after, Some(3));
        let patch: ConfigPatch = serde_json::from_str(r#"{"fail_after": null}"#).unwrap();
        let config = patch.apply(base).unwrap();
        assert_eq!(config.fail_after, None);
        assert_eq!(config.tokens, 8);
        let patch: ConfigPatch = serde_json::from_str(r#"{"error_rate": 2}"#).unwrap();
        assert!(patch.apply(base).is_err());
        assert!(serde_json::from_str::<ConfigPatch>(r#"{"tokenz": 2}"#).is_err());
    }

    #[test]
    fn seeded_error_injection_is_reproducible() {
        let draw = || {
            let state = AppState::new(Config::default(), "m".into(), None, 7).unwrap();
            (0..64).map(|_| state.inject_error(0.5)).collect::<Vec<_>>()
        };
        let first = draw();
        assert_eq!(first, draw());
        assert!(first.iter().any(|x| *x) && first.iter().any(|x| !*x));
    }
}
