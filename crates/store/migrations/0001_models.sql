-- The model registry: every model file imported into the data directory.
CREATE TABLE models (
    name            TEXT PRIMARY KEY NOT NULL,
    file_name       TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    format          TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    parameter_count INTEGER NOT NULL,
    context_length  INTEGER NOT NULL,
    quantization    TEXT NOT NULL,
    license         TEXT,
    source_name     TEXT,
    imported_at     TEXT NOT NULL
);
