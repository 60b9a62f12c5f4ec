//! `scif models ...`: the registry from the command line.

use std::path::Path;

use scif_store::Store;

use crate::{load_config, out, CommonArgs};

pub async fn open(common: &CommonArgs) -> anyhow::Result<Store> {
    let cfg = load_config(common, None)?;
    Ok(Store::open(&cfg.storage.data_dir).await?)
}

pub async fn import(
    common: &CommonArgs,
    file: &Path,
    name: &str,
    label: &str,
    handling: &[String],
) -> anyhow::Result<()> {
    let cfg = load_config(common, None)?;
    let handling = scif_access::admin::parse_handling(handling)
        .map_err(|e| anyhow::anyhow!("--handling: {e}"))?;
    let label =
        scif_labels::Label::parse_banner(label).map_err(|e| anyhow::anyhow!("--label: {e}"))?;
    let store = Store::open(&cfg.storage.data_dir).await?;
    let m =
        scif_registry::import(&store, file, name, &label, &handling, &cfg.system_high()).await?;
    out(format!(
        "imported {} [{}{}] ({}, {} parameters, {}, context {}, sha256 {})",
        m.name,
        m.label,
        m.handling
            .iter()
            .map(|h| format!(", {}", h.to_uppercase()))
            .collect::<String>(),
        m.architecture,
        m.parameter_count,
        m.quantization,
        m.context_length,
        m.sha256
    ));
    store.close().await;
    Ok(())
}

pub async fn list(common: &CommonArgs, json: bool) -> anyhow::Result<()> {
    let store = open(common).await?;
    let models = store.list_models().await?;
    if json {
        out(serde_json::to_string_pretty(&models)?);
        return Ok(());
    }
    out(format!(
        "{:<28} {:<10} {:>12} {:<8} {:>8} {:<14} {:<16}",
        "NAME", "ARCH", "PARAMS", "QUANT", "CONTEXT", "SHA256", "LICENSE"
    ));
    for m in models {
        out(format!(
            "{:<28} {:<10} {:>12} {:<8} {:>8} {:<14} {:<16} {}",
            m.name,
            m.architecture,
            m.parameter_count,
            m.quantization,
            m.context_length,
            &m.sha256[..12.min(m.sha256.len())],
            m.license.unwrap_or_else(|| "-".into()),
            m.label
        ));
    }
    Ok(())
}

pub async fn remove(common: &CommonArgs, name: &str) -> anyhow::Result<()> {
    let store = open(common).await?;
    let m = scif_registry::remove(&store, name).await?;
    out(format!("removed {}", m.name));
    Ok(())
}

pub async fn verify(common: &CommonArgs) -> anyhow::Result<()> {
    let store = open(common).await?;
    let mut failed = 0;
    for m in store.list_models().await? {
        match scif_registry::verified_path(&store, &m) {
            Ok(_) => out(format!("{}: ok", m.name)),
            Err(e) => {
                failed += 1;
                out(format!("{}: FAILED: {e}", m.name));
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} model file(s) failed verification");
    Ok(())
}
