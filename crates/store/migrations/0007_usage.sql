-- Metering: one row per model invocation (principal, model, deployment, tokens, latency,
-- outcome). Summaries group these by principal, group, model and UTC day.
CREATE TABLE usage_records (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms             INTEGER NOT NULL,  -- unix milliseconds when the invocation ended
    day               TEXT NOT NULL,     -- its UTC date, YYYY-MM-DD
    principal         TEXT NOT NULL,
    key_id            TEXT,              -- API key or SigV4 access key, when one was used
    groups            TEXT NOT NULL,     -- JSON array: the principal's groups at the time
    model             TEXT NOT NULL,
    deployment        TEXT NOT NULL,     -- "local" for the embedded engine
    dialect           TEXT NOT NULL,     -- "openai" or "bedrock"
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    outcome           TEXT NOT NULL,     -- "ok", "error", "cancelled", "client_closed"
    request_id        TEXT
);
CREATE INDEX usage_records_day ON usage_records (day);
