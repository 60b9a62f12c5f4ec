//! One backend: its settings, its HTTP client, and what scif has learned about it (requests in
//! flight, latency, health, circuit).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::HeaderValue;
use scif_config::DeploymentConfig;
use scif_labels::Label;
use serde::Serialize;

use crate::GatewayError;

/// Milliseconds since the first call, on a monotonic clock.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// A circuit breaker: after `threshold` consecutive failures the deployment gets no traffic for
/// `open_for`; then one trial request is let through (half open), whose outcome closes the
/// circuit or opens it again.
pub(crate) struct Breaker {
    failures: AtomicU32,
    /// 0 while closed; otherwise when the open period ends.
    open_until_ms: AtomicU64,
    trial: AtomicBool,
    threshold: u32,
    open_for_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            trial: AtomicBool::new(false),
            threshold: threshold.max(1),
            open_for_ms: open_for.as_millis() as u64,
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        match self.open_until_ms.load(Ordering::Acquire) {
            0 => CircuitState::Closed,
            until if now_ms() < until => CircuitState::Open,
            _ => CircuitState::HalfOpen,
        }
    }

    /// Whether a request could be sent now (without taking the half-open trial).
    pub(crate) fn available(&self) -> bool {
        match self.state() {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen => !self.trial.load(Ordering::Acquire),
        }
    }

    /// Takes permission to send one request; in the half-open state only one caller gets it.
    pub(crate) fn acquire(&self) -> bool {
        match self.state() {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen => self
                .trial
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
        }
    }

    pub(crate) fn success(&self) {
        self.failures.store(0, Ordering::Release);
        if self.open_until_ms.load(Ordering::Acquire) != 0 {
            self.open_until_ms.store(0, Ordering::Release);
            self.trial.store(false, Ordering::Release);
        }
    }

    /// The request holding the half-open trial ended without a verdict (the caller went
    /// away): let the next request be the trial.
    pub(crate) fn abandon(&self) {
        self.trial.store(false, Ordering::Release);
    }

    pub(crate) fn failure(&self) {
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let trial_failed = self.trial.swap(false, Ordering::AcqRel);
        if trial_failed || n >= self.threshold {
            self.open_until_ms
                .store(now_ms() + self.open_for_ms.max(1), Ordering::Release);
        }
    }
}

pub(crate) struct Deployment {
    pub(crate) cfg: DeploymentConfig,
    pub(crate) accreditation: Label,
    /// Parsed once: reqwest would parse a string on every request.
    pub(crate) chat_url: reqwest::Url,
    pub(crate) health_url: String,
    pub(crate) upstream_model: String,
    pub(crate) auth: Option<HeaderValue>,
    pub(crate) client: reqwest::Client,
    pub(crate) breaker: Breaker,
    pub(crate) healthy: AtomicBool,
    pub(crate) outstanding: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// Time to first token, exponentially weighted, in microseconds.
    pub(crate) ewma_us: AtomicU64,
}

/// A deployment as `GET /admin/v1/deployments` and the metrics show it.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentStatus {
    pub name: String,
    pub model: String,
    pub tier: u32,
    pub weight: u32,
    pub accreditation: String,
    pub healthy: bool,
    pub circuit: CircuitState,
    pub outstanding: u64,
    pub requests: u64,
    pub failures: u64,
    pub latency_ewma_ms: f64,
}

impl Deployment {
    /// `auth` is the `Authorization` value built from the deployment's credential, if any.
    pub(crate) fn new(
        cfg: &DeploymentConfig,
        settings: &scif_config::GatewayConfig,
        auth: Option<HeaderValue>,
    ) -> Result<Self, GatewayError> {
        let accreditation = Label::parse_banner(&cfg.accreditation).map_err(|e| {
            GatewayError::Invalid(format!("deployment {}: accreditation: {e}", cfg.name))
        })?;
        let base = cfg.url.trim_end_matches('/');
        let chat_url = reqwest::Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| GatewayError::Invalid(format!("deployment {}: url: {e}", cfg.name)))?;
        let client = client(cfg)?;
        Ok(Self {
            accreditation,
            chat_url,
            health_url: format!("{base}{}", cfg.health_path),
            upstream_model: cfg
                .upstream_model
                .clone()
                .unwrap_or_else(|| cfg.model.clone()),
            auth,
            client,
            breaker: Breaker::new(
                settings.circuit_failures,
                Duration::from_secs(settings.circuit_open_secs),
            ),
            healthy: AtomicBool::new(true),
            outstanding: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            ewma_us: AtomicU64::new(0),
            cfg: cfg.clone(),
        })
    }

    /// Whether it may get a request carrying `input` now.
    pub(crate) fn eligible(&self, input: &Label) -> bool {
        self.accreditation.dominates(input)
            && self.healthy.load(Ordering::Acquire)
            && self.breaker.available()
    }

    pub(crate) fn observe_latency(&self, d: Duration) {
        let sample = d.as_micros() as u64;
        let old = self.ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 4 + sample) / 5
        };
        self.ewma_us.store(new, Ordering::Relaxed);
    }

    pub(crate) fn status(&self) -> DeploymentStatus {
        DeploymentStatus {
            name: self.cfg.name.clone(),
            model: self.cfg.model.clone(),
            tier: self.cfg.tier,
            weight: self.cfg.weight,
            accreditation: self.accreditation.banner(),
            healthy: self.healthy.load(Ordering::Acquire),
            circuit: self.breaker.state(),
            outstanding: self.outstanding.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            latency_ewma_ms: self.ewma_us.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// One HTTP client (and connection pool) per deployment, so that each has its own connect
/// timeout and, for https, its own trusted CA.
fn client(cfg: &DeploymentConfig) -> Result<reqwest::Client, GatewayError> {
    let invalid = |m: String| GatewayError::Invalid(format!("deployment {}: {m}", cfg.name));
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none());
    // Every client gets its own TLS config trusting only `ca_file` (nothing for http; an https
    // deployment without a CA file is refused at validation). No public roots are ever loaded.
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| invalid(format!("cannot read ca_file {ca}: {e}")))?;
        use rustls_pki_types::pem::PemObject;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| invalid(format!("ca_file {ca}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("ca_file {ca}: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid(format!("ca_file {ca} holds no certificate")));
        }
    } else {
        builder = builder.http1_only();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    builder = builder.use_preconfigured_tls(tls);
    builder
        .build()
        .map_err(|e| invalid(format!("cannot build its HTTP client: {e}")))
}

/// A request in flight to a deployment: counted until dropped, and reported to the circuit
/// breaker once, as a success (the whole answer arrived), a failure, or neither (the caller
/// went away first, which releases a half-open trial).
pub(crate) struct InFlight {
    pub(crate) dep: Arc<Deployment>,
    settled: bool,
}

impl InFlight {
    pub(crate) fn new(dep: Arc<Deployment>) -> Self {
        dep.outstanding.fetch_add(1, Ordering::AcqRel);
        dep.requests.fetch_add(1, Ordering::Relaxed);
        InFlight {
            dep,
            settled: false,
        }
    }

    pub(crate) fn success(&mut self) {
        if !self.settled {
            self.settled = true;
            self.dep.breaker.success();
        }
    }

    pub(crate) fn failure(&mut self) {
        if !self.settled {
            self.settled = true;
            self.dep.failures.fetch_add(1, Ordering::Relaxed);
            self.dep.breaker.failure();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.settled {
            self.dep.breaker.abandon();
        }
        self.dep.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Power of two choices, weighted: two candidates drawn in proportion to their weights, the one
/// with fewer requests in flight per unit of weight wins (the first drawn on a tie, so an idle
/// tier splits traffic by weight).
pub(crate) fn pick<'a>(candidates: &[&'a Arc<Deployment>]) -> Option<&'a Arc<Deployment>> {
    use rand::Rng;
    match candidates.len() {
        0 => None,
        1 => Some(candidates[0]),
        _ => {
            let total: u64 = candidates.iter().map(|d| u64::from(d.cfg.weight)).sum();
            let mut rng = rand::rng();
            let mut draw = |skip: Option<usize>| -> usize {
                let total = total - skip.map_or(0, |i| u64::from(candidates[i].cfg.weight));
                let mut x = rng.random_range(0..total.max(1));
                for (i, d) in candidates.iter().enumerate() {
                    if Some(i) == skip {
                        continue;
                    }
                    let w = u64::from(d.cfg.weight);
                    if x < w {
                        return i;
                    }
                    x -= w;
                }
                candidates.len() - 1
            };
            let a = draw(None);
            let b = draw(Some(a));
            let load = |d: &Deployment| {
                (d.outstanding.load(Ordering::Relaxed) as u128 * 1_000_000)
                    / u128::from(d.cfg.weight)
            };
            if load(candidates[b]) < load(candidates[a]) {
                Some(candidates[b])
            } else {
                Some(candidates[a])
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_half_opens_for_one_trial() {
        let b = Breaker::new(3, Duration::from_millis(30));
        b.failure();
        b.failure();
        assert_eq!(b.state(), CircuitState::Closed);
        b.failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(!b.acquire());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(b.acquire());
        assert!(!b.acquire(), "only one trial at a time");
        b.failure();
        assert_eq!(b.state(), CircuitState::Open, "a failed trial reopens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.acquire());
        b.success();
        assert_eq!(b.state(), CircuitState::Closed);
        b.failure();
        assert_eq!(b.state(), CircuitState::Closed, "the count restarted");
    }
}
