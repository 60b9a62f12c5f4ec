//! Records of who may call scif: principals, API keys (hashes only) and the versions of the
//! discretionary policy set. Interpreting them (verifying a key, deciding a request) is the
//! `scif-access` crate's job.

use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrincipalRecord {
    pub id: String,
    /// "person" or "service".
    pub kind: String,
    /// Canonical banner marking.
    pub clearance: String,
    pub nationality: String,
    pub us_person: bool,
    pub groups: Vec<String>,
    pub accesses: Vec<String>,
    pub disabled: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRow {
    pub id: String,
    pub principal_id: String,
    #[serde(skip)]
    pub hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub description: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A SigV4 credential; the secret is stored encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigV4KeyRow {
    pub access_key_id: String,
    pub principal_id: String,
    #[serde(skip)]
    pub nonce: Vec<u8>,
    #[serde(skip)]
    pub ciphertext: Vec<u8>,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Action names the credential is limited to; `["*"]` means every action.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    pub text: String,
    pub created_at: String,
    pub created_by: String,
}

fn json_list(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("list column: {e}")))
}

fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

fn row_to_principal(r: &sqlx::sqlite::SqliteRow) -> Result<PrincipalRecord, StoreError> {
    Ok(PrincipalRecord {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        clearance: r.try_get("clearance")?,
        nationality: r.try_get("nationality")?,
        us_person: r.try_get::<i64, _>("us_person")? != 0,
        groups: json_list(&r.try_get::<String, _>("groups")?)?,
        accesses: json_list(&r.try_get::<String, _>("accesses")?)?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

fn row_to_key(r: &sqlx::sqlite::SqliteRow) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        id: r.try_get("id")?,
        principal_id: r.try_get("principal_id")?,
        hash: r.try_get("hash")?,
        scopes: json_list(&r.try_get::<String, _>("scopes")?)?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    pub async fn insert_principal(&self, p: &PrincipalRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO principals (id, kind, clearance, nationality, us_person, groups, accesses, disabled, created_at) \
             VALUES (?,?,?,?,?,?,?,?,?)",
        )
        .bind(&p.id)
        .bind(&p.kind)
        .bind(&p.clearance)
        .bind(&p.nationality)
        .bind(i64::from(p.us_person))
        .bind(to_json(&p.groups))
        .bind(to_json(&p.accesses))
        .bind(i64::from(p.disabled))
        .bind(&p.created_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Exists(format!("principal {:?}", p.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces every attribute of an existing principal; `false` when there is none.
    pub async fn update_principal(&self, p: &PrincipalRecord) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE principals SET kind = ?, clearance = ?, nationality = ?, us_person = ?, groups = ?, \
             accesses = ?, disabled = ? WHERE id = ?",
        )
        .bind(&p.kind)
        .bind(&p.clearance)
        .bind(&p.nationality)
        .bind(i64::from(p.us_person))
        .bind(to_json(&p.groups))
        .bind(to_json(&p.accesses))
        .bind(i64::from(p.disabled))
        .bind(&p.id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn get_principal(&self, id: &str) -> Result<Option<PrincipalRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM principals WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_principal).transpose()
    }

    pub async fn list_principals(&self) -> Result<Vec<PrincipalRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM principals ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_principal).collect()
    }

    pub async fn count_principals(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM principals")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// Whether a principal of this id was deleted (and not created again).
    pub async fn is_retired_principal(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM retired_principals WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Deletes a principal and, by cascade, its keys; `false` when there was none. The id is
    /// retired (see [`Store::is_retired_principal`]).
    pub async fn delete_principal(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM principals WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn insert_api_key(&self, k: &ApiKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, principal_id, hash, scopes, description, created_at, expires_at, revoked_at) \
             VALUES (?,?,?,?,?,?,?,?)",
        )
        .bind(&k.id)
        .bind(&k.principal_id)
        .bind(&k.hash)
        .bind(to_json(&k.scopes))
        .bind(&k.description)
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(k.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_key).transpose()
    }

    /// Keys of one principal, or of all when `principal` is `None`; newest first.
    pub async fn list_api_keys(
        &self,
        principal: Option<&str>,
    ) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows =
            match principal {
                Some(p) => sqlx::query(
                    "SELECT * FROM api_keys WHERE principal_id = ? ORDER BY created_at DESC, id",
                )
                .bind(p)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query("SELECT * FROM api_keys ORDER BY created_at DESC, id")
                        .fetch_all(&self.pool)
                        .await?
                }
            };
        rows.iter().map(row_to_key).collect()
    }

    /// Marks a key revoked at `at` (unix seconds); `false` when there is no such key. Revoking
    /// twice keeps the first time.
    pub async fn revoke_api_key(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let r =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The policy set in force: the highest version, if any was ever stored.
    pub async fn current_policies(&self) -> Result<Option<PolicyVersion>, StoreError> {
        let row = sqlx::query("SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(PolicyVersion {
                version: r.try_get("version")?,
                text: r.try_get("text")?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("created_by")?,
            })
        })
        .transpose()
    }

    /// The version number in force (0 when none), cheap enough to poll.
    pub async fn policy_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COALESCE(MAX(version), 0) FROM policy_versions")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// Stores a new version (already validated by the caller) and returns its number.
    pub async fn insert_policies(
        &self,
        text: &str,
        created_at: &str,
        created_by: &str,
    ) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "INSERT INTO policy_versions (text, created_at, created_by) VALUES (?,?,?)",
        )
        .bind(text)
        .bind(created_at)
        .bind(created_by)
        .execute(&self.pool)
        .await?;
        Ok(r.last_insert_rowid())
    }
}

fn row_to_sigv4(r: &sqlx::sqlite::SqliteRow) -> Result<SigV4KeyRow, StoreError> {
    Ok(SigV4KeyRow {
        access_key_id: r.try_get("access_key_id")?,
        principal_id: r.try_get("principal_id")?,
        nonce: r.try_get("nonce")?,
        ciphertext: r.try_get("ciphertext")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        scopes: json_list(&r.try_get::<String, _>("scopes")?)?,
    })
}

impl Store {
    pub async fn insert_sigv4_key(&self, k: &SigV4KeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sigv4_keys (access_key_id, principal_id, nonce, ciphertext, description, created_at, expires_at, revoked_at, scopes) \
             VALUES (?,?,?,?,?,?,?,?,?)",
        )
        .bind(&k.access_key_id)
        .bind(&k.principal_id)
        .bind(&k.nonce)
        .bind(&k.ciphertext)
        .bind(&k.description)
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(k.revoked_at)
        .bind(to_json(&k.scopes))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get_sigv4_key(&self, id: &str) -> Result<Option<SigV4KeyRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM sigv4_keys WHERE access_key_id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_sigv4).transpose()
    }

    pub async fn revoke_sigv4_key(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE sigv4_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE access_key_id = ?",
        )
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }
}

impl Store {
    /// Queues an audit event (JSON) for the server to append to the trail.
    pub async fn push_audit_outbox(&self, event_json: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_outbox (event) VALUES (?)")
            .bind(event_json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The oldest queued audit events, with their ids.
    pub async fn audit_outbox(&self, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, event FROM audit_outbox ORDER BY id LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("event")?)))
            .collect()
    }

    /// Removes queued events up to and including `id` (once the trail holds them).
    pub async fn delete_audit_outbox(&self, up_to: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM audit_outbox WHERE id <= ?")
            .bind(up_to)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> PrincipalRecord {
        PrincipalRecord {
            id: "alice".into(),
            kind: "person".into(),
            clearance: "SECRET".into(),
            nationality: "USA".into(),
            us_person: true,
            groups: vec!["analysts".into()],
            accesses: vec!["PHI".into()],
            disabled: false,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn principals_keys_and_policies_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        assert_eq!(s.count_principals().await.unwrap(), 0);
        s.insert_principal(&alice()).await.unwrap();
        assert!(matches!(
            s.insert_principal(&alice()).await,
            Err(StoreError::Exists(_))
        ));
        assert_eq!(s.get_principal("alice").await.unwrap(), Some(alice()));
        let mut changed = alice();
        changed.clearance = "TOP SECRET".into();
        changed.disabled = true;
        assert!(s.update_principal(&changed).await.unwrap());
        assert_eq!(s.get_principal("alice").await.unwrap(), Some(changed));

        let key = ApiKeyRow {
            id: "k1".into(),
            principal_id: "alice".into(),
            hash: vec![7; 32],
            scopes: vec!["*".into()],
            description: "laptop".into(),
            created_at: 10,
            expires_at: Some(20),
            revoked_at: None,
        };
        s.insert_api_key(&key).await.unwrap();
        assert_eq!(s.get_api_key("k1").await.unwrap(), Some(key.clone()));
        assert!(s.revoke_api_key("k1", 15).await.unwrap());
        assert!(s.revoke_api_key("k1", 99).await.unwrap());
        assert_eq!(
            s.get_api_key("k1").await.unwrap().unwrap().revoked_at,
            Some(15)
        );
        assert!(!s.revoke_api_key("nope", 15).await.unwrap());
        let orphan = ApiKeyRow {
            principal_id: "nobody".into(),
            id: "k2".into(),
            ..key
        };
        assert!(
            s.insert_api_key(&orphan).await.is_err(),
            "foreign key enforced"
        );

        assert_eq!(s.policy_version().await.unwrap(), 0);
        assert_eq!(s.insert_policies("a", "t", "admin").await.unwrap(), 1);
        assert_eq!(s.insert_policies("b", "t", "admin").await.unwrap(), 2);
        assert_eq!(s.current_policies().await.unwrap().unwrap().text, "b");

        assert!(s.delete_principal("alice").await.unwrap());
        assert_eq!(
            s.get_api_key("k1").await.unwrap(),
            None,
            "keys go with their principal"
        );
        assert!(!s.delete_principal("alice").await.unwrap());
    }
}
