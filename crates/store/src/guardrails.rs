//! Guardrail versions and their attachments. Versions are immutable: writing one means adding
//! the next version number (the table's trigger refuses updates).

use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

/// One stored guardrail version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardrailRow {
    pub id: String,
    pub version: u32,
    pub name: String,
    /// The guardrail as JSON.
    pub spec: String,
    pub created_at: String,
    pub created_by: String,
    /// The guardrail's security label (canonical banner); empty means the system high.
    pub label: String,
}

/// A version to write (its number is the next one).
#[derive(Debug, Clone, Copy)]
pub struct NewGuardrailVersion<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The guardrail as JSON.
    pub spec: &'a str,
    pub created_at: &'a str,
    pub created_by: &'a str,
    /// Canonical banner; empty means the system high.
    pub label: &'a str,
}

/// A guardrail version attached to a model, a principal or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentRow {
    pub guardrail_id: String,
    pub version: u32,
    /// "model", "principal" or "group".
    pub target_kind: String,
    pub target: String,
}

fn row(r: &sqlx::sqlite::SqliteRow) -> Result<GuardrailRow, StoreError> {
    Ok(GuardrailRow {
        id: r.try_get("id")?,
        version: r.try_get::<i64, _>("version")? as u32,
        name: r.try_get("name")?,
        spec: r.try_get("spec")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        label: r.try_get("label")?,
    })
}

impl Store {
    /// Adds a version of guardrail `id` (version 1 creates it) and returns its number. With
    /// `must_exist`, a guardrail that has no version yet is an error (`Ok(None)`).
    pub async fn add_guardrail_version(
        &self,
        new: &NewGuardrailVersion<'_>,
        must_exist: bool,
    ) -> Result<Option<u32>, StoreError> {
        let NewGuardrailVersion {
            id,
            name,
            spec,
            created_at,
            created_by,
            label,
        } = *new;
        let mut tx = self.write_tx().await?;
        let latest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM guardrails WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if must_exist && latest.is_none() {
            return Ok(None);
        }
        if !must_exist && latest.is_some() {
            return Err(StoreError::Exists(format!("guardrail {id:?}")));
        }
        let version = latest.unwrap_or(0) + 1;
        sqlx::query("INSERT INTO guardrails (id, version, name, spec, created_at, created_by, label) VALUES (?,?,?,?,?,?,?)")
            .bind(id)
            .bind(version)
            .bind(name)
            .bind(spec)
            .bind(created_at)
            .bind(created_by)
            .bind(label)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(version as u32))
    }

    /// One version of a guardrail, or its latest with `version: None`.
    pub async fn get_guardrail(
        &self,
        id: &str,
        version: Option<u32>,
    ) -> Result<Option<GuardrailRow>, StoreError> {
        let r = match version {
            Some(v) => {
                sqlx::query("SELECT * FROM guardrails WHERE id = ? AND version = ?")
                    .bind(id)
                    .bind(i64::from(v))
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM guardrails WHERE id = ? ORDER BY version DESC LIMIT 1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        r.as_ref().map(row).transpose()
    }

    /// Every version of one guardrail (`Some(id)`) or the latest version of each (`None`).
    pub async fn list_guardrails(&self, id: Option<&str>) -> Result<Vec<GuardrailRow>, StoreError> {
        let rows = match id {
            Some(id) => {
                sqlx::query("SELECT * FROM guardrails WHERE id = ? ORDER BY version")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(
                    "SELECT g.* FROM guardrails g JOIN (SELECT id, MAX(version) AS v FROM guardrails GROUP BY id) l \
                     ON g.id = l.id AND g.version = l.v ORDER BY g.id",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(row).collect()
    }

    /// Attaches a version to a target, replacing the version attached there before. Returns
    /// false when that version does not exist.
    pub async fn attach_guardrail(&self, a: &AttachmentRow) -> Result<bool, StoreError> {
        if self
            .get_guardrail(&a.guardrail_id, Some(a.version))
            .await?
            .is_none()
        {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO guardrail_attachments (guardrail_id, version, target_kind, target) VALUES (?,?,?,?) \
             ON CONFLICT (guardrail_id, target_kind, target) DO UPDATE SET version = excluded.version",
        )
        .bind(&a.guardrail_id)
        .bind(i64::from(a.version))
        .bind(&a.target_kind)
        .bind(&a.target)
        .execute(&self.pool)
        .await?;
        Ok(true)
    }

    /// Detaches a guardrail from a target; false if it was not attached there.
    pub async fn detach_guardrail(
        &self,
        id: &str,
        target_kind: &str,
        target: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM guardrail_attachments WHERE guardrail_id = ? AND target_kind = ? AND target = ?")
            .bind(id)
            .bind(target_kind)
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Every attachment.
    pub async fn guardrail_attachments(&self) -> Result<Vec<AttachmentRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM guardrail_attachments ORDER BY target_kind, target, guardrail_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AttachmentRow {
                    guardrail_id: r.try_get("guardrail_id")?,
                    version: r.try_get::<i64, _>("version")? as u32,
                    target_kind: r.try_get("target_kind")?,
                    target: r.try_get("target")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v(spec: &str) -> NewGuardrailVersion<'_> {
        NewGuardrailVersion {
            id: "g",
            name: "g",
            spec,
            created_at: "t",
            created_by: "cli",
            label: "",
        }
    }

    /// Versions added while another connection keeps writing (the background usage writer)
    /// all land: a read-then-write transaction waits for the write lock instead of failing
    /// with `SQLITE_BUSY`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_land_while_usage_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        let writer = {
            let s = s.clone();
            tokio::spawn(async move {
                let rec = crate::UsageRecord {
                    at_ms: 0,
                    day: "2026-12-03".into(),
                    principal: "p".into(),
                    key_id: None,
                    groups: vec![],
                    model: "m".into(),
                    deployment: "d".into(),
                    dialect: "openai".into(),
                    prompt_tokens: 1,
                    completion_tokens: 1,
                    latency_ms: 1,
                    outcome: "ok".into(),
                    request_id: None,
                };
                for _ in 0..300 {
                    s.insert_usage(std::slice::from_ref(&rec)).await.unwrap();
                }
            })
        };
        let mut adders = Vec::new();
        for k in 0..3 {
            let s = s.clone();
            adders.push(tokio::spawn(async move {
                let id = format!("g{k}");
                for n in 0..40 {
                    let v = NewGuardrailVersion {
                        id: &id,
                        name: "g",
                        spec: "{}",
                        created_at: "t",
                        created_by: "cli",
                        label: "",
                    };
                    s.add_guardrail_version(&v, n > 0).await.unwrap();
                }
            }));
        }
        for a in adders {
            a.await.unwrap();
        }
        writer.await.unwrap();
        for k in 0..3 {
            let latest = s.get_guardrail(&format!("g{k}"), None).await.unwrap();
            assert_eq!(latest.unwrap().version, 40);
        }
    }

    #[tokio::test]
    async fn versions_are_immutable_and_attachments_replace() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        assert_eq!(s.add_guardrail_version(&v("{}"), true).await.unwrap(), None);
        assert_eq!(
            s.add_guardrail_version(&v("{\"v\":1}"), false)
                .await
                .unwrap(),
            Some(1)
        );
        assert!(s.add_guardrail_version(&v("{}"), false).await.is_err());
        assert_eq!(
            s.add_guardrail_version(&v("{\"v\":2}"), true)
                .await
                .unwrap(),
            Some(2)
        );
        assert_eq!(
            s.get_guardrail("g", None).await.unwrap().unwrap().version,
            2
        );
        assert_eq!(
            s.get_guardrail("g", Some(1)).await.unwrap().unwrap().spec,
            "{\"v\":1}"
        );
        let upd = sqlx::query("UPDATE guardrails SET spec = 'x' WHERE id = 'g'")
            .execute(&s.pool)
            .await;
        assert!(upd.is_err(), "an update must be refused");
        let a = AttachmentRow {
            guardrail_id: "g".into(),
            version: 1,
            target_kind: "model".into(),
            target: "m".into(),
        };
        assert!(s.attach_guardrail(&a).await.unwrap());
        assert!(s
            .attach_guardrail(&AttachmentRow {
                version: 2,
                ..a.clone()
            })
            .await
            .unwrap());
        assert!(!s
            .attach_guardrail(&AttachmentRow {
                version: 9,
                ..a.clone()
            })
            .await
            .unwrap());
        let all = s.guardrail_attachments().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].version, 2);
        assert!(s.detach_guardrail("g", "model", "m").await.unwrap());
        assert!(!s.detach_guardrail("g", "model", "m").await.unwrap());
        assert_eq!(s.list_guardrails(None).await.unwrap().len(), 1);
        assert_eq!(s.list_guardrails(Some("g")).await.unwrap().len(), 2);
    }
}
