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
    cfg.storage.data_dir.join("secrets")
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

/// Opens (and if need be recovers) the trail; prints the public key on first creation.
pub fn open_trail(cfg: &Config) -> anyhow::Result<Auditor> {
    let keys = key_dir(cfg);
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
        /// Trusted public key file (64 hex digits) [default: the data directory's, if present]
        #[arg(long)]
        pubkey: Option<PathBuf>,
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
            allow_unsigned_tail,
            common,
        } => {
            let cfg = load_config(&common, None)?;
            let dir = dir.unwrap_or_else(|| cfg.audit_dir());
            let default_pub = key_dir(&cfg).join(scif_audit::PUBLIC_KEY_FILE);
            let pubkey = match pubkey {
                Some(p) => Some(p),
                None => default_pub.exists().then_some(default_pub),
            };
            let key = pubkey
                .as_deref()
                .map(scif_audit::read_public_key)
                .transpose()
                .context("--pubkey")?;
            verify(
                &dir,
                from,
                key.as_ref(),
                pubkey.as_deref(),
                allow_unsigned_tail,
            )
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

fn verify(
    dir: &Path,
    from: Option<u64>,
    key: Option<&scif_audit::VerifyingKey>,
    key_path: Option<&Path>,
    allow_unsigned_tail: bool,
) -> anyhow::Result<()> {
    let opts = scif_audit::VerifyOptions {
        from_seq: from,
        pubkey: key,
        require_signed_tail: key.is_some() && !allow_unsigned_tail,
    };
    let signer = key_path.map_or_else(
        || "the keys embedded in the checkpoints (no --pubkey)".to_owned(),
        |p| p.display().to_string(),
    );
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
