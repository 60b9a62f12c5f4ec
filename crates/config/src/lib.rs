//! scif's configuration: `scif.toml` parsed strictly, then `SCIF_*` environment overrides, then
//! validated into [`Config`]. An unknown key is an error naming the file and the key.
//!
//! This crate does no IO beyond reading the one file it is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// The whole configuration. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub engine: EngineConfig,
    pub security: SecurityConfig,
    pub tls: TlsConfig,
    pub oidc: OidcConfig,
    pub audit: AuditConfig,
    pub log: LogConfig,
    /// Settings shared by every remote deployment (retries, health checks, circuit breaker).
    pub gateway: GatewayConfig,
    /// Models served by remote deployments rather than the embedded engine.
    pub remote_models: Vec<RemoteModelConfig>,
    /// Remote OpenAI-compatible backends (vLLM, TGI, llama.cpp server, Ollama) serving the
    /// `remote_models`. Reloaded without a restart (SIGHUP, `POST /admin/v1/config/reload`).
    pub deployments: Vec<DeploymentConfig>,
    /// Rate, concurrency and budget limits. Reloaded with the deployments.
    pub limits: Vec<LimitConfig>,
}

/// How scif treats its remote deployments as a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Retries of one request after a failure that is safe to retry (connect error, 429, 502,
    /// 503 before any token), across deployments of the same tier, then the next tiers.
    pub max_retries: u32,
    /// First backoff between retries; doubled each time, with full jitter.
    pub retry_backoff_ms: u64,
    /// Consecutive failures that open a deployment's circuit.
    pub circuit_failures: u32,
    /// How long an open circuit refuses traffic before one trial request is let through.
    pub circuit_open_secs: u64,
    /// Seconds between active health checks of each deployment; 0: no active checks.
    pub health_check_secs: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            retry_backoff_ms: 25,
            circuit_failures: 5,
            circuit_open_secs: 30,
            health_check_secs: 10,
        }
    }
}

/// A model whose completions come from remote deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteModelConfig {
    /// The name clients ask for.
    pub name: String,
    /// The model's classification label (banner marking): who may use it, and the floor of
    /// every output's label.
    pub label: String,
    /// Handling caveats beyond the label: "itar", "phi".
    #[serde(default)]
    pub handling: Vec<String>,
    /// The context window reported in `/v1/models`; 0 when unknown.
    #[serde(default)]
    pub context_length: u64,
}

/// One backend serving a remote model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Unique name, shown in metrics, usage records and logs.
    pub name: String,
    /// The `remote_models` entry this deployment serves.
    pub model: String,
    /// The protocol spoken: "openai" (OpenAI-compatible chat completions).
    #[serde(default = "default_provider")]
    pub provider: String,
    /// Base URL up to and including the API version, e.g. `http://10.1.2.3:8000/v1`.
    pub url: String,
    /// The model name sent upstream; default: `model`.
    #[serde(default)]
    pub upstream_model: Option<String>,
    /// File holding the upstream's bearer token (never the token itself in this file).
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// Environment variable holding the upstream's bearer token.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// CA bundle (PEM) that an https upstream's certificate must chain to; required for https
    /// (an enclave's backends carry certificates from its own CA, not public roots).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Share of traffic within its tier, relative to the other deployments of the tier.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Fallback tier: tier 0 serves first; a higher tier only when every lower one failed or is
    /// unavailable.
    #[serde(default)]
    pub tier: u32,
    /// The highest label of data that may be sent to this backend (banner marking). Input above
    /// it never reaches it, not even as a fallback.
    pub accreditation: String,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// From sending the request to the first token (or the whole answer, not streamed).
    #[serde(default = "default_first_token_timeout")]
    pub first_token_timeout_ms: u64,
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Path under `url` probed by active health checks.
    #[serde(default = "default_health_path")]
    pub health_path: String,
}

fn default_provider() -> String {
    "openai".into()
}
fn default_weight() -> u32 {
    1
}
fn default_connect_timeout() -> u64 {
    2_000
}
fn default_first_token_timeout() -> u64 {
    60_000
}
fn default_request_timeout() -> u64 {
    600_000
}
fn default_health_path() -> String {
    "/models".into()
}

/// A limit on requests, tokens or concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Unique name, returned to a caller who is over it.
    pub name: String,
    /// What is counted: "principal", "key" (API key or SigV4 access key), "group" or "model".
    pub scope: String,
    /// The one principal, key, group or model the limit applies to; absent: each one
    /// separately (every principal has its own allowance).
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Prompt plus completion tokens.
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub concurrent: Option<u64>,
    /// Budget per UTC calendar day.
    #[serde(default)]
    pub tokens_per_day: Option<u64>,
    /// Budget per UTC calendar month.
    #[serde(default)]
    pub tokens_per_month: Option<u64>,
}

/// A classification marking (banner form), parsed when the configuration is read, so that
/// every consumer holds a [`scif_labels::Label`] and none parses (or falls back) again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marking(scif_labels::Label);

impl Marking {
    pub fn parse(banner: &str) -> Result<Marking, scif_labels::MarkingError> {
        scif_labels::Label::parse_banner(banner).map(Marking)
    }

    pub fn label(&self) -> &scif_labels::Label {
        &self.0
    }
}

impl From<scif_labels::Label> for Marking {
    fn from(l: scif_labels::Label) -> Self {
        Marking(l)
    }
}

impl Serialize for Marking {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.banner())
    }
}

impl<'de> Deserialize<'de> for Marking {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Marking::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("not a valid banner marking: {e}")))
    }
}

/// A marking that may be left empty (`""`: not set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionalMarking(Option<Marking>);

impl OptionalMarking {
    pub fn label(&self) -> Option<&scif_labels::Label> {
        self.0.as_ref().map(Marking::label)
    }
}

impl Serialize for OptionalMarking {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(m) => m.serialize(s),
            None => s.serialize_str(""),
        }
    }
}

impl<'de> Deserialize<'de> for OptionalMarking {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(OptionalMarking(None));
        }
        Marking::parse(&text)
            .map(|m| OptionalMarking(Some(m)))
            .map_err(|e| serde::de::Error::custom(format!("not a valid banner marking: {e}")))
    }
}

/// When an audit event counts as recorded (`audit.durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// On disk (fsync'd) before it is acknowledged; concurrent events share one fsync.
    #[default]
    Fsync,
    /// Acknowledged once written; fsync'd every `audit.flush_interval_ms`.
    Interval,
}

/// What of prompts and completions the audit trail records (`audit.prompts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptRecording {
    #[default]
    None,
    Sha256,
    Full,
}

/// Client certificates (`tls.client_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    None,
    Optional,
    Required,
}

impl std::fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        })
    }
}

/// Log output (`log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The audit trail: append-only, hash-chained, signed segments in a directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Directory of the segment files and the signing key; empty: `<data_dir>/audit`.
    pub dir: String,
    /// Name of this node in every record; empty: the host name.
    pub node: String,
    /// "fsync": an event is on disk before the response it describes is sent (concurrent
    /// requests share one fsync). "interval": acknowledged once written, fsync'd every
    /// `flush_interval_ms`; a power loss may lose that much acknowledged history.
    pub durability: Durability,
    /// With durability = "interval", the longest time between fsyncs.
    pub flush_interval_ms: u64,
    /// Start a new segment above this size.
    pub segment_max_mb: u64,
    /// Start a new segment after this long.
    pub segment_max_age_hours: u64,
    /// Sign a checkpoint after this many events...
    pub checkpoint_every_events: u64,
    /// ...or this many seconds, whichever comes first.
    pub checkpoint_every_secs: u64,
    /// What of prompts and completions is recorded: "none", "sha256", or "full" (the text, for
    /// sites whose rules require it).
    pub prompts: PromptRecording,
    /// The trail's public key (64 hex digits), pinned: what `scif audit verify` trusts. Keep
    /// it where the host's administrator cannot change it (configuration management); a key
    /// read from the data directory proves nothing against someone who can rewrite the trail.
    pub public_key: String,
    /// Directory of the signing key pair; empty: `<data_dir>/secrets`. Outside the data
    /// directory (another volume, a mounted secret) the key is not copied with the data; its
    /// private key file must be readable by its owner only, or scif refuses to start.
    pub key_dir: String,
    /// The witness that co-signs this node's checkpoints (`scif audit witness` on another
    /// host), as `http://host:port`; empty: none.
    pub witness_url: String,
    /// The witness's name and public key (hex), as `scif audit witness` prints them.
    pub witness_name: String,
    pub witness_key: String,
    /// Fail closed: refuse requests (and report not ready) while the witness has not
    /// co-signed for `witness_max_lag_secs`; otherwise keep serving and report it.
    pub witness_required: bool,
    pub witness_max_lag_secs: u64,
    /// How often connections refused below HTTP (no request, so no event of their own) are
    /// summarized in one audit event, when there were any.
    pub refused_summary_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            dir: String::new(),
            node: String::new(),
            durability: Durability::Fsync,
            flush_interval_ms: 50,
            segment_max_mb: 64,
            segment_max_age_hours: 24,
            checkpoint_every_events: 1000,
            checkpoint_every_secs: 60,
            prompts: PromptRecording::None,
            public_key: String::new(),
            key_dir: String::new(),
            witness_url: String::new(),
            witness_name: String::new(),
            witness_key: String::new(),
            witness_required: false,
            witness_max_lag_secs: 30,
            refused_summary_secs: 60,
        }
    }
}

/// TLS for the listener, and client certificates (mTLS) as an identity source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Server certificate chain (PEM). Empty: serve plain HTTP (only sensible on loopback or
    /// behind a TLS-terminating proxy inside the enclave).
    pub cert_file: String,
    /// Server private key (PEM).
    pub key_file: String,
    /// CA bundle (PEM) that client certificates must chain to.
    pub client_ca_file: String,
    /// Certificate revocation lists (PEM or DER); a revoked client certificate fails the
    /// handshake.
    pub crl_files: Vec<String>,
    /// "none", "optional" (verified when sent; callers may use API keys or tokens instead) or
    /// "required" (no connection without a valid client certificate).
    pub client_auth: ClientAuth,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: String::new(),
            key_file: String::new(),
            client_ca_file: String::new(),
            crl_files: Vec::new(),
            client_auth: ClientAuth::None,
        }
    }
}

/// OIDC/JWT bearer tokens as an identity source. Keys come from a JWKS file: an air-gapped
/// site has no identity provider to fetch them from at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// Required `iss`. Empty: OIDC is off.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// JWKS file holding the issuer's public keys (RS256, ES256, EdDSA).
    pub jwks_file: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Claim naming the principal.
    pub subject_claim: String,
    /// Claim holding the clearance as a banner marking; empty or absent: UNCLASSIFIED.
    pub clearance_claim: String,
    /// Claim holding the ISO 3166 trigraph nationality; empty or absent: none.
    pub nationality_claim: String,
    /// Boolean claim for US-person status; empty or absent: false.
    pub us_person_claim: String,
    /// Claim holding a list of groups (and releasability groups such as FVEY).
    pub groups_claim: String,
    /// Claim holding a list of accesses such as PHI.
    pub accesses_claim: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            jwks_file: String::new(),
            leeway_secs: 60,
            subject_claim: "sub".into(),
            clearance_claim: String::new(),
            nationality_claim: String::new(),
            us_person_claim: String::new(),
            groups_claim: String::new(),
            accesses_claim: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// The highest label of data this deployment is accredited for, as a banner marking
    /// (e.g. "SECRET//NOFORN"). Models labelled above it are refused at import and at start.
    pub system_high: Marking,
    /// The label of a request's input when the caller declares none (`x-scif-input-label`).
    /// Empty: the caller's clearance, the conservative choice.
    pub default_input_label: OptionalMarking,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            system_high: Marking(scif_labels::Label::unclassified()),
            default_input_label: OptionalMarking::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Seconds that in-flight requests get to finish after SIGTERM before they are cancelled.
    pub shutdown_grace_secs: u64,
    /// Seconds a client should wait before retrying when the queue is full (Retry-After).
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory holding the database and imported models.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Threads for the local engine's kernels; 0 means one per available core.
    pub threads: usize,
    /// Most sequences decoded together in one step.
    pub max_batch: usize,
    /// Requests waiting beyond the running batch; more are refused with 429.
    pub max_queue: usize,
    /// Most prompt tokens processed per step (chunked prefill).
    pub prefill_chunk: usize,
    /// Cap on a sequence's tokens (prompt plus completion); 0 means the model's own limit.
    pub max_context: usize,
    /// MiB of KV cache that running sequences and the prefix cache may hold together, per
    /// model. A request waits for admission until the cache it can grow to fits.
    pub kv_budget_mb: usize,
    /// MiB of that budget the prefix cache may keep (0 turns prefix caching off).
    pub prefix_cache_mb: usize,
    /// Models to load at start, by registry name; empty means every imported model.
    pub models: Vec<String>,
    /// Numeric form of embedding models' weights: "f32" (as shipped) or "q8" (8-bit blocks on
    /// the integer kernels).
    pub embedding_precision: EmbeddingPrecision,
    /// Most tokens one encoder pass batches from concurrent embedding requests.
    pub embedding_batch_tokens: usize,
}

/// `engine.embedding_precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingPrecision {
    /// The default: on this engine's AVX2 kernels it is also the faster (BENCHMARKS.md).
    #[default]
    F32,
    Q8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter directive, e.g. "info" or "scif_server=debug".
    pub level: String,
    /// "text" or "json".
    pub format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 4 * 1024 * 1024,
            shutdown_grace_secs: 10,
            retry_after_secs: 1,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./scif-data"),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            max_batch: 16,
            max_queue: 64,
            prefill_chunk: 256,
            max_context: 4096,
            kv_budget_mb: 2048,
            prefix_cache_mb: 256,
            models: Vec::new(),
            embedding_precision: EmbeddingPrecision::default(),
            embedding_batch_tokens: 8192,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Short environment names kept for the most common settings.
const ALIASES: &[(&str, &str)] = &[
    ("SCIF_LISTEN", "server.listen"),
    ("SCIF_DATA_DIR", "storage.data_dir"),
];

impl Config {
    /// Load `path` (if given), apply `SCIF_*` overrides from `env`, and validate.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (name, text) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                (p.display().to_string(), text)
            }
            None => ("<defaults>".to_string(), String::new()),
        };
        Self::from_toml(&name, &text, env)
    }

    pub fn from_toml(
        name: &str,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: name.to_string(),
            message,
        };
        // Strict parse of the file alone first, so errors name the file's own keys.
        let _: Config = toml::from_str(text)
            .map_err(|e| parse_err(e.message().to_string() + &location(text, e.span())))?;
        let mut value: toml::Table = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
        let known = Self::keys();
        for (var, raw) in env {
            let Some(key) = env_key(&var, &known) else {
                continue;
            };
            set_path(&mut value, &key, &raw, &var)?;
        }
        let cfg: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Env {
                var: "SCIF_*".into(),
                message: e.message().to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Every dotted key the configuration has, e.g. `server.listen`.
    pub fn keys() -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(toml::Value::Table(t)) = toml::Value::try_from(Config::default()) {
            for (section, v) in t {
                if let toml::Value::Table(inner) = v {
                    out.extend(inner.keys().map(|k| format!("{section}.{k}")));
                }
            }
        }
        out
    }

    /// Check every value; `load` calls it, and so must anyone who changes a loaded config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return invalid(
                "server.listen",
                "expected an address such as 127.0.0.1:8080",
            );
        }
        if self.server.max_body_bytes == 0 {
            return invalid("server.max_body_bytes", "must be at least 1");
        }
        if self.engine.max_batch == 0 {
            return invalid("engine.max_batch", "must be at least 1");
        }
        if self.engine.kv_budget_mb == 0 {
            return invalid("engine.kv_budget_mb", "must be at least 1");
        }
        if self.engine.embedding_batch_tokens < 512 {
            return invalid(
                "engine.embedding_batch_tokens",
                "must be at least 512 (two inputs of the longest kind)",
            );
        }
        if self.engine.prefill_chunk == 0 {
            return invalid("engine.prefill_chunk", "must be at least 1");
        }
        if let Some(l) = self.security.default_input_label.label() {
            if !self.system_high().dominates(l) {
                return invalid(
                    "security.default_input_label",
                    "is above security.system_high",
                );
            }
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            return invalid(
                "tls.cert_file",
                "tls.cert_file and tls.key_file are set together",
            );
        }
        if self.tls.client_auth != ClientAuth::None && self.tls.cert_file.is_empty() {
            return invalid("tls.client_auth", "client certificates need tls.cert_file");
        }
        if self.tls.client_auth != ClientAuth::None && self.tls.client_ca_file.is_empty() {
            return invalid(
                "tls.client_ca_file",
                "client certificates need a CA bundle to verify them against",
            );
        }
        if !self.oidc.issuer.is_empty()
            && (self.oidc.audience.is_empty() || self.oidc.jwks_file.is_empty())
        {
            return invalid(
                "oidc.issuer",
                "OIDC needs oidc.audience and oidc.jwks_file as well",
            );
        }
        if self.audit.segment_max_mb == 0 || self.audit.checkpoint_every_events == 0 {
            return invalid(
                "audit.segment_max_mb",
                "audit.segment_max_mb and audit.checkpoint_every_events must be at least 1",
            );
        }
        self.validate_gateway()
    }

    /// The remote models, deployments and limits: also what a reload checks before it replaces
    /// the running set.
    pub fn validate_gateway(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| Err(ConfigError::Invalid { key, message });
        let banner = |key: String, text: &str| -> Result<scif_labels::Label, ConfigError> {
            scif_labels::Label::parse_banner(text).map_err(|e| ConfigError::Invalid {
                key,
                message: format!("not a valid banner marking: {e}"),
            })
        };
        let system_high = self.system_high();
        let mut names = std::collections::BTreeSet::new();
        for (i, m) in self.remote_models.iter().enumerate() {
            let key = format!("remote_models[{i}]");
            if m.name.is_empty() || !names.insert(m.name.as_str()) {
                return invalid(format!("{key}.name"), "must be present and unique".into());
            }
            let label = banner(format!("{key}.label"), &m.label)?;
            if !system_high.dominates(&label) {
                return invalid(
                    format!("{key}.label"),
                    "is above security.system_high".into(),
                );
            }
            for h in &m.handling {
                if !matches!(h.as_str(), "itar" | "phi") {
                    return invalid(
                        format!("{key}.handling"),
                        format!("unknown caveat {h:?}; expected \"itar\" or \"phi\""),
                    );
                }
            }
            if !self.deployments.iter().any(|d| d.model == m.name) {
                return invalid(
                    format!("{key}.name"),
                    format!("no deployment serves the remote model {:?}", m.name),
                );
            }
        }
        let mut deployment_names = std::collections::BTreeSet::new();
        for (i, d) in self.deployments.iter().enumerate() {
            let key = format!("deployments[{i}]");
            if d.name.is_empty() || !deployment_names.insert(d.name.as_str()) {
                return invalid(format!("{key}.name"), "must be present and unique".into());
            }
            if !names.contains(d.model.as_str()) {
                return invalid(
                    format!("{key}.model"),
                    format!("{:?} is not a remote_models entry", d.model),
                );
            }
            if d.provider != "openai" {
                return invalid(
                    format!("{key}.provider"),
                    format!("unknown provider {:?}; expected \"openai\"", d.provider),
                );
            }
            if !(d.url.starts_with("http://") || d.url.starts_with("https://")) {
                return invalid(
                    format!("{key}.url"),
                    "expected an http:// or https:// URL".into(),
                );
            }
            if d.url.starts_with("https://") && d.ca_file.is_none() {
                return invalid(
                    format!("{key}.ca_file"),
                    "an https deployment needs the CA bundle its certificate chains to".into(),
                );
            }
            if d.api_key_file.is_some() && d.api_key_env.is_some() {
                return invalid(
                    format!("{key}.api_key_file"),
                    "set api_key_file or api_key_env, not both".into(),
                );
            }
            if d.weight == 0 {
                return invalid(format!("{key}.weight"), "must be at least 1".into());
            }
            if d.connect_timeout_ms == 0
                || d.first_token_timeout_ms == 0
                || d.request_timeout_ms == 0
            {
                return invalid(key.clone(), "timeouts must be at least 1 ms".into());
            }
            banner(format!("{key}.accreditation"), &d.accreditation)?;
        }
        let mut limit_names = std::collections::BTreeSet::new();
        for (i, l) in self.limits.iter().enumerate() {
            let key = format!("limits[{i}]");
            if l.name.is_empty() || !limit_names.insert(l.name.as_str()) {
                return invalid(format!("{key}.name"), "must be present and unique".into());
            }
            if !matches!(l.scope.as_str(), "principal" | "key" | "group" | "model") {
                return invalid(
                    format!("{key}.scope"),
                    "expected \"principal\", \"key\", \"group\" or \"model\"".into(),
                );
            }
            let quantities = [
                l.requests_per_minute,
                l.tokens_per_minute,
                l.concurrent,
                l.tokens_per_day,
                l.tokens_per_month,
            ];
            if quantities.iter().all(Option::is_none) {
                return invalid(
                    key.clone(),
                    "sets none of requests_per_minute, tokens_per_minute, concurrent, tokens_per_day, tokens_per_month".into(),
                );
            }
            if quantities.contains(&Some(0)) {
                return invalid(
                    key.clone(),
                    "a limit of 0 would refuse everything; remove the principal's access instead"
                        .into(),
                );
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.server
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The audit trail's directory.
    pub fn audit_dir(&self) -> PathBuf {
        if self.audit.dir.is_empty() {
            self.storage.data_dir.join("audit")
        } else {
            PathBuf::from(&self.audit.dir)
        }
    }

    /// The deployment's system high (parsed at load: there is no fallback).
    pub fn system_high(&self) -> scif_labels::Label {
        self.security.system_high.label().clone()
    }

    /// The label of an undeclared input; `None`: the caller's clearance.
    pub fn default_input_label(&self) -> Option<scif_labels::Label> {
        self.security.default_input_label.label().cloned()
    }

    /// Kernel threads, resolving 0 to the available cores.
    pub fn engine_threads(&self) -> usize {
        match self.engine.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

/// `SCIF_SERVER_LISTEN` -> `server.listen`; aliases too. Names that match no key are ignored.
fn env_key(var: &str, known: &[String]) -> Option<String> {
    if let Some((_, k)) = ALIASES.iter().find(|(a, _)| *a == var) {
        return Some(k.to_string());
    }
    let rest = var.strip_prefix("SCIF_")?.to_ascii_lowercase();
    known
        .iter()
        .find(|k| k.replacen('.', "_", 1) == rest)
        .cloned()
}

fn set_path(root: &mut toml::Table, key: &str, raw: &str, var: &str) -> Result<(), ConfigError> {
    let (section, field) = key.split_once('.').unwrap_or(("", key));
    let table = root
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(table) = table else {
        return Err(ConfigError::Env {
            var: var.into(),
            message: format!("[{section}] is not a table"),
        });
    };
    // Typed values (numbers, booleans, arrays) parse as TOML; anything else is a string.
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let expected_string = matches!(
        toml::Value::try_from(Config::default())
            .ok()
            .and_then(|v| v.get(section)?.get(field).cloned()),
        Some(toml::Value::String(_))
    );
    let value = if expected_string {
        toml::Value::String(raw.to_string())
    } else {
        value
    };
    table.insert(field.to_string(), value);
    Ok(())
}

/// Where in the file an error is: its line and, when the line sets a key, the dotted key
/// (`security.system_high`), found from the line and the section header above it.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(r) = span else {
        return String::new();
    };
    let at = r.start.min(text.len());
    let line = text[..at].matches('\n').count() + 1;
    let this = text.lines().nth(line - 1).unwrap_or("");
    let key = this
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty());
    let section = text[..at]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    match (key, section) {
        (Some(k), Some(s)) if !k.contains('.') => format!(" (line {line}, key {s}.{k})"),
        (Some(k), _) => format!(" (line {line}, key {k})"),
        _ => format!(" (line {line})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(
            Config::from_toml("scif.toml", "", env(&[])).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = Config::from_toml(
            "scif.toml",
            "[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 3\n",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("scif.toml") && err.contains("listen_port") && err.contains("line 3"),
            "{err}"
        );
        let err = Config::from_toml("scif.toml", "[servr]\n", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("servr"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let err = Config::from_toml("scif.toml", "[engine]\nmax_batch = \"lots\"\n", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("scif.toml") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn environment_overrides_file() {
        let cfg = Config::from_toml(
            "scif.toml",
            "[engine]\nmax_batch = 4\n",
            env(&[
                ("SCIF_ENGINE_MAX_BATCH", "8"),
                ("SCIF_LISTEN", "127.0.0.1:9999"),
                ("SCIF_DATA_DIR", "/tmp/x"),
                ("SCIF_UNRELATED", "1"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.engine.max_batch, 8);
        assert_eq!(cfg.server.listen, "127.0.0.1:9999");
        assert_eq!(cfg.storage.data_dir, PathBuf::from("/tmp/x"));
        let cfg = Config::from_toml(
            "",
            "",
            env(&[
                ("SCIF_ENGINE_MODELS", "[\"a\", \"b\"]"),
                ("SCIF_LOG_LEVEL", "debug"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.engine.models, vec!["a", "b"]);
        assert_eq!(cfg.log.level, "debug");
    }

    #[test]
    fn the_loaded_configuration_is_typed() {
        let cfg = Config::from_toml(
            "scif.toml",
            "[security]\nsystem_high = \"SECRET//NOFORN\"\ndefault_input_label = \"CONFIDENTIAL\"\n\
             [audit]\nprompts = \"sha256\"\ndurability = \"interval\"\n[log]\nformat = \"json\"",
            env(&[("SCIF_TLS_CLIENT_AUTH", "none")]),
        )
        .unwrap();
        assert_eq!(
            cfg.system_high(),
            scif_labels::Label::parse_banner("SECRET//NOFORN").unwrap()
        );
        assert_eq!(
            cfg.default_input_label(),
            Some(scif_labels::Label::parse_banner("CONFIDENTIAL").unwrap())
        );
        assert_eq!(cfg.audit.prompts, PromptRecording::Sha256);
        assert_eq!(cfg.audit.durability, Durability::Interval);
        assert_eq!(cfg.log.format, LogFormat::Json);
        // Empty means unset, never a fallback label.
        let cfg = Config::from_toml(
            "scif.toml",
            "[security]\ndefault_input_label = \"\"",
            env(&[]),
        )
        .unwrap();
        assert_eq!(cfg.default_input_label(), None);
        for (toml, key) in [
            ("[audit]\nprompts = \"all\"", "audit.prompts"),
            ("[tls]\nclient_auth = \"maybe\"", "tls.client_auth"),
            (
                "[security]\ndefault_input_label = \"SECRETT\"",
                "security.default_input_label",
            ),
        ] {
            let err = Config::from_toml("scif.toml", toml, env(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
        let err = Config::from_toml(
            "scif.toml",
            "",
            env(&[("SCIF_SECURITY_SYSTEM_HIGH", "SECRETT")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a valid banner marking"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (toml, key) in [
            ("[server]\nlisten = \"nowhere\"", "server.listen"),
            ("[engine]\nmax_batch = 0", "engine.max_batch"),
            ("[log]\nformat = \"xml\"", "log.format"),
            (
                "[security]\nsystem_high = \"SECRETT\"",
                "security.system_high",
            ),
        ] {
            let err = Config::from_toml("scif.toml", toml, env(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
        let err = Config::from_toml("scif.toml", "", env(&[("SCIF_ENGINE_MAX_BATCH", "many")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SCIF_"), "{err}");
    }
}
