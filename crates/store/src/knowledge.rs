//! Knowledge-base records: knowledge bases, data sources, documents, chunks, ingestion jobs
//! and the embedding cache. Interpretation (labels, filters, ranking) is the service's.

use sqlx::Row;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct KbRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub role_arn: String,
    pub embedding_model: String,
    pub config: String,
    pub label: String,
    pub metadata_label: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceRow {
    pub kb_id: String,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub config: String,
    pub deletion_policy: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRow {
    pub kb_id: String,
    pub ds_id: String,
    pub doc_id: String,
    pub content_hash: String,
    pub label: String,
    pub attrs: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_by: String,
    pub updated_at: String,
}

/// A chunk to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunkRow {
    pub ordinal: i64,
    pub text: String,
    pub label: String,
    pub vector: Vec<f32>,
}

/// A stored chunk, with its document's label and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRow {
    pub id: i64,
    pub ds_id: String,
    pub doc_id: String,
    pub ordinal: i64,
    pub text: String,
    pub label: String,
    pub vector: Vec<f32>,
    pub doc_label: String,
    pub doc_attrs: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub kb_id: String,
    pub ds_id: String,
    pub id: String,
    pub description: Option<String>,
    pub status: String,
    pub stats: String,
    pub started_at: String,
    pub updated_at: String,
}

/// Little-endian f32 bytes.
pub fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn vector_of(b: &[u8]) -> Result<Vec<f32>, StoreError> {
    if !b.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(
            "a stored vector's length is not a multiple of 4".into(),
        ));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn kb_of(r: &sqlx::sqlite::SqliteRow) -> Result<KbRow, StoreError> {
    Ok(KbRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        role_arn: r.try_get("role_arn")?,
        embedding_model: r.try_get("embedding_model")?,
        config: r.try_get("config")?,
        label: r.try_get("label")?,
        metadata_label: r.try_get("metadata_label")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn ds_of(r: &sqlx::sqlite::SqliteRow) -> Result<DataSourceRow, StoreError> {
    Ok(DataSourceRow {
        kb_id: r.try_get("kb_id")?,
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        config: r.try_get("config")?,
        deletion_policy: r.try_get("deletion_policy")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn doc_of(r: &sqlx::sqlite::SqliteRow) -> Result<DocumentRow, StoreError> {
    Ok(DocumentRow {
        kb_id: r.try_get("kb_id")?,
        ds_id: r.try_get("ds_id")?,
        doc_id: r.try_get("doc_id")?,
        content_hash: r.try_get("content_hash")?,
        label: r.try_get("label")?,
        attrs: r.try_get("attrs")?,
        status: r.try_get("status")?,
        status_reason: r.try_get("status_reason")?,
        created_by: r.try_get("created_by")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn job_of(r: &sqlx::sqlite::SqliteRow) -> Result<JobRow, StoreError> {
    Ok(JobRow {
        kb_id: r.try_get("kb_id")?,
        ds_id: r.try_get("ds_id")?,
        id: r.try_get("id")?,
        description: r.try_get("description")?,
        status: r.try_get("status")?,
        stats: r.try_get("stats")?,
        started_at: r.try_get("started_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn unique(e: sqlx::Error, what: String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Exists(what),
        _ => StoreError::Db(e),
    }
}

impl Store {
    pub async fn insert_knowledge_base(&self, kb: &KbRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO knowledge_bases (id, name, description, role_arn, embedding_model, config, label, metadata_label, created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            .bind(&kb.id).bind(&kb.name).bind(&kb.description).bind(&kb.role_arn)
            .bind(&kb.embedding_model).bind(&kb.config).bind(&kb.label).bind(&kb.metadata_label)
            .bind(&kb.created_by).bind(&kb.created_at).bind(&kb.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| unique(e, format!("knowledge base {:?}", kb.name)))?;
        Ok(())
    }

    pub async fn knowledge_base(&self, id: &str) -> Result<Option<KbRow>, StoreError> {
        let r = sqlx::query("SELECT * FROM knowledge_bases WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(kb_of).transpose()
    }

    pub async fn knowledge_bases(&self) -> Result<Vec<KbRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM knowledge_bases ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(kb_of).collect()
    }

    /// Deletes a knowledge base with everything in it; whether it existed.
    pub async fn delete_knowledge_base(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM kb_chunks WHERE kb_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM knowledge_bases WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn insert_data_source(&self, ds: &DataSourceRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO kb_data_sources (kb_id, id, name, description, config, deletion_policy, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)")
            .bind(&ds.kb_id).bind(&ds.id).bind(&ds.name).bind(&ds.description)
            .bind(&ds.config).bind(&ds.deletion_policy).bind(&ds.created_at).bind(&ds.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| unique(e, format!("data source {:?}", ds.name)))?;
        Ok(())
    }

    pub async fn data_source(
        &self,
        kb: &str,
        id: &str,
    ) -> Result<Option<DataSourceRow>, StoreError> {
        let r = sqlx::query("SELECT * FROM kb_data_sources WHERE kb_id = ? AND id = ?")
            .bind(kb)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(ds_of).transpose()
    }

    pub async fn data_sources(&self, kb: &str) -> Result<Vec<DataSourceRow>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM kb_data_sources WHERE kb_id = ? ORDER BY created_at, id")
                .bind(kb)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(ds_of).collect()
    }

    pub async fn delete_data_source(&self, kb: &str, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM kb_chunks WHERE kb_id = ? AND ds_id = ?")
            .bind(kb)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM kb_data_sources WHERE kb_id = ? AND id = ?")
            .bind(kb)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Inserts or replaces a document's record (its chunks are replaced by
    /// [`Store::replace_chunks`] once embedded). `pending` is the work still to do (the
    /// document's labelled paragraphs), kept until the chunks are stored so that a restart
    /// resumes it.
    pub async fn upsert_document(
        &self,
        d: &DocumentRow,
        pending: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO kb_documents (kb_id, ds_id, doc_id, content_hash, label, attrs, status, status_reason, created_by, updated_at, pending) VALUES (?,?,?,?,?,?,?,?,?,?,?) \
            ON CONFLICT (kb_id, ds_id, doc_id) DO UPDATE SET content_hash = excluded.content_hash, label = excluded.label, attrs = excluded.attrs, status = excluded.status, status_reason = excluded.status_reason, created_by = excluded.created_by, updated_at = excluded.updated_at, pending = excluded.pending")
            .bind(&d.kb_id).bind(&d.ds_id).bind(&d.doc_id).bind(&d.content_hash).bind(&d.label)
            .bind(&d.attrs).bind(&d.status).bind(&d.status_reason).bind(&d.created_by).bind(&d.updated_at)
            .bind(pending)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn document(
        &self,
        kb: &str,
        ds: &str,
        doc: &str,
    ) -> Result<Option<DocumentRow>, StoreError> {
        let r =
            sqlx::query("SELECT * FROM kb_documents WHERE kb_id = ? AND ds_id = ? AND doc_id = ?")
                .bind(kb)
                .bind(ds)
                .bind(doc)
                .fetch_optional(&self.pool)
                .await?;
        r.as_ref().map(doc_of).transpose()
    }

    /// Every document whose chunks are still to be made, with that work, oldest first.
    pub async fn pending_documents(&self) -> Result<Vec<(DocumentRow, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM kb_documents WHERE pending IS NOT NULL ORDER BY updated_at, kb_id, ds_id, doc_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((doc_of(r)?, r.try_get::<String, _>("pending")?)))
            .collect()
    }

    pub async fn documents(&self, kb: &str, ds: &str) -> Result<Vec<DocumentRow>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM kb_documents WHERE kb_id = ? AND ds_id = ? ORDER BY doc_id")
                .bind(kb)
                .bind(ds)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(doc_of).collect()
    }

    /// Sets a document's status, if its content is still `content_hash` (a newer version
    /// ingested meanwhile keeps its own status).
    pub async fn set_document_status(
        &self,
        d: &DocumentRow,
        status: &str,
        reason: Option<&str>,
        at: &str,
    ) -> Result<(), StoreError> {
        // A failed document's work is dropped: it is retried by ingesting it again.
        sqlx::query("UPDATE kb_documents SET status = ?1, status_reason = ?2, updated_at = ?3, pending = CASE WHEN ?1 = 'FAILED' THEN NULL ELSE pending END WHERE kb_id = ?4 AND ds_id = ?5 AND doc_id = ?6 AND content_hash = ?7")
            .bind(status).bind(reason).bind(at)
            .bind(&d.kb_id).bind(&d.ds_id).bind(&d.doc_id).bind(&d.content_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_document(&self, kb: &str, ds: &str, doc: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM kb_chunks WHERE kb_id = ? AND ds_id = ? AND doc_id = ?")
            .bind(kb)
            .bind(ds)
            .bind(doc)
            .execute(&mut *tx)
            .await?;
        let n =
            sqlx::query("DELETE FROM kb_documents WHERE kb_id = ? AND ds_id = ? AND doc_id = ?")
                .bind(kb)
                .bind(ds)
                .bind(doc)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Replaces a document's chunks and marks it `INDEXED`, in one transaction, if its
    /// content is still `d.content_hash`; the new chunks' ids, or `None` when a newer version
    /// of the document replaced this one meanwhile.
    pub async fn replace_chunks(
        &self,
        d: &DocumentRow,
        chunks: &[NewChunkRow],
        at: &str,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let mut tx = self.write_tx().await?;
        let current: Option<String> = sqlx::query_scalar(
            "SELECT content_hash FROM kb_documents WHERE kb_id = ? AND ds_id = ? AND doc_id = ?",
        )
        .bind(&d.kb_id)
        .bind(&d.ds_id)
        .bind(&d.doc_id)
        .fetch_optional(&mut *tx)
        .await?;
        if current.as_deref() != Some(d.content_hash.as_str()) {
            return Ok(None);
        }
        sqlx::query("DELETE FROM kb_chunks WHERE kb_id = ? AND ds_id = ? AND doc_id = ?")
            .bind(&d.kb_id)
            .bind(&d.ds_id)
            .bind(&d.doc_id)
            .execute(&mut *tx)
            .await?;
        let mut ids = Vec::with_capacity(chunks.len());
        for c in chunks {
            let id: i64 = sqlx::query_scalar("INSERT INTO kb_chunks (kb_id, ds_id, doc_id, ordinal, text, label, vector) VALUES (?,?,?,?,?,?,?) RETURNING id")
                .bind(&d.kb_id).bind(&d.ds_id).bind(&d.doc_id).bind(c.ordinal)
                .bind(&c.text).bind(&c.label).bind(vector_bytes(&c.vector))
                .fetch_one(&mut *tx)
                .await?;
            ids.push(id);
        }
        sqlx::query("UPDATE kb_documents SET status = 'INDEXED', status_reason = NULL, pending = NULL, updated_at = ? WHERE kb_id = ? AND ds_id = ? AND doc_id = ?")
            .bind(at).bind(&d.kb_id).bind(&d.ds_id).bind(&d.doc_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ids))
    }

    /// Every chunk of a knowledge base, with its document's label and attributes.
    pub async fn chunks(&self, kb: &str) -> Result<Vec<ChunkRow>, StoreError> {
        let rows = sqlx::query("SELECT c.id, c.ds_id, c.doc_id, c.ordinal, c.text, c.label, c.vector, d.label AS doc_label, d.attrs AS doc_attrs \
            FROM kb_chunks c JOIN kb_documents d ON d.kb_id = c.kb_id AND d.ds_id = c.ds_id AND d.doc_id = c.doc_id WHERE c.kb_id = ? ORDER BY c.id")
            .bind(kb)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let v: Vec<u8> = r.try_get("vector")?;
                Ok(ChunkRow {
                    id: r.try_get("id")?,
                    ds_id: r.try_get("ds_id")?,
                    doc_id: r.try_get("doc_id")?,
                    ordinal: r.try_get("ordinal")?,
                    text: r.try_get("text")?,
                    label: r.try_get("label")?,
                    vector: vector_of(&v)?,
                    doc_label: r.try_get("doc_label")?,
                    doc_attrs: r.try_get("doc_attrs")?,
                })
            })
            .collect()
    }

    pub async fn upsert_ingestion_job(&self, j: &JobRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO kb_ingestion_jobs (kb_id, ds_id, id, description, status, stats, started_at, updated_at) VALUES (?,?,?,?,?,?,?,?) \
            ON CONFLICT (kb_id, ds_id, id) DO UPDATE SET status = excluded.status, stats = excluded.stats, updated_at = excluded.updated_at")
            .bind(&j.kb_id).bind(&j.ds_id).bind(&j.id).bind(&j.description)
            .bind(&j.status).bind(&j.stats).bind(&j.started_at).bind(&j.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn ingestion_jobs(&self, kb: &str, ds: &str) -> Result<Vec<JobRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM kb_ingestion_jobs WHERE kb_id = ? AND ds_id = ? ORDER BY started_at, id",
        )
        .bind(kb)
        .bind(ds)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_of).collect()
    }

    /// Cached embeddings of `model` for text digests (those found).
    pub async fn cached_embeddings(
        &self,
        model: &str,
        digests: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<f32>>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for d in digests {
            let v: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT vector FROM embedding_cache WHERE model = ? AND text_sha = ?",
            )
            .bind(model)
            .bind(d)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(v) = v {
                out.insert(d.clone(), vector_of(&v)?);
            }
        }
        Ok(out)
    }

    pub async fn cache_embeddings(
        &self,
        model: &str,
        entries: &[(String, Vec<f32>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (d, v) in entries {
            sqlx::query(
                "INSERT OR REPLACE INTO embedding_cache (model, text_sha, vector) VALUES (?,?,?)",
            )
            .bind(model)
            .bind(d)
            .bind(vector_bytes(v))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
