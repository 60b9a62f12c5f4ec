//! The audit trail at start-up, and `scif audit verify|query|export|pubkey`.
//!
//! The CLI reads the trail's files directly and works offline on copied segments. Its reads are
//! those of the host's operator and are not themselves recorded (the running server is the
//! trail's only writer); reads through `GET /admin/v1/audit` are.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use scif_audit::{Durability, Event, Filter, Trail, TrailConfig};
use scif_config::Config;
use scif_server::audit::Auditor;
use scif_server::AppState;

use crate::{load_config, out, CommonArgs};

/// Where the signing key pair lives: beside the API key pepper, not with the segments, so that
/// archiving segments never copies the private key.
fn key_dir(cfg: &Config) -> PathBuf {
    if cfg.audit.key_dir.is_empty() {
        cfg.storage.data_dir.join("secrets")
    } else {
        PathBuf::from(&cfg.audit.key_dir)
    }
}

/// The private key must be its owner's alone (fail closed: a key others can read signs for
/// them too).
fn check_key_permissions(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(scif_audit::PRIVATE_KEY_FILE);
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode() & 0o777;
            anyhow::ensure!(
                mode & 0o077 == 0,
                "{} is readable or writable by others (mode {mode:o}); `chmod 600` it",
                path.display()
            );
        }
    }
    Ok(())
}

fn node_name(cfg: &Config) -> String {
    if !cfg.audit.node.is_empty() {
        return cfg.audit.node.clone();
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "scif".to_owned())
}

/// Refuses to continue a trail that no longer holds the record this node anchored: cut short
/// (a segment truncated or deleted), rolled back to an older copy, or replaced (edited and
/// re-chained). Run before the trail is opened, so nothing is appended to a suspect trail.
/// Returns the anchor, or `None` when this node has none yet (a new install, or the first
/// start after an upgrade).
pub async fn check_anchor(
    cfg: &Config,
    store: &scif_store::Store,
) -> anyhow::Result<Option<scif_store::AuditAnchor>> {
    let node = node_name(cfg);
    let Some(anchor) = store.audit_anchor(&node).await? else {
        return Ok(None);
    };
    let dir = cfg.audit_dir();
    let held = {
        let dir = dir.clone();
        let seq = anchor.seq;
        tokio::task::spawn_blocking(move || scif_audit::record_hash(&dir, seq)).await??
    };
    if held.as_deref() == Some(anchor.hash.as_str()) {
        return Ok(Some(anchor));
    }
    let what = if held.is_none() {
        "does not hold"
    } else {
        "holds a different"
    };
    anyhow::bail!(
        "the audit trail in {} {what} record {} that node {node:?} anchored on {} (hash {}).\n\
         The trail was cut short, rolled back to an older copy, or replaced; scif will not \
         continue it.\n\
         To recover: restore the trail from a copy that holds that record (then `scif audit \
         verify` passes), or, once the cause is understood, accept the trail as it is with \
         `scif audit reanchor --reason \"...\"`, which records the reset in the trail.",
        dir.display(),
        anchor.seq,
        anchor.updated_at,
        anchor.hash
    )
}

/// Keeps this node's anchor at the trail's durable head, off the request path: a task reads
/// the head a few times a second and writes it when it moved. With no anchor yet, adopts the
/// trail as it is and says so in the trail.
pub async fn anchor(
    cfg: &Config,
    auditor: &Auditor,
    store: &scif_store::Store,
    existing: Option<scif_store::AuditAnchor>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let node = node_name(cfg);
    if existing.is_none() {
        let (seq, hash) = auditor.trail.durable_head();
        let mut detail = serde_json::Map::new();
        detail.insert("seq".into(), seq.into());
        detail.insert("hash".into(), hash.clone().into());
        let event = Event {
            time: scif_audit::time::now_rfc3339(),
            action: "audit_anchor_adopted".into(),
            decision: "info".into(),
            principal: Some("scif".into()),
            reasons: vec![if seq == 0 {
                "new_trail"
            } else {
                "no_anchor_found"
            }
            .into()],
            detail,
            ..Default::default()
        };
        auditor
            .append(event)
            .await
            .context("recording the audit anchor's adoption")?;
        store
            .advance_audit_anchor(&node, seq, &hash, &scif_audit::time::now_rfc3339())
            .await?;
    }
    // A changed signing key (rotation, or a replaced key) is recorded in the trail.
    let public = scif_audit::read_public_key(&key_dir(cfg).join(scif_audit::PUBLIC_KEY_FILE))
        .map(|k| hex::encode(k.to_bytes()))
        .context("the audit public key")?;
    let previous = existing
        .as_ref()
        .map(|a| a.public_key.clone())
        .unwrap_or_default();
    if previous != public {
        if !previous.is_empty() {
            let mut detail = serde_json::Map::new();
            detail.insert("previous_public_key".into(), previous.clone().into());
            detail.insert("public_key".into(), public.clone().into());
            let event = Event {
                time: scif_audit::time::now_rfc3339(),
                action: "audit_signing_key_changed".into(),
                decision: "info".into(),
                principal: Some("scif".into()),
                reasons: vec!["key_rotated".into()],
                detail,
                ..Default::default()
            };
            auditor
                .append(event)
                .await
                .context("recording the audit signing key change")?;
            tracing::warn!(previous = %previous, public_key = %public, "the audit signing key changed; recorded in the trail");
        }
        store.set_audit_anchor_key(&node, &public).await?;
    }
    let trail = auditor.trail.clone();
    let store = store.clone();
    Ok(tokio::spawn(async move {
        let mut written = 0u64;
        loop {
            let (seq, hash) = trail.durable_head();
            if seq > written {
                match store
                    .advance_audit_anchor(&node, seq, &hash, &scif_audit::time::now_rfc3339())
                    .await
                {
                    Ok(()) => written = seq,
                    Err(e) => tracing::error!(error = %e, "cannot advance the audit anchor"),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }))
}

/// Connections refused below HTTP (no request, so no event of their own), summarized in one
/// audit event per `audit.refused_summary_secs` when there were any, and once more at shutdown.
pub struct RefusedSummary {
    stats: std::sync::Arc<scif_tls::BelowHttp>,
    auditor: Auditor,
    every: Duration,
    last: tokio::sync::Mutex<[(&'static str, u64); 3]>,
}

impl RefusedSummary {
    pub fn start(
        cfg: &Config,
        auditor: &Auditor,
        stats: std::sync::Arc<scif_tls::BelowHttp>,
    ) -> (std::sync::Arc<RefusedSummary>, tokio::task::JoinHandle<()>) {
        let me = std::sync::Arc::new(RefusedSummary {
            last: tokio::sync::Mutex::new(stats.snapshot()),
            stats,
            auditor: auditor.clone(),
            every: Duration::from_secs(cfg.audit.refused_summary_secs.max(1)),
        });
        let task = {
            let me = me.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(me.every).await;
                    me.flush().await;
                }
            })
        };
        (me, task)
    }

    /// Records what was refused since the last summary, if anything.
    pub async fn flush(&self) {
        let mut last = self.last.lock().await;
        let now = self.stats.snapshot();
        let mut detail = serde_json::Map::new();
        let mut reasons = Vec::new();
        for ((reason, n), (_, before)) in now.iter().zip(last.iter()) {
            if n > before {
                detail.insert((*reason).into(), (n - before).into());
                reasons.push((*reason).to_owned());
            }
        }
        *last = now;
        if reasons.is_empty() {
            return;
        }
        detail.insert("interval_secs".into(), self.every.as_secs().into());
        let event = Event {
            time: scif_audit::time::now_rfc3339(),
            action: "connections_refused".into(),
            decision: "deny".into(),
            reasons,
            detail,
            ..Default::default()
        };
        scif_server::audit::append_logged(&self.auditor, event).await;
    }
}

/// After the trail is closed: the anchor at its final checkpoint.
pub async fn final_anchor(cfg: &Config, trail: &Trail, store: &scif_store::Store) {
    let (seq, hash) = trail.durable_head();
    if let Err(e) = store
        .advance_audit_anchor(
            &node_name(cfg),
            seq,
            &hash,
            &scif_audit::time::now_rfc3339(),
        )
        .await
    {
        tracing::error!(error = %e, "cannot write the final audit anchor");
    }
}

/// Opens (and if need be recovers) the trail; prints the public key on first creation.
pub fn open_trail(cfg: &Config) -> anyhow::Result<Auditor> {
    let keys = key_dir(cfg);
    check_key_permissions(&keys)?;
    let first = !keys.join(scif_audit::PRIVATE_KEY_FILE).exists();
    let key = scif_audit::load_or_create_signing_key(&keys).context("audit signing key")?;
    let public = hex::encode(key.verifying_key().to_bytes());
    if first {
        out(format!(
            "\nscif: created the audit signing key. Its public key (also in {}) verifies the trail \
             offline:\n\n    {public}\n",
            keys.join(scif_audit::PUBLIC_KEY_FILE).display()
        ));
    }
    let a = &cfg.audit;
    let mut tc = TrailConfig::new(cfg.audit_dir(), node_name(cfg));
    tc.max_segment_bytes = a.segment_max_mb.saturating_mul(1024 * 1024);
    tc.max_segment_age = Duration::from_secs(a.segment_max_age_hours.saturating_mul(3600).max(1));
    tc.checkpoint_every_events = a.checkpoint_every_events;
    tc.checkpoint_every = Duration::from_secs(a.checkpoint_every_secs.max(1));
    tc.durability = match a.durability {
        scif_config::Durability::Interval => {
            Durability::FlushEvery(Duration::from_millis(a.flush_interval_ms.max(1)))
        }
        scif_config::Durability::Fsync => Durability::Fsync,
    };
    let (trail, report) = Trail::open(tc, key)
        .with_context(|| format!("audit trail in {}", cfg.audit_dir().display()))?;
    if report.recovered {
        tracing::warn!(truncated_bytes = report.truncated_bytes, last_seq = report.last_seq, recovery_event = ?report.recovery_event_seq, "audit trail recovered after an unclean stop (a torn last record was truncated; earlier records untouched)");
    }
    tracing::info!(dir = %cfg.audit_dir().display(), public_key = %public, last_seq = report.last_seq, durability = ?a.durability, "audit trail open");
    Ok(Auditor {
        trail,
        prompts: a.prompts,
    })
}

/// Records a server lifecycle event and waits for it.
pub async fn lifecycle(auditor: &Auditor, action: &str, state: &AppState) -> anyhow::Result<()> {
    let mut detail = serde_json::Map::new();
    detail.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    detail.insert(
        "models".into(),
        state
            .providers
            .models()
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
            .into(),
    );
    detail.insert(
        "system_high".into(),
        state.config.system_high().banner().into(),
    );
    detail.insert(
        "policy_version".into(),
        state.access.policy_version().into(),
    );
    let event = Event {
        time: scif_audit::time::now_rfc3339(),
        action: action.to_owned(),
        decision: "info".into(),
        principal: Some("scif".into()),
        detail,
        ..Default::default()
    };
    auditor
        .append(event)
        .await
        .with_context(|| format!("recording {action} in the audit trail"))?;
    Ok(())
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check every hash link and checkpoint signature; works offline on copied segments
    Verify {
        /// Segment directory [default: the configured audit directory]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Start at this sequence number (earlier segments archived away)
        #[arg(long)]
        from: Option<u64>,
        /// Trusted public key file (64 hex digits) [default: `audit.public_key` in the
        /// configuration]. Without a pinned key the result is unanchored: keys found on the
        /// host prove nothing against someone who can rewrite the trail
        #[arg(long)]
        pubkey: Option<PathBuf>,
        /// Accept an unanchored result (no pinned key): exit 0 if the chain holds
        #[arg(long)]
        accept_unanchored: bool,
        /// The witness's public key (hex): the trail must hold the tree the witness last
        /// co-signed (from the cosignatures kept beside the trail, or asked of --witness-url)
        #[arg(long, requires = "witness_name")]
        witness_key: Option<String>,
        #[arg(long)]
        witness_name: Option<String>,
        /// Ask the witness itself what it last co-signed (the strongest check: a node rolled
        /// back with its cosignatures still fails it)
        #[arg(long, requires = "witness_key")]
        witness_url: Option<String>,
        /// Accept events after the last checkpoint (a live trail between checkpoints);
        /// they are still counted
        #[arg(long)]
        allow_unsigned_tail: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print audit records matching a filter
    Query {
        #[command(flatten)]
        filter: FilterArgs,
        /// Most records [default: 100]
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Write records as JSON lines or OCSF (API Activity) to stdout, for a SIEM
    Export {
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "ocsf"])]
        format: String,
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Accept the trail as it is after scif refused to continue it (it no longer held the
    /// record this node anchored): move the anchor to the trail's last record. The reset and
    /// the reason are recorded in the trail at the next start. The server must be stopped
    Reanchor {
        /// Why (what was found and done); recorded in the trail
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print, as JSON, the proof that record SEQ is in a signed tree checkpoint (the latest
    /// that covers it, or --size), with the record and the checkpoint: checkable offline
    /// (docs/audit-proofs.md)
    Prove {
        seq: u64,
        /// Tree size of the checkpoint to prove against
        #[arg(long)]
        size: Option<u64>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print, as JSON, the proof that the signed tree of OLD records is a prefix of the signed
    /// tree of NEW records (both checkpointed sizes)
    Consistency {
        old: u64,
        new: u64,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run a witness: co-sign the checkpoints nodes send, only when each is consistent with
    /// the last one co-signed for that node (run it on another host, with its own key)
    Witness {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:7999")]
        listen: String,
        /// The witness's own directory (its key and what it holds)
        #[arg(long)]
        dir: PathBuf,
        /// The witness's name (nodes name it in audit.witness_name)
        #[arg(long)]
        name: String,
        /// A node to witness: scif.audit/<node>=<its `scif audit pubkey`> (repeatable)
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// Print the trail's public key (hex)
    Pubkey {
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Args)]
pub struct FilterArgs {
    /// Records at or after this time (RFC 3339)
    #[arg(long)]
    from_time: Option<String>,
    /// Records before this time (RFC 3339)
    #[arg(long)]
    to_time: Option<String>,
    #[arg(long)]
    principal: Option<String>,
    #[arg(long)]
    action: Option<String>,
    /// allow, deny, error or info
    #[arg(long)]
    decision: Option<String>,
    /// Resource or output label (banner marking)
    #[arg(long)]
    label: Option<String>,
    #[arg(long)]
    request_id: Option<String>,
    /// Records after this sequence number (paging)
    #[arg(long)]
    after_seq: Option<u64>,
}

impl FilterArgs {
    fn filter(self, limit: Option<usize>) -> Filter {
        Filter {
            from_time: self.from_time,
            to_time: self.to_time,
            principal: self.principal,
            action: self.action,
            decision: self.decision,
            label: self.label,
            request_id: self.request_id,
            after_seq: self.after_seq,
            limit,
        }
    }
}

pub async fn run(cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Verify {
            dir,
            from,
            pubkey,
            accept_unanchored,
            allow_unsigned_tail,
            witness_key,
            witness_name,
            witness_url,
            common,
        } => {
            let cfg = load_config(&common, None)?;
            let own_trail = dir.is_none();
            let dir = dir.unwrap_or_else(|| cfg.audit_dir());
            let (key, signer) = pinned_key(&cfg, pubkey.as_deref())?;
            verify(&dir, from, key.as_ref(), &signer, allow_unsigned_tail)?;
            if own_trail {
                // The node's own anchor, kept outside the segments, must still be in the trail.
                let store = scif_store::Store::open(&cfg.storage.data_dir).await?;
                if let Some(a) = store.audit_anchor(&node_name(&cfg)).await? {
                    let held = scif_audit::record_hash(&dir, a.seq)?;
                    store.close().await;
                    if held.as_deref() != Some(a.hash.as_str()) {
                        anyhow::bail!(
                            "audit trail BROKEN: it no longer holds record {} that this node anchored on {}: cut short, rolled back or replaced",
                            a.seq,
                            a.updated_at
                        );
                    }
                    out(format!(
                        "anchored: holds record {} as anchored on {}",
                        a.seq, a.updated_at
                    ));
                }
            }
            if let (Some(wk), Some(wn)) = (&witness_key, &witness_name) {
                check_witnessed(&cfg, &dir, wk, wn, witness_url.as_deref()).await?;
            }
            if key.is_none() {
                let msg = "UNANCHORED: no pinned public key (--pubkey, or audit.public_key in the configuration), so the checkpoints were checked against the keys found on this host, which whoever can rewrite the trail can replace";
                if !accept_unanchored {
                    anyhow::bail!("{msg}; pass --accept-unanchored to accept that");
                }
                eprintln!("{msg}");
            }
            Ok(())
        }
        AuditCmd::Reanchor { reason, common } => reanchor(&common, &reason).await,
        AuditCmd::Witness {
            listen,
            dir,
            name,
            origins,
        } => crate::witness::serve(&listen, &dir, &name, &origins).await,
        AuditCmd::Prove { seq, size, common } => {
            let cfg = load_config(&common, None)?;
            let p = scif_audit::prove(&cfg.audit_dir(), seq, size)?;
            out(serde_json::to_string_pretty(&p)?);
            Ok(())
        }
        AuditCmd::Consistency { old, new, common } => {
            let cfg = load_config(&common, None)?;
            let p = scif_audit::consistency(&cfg.audit_dir(), old, new)?;
            out(serde_json::to_string_pretty(&p)?);
            Ok(())
        }
        AuditCmd::Query {
            filter,
            limit,
            json,
            common,
        } => {
            let cfg = load_config(&common, None)?;
            let records = scif_audit::read(&cfg.audit_dir(), &filter.filter(Some(limit)))?;
            let stdout = std::io::stdout();
            let mut w = stdout.lock();
            if !json {
                writeln!(
                    w,
                    "{:>8} {:<24} {:<20} {:<18} {:<22} {:<6} {:<24} OUTCOME",
                    "SEQ", "TIME", "PRINCIPAL", "ACTION", "RESOURCE", "DEC", "LABEL"
                )?;
            }
            for r in records {
                if json {
                    writeln!(w, "{}", serde_json::to_string(&r)?)?;
                } else {
                    let e = &r.event;
                    writeln!(
                        w,
                        "{:>8} {:<24} {:<20} {:<18} {:<22} {:<6} {:<24} {}",
                        r.seq,
                        e.time,
                        e.principal.as_deref().unwrap_or("-"),
                        e.action,
                        e.resource.as_deref().unwrap_or("-"),
                        e.decision,
                        e.output_label
                            .as_deref()
                            .or(e.resource_label.as_deref())
                            .unwrap_or("-"),
                        e.outcome.as_deref().unwrap_or("-")
                    )?;
                }
            }
            Ok(())
        }
        AuditCmd::Export {
            format,
            filter,
            common,
        } => {
            let cfg = load_config(&common, None)?;
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            // Page through the trail so any range streams in bounded memory.
            let mut filter = filter.filter(Some(10_000));
            loop {
                let page = scif_audit::read(&cfg.audit_dir(), &filter)?;
                for r in &page {
                    let line = if format == "ocsf" {
                        serde_json::to_string(&scif_audit::ocsf(r))?
                    } else {
                        serde_json::to_string(r)?
                    };
                    writeln!(w, "{line}")?;
                }
                match page.last() {
                    Some(last) if page.len() == 10_000 => filter.after_seq = Some(last.seq),
                    _ => break,
                }
            }
            w.flush()?;
            Ok(())
        }
        AuditCmd::Pubkey { common } => {
            let cfg = load_config(&common, None)?;
            let path = key_dir(&cfg).join(scif_audit::PUBLIC_KEY_FILE);
            let key = scif_audit::read_public_key(&path)
                .with_context(|| format!("{}", path.display()))?;
            out(hex::encode(key.to_bytes()));
            Ok(())
        }
    }
}

/// The pinned key `verify` trusts, and how to name it: `--pubkey`, else `audit.public_key`.
/// None: unanchored.
fn pinned_key(
    cfg: &Config,
    path: Option<&Path>,
) -> anyhow::Result<(Option<scif_audit::VerifyingKey>, String)> {
    if let Some(p) = path {
        let key = scif_audit::read_public_key(p).context("--pubkey")?;
        if let (Ok(file), Ok(data)) = (p.canonicalize(), cfg.storage.data_dir.canonicalize()) {
            if file.starts_with(&data) {
                eprintln!(
                    "warning: {} is inside the data directory; whoever can rewrite the trail can replace it",
                    p.display()
                );
            }
        }
        return Ok((Some(key), p.display().to_string()));
    }
    let hex_key = cfg.audit.public_key.trim();
    if hex_key.is_empty() {
        return Ok((
            None,
            "the keys embedded in the checkpoints (unanchored)".to_owned(),
        ));
    }
    let key = scif_audit::parse_public_key_hex(hex_key).context("audit.public_key")?;
    Ok((Some(key), "audit.public_key".to_owned()))
}

/// The trail must hold the tree the witness last co-signed: same root at that size. Catches
/// truncation, rollback and rewriting with the node's own key, which the node alone cannot.
async fn check_witnessed(
    cfg: &Config,
    dir: &Path,
    key_hex: &str,
    name: &str,
    url: Option<&str>,
) -> anyhow::Result<()> {
    let key = scif_audit::parse_public_key_hex(key_hex.trim()).context("--witness-key")?;
    let origin = scif_audit::merkle::origin(&node_name(cfg));
    let (size, note_text, how) = match url {
        Some(u) => {
            let v: serde_json::Value = reqwest::Client::new()
                .get(format!("{}/latest", u.trim_end_matches('/')))
                .query(&[("origin", origin.as_str())])
                .send()
                .await
                .context("asking the witness")?
                .error_for_status()
                .context("asking the witness")?
                .json()
                .await?;
            let size = v["size"]
                .as_u64()
                .context("the witness's answer has no size")?;
            let note = v["note"].as_str().unwrap_or_default().to_owned();
            (size, note, format!("the witness at {u}"))
        }
        None => {
            let text = std::fs::read_to_string(dir.join(crate::witness::COSIGNATURES_FILE))
                .context("no cosignatures beside the trail")?;
            let best = text
                .lines()
                .filter_map(|l| serde_json::from_str::<crate::witness::Cosigned>(l).ok())
                .filter(|c| {
                    scif_audit::merkle::Note::parse(&c.note).is_some_and(|n| {
                        scif_audit::witness::verify_cosignature(name, &key, &n, &c.cosignature)
                    })
                })
                .max_by_key(|c| c.size)
                .context("no cosignature by that witness beside the trail")?;
            (
                best.size,
                best.note,
                "the cosignatures kept beside the trail".to_owned(),
            )
        }
    };
    let note = scif_audit::merkle::Note::parse(&note_text).context("the witnessed note")?;
    anyhow::ensure!(
        note.size == size && note.origin == origin,
        "the witnessed note is for another tree"
    );
    let d = dir.to_owned();
    let held = tokio::task::spawn_blocking(move || scif_audit::root_at(&d, size)).await??;
    match held {
        Some(root) if root == note.root => {
            out(format!("witnessed: holds the tree of {size} records co-signed by {name} ({how})"));
            Ok(())
        }
        Some(_) => anyhow::bail!(
            "audit trail BROKEN: its first {size} records are not the ones witness {name} co-signed ({how}): rewritten"
        ),
        None => anyhow::bail!(
            "audit trail BROKEN: it holds fewer than the {size} records witness {name} co-signed ({how}): cut short or rolled back"
        ),
    }
}

/// `scif audit reanchor`: the operator's repair after a refused start.
async fn reanchor(common: &CommonArgs, reason: &str) -> anyhow::Result<()> {
    let cfg = load_config(common, None)?;
    anyhow::ensure!(!reason.trim().is_empty(), "--reason must say why");
    let dir = cfg.audit_dir();
    // The server must not be writing the trail meanwhile.
    let lock_path = dir.join("writer.lock");
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&lock_path) {
        if let Err(std::fs::TryLockError::WouldBlock) = f.try_lock() {
            anyhow::bail!(
                "the audit trail is being written (is scif serve running?); stop it first"
            );
        }
    }
    let opts = scif_audit::VerifyOptions {
        from_seq: None,
        pubkey: None,
        require_signed_tail: false,
    };
    let report = match scif_audit::verify_with(&dir, &opts) {
        Ok(r) => r,
        Err((brk, _)) => anyhow::bail!(
            "the audit trail does not verify ({brk}); reanchoring it would hide that. Restore it from a copy first"
        ),
    };
    let hash = scif_audit::record_hash(&dir, report.last_seq)?
        .context("the trail's last record cannot be read back")?;
    let store = scif_store::Store::open(&cfg.storage.data_dir).await?;
    let node = node_name(&cfg);
    let previous = store.audit_anchor(&node).await?;
    let now = scif_audit::time::now_rfc3339();
    store
        .reset_audit_anchor(&node, report.last_seq, &hash, &now)
        .await?;
    let event = serde_json::json!({
        "time": now,
        "principal": "local operator",
        "auth_method": "local_operator",
        "action": "audit_anchor_reset",
        "resource": format!("audit/{node}"),
        "decision": "info",
        "reasons": ["operator_reanchor"],
        "detail": {
            "via": "cli",
            "reason": reason,
            "previous_seq": previous.as_ref().map(|a| a.seq),
            "previous_hash": previous.as_ref().map(|a| a.hash.clone()),
            "seq": report.last_seq,
            "hash": hash,
        },
    });
    store.push_audit_outbox(&event.to_string()).await?;
    store.close().await;
    out(format!(
        "anchor of node {node:?} moved to record {} (was {}); the reset is recorded in the trail at the next start",
        report.last_seq,
        previous.map_or_else(|| "none".to_owned(), |a| a.seq.to_string())
    ));
    Ok(())
}

fn verify(
    dir: &Path,
    from: Option<u64>,
    key: Option<&scif_audit::VerifyingKey>,
    signer: &str,
    allow_unsigned_tail: bool,
) -> anyhow::Result<()> {
    let opts = scif_audit::VerifyOptions {
        from_seq: from,
        pubkey: key,
        require_signed_tail: key.is_some() && !allow_unsigned_tail,
    };
    match scif_audit::verify_with(dir, &opts) {
        Ok(r) => {
            out(format!(
                "verified {} events, first {} at {}, last {} at {}; {} checkpoints signed by {}; {} segments, {} bytes{}",
                r.events,
                r.first_seq,
                r.first_time,
                r.last_seq,
                r.last_time,
                r.checkpoints,
                signer,
                r.segments,
                r.bytes,
                if r.unsigned_tail_events > 0 {
                    format!("; {} events after the last checkpoint", r.unsigned_tail_events)
                } else {
                    String::new()
                }
            ));
            Ok(())
        }
        Err((brk, r)) => {
            anyhow::bail!(
                "audit trail BROKEN: {brk}\n(verified {} events before it, last good seq {})",
                r.events,
                r.last_seq
            )
        }
    }
}
