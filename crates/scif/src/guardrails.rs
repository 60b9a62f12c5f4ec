//! `scif guardrails`: create guardrails, add versions, attach them to models, principals and
//! groups, and try one on text, against the data directory as the local operator (offline; the
//! same operations over HTTP are under `/admin/v1/guardrails`). Changes are queued for the
//! audit trail like every local operator change, and a running server sees attachment changes
//! within a second.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use scif_access::admin::{Actor, AdminError};
use scif_guardrails::{Guardrail, GuardrailSpec, Policy, Source};
use scif_service::guardrail_admin::{GuardrailAdmin, TargetKind};
use scif_store::Store;

/// Every CLI change is the local operator's.
const LOCAL: Actor<'static> = Actor::LocalOperator;

use crate::{out, CommonArgs};

#[derive(Subcommand)]
pub enum GuardrailsCmd {
    /// List guardrails (latest version of each)
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Show a guardrail's versions (or one version) as JSON
    Show {
        id: String,
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Create a guardrail from a JSON file (Bedrock CreateGuardrail shape); it becomes version 1
    Create {
        /// The guardrail as JSON
        #[arg(long)]
        file: PathBuf,
        /// The id (default: the name, lowercased, with '-' for other characters)
        #[arg(long)]
        id: Option<String>,
        /// Its security label: who may name or probe it (default: the system high)
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Add a version to a guardrail (versions are immutable; this is how a guardrail changes)
    Update {
        id: String,
        #[arg(long)]
        file: PathBuf,
        /// The new version's security label (default: the system high)
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Attach a version to a model, a principal or a group (replaces the version attached there)
    Attach {
        id: String,
        #[arg(long)]
        version: u32,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Detach a guardrail from a model, a principal or a group
    Detach {
        id: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List attachments
    Attachments {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Evaluate text with a guardrail, without a model: prints the output and the assessment
    Apply {
        id: String,
        #[arg(long)]
        version: Option<u32>,
        /// input or output
        #[arg(long, default_value = "input")]
        source: String,
        /// The text (default: standard input)
        #[arg(long)]
        text: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    principal: Option<String>,
    #[arg(long)]
    group: Option<String>,
}

impl Target {
    fn one(&self) -> (TargetKind, String) {
        match (&self.model, &self.principal, &self.group) {
            (Some(m), _, _) => (TargetKind::Model, m.clone()),
            (_, Some(p), _) => (TargetKind::Principal, p.clone()),
            (_, _, Some(g)) => (TargetKind::Group, g.clone()),
            _ => (TargetKind::Model, String::new()),
        }
    }
}

/// The one home of the operations (shared with the admin API), for the local operator.
fn ops(store: &Store) -> GuardrailAdmin<'_> {
    GuardrailAdmin {
        store,
        access: None,
        cache: None,
    }
}

fn read_spec(file: &PathBuf) -> anyhow::Result<GuardrailSpec> {
    let body = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    GuardrailSpec::from_json(&body).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

pub async fn run(cmd: GuardrailsCmd) -> anyhow::Result<()> {
    match cmd {
        GuardrailsCmd::List { json, common } => {
            let store = crate::models::open(&common).await?;
            let rows = ops(&store).list(LOCAL).await?;
            if json {
                out(serde_json::to_string_pretty(&rows)?);
            } else {
                out(format!(
                    "{:<32} {:>7}  {:<24} {}",
                    "ID", "VERSION", "CREATED", "NAME"
                ));
                for r in rows {
                    out(format!(
                        "{:<32} {:>7}  {:<24} {}",
                        r.id, r.version, r.created_at, r.name
                    ));
                }
            }
        }
        GuardrailsCmd::Show {
            id,
            version,
            common,
        } => {
            let store = crate::models::open(&common).await?;
            let rows = ops(&store).versions(LOCAL, &id, version).await?;
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "guardrailId": r.id, "version": r.version.to_string(), "name": r.name,
                        "createdAt": r.created_at, "createdBy": r.created_by,
                        "guardrail": serde_json::from_str::<serde_json::Value>(&r.spec).unwrap_or_default(),
                    })
                })
                .collect();
            out(serde_json::to_string_pretty(&v)?);
        }
        GuardrailsCmd::Create {
            file,
            id,
            label,
            common,
        } => {
            let spec = read_spec(&file)?;
            let store = crate::models::open(&common).await?;
            let (id, v) = ops(&store)
                .create(LOCAL, id, &spec, label.as_deref())
                .await?;
            out(format!("created guardrail {id} version {v}"));
        }
        GuardrailsCmd::Update {
            id,
            file,
            label,
            common,
        } => {
            let spec = read_spec(&file)?;
            let store = crate::models::open(&common).await?;
            let v = ops(&store)
                .add_version(LOCAL, &id, &spec, label.as_deref())
                .await
                .map_err(|e| match e {
                    AdminError::NotFound(_) => {
                        anyhow::anyhow!("no guardrail {id:?}; create it first")
                    }
                    other => other.into(),
                })?;
            out(format!("guardrail {id} version {v}"));
        }
        GuardrailsCmd::Attach {
            id,
            version,
            target,
            common,
        } => {
            let (kind, name) = target.one();
            let store = crate::models::open(&common).await?;
            ops(&store).attach(LOCAL, &id, version, kind, &name).await?;
            out(format!(
                "attached {id} version {version} to {} {name}",
                kind.as_str()
            ));
        }
        GuardrailsCmd::Detach { id, target, common } => {
            let (kind, name) = target.one();
            let store = crate::models::open(&common).await?;
            ops(&store).detach(LOCAL, &id, kind, &name).await?;
            out(format!("detached {id} from {} {name}", kind.as_str()));
        }
        GuardrailsCmd::Attachments { common } => {
            let store = crate::models::open(&common).await?;
            out(serde_json::to_string_pretty(
                &ops(&store).attachments(LOCAL).await?,
            )?);
        }
        GuardrailsCmd::Apply {
            id,
            version,
            source,
            text,
            common,
        } => {
            let source = match source.to_ascii_lowercase().as_str() {
                "input" => Source::Input,
                "output" => Source::Output,
                other => anyhow::bail!("--source must be input or output, not {other:?}"),
            };
            let text = match text {
                Some(t) => t,
                None => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                }
            };
            let store = crate::models::open(&common).await?;
            let row = store
                .get_guardrail(&id, version)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no guardrail {id:?}"))?;
            let g = Guardrail {
                id: row.id,
                version: row.version,
                spec: GuardrailSpec::from_json(row.spec.as_bytes())?,
            };
            let policy = Policy::new(&[&g])?;
            let o = policy.evaluate(&text, source, None);
            out(serde_json::to_string_pretty(&serde_json::json!({
                "action": if o.intervened() { "GUARDRAIL_INTERVENED" } else { "NONE" },
                "blocked": o.blocked,
                "output": o.output,
                "assessment": scif_guardrails::policy::assessment(&o.detections),
            }))?);
        }
    }
    Ok(())
}
