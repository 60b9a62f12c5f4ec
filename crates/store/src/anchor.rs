//! Each node's audit anchor: the last record of its trail it knows is on disk, kept here,
//! outside the segment files, so that a trail cut short, rolled back or replaced is caught at
//! start (docs/adr/0012-audit-anchor.md).

use sqlx::Row;

use crate::{Store, StoreError};

/// A node's audit anchor: the last record it knows is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAnchor {
    pub seq: u64,
    pub hash: String,
    pub updated_at: String,
    /// The audit public key (hex) the node last signed with; empty if not yet known.
    pub public_key: String,
}

impl Store {
    pub async fn audit_anchor(&self, node: &str) -> Result<Option<AuditAnchor>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash, updated_at, public_key FROM audit_anchor WHERE node = ?",
        )
        .bind(node)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AuditAnchor {
                seq: u64::try_from(r.try_get::<i64, _>("seq")?).unwrap_or(0),
                hash: r.try_get("hash")?,
                updated_at: r.try_get("updated_at")?,
                public_key: r.try_get("public_key")?,
            })
        })
        .transpose()
    }

    /// Moves the anchor forward (never back: an older head is ignored).
    pub async fn advance_audit_anchor(
        &self,
        node: &str,
        seq: u64,
        hash: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.put_audit_anchor(node, seq, hash, at, true).await
    }

    /// Records the public key the node signs with (after its anchor exists).
    pub async fn set_audit_anchor_key(
        &self,
        node: &str,
        public_key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE audit_anchor SET public_key = ? WHERE node = ?")
            .bind(public_key)
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets the anchor to what the trail holds now, forward or back: the operator's repair
    /// after investigating a refused trail (recorded in the trail by the caller).
    pub async fn reset_audit_anchor(
        &self,
        node: &str,
        seq: u64,
        hash: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.put_audit_anchor(node, seq, hash, at, false).await
    }

    async fn put_audit_anchor(
        &self,
        node: &str,
        seq: u64,
        hash: &str,
        at: &str,
        forward_only: bool,
    ) -> Result<(), StoreError> {
        let sql = if forward_only {
            "INSERT INTO audit_anchor (node, seq, hash, updated_at) VALUES (?,?,?,?) \
             ON CONFLICT (node) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
             updated_at = excluded.updated_at WHERE excluded.seq >= audit_anchor.seq"
        } else {
            "INSERT INTO audit_anchor (node, seq, hash, updated_at) VALUES (?,?,?,?) \
             ON CONFLICT (node) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
             updated_at = excluded.updated_at"
        };
        sqlx::query(sql)
            .bind(node)
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(hash)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
