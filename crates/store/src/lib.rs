//! scif's state: an embedded SQLite database in the data directory, reached through `sqlx` so
//! that PostgreSQL can later sit behind the same queries. Migrations run when the store opens.
//!
//! This crate holds records only; it does not interpret model files or speak HTTP.

mod anchor;
mod guardrails;
mod identity;
mod knowledge;
mod usage;

pub use anchor::AuditAnchor;
pub use guardrails::{AttachmentRow, GuardrailRow, NewGuardrailVersion};
pub use identity::{ApiKeyRow, PolicyVersion, PrincipalRecord, SigV4KeyRow};
pub use knowledge::{
    vector_bytes, ChunkRow, DataSourceRow, DocumentRow, JobRow, KbRow, NewChunkRow,
};
pub use usage::{summarize, UsageDim, UsageRecord, UsageSummary, UsageTotals};

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {path}: {message}")]
    DataDir { path: String, message: String },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("model {0:?} already exists")]
    ModelExists(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

/// One imported model as the registry records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    pub name: String,
    /// File name inside `<data_dir>/models`.
    pub file_name: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub format: String,
    pub architecture: String,
    pub parameter_count: u64,
    pub context_length: u64,
    pub quantization: String,
    pub license: Option<String>,
    /// The name the file gives itself (`general.name`).
    pub source_name: Option<String>,
    /// RFC 3339 time of import.
    pub imported_at: String,
    /// The model's classification label, as a canonical banner marking.
    pub label: String,
    /// Handling caveats beyond the label: "itar", "phi".
    pub handling: Vec<String>,
}

#[derive(Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    data_dir: PathBuf,
}

impl Store {
    /// Open (creating if needed) the data directory and its database, and migrate it.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir_err = |message: String| StoreError::DataDir {
            path: data_dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(data_dir.join("models")).map_err(|e| dir_err(e.to_string()))?;
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(data_dir.join("scif.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            data_dir: data_dir.to_path_buf(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn models_dir(&self) -> PathBuf {
        self.data_dir.join("models")
    }

    /// A transaction that takes SQLite's write lock when it begins (`BEGIN IMMEDIATE`), waiting
    /// out other writers. A deferred transaction that reads and then writes fails at once with
    /// `SQLITE_BUSY` when another connection wrote in between (the usage writer runs in the
    /// background), which reached callers as an internal error; every write transaction here
    /// begins this way.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A cheap write-and-read round trip, for readiness checks.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("CREATE TEMP TABLE IF NOT EXISTS readiness (x INTEGER)")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO readiness (x) VALUES (1)")
            .execute(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(())
    }

    pub async fn insert_model(&self, m: &ModelRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO models (name, file_name, sha256, size_bytes, format, architecture, parameter_count, \
             context_length, quantization, license, source_name, imported_at, label, handling) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(&m.name)
        .bind(&m.file_name)
        .bind(&m.sha256)
        .bind(m.size_bytes as i64)
        .bind(&m.format)
        .bind(&m.architecture)
        .bind(m.parameter_count as i64)
        .bind(m.context_length as i64)
        .bind(&m.quantization)
        .bind(&m.license)
        .bind(&m.source_name)
        .bind(&m.imported_at)
        .bind(&m.label)
        .bind(serde_json::Value::from(m.handling.clone()).to_string())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::ModelExists(m.name.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_models(&self) -> Result<Vec<ModelRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM models ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_model).collect()
    }

    pub async fn get_model(&self, name: &str) -> Result<Option<ModelRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM models WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_model).transpose()
    }

    /// Remove a model's record; returns it if it existed.
    pub async fn remove_model(&self, name: &str) -> Result<Option<ModelRecord>, StoreError> {
        let Some(m) = self.get_model(name).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM models WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(Some(m))
    }

    /// Whether another record still uses a model file (files are shared by digest).
    /// Sets a model's label (a canonical banner); `false` when there is no such model.
    pub async fn set_model_label(&self, name: &str, label: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE models SET label = ? WHERE name = ?")
            .bind(label)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets a model's handling caveats; `false` when there is no such model.
    pub async fn set_model_handling(
        &self,
        name: &str,
        handling: &[String],
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE models SET handling = ? WHERE name = ?")
            .bind(serde_json::Value::from(handling.to_vec()).to_string())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn file_in_use(&self, file_name: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM models WHERE file_name = ?")
            .bind(file_name)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(n > 0)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn row_to_model(r: &sqlx::sqlite::SqliteRow) -> Result<ModelRecord, StoreError> {
    Ok(ModelRecord {
        name: r.try_get("name")?,
        file_name: r.try_get("file_name")?,
        sha256: r.try_get("sha256")?,
        size_bytes: r.try_get::<i64, _>("size_bytes")? as u64,
        format: r.try_get("format")?,
        architecture: r.try_get("architecture")?,
        parameter_count: r.try_get::<i64, _>("parameter_count")? as u64,
        context_length: r.try_get::<i64, _>("context_length")? as u64,
        quantization: r.try_get("quantization")?,
        license: r.try_get("license")?,
        source_name: r.try_get("source_name")?,
        imported_at: r.try_get("imported_at")?,
        label: r.try_get("label")?,
        handling: serde_json::from_str(&r.try_get::<String, _>("handling")?)
            .map_err(|e| StoreError::Corrupt(format!("models.handling: {e}")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> ModelRecord {
        ModelRecord {
            name: name.into(),
            file_name: "abc.gguf".into(),
            sha256: "abc".into(),
            size_bytes: 10,
            format: "gguf".into(),
            architecture: "llama".into(),
            parameter_count: 1,
            context_length: 2,
            quantization: "Q4_1".into(),
            license: Some("apache-2.0".into()),
            source_name: None,
            imported_at: "2026-01-01T00:00:00Z".into(),
            label: "SECRET//NOFORN".into(),
            handling: vec!["itar".into()],
        }
    }

    #[tokio::test]
    async fn models_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        s.check_writable().await.unwrap();
        s.insert_model(&record("b")).await.unwrap();
        s.insert_model(&record("a")).await.unwrap();
        assert!(matches!(
            s.insert_model(&record("a")).await,
            Err(StoreError::ModelExists(_))
        ));
        s.close().await;
        let s = Store::open(dir.path()).await.unwrap();
        let names: Vec<_> = s
            .list_models()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s.get_model("a").await.unwrap(), Some(record("a")));
        assert!(s.file_in_use("abc.gguf").await.unwrap());
        assert_eq!(
            s.remove_model("a").await.unwrap().map(|m| m.name),
            Some("a".into())
        );
        assert_eq!(s.remove_model("a").await.unwrap(), None);
        assert!(s.file_in_use("abc.gguf").await.unwrap(), "b still uses it");
    }
}
