//! `scif usage`: usage summaries from the metering records in the data directory (offline; the
//! same summaries as `GET /admin/v1/usage`).

use clap::Args;
use scif_store::UsageDim;

use crate::{out, CommonArgs};

#[derive(Args)]
pub struct UsageArgs {
    /// Group by these, comma-separated: principal, group, key, model, deployment, day
    #[arg(long, default_value = "principal,model,day")]
    by: String,
    /// First day included (YYYY-MM-DD, UTC)
    #[arg(long)]
    from: Option<String>,
    /// Last day included (YYYY-MM-DD, UTC)
    #[arg(long)]
    to: Option<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: CommonArgs,
}

pub async fn run(a: UsageArgs) -> anyhow::Result<()> {
    let by = UsageDim::parse_list(&a.by).map_err(|e| anyhow::anyhow!("--by: {e}"))?;
    for (flag, v) in [("--from", &a.from), ("--to", &a.to)] {
        if let Some(day) = v {
            anyhow::ensure!(
                day.len() == 10 && scif_server::metering::days_of(day).is_some(),
                "{flag}: expected a date, YYYY-MM-DD"
            );
        }
    }
    let store = crate::models::open(&a.common).await?;
    let totals = store
        .usage_totals(a.from.as_deref(), a.to.as_deref())
        .await?;
    let rows = scif_store::summarize(&totals, &by);
    if a.json {
        out(serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut header: Vec<String> = by.iter().map(|d| d.name().to_uppercase()).collect();
    header.extend(
        [
            "REQUESTS",
            "ERRORS",
            "PROMPT",
            "COMPLETION",
            "TOTAL",
            "AVG_MS",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut lines = vec![header];
    for r in &rows {
        let mut line: Vec<String> = by.iter().map(|d| r.key[d.name()].clone()).collect();
        line.extend([
            r.requests.to_string(),
            r.errors.to_string(),
            r.prompt_tokens.to_string(),
            r.completion_tokens.to_string(),
            r.total_tokens.to_string(),
            format!("{:.1}", r.avg_latency_ms),
        ]);
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    for l in lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out(cells.join("  ").trim_end());
    }
    Ok(())
}
