//! `scif principals`, `scif keys`, `scif policies` and `scif models label`: the admin
//! operations from the command line, run against the data directory as the local operator
//! (see `scif_access::admin`). The same operations over HTTP are under `/admin/v1`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use scif_access::admin::{Actor, NewKey, NewPrincipal, PrincipalPatch};
use scif_access::Access;
use scif_store::Store;

use crate::{load_config, out, CommonArgs};

#[derive(Subcommand)]
pub enum PrincipalsCmd {
    /// List principals
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Show one principal as JSON
    Show {
        id: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Create a principal (a person or service that authenticates with API keys or a client
    /// certificate naming it)
    Create {
        /// Principal id; for client certificates, the certificate's email SAN or CN
        id: String,
        #[command(flatten)]
        attrs: PrincipalAttrs,
        /// A service account rather than a person
        #[arg(long)]
        service: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Change a principal's attributes, or disable and enable it
    Update {
        id: String,
        #[arg(long)]
        clearance: Option<String>,
        #[arg(long)]
        nationality: Option<String>,
        #[arg(long)]
        us_person: Option<bool>,
        /// Replace the groups (comma-separated; empty for none)
        #[arg(long)]
        groups: Option<String>,
        /// Replace the accesses (comma-separated; empty for none)
        #[arg(long)]
        accesses: Option<String>,
        /// Refuse every credential of this principal
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Delete a principal and all its keys
    Delete {
        id: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Args)]
pub struct PrincipalAttrs {
    /// Clearance as a banner marking, e.g. "SECRET" or "TOP SECRET//SI/TK"
    #[arg(long)]
    clearance: String,
    /// Nationality, an ISO 3166 trigraph
    #[arg(long, default_value = "USA")]
    nationality: String,
    /// US person (for NOFORN and ITAR) [default: true when nationality is USA]
    #[arg(long)]
    us_person: Option<bool>,
    /// Group membership (repeatable): policy groups such as admins, releasability groups such
    /// as FVEY
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Access such as PHI (repeatable)
    #[arg(long = "access")]
    accesses: Vec<String>,
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Create an API key; the key is printed once and cannot be shown again
    Create {
        /// The principal the key authenticates as
        #[arg(long)]
        principal: String,
        /// Limit the key to an action (repeatable), e.g. invoke_model [default: no limit]
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Seconds until the key expires [default: never]
        #[arg(long)]
        expires_in: Option<u64>,
        #[arg(long, default_value = "")]
        description: String,
        /// Print JSON (with the key) instead of the key alone
        #[arg(long)]
        json: bool,
        /// A SigV4 credential (access key id and secret access key) for AWS SDK clients
        /// instead of an API key (scoped like one)
        #[arg(long)]
        sigv4: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List keys (never their secrets)
    List {
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Revoke a key by id (the part after `scif_` and before the next `_`), or a SigV4
    /// credential by its access key id
    Revoke {
        id: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Subcommand)]
pub enum PoliciesCmd {
    /// Print the Cedar policy set in force
    Show {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Validate a Cedar policy file against scif's schema without storing it
    Check {
        file: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Validate and put a Cedar policy file in force (a running server picks it up within
    /// seconds)
    Set {
        file: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print scif's Cedar schema
    Schema,
}

async fn open(common: &CommonArgs) -> anyhow::Result<Access> {
    let cfg = load_config(common, None)?;
    let store = Store::open(&cfg.storage.data_dir).await?;
    crate::access::open(&cfg, store).await
}

fn list(text: &Option<String>) -> Option<Vec<String>> {
    text.as_ref().map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

pub async fn principals(cmd: PrincipalsCmd) -> anyhow::Result<()> {
    let me = Actor::LocalOperator;
    match cmd {
        PrincipalsCmd::List { json, common } => {
            let a = open(&common).await?;
            let all = a.list_principals(me).await?;
            if json {
                out(serde_json::to_string_pretty(&all)?);
            } else {
                out(format!(
                    "{:<24} {:<8} {:<28} {:<5} {:<8} {:<24} {}",
                    "ID", "KIND", "CLEARANCE", "NAT", "US", "GROUPS", "STATUS"
                ));
                for p in all {
                    out(format!(
                        "{:<24} {:<8} {:<28} {:<5} {:<8} {:<24} {}",
                        p.id,
                        p.kind,
                        p.clearance,
                        p.nationality,
                        p.us_person,
                        p.groups.join(","),
                        if p.disabled { "disabled" } else { "enabled" }
                    ));
                }
            }
        }
        PrincipalsCmd::Show { id, common } => {
            let a = open(&common).await?;
            out(serde_json::to_string_pretty(
                &a.get_principal(me, &id).await?,
            )?);
        }
        PrincipalsCmd::Create {
            id,
            attrs,
            service,
            common,
        } => {
            let a = open(&common).await?;
            let us_person = attrs.us_person.unwrap_or(attrs.nationality == "USA");
            let p = a
                .create_principal(
                    me,
                    NewPrincipal {
                        id,
                        kind: if service { "service" } else { "person" }.to_owned(),
                        clearance: attrs.clearance,
                        nationality: attrs.nationality,
                        us_person,
                        groups: attrs.groups,
                        accesses: attrs.accesses,
                    },
                )
                .await?;
            out(format!("created {} {} [{}]", p.kind, p.id, p.clearance));
        }
        PrincipalsCmd::Update {
            id,
            clearance,
            nationality,
            us_person,
            groups,
            accesses,
            disable,
            enable,
            common,
        } => {
            let a = open(&common).await?;
            let patch = PrincipalPatch {
                kind: None,
                clearance,
                nationality,
                us_person,
                groups: list(&groups),
                accesses: list(&accesses),
                disabled: if disable {
                    Some(true)
                } else if enable {
                    Some(false)
                } else {
                    None
                },
            };
            let p = a.update_principal(me, &id, patch).await?;
            out(format!(
                "updated {} [{}]{}",
                p.id,
                p.clearance,
                if p.disabled { " (disabled)" } else { "" }
            ));
        }
        PrincipalsCmd::Delete { id, common } => {
            let a = open(&common).await?;
            a.delete_principal(me, &id).await?;
            out(format!("deleted {id} and its keys"));
        }
    }
    Ok(())
}

pub async fn keys(cmd: KeysCmd) -> anyhow::Result<()> {
    let me = Actor::LocalOperator;
    match cmd {
        KeysCmd::Create {
            principal,
            scopes,
            expires_in,
            description,
            json,
            sigv4,
            common,
        } => {
            let a = open(&common).await?;
            let new = NewKey {
                principal,
                scopes,
                expires_in_secs: expires_in,
                description,
            };
            if sigv4 {
                let k = a.create_sigv4_key(me, new).await?;
                if json {
                    let mut v = serde_json::to_value(&k.record)?;
                    v["secret_access_key"] = serde_json::Value::from(k.secret.as_str());
                    out(serde_json::to_string_pretty(&v)?);
                } else {
                    out(format!(
                        "aws_access_key_id = {}\naws_secret_access_key = {}",
                        k.record.access_key_id,
                        k.secret.as_str()
                    ));
                }
                return Ok(());
            }
            let k = a.create_key(me, new).await?;
            if json {
                let mut v = serde_json::to_value(&k.record)?;
                v["key"] = serde_json::Value::from(k.secret.expose());
                out(serde_json::to_string_pretty(&v)?);
            } else {
                out(k.secret.expose());
            }
        }
        KeysCmd::List {
            principal,
            json,
            common,
        } => {
            let a = open(&common).await?;
            let keys = a.list_keys(me, principal.as_deref()).await?;
            if json {
                out(serde_json::to_string_pretty(&keys)?);
            } else {
                out(format!(
                    "{:<18} {:<24} {:<10} {:<12} {:<12} {}",
                    "ID", "PRINCIPAL", "STATUS", "CREATED", "EXPIRES", "SCOPES"
                ));
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                for k in keys {
                    let status = if k.revoked_at.is_some() {
                        "revoked"
                    } else if k.expires_at.is_some_and(|e| e <= now) {
                        "expired"
                    } else {
                        "active"
                    };
                    out(format!(
                        "{:<18} {:<24} {:<10} {:<12} {:<12} {}",
                        k.id,
                        k.principal_id,
                        status,
                        k.created_at,
                        k.expires_at.map_or("never".to_owned(), |e| e.to_string()),
                        k.scopes.join(",")
                    ));
                }
            }
        }
        KeysCmd::Revoke { id, common } => {
            let a = open(&common).await?;
            if id.starts_with("SCIF") {
                a.revoke_sigv4_key(me, &id).await?;
                out(format!("revoked SigV4 credential {id}"));
                return Ok(());
            }
            let k = a.revoke_key(me, &id).await?;
            out(format!("revoked {} (principal {})", k.id, k.principal_id));
        }
    }
    Ok(())
}

pub async fn policies(cmd: PoliciesCmd) -> anyhow::Result<()> {
    let me = Actor::LocalOperator;
    match cmd {
        PoliciesCmd::Show { common } => {
            let a = open(&common).await?;
            let p = a.get_policies(me).await?;
            out(format!(
                "// version {} by {} at {}\n{}",
                p.version, p.created_by, p.created_at, p.text
            ));
        }
        PoliciesCmd::Check { file, common } => {
            let cfg = load_config(&common, None)?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let a = scif_authz::Authorizer::new(cfg.system_high(), &text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            out(format!(
                "{}: ok ({})",
                file.display(),
                a.policy_ids().join(", ")
            ));
        }
        PoliciesCmd::Set { file, common } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let a = open(&common).await?;
            let p = a
                .set_policies(me, &text)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            out(format!("policy set version {} in force", p.version));
        }
        PoliciesCmd::Schema => out(scif_authz::SCHEMA.trim()),
    }
    Ok(())
}

pub async fn label_model(
    common: &CommonArgs,
    name: &str,
    label: &str,
    handling: Option<&[String]>,
) -> anyhow::Result<()> {
    let a = open(common).await?;
    let l = a
        .set_model_label(Actor::LocalOperator, name, label, handling)
        .await?;
    out(format!("{name} is now labelled {}", l.banner()));
    Ok(())
}
