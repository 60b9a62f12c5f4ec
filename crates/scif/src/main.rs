//! `scif`: the one binary. This file is only the command line; each command lives in its own
//! module and the work is done by the library crates.

mod access;
mod admin;
mod audit;
mod chat;
mod files;
mod guardrails;
mod logwriter;
mod models;
mod serve;
mod usage;
mod witness;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use scif_config::Config;

/// The request path allocates many small, short-lived objects across threads; mimalloc serves
/// them markedly faster than glibc's allocator (see BENCHMARKS.md, gateway).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "scif", version, about = "A self-hosted AI platform for classified and regulated networks", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the API server (OpenAI-compatible) over the imported models
    Serve(ServeArgs),
    /// Manage the model registry in the data directory
    #[command(subcommand)]
    Models(ModelsCmd),
    /// Manage principals: the people and services that may call scif
    #[command(subcommand)]
    Principals(admin::PrincipalsCmd),
    /// Manage API keys
    #[command(subcommand)]
    Keys(admin::KeysCmd),
    /// Show, check and set the Cedar authorization policies
    #[command(subcommand)]
    Policies(admin::PoliciesCmd),
    /// Verify, query and export the audit trail (offline)
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Chat with a model on a running server, streaming, in the terminal
    Chat(chat::ChatArgs),
    /// Summarize metered usage by principal, group, key, model, deployment and day (offline)
    Usage(usage::UsageArgs),
    /// Manage guardrails (PII/PHI, words, patterns, prompt attacks) and their attachments
    #[command(subcommand)]
    Guardrails(guardrails::GuardrailsCmd),
    /// Configuration tools
    #[command(subcommand)]
    Config(ConfigCmd),
}

#[derive(Args, Clone)]
pub struct CommonArgs {
    /// Configuration file [default: ./scif.toml if present]
    #[arg(long, env = "SCIF_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory holding the database and imported models
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long)]
    listen: Option<String>,
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// Copy a model file into the data directory and record it (works fully offline)
    Import {
        /// The GGUF file to import
        file: PathBuf,
        /// The name clients will use for the model
        #[arg(long)]
        name: String,
        /// The model's classification, as a banner marking (e.g. "SECRET//NOFORN"); it must be
        /// dominated by security.system_high
        #[arg(long, default_value = "UNCLASSIFIED")]
        label: String,
        /// Handling caveat (repeatable): "itar" (US persons only) or "phi" (principals with the
        /// PHI access only)
        #[arg(long)]
        handling: Vec<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List imported models
    List {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Remove a model from the registry (and its file, if no other name uses it)
    Remove {
        name: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Change a model's classification label (within security.system_high)
    Label {
        name: String,
        /// The new label, as a banner marking
        label: String,
        /// Replace the handling caveats ("itar", "phi"; repeatable; "none" for none)
        #[arg(long)]
        handling: Vec<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Re-check the SHA-256 of every imported model file against its record
    Verify {
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate a configuration file (and SCIF_* overrides) without starting
    Check {
        /// The file to check [default: ./scif.toml]
        file: Option<PathBuf>,
    },
    /// Print the effective configuration as TOML
    Show {
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Load the configuration: file, then `SCIF_*` environment, then command-line flags.
pub fn load_config(common: &CommonArgs, listen: Option<&str>) -> anyhow::Result<Config> {
    let path = match &common.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("scif.toml")).filter(|p| p.exists()),
    };
    let mut cfg = Config::load(path.as_deref(), std::env::vars())?;
    if let Some(d) = &common.data_dir {
        cfg.storage.data_dir = d.clone();
    }
    if let Some(l) = listen {
        cfg.server.listen = l.to_string();
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("--listen: {e}"))?;
    }
    Ok(cfg)
}

fn toml_of(cfg: &Config) -> anyhow::Result<String> {
    Ok(toml::to_string(cfg)?)
}

pub fn out(s: impl std::fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

fn main() -> ExitCode {
    // Before anything is created: what scif writes is its owner's alone.
    files::owner_only_umask();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Models(m) => match m {
                ModelsCmd::Import {
                    file,
                    name,
                    label,
                    handling,
                    common,
                } => models::import(&common, &file, &name, &label, &handling).await,
                ModelsCmd::List { json, common } => models::list(&common, json).await,
                ModelsCmd::Remove { name, common } => models::remove(&common, &name).await,
                ModelsCmd::Verify { common } => models::verify(&common).await,
                ModelsCmd::Label {
                    name,
                    label,
                    handling,
                    common,
                } => {
                    let handling: Option<Vec<String>> = match handling.as_slice() {
                        [] => None,
                        [none] if none == "none" => Some(Vec::new()),
                        list => Some(list.to_vec()),
                    };
                    admin::label_model(&common, &name, &label, handling.as_deref()).await
                }
            },
            Command::Principals(c) => admin::principals(c).await,
            Command::Keys(c) => admin::keys(c).await,
            Command::Policies(c) => admin::policies(c).await,
            Command::Audit(c) => audit::run(c).await,
            Command::Chat(a) => chat::run(a).await,
            Command::Usage(a) => usage::run(a).await,
            Command::Guardrails(c) => guardrails::run(c).await,
            Command::Config(ConfigCmd::Check { file }) => {
                let file = file.unwrap_or_else(|| PathBuf::from("scif.toml"));
                Config::load(Some(&file), std::env::vars())
                    .map(|_| out(format!("{}: ok", file.display())))
                    .map_err(Into::into)
            }
            Command::Config(ConfigCmd::Show { common }) => load_config(&common, None)
                .and_then(|c| toml_of(&c))
                .map(out),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
