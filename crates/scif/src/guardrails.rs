//! `scif guardrails`: create guardrails, add versions, attach them to models, principals and
//! groups, and try one on text, against the data directory as the local operator (offline; the
//! same operations over HTTP are under `/admin/v1/guardrails`). Changes are queued for the
//! audit trail like every local operator change, and a running server sees attachment changes
//! within a second.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use scif_guardrails::{Guardrail, GuardrailSpec, Policy, Source};
use scif_store::{AttachmentRow, Store};

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
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Add a version to a guardrail (versions are immutable; this is how a guardrail changes)
    Update {
        id: String,
        #[arg(long)]
        file: PathBuf,
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
    fn one(&self) -> (&'static str, String) {
        match (&self.model, &self.principal, &self.group) {
            (Some(m), _, _) => ("model", m.clone()),
            (_, Some(p), _) => ("principal", p.clone()),
            (_, _, Some(g)) => ("group", g.clone()),
            _ => ("model", String::new()),
        }
    }
}

async fn record(store: &Store, action: &str, resource: String) -> anyhow::Result<()> {
    scif_access::admin::record_local_change(store, action, resource).await?;
    Ok(())
}

/// Writes the file's guardrail as version 1 of a new guardrail, or as the next version of an
/// existing one.
async fn write(common: &CommonArgs, id: &str, file: &PathBuf, new: bool) -> anyhow::Result<u32> {
    let spec = read_spec(file)?;
    let store = crate::models::open(common).await?;
    let v = scif_server::guardrail_admin::write_version(&store, id, &spec, "local operator", !new)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no guardrail {id:?}; create it first"))?;
    record(&store, "manage_policies", format!("guardrail/{id}/{v}")).await?;
    Ok(v)
}

fn read_spec(file: &PathBuf) -> anyhow::Result<GuardrailSpec> {
    let body = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    GuardrailSpec::from_json(&body).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

pub async fn run(cmd: GuardrailsCmd) -> anyhow::Result<()> {
    match cmd {
        GuardrailsCmd::List { json, common } => {
            let store = crate::models::open(&common).await?;
            let rows = store.list_guardrails(None).await?;
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
            let rows = match version {
                Some(v) => store
                    .get_guardrail(&id, Some(v))
                    .await?
                    .into_iter()
                    .collect(),
                None => store.list_guardrails(Some(&id)).await?,
            };
            anyhow::ensure!(!rows.is_empty(), "no guardrail {id:?}");
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
        GuardrailsCmd::Create { file, id, common } => {
            let id = match id {
                Some(id) => id,
                None => scif_server::guardrail_admin::id_from_name(&read_spec(&file)?.name),
            };
            anyhow::ensure!(
                scif_server::guardrail_admin::valid_id(&id),
                "--id must be 1 to 64 letters, digits, '-' or '_'"
            );
            let v = write(&common, &id, &file, true).await?;
            out(format!("created guardrail {id} version {v}"));
        }
        GuardrailsCmd::Update { id, file, common } => {
            let v = write(&common, &id, &file, false).await?;
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
            let row = AttachmentRow {
                guardrail_id: id.clone(),
                version,
                target_kind: kind.into(),
                target: name.clone(),
            };
            anyhow::ensure!(
                store.attach_guardrail(&row).await?,
                "no guardrail {id:?} version {version}"
            );
            record(
                &store,
                "manage_policies",
                format!("guardrail/{id}/{version}/{kind}/{name}"),
            )
            .await?;
            out(format!("attached {id} version {version} to {kind} {name}"));
        }
        GuardrailsCmd::Detach { id, target, common } => {
            let (kind, name) = target.one();
            let store = crate::models::open(&common).await?;
            anyhow::ensure!(
                store.detach_guardrail(&id, kind, &name).await?,
                "{id} is not attached to {kind} {name}"
            );
            record(
                &store,
                "manage_policies",
                format!("guardrail/{id}/{kind}/{name}"),
            )
            .await?;
            out(format!("detached {id} from {kind} {name}"));
        }
        GuardrailsCmd::Attachments { common } => {
            let store = crate::models::open(&common).await?;
            out(serde_json::to_string_pretty(
                &store.guardrail_attachments().await?,
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
