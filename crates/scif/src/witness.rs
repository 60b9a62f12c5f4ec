//! `scif audit witness`: the witness as an HTTP service (another host in practice), and the
//! node's side: a task that sends each new checkpoint to the witness with a consistency proof
//! and keeps the cosignatures beside the trail. See `scif_audit::witness` for the protocol.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use scif_audit::witness::{self, Witness, WitnessError, WitnessStatus};
use scif_config::Config;

/// The file beside the segments that keeps the witness's cosignatures, one JSON line each.
pub const COSIGNATURES_FILE: &str = "witness-cosignatures.jsonl";

type Shared = Arc<Mutex<Witness>>;

fn lock(w: &Shared) -> std::sync::MutexGuard<'_, Witness> {
    match w.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Runs the witness until interrupted.
pub async fn serve(listen: &str, dir: &Path, name: &str, origins: &[String]) -> anyhow::Result<()> {
    let mut known = BTreeMap::new();
    for o in origins {
        let (origin, key) = o
            .rsplit_once('=')
            .context("--origin takes ORIGIN=PUBLIC_KEY_HEX (the node's `scif audit pubkey`)")?;
        let key = scif_audit::parse_public_key_hex(key.trim()).context("--origin")?;
        known.insert(origin.to_owned(), key);
    }
    let w = Witness::open(dir, name, known).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::out(format!(
        "scif audit witness {name}: public key {}",
        hex::encode(w.public_key().to_bytes())
    ));
    let shared: Shared = Arc::new(Mutex::new(w));
    let app = Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/latest", get(latest))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(listen = %listener.local_addr()?, "audit witness serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn add_checkpoint(State(w): State<Shared>, body: String) -> (StatusCode, String) {
    let (old, proof, note) = match witness::decode_submission(&body) {
        Ok(s) => s,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let res =
        tokio::task::spawn_blocking(move || lock(&w).add_checkpoint(old, &proof, &note, now)).await;
    match res {
        Ok(Ok(line)) => (StatusCode::OK, line),
        Ok(Err(WitnessError::Conflict(size))) => (StatusCode::CONFLICT, format!("{size}\n")),
        Ok(Err(e @ (WitnessError::UnknownOrigin(_) | WitnessError::BadSignature))) => {
            (StatusCode::FORBIDDEN, format!("{e}\n"))
        }
        Ok(Err(e @ WitnessError::Inconsistent(_))) => {
            tracing::warn!(error = %e, "refused an inconsistent checkpoint");
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n"))
        }
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into()),
    }
}

#[derive(serde::Deserialize)]
struct LatestQuery {
    origin: String,
}

/// The latest checkpoint the witness co-signed for an origin (for `verify --witness-url`).
async fn latest(State(w): State<Shared>, Query(q): Query<LatestQuery>) -> (StatusCode, String) {
    let w = lock(&w);
    match w.held(&q.origin) {
        Some(h) => (
            StatusCode::OK,
            serde_json::json!({"size": h.size, "note": h.note}).to_string(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            "no checkpoint for that origin\n".into(),
        ),
    }
}

/// One stored cosignature.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Cosigned {
    pub size: u64,
    pub note: String,
    pub witness: String,
    pub cosignature: String,
}

/// The node side: from the configuration, a status for readyz and metrics and the task that
/// submits checkpoints. `None` when no witness is configured.
pub fn start(
    cfg: &Config,
    trail: &scif_audit::Trail,
) -> anyhow::Result<Option<(Arc<WitnessStatus>, tokio::task::JoinHandle<()>)>> {
    let a = &cfg.audit;
    if a.witness_url.is_empty() {
        return Ok(None);
    }
    anyhow::ensure!(
        !a.witness_name.is_empty() && !a.witness_key.is_empty(),
        "audit.witness_url needs audit.witness_name and audit.witness_key"
    );
    let key =
        scif_audit::parse_public_key_hex(a.witness_key.trim()).context("audit.witness_key")?;
    let status = Arc::new(WitnessStatus::new(
        a.witness_required,
        Duration::from_secs(a.witness_max_lag_secs.max(1)),
    ));
    let submitter = Submitter {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
        url: format!("{}/add-checkpoint", a.witness_url.trim_end_matches('/')),
        dir: cfg.audit_dir(),
        name: a.witness_name.clone(),
        key,
        trail: trail.clone(),
    };
    let task = tokio::spawn(submitter.run(status.clone()));
    Ok(Some((status, task)))
}

/// The last size the witness co-signed, as the node recorded it.
fn last_cosigned(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join(COSIGNATURES_FILE))
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Cosigned>(l).ok())
        })
        .map_or(0, |c| c.size)
}

/// Sends the trail's checkpoints to the witness.
struct Submitter {
    client: reqwest::Client,
    url: String,
    dir: PathBuf,
    name: String,
    key: scif_audit::VerifyingKey,
    /// The latest signed note comes from the writer, not from reading the segments.
    trail: scif_audit::Trail,
}

struct Retry(Option<u64>, String);

impl Submitter {
    async fn run(self, status: Arc<WitnessStatus>) {
        // What the witness holds, and whether this node saw it co-signed (else it was only
        // told the size, and must still show the witness that its tree of that size is the
        // same).
        let mut held = last_cosigned(&self.dir);
        let mut confirmed = true;
        loop {
            match self.submit_once(held, confirmed).await {
                Ok(Some(size)) => {
                    held = size;
                    confirmed = true;
                    status.cosigned(size);
                }
                Ok(None) => status.up_to_date(),
                Err(Retry(size, why)) => {
                    if let Some(s) = size {
                        held = s;
                        confirmed = false;
                    }
                    tracing::warn!(error = %why, "audit witness submission failed");
                    status.failed(why);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Sends the latest checkpoint if the witness has not co-signed it; `Ok(Some(size))` when
    /// it now has, `Ok(None)` when there was nothing new.
    async fn submit_once(&self, held: u64, confirmed: bool) -> Result<Option<u64>, Retry> {
        let err = |e: String| Retry(None, e);
        let Some((size, note)) = self.trail.latest_tree_note() else {
            return Ok(None);
        };
        if size < held {
            return Err(err(format!(
                "the witness has co-signed {held} records and this trail's latest checkpoint \
                 covers {size}: cut short or rolled back"
            )));
        }
        if size == held && confirmed {
            return Ok(None);
        }
        let proof = if held == 0 {
            Vec::new()
        } else {
            let d = self.dir.clone();
            let p = tokio::task::spawn_blocking(move || scif_audit::consistency(&d, held, size))
                .await
                .map_err(|e| err(e.to_string()))?
                .map_err(|e| {
                    err(format!(
                        "the witness holds size {held}, which this trail cannot prove it \
                         extends ({e}): rolled back or forked?"
                    ))
                })?;
            p.proof
                .iter()
                .filter_map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
                .collect()
        };
        let body = witness::encode_submission(held, &proof, &note);
        let resp = self
            .client
            .post(&self.url)
            .body(body)
            .send()
            .await
            .map_err(|e| err(format!("cannot reach the witness: {e}")))?;
        let code = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if code == reqwest::StatusCode::CONFLICT {
            let theirs = text.trim().parse().ok();
            return Err(Retry(
                theirs,
                format!("the witness holds size {}", text.trim()),
            ));
        }
        if !code.is_success() {
            return Err(err(format!(
                "the witness refused ({code}): {}",
                text.trim()
            )));
        }
        let (dir, name, key) = (&self.dir, &self.name, &self.key);
        let parsed =
            scif_audit::merkle::Note::parse(&note).ok_or_else(|| err("bad note".into()))?;
        if !witness::verify_cosignature(name, key, &parsed, &text) {
            return Err(err("the witness's answer is not its cosignature".into()));
        }
        let line = serde_json::to_string(&Cosigned {
            size,
            note,
            witness: name.to_owned(),
            cosignature: text,
        })
        .map_err(|e| err(e.to_string()))?;
        let path = dir.join(COSIGNATURES_FILE);
        let write = move || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            f.write_all(line.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_data()
        };
        tokio::task::spawn_blocking(write)
            .await
            .map_err(|e| err(e.to_string()))?
            .map_err(|e| err(format!("cannot keep the cosignature: {e}")))?;
        Ok(Some(size))
    }
}
