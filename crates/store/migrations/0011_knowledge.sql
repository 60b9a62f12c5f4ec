-- Knowledge bases (Bedrock's shape): data sources, documents, chunks with their own labels
-- and vectors, ingestion jobs, and an embedding cache keyed by model and text digest.
-- Labels are canonical banner markings; one that no longer parses is unreadable to everyone.
CREATE TABLE knowledge_bases (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT,
    role_arn        TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    config          TEXT NOT NULL,          -- JSON: knowledgeBaseConfiguration, storageConfiguration
    label           TEXT NOT NULL,          -- the ceiling no document may exceed
    metadata_label  TEXT NOT NULL,          -- the label of the knowledge base's own record
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE kb_data_sources (
    kb_id           TEXT NOT NULL REFERENCES knowledge_bases(id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT,
    config          TEXT NOT NULL,          -- JSON: dataSourceConfiguration, vectorIngestionConfiguration
    deletion_policy TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (kb_id, id)
);

CREATE TABLE kb_documents (
    kb_id         TEXT NOT NULL,
    ds_id         TEXT NOT NULL,
    doc_id        TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    label         TEXT NOT NULL,
    attrs         TEXT NOT NULL,            -- JSON
    status        TEXT NOT NULL,
    status_reason TEXT,
    created_by    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- The document's labelled paragraphs (JSON [{text, label}]) while its chunks are not yet
    -- stored: an acknowledged ingestion survives a restart and is resumed.
    pending       TEXT,
    PRIMARY KEY (kb_id, ds_id, doc_id),
    FOREIGN KEY (kb_id, ds_id) REFERENCES kb_data_sources(kb_id, id) ON DELETE CASCADE
);

CREATE TABLE kb_chunks (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kb_id   TEXT NOT NULL,
    ds_id   TEXT NOT NULL,
    doc_id  TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text    TEXT NOT NULL,
    label   TEXT NOT NULL,
    vector  BLOB NOT NULL,                  -- little-endian f32
    FOREIGN KEY (kb_id, ds_id, doc_id) REFERENCES kb_documents(kb_id, ds_id, doc_id) ON DELETE CASCADE
);
CREATE INDEX kb_chunks_doc ON kb_chunks (kb_id, ds_id, doc_id);

CREATE TABLE kb_ingestion_jobs (
    kb_id       TEXT NOT NULL,
    ds_id       TEXT NOT NULL,
    id          TEXT NOT NULL,
    description TEXT,
    status      TEXT NOT NULL,
    stats       TEXT NOT NULL,              -- JSON: IngestionJobStatistics
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (kb_id, ds_id, id),
    FOREIGN KEY (kb_id, ds_id) REFERENCES kb_data_sources(kb_id, id) ON DELETE CASCADE
);

CREATE TABLE embedding_cache (
    model    TEXT NOT NULL,                 -- the model's name and file digest
    text_sha TEXT NOT NULL,
    vector   BLOB NOT NULL,
    PRIMARY KEY (model, text_sha)
);
