//! Usage records (metering) and their summaries.

use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

/// One model invocation, as metered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRecord {
    pub at_ms: i64,
    /// UTC date, `YYYY-MM-DD`.
    pub day: String,
    pub principal: String,
    pub key_id: Option<String>,
    pub groups: Vec<String>,
    pub model: String,
    pub deployment: String,
    pub dialect: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: u64,
    pub outcome: String,
    pub request_id: Option<String>,
}

/// Usage summed over one combination of principal, groups, key, model, deployment and day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageTotals {
    pub day: String,
    pub principal: String,
    pub key_id: Option<String>,
    pub groups: Vec<String>,
    pub model: String,
    pub deployment: String,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms_sum: u64,
}

impl Store {
    /// Stores a batch of records in one transaction.
    pub async fn insert_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // One multi-row statement per chunk: one round trip to the database per chunk, not
        // one per record (13 columns x 500 rows stays under SQLite's variable limit).
        let mut tx = self.write_tx().await?;
        for chunk in records.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO usage_records (at_ms, day, principal, key_id, groups, model, deployment, dialect, \
                 prompt_tokens, completion_tokens, latency_ms, outcome, request_id) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.at_ms)
                    .push_bind(r.day.clone())
                    .push_bind(r.principal.clone())
                    .push_bind(r.key_id.clone())
                    .push_bind(serde_json::Value::from(r.groups.clone()).to_string())
                    .push_bind(r.model.clone())
                    .push_bind(r.deployment.clone())
                    .push_bind(r.dialect.clone())
                    .push_bind(r.prompt_tokens as i64)
                    .push_bind(r.completion_tokens as i64)
                    .push_bind(r.latency_ms as i64)
                    .push_bind(r.outcome.clone())
                    .push_bind(r.request_id.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Totals per (day, principal, key, groups, model, deployment) for days in `from..=to`
    /// (either bound may be omitted).
    pub async fn usage_totals(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<UsageTotals>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, principal, key_id, groups, model, deployment, COUNT(*) AS requests, \
             SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END) AS errors, \
             SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, \
             SUM(latency_ms) AS latency_ms_sum \
             FROM usage_records WHERE day >= ? AND day <= ? \
             GROUP BY day, principal, key_id, groups, model, deployment \
             ORDER BY day, principal, model",
        )
        .bind(from.unwrap_or(""))
        .bind(to.unwrap_or("9999-99-99"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let groups: String = r.try_get("groups")?;
                let groups: Vec<String> = serde_json::from_str(&groups)
                    .map_err(|e| StoreError::Corrupt(format!("usage groups: {e}")))?;
                let n = |c: &str| -> Result<u64, StoreError> {
                    Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0).max(0) as u64)
                };
                Ok(UsageTotals {
                    day: r.try_get("day")?,
                    principal: r.try_get("principal")?,
                    key_id: r.try_get("key_id")?,
                    groups,
                    model: r.try_get("model")?,
                    deployment: r.try_get("deployment")?,
                    requests: n("requests")?,
                    errors: n("errors")?,
                    prompt_tokens: n("prompt_tokens")?,
                    completion_tokens: n("completion_tokens")?,
                    latency_ms_sum: n("latency_ms_sum")?,
                })
            })
            .collect()
    }
}

/// What a usage summary groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UsageDim {
    Principal,
    Group,
    Key,
    Model,
    Deployment,
    Day,
}

impl UsageDim {
    pub const NAMES: &'static str = "principal, group, key, model, deployment, day";

    pub fn parse(s: &str) -> Option<UsageDim> {
        Some(match s {
            "principal" => UsageDim::Principal,
            "group" => UsageDim::Group,
            "key" => UsageDim::Key,
            "model" => UsageDim::Model,
            "deployment" => UsageDim::Deployment,
            "day" => UsageDim::Day,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            UsageDim::Principal => "principal",
            UsageDim::Group => "group",
            UsageDim::Key => "key",
            UsageDim::Model => "model",
            UsageDim::Deployment => "deployment",
            UsageDim::Day => "day",
        }
    }

    /// A comma-separated list such as `principal,day`.
    pub fn parse_list(s: &str) -> Result<Vec<UsageDim>, String> {
        let mut dims = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let d = UsageDim::parse(part)
                .ok_or_else(|| format!("unknown dimension {part:?}; expected {}", Self::NAMES))?;
            if !dims.contains(&d) {
                dims.push(d);
            }
        }
        Ok(dims)
    }
}

/// One line of a usage summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageSummary {
    /// The value of each grouping dimension, by name.
    #[serde(flatten)]
    pub key: std::collections::BTreeMap<&'static str, String>,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub avg_latency_ms: f64,
}

/// Folds totals into one line per combination of `by`. Under `group`, a principal's usage
/// counts once for each of its groups (a principal without groups under "(none)"), so group
/// lines can add up to more than the whole.
pub fn summarize(totals: &[UsageTotals], by: &[UsageDim]) -> Vec<UsageSummary> {
    use std::collections::BTreeMap;
    let mut acc: BTreeMap<Vec<String>, (u64, u64, u64, u64, u64)> = BTreeMap::new();
    let none = vec!["(none)".to_owned()];
    for t in totals {
        let groups = if t.groups.is_empty() {
            &none
        } else {
            &t.groups
        };
        let group_values: Vec<&String> = if by.contains(&UsageDim::Group) {
            groups.iter().collect()
        } else {
            vec![&none[0]]
        };
        for g in group_values {
            let key: Vec<String> = by
                .iter()
                .map(|d| match d {
                    UsageDim::Principal => t.principal.clone(),
                    UsageDim::Group => g.clone(),
                    UsageDim::Key => t.key_id.clone().unwrap_or_else(|| "(none)".into()),
                    UsageDim::Model => t.model.clone(),
                    UsageDim::Deployment => t.deployment.clone(),
                    UsageDim::Day => t.day.clone(),
                })
                .collect();
            let e = acc.entry(key).or_default();
            e.0 += t.requests;
            e.1 += t.errors;
            e.2 += t.prompt_tokens;
            e.3 += t.completion_tokens;
            e.4 += t.latency_ms_sum;
        }
    }
    acc.into_iter()
        .map(
            |(key, (requests, errors, prompt, completion, latency))| UsageSummary {
                key: by.iter().map(|d| d.name()).zip(key).collect(),
                requests,
                errors,
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                avg_latency_ms: if requests == 0 {
                    0.0
                } else {
                    latency as f64 / requests as f64
                },
            },
        )
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn summaries_by_group_count_each_group() {
        let mk = |p: &str, groups: &[&str], tokens| UsageTotals {
            day: "2026-11-01".into(),
            principal: p.into(),
            key_id: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            model: "m".into(),
            deployment: "local".into(),
            requests: 1,
            errors: 0,
            prompt_tokens: tokens,
            completion_tokens: 0,
            latency_ms_sum: 10,
        };
        let totals = [mk("a", &["x", "y"], 5), mk("b", &["y"], 3), mk("c", &[], 1)];
        let by_group = summarize(&totals, &[UsageDim::Group]);
        let tokens: Vec<(String, u64)> = by_group
            .iter()
            .map(|s| (s.key["group"].clone(), s.total_tokens))
            .collect();
        assert_eq!(
            tokens,
            vec![("(none)".into(), 1), ("x".into(), 5), ("y".into(), 8)]
        );
        let all = summarize(&totals, &[]);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].total_tokens, 9);
        assert_eq!(all[0].requests, 3);
        assert!(UsageDim::parse_list("principal,bogus").is_err());
        assert_eq!(
            UsageDim::parse_list("day, model").unwrap(),
            vec![UsageDim::Day, UsageDim::Model]
        );
    }

    fn rec(day: &str, principal: &str, model: &str, tokens: u64, outcome: &str) -> UsageRecord {
        UsageRecord {
            at_ms: 0,
            day: day.into(),
            principal: principal.into(),
            key_id: Some("k1".into()),
            groups: vec!["analysts".into()],
            model: model.into(),
            deployment: "local".into(),
            dialect: "openai".into(),
            prompt_tokens: tokens,
            completion_tokens: 1,
            latency_ms: 10,
            outcome: outcome.into(),
            request_id: None,
        }
    }

    #[tokio::test]
    async fn totals_group_and_filter_by_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .insert_usage(&[
                rec("2026-11-01", "alice", "m", 5, "ok"),
                rec("2026-11-01", "alice", "m", 7, "error"),
                rec("2026-11-02", "bob", "m", 3, "ok"),
            ])
            .await
            .unwrap();
        let all = store.usage_totals(None, None).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].principal, "alice");
        assert_eq!(all[0].requests, 2);
        assert_eq!(all[0].errors, 1);
        assert_eq!(all[0].prompt_tokens, 12);
        assert_eq!(all[0].groups, vec!["analysts".to_string()]);
        let second = store
            .usage_totals(Some("2026-11-02"), Some("2026-11-02"))
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].principal, "bob");
    }
}
