-- Principals: the people and services scif knows (API key and client-certificate identities).
-- OIDC identities come from their token's claims and need no row here.
CREATE TABLE principals (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('person', 'service')),
    clearance   TEXT NOT NULL,            -- canonical banner marking
    nationality TEXT NOT NULL,            -- ISO 3166 trigraph
    us_person   INTEGER NOT NULL CHECK (us_person IN (0, 1)),
    groups      TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    accesses    TEXT NOT NULL DEFAULT '[]', -- JSON array of strings (e.g. "PHI")
    disabled    INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at  TEXT NOT NULL
);

-- API keys: only the keyed hash of the secret is stored.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    hash         BLOB NOT NULL,
    scopes       TEXT NOT NULL DEFAULT '["*"]', -- JSON array of action names, or "*"
    description  TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,              -- unix seconds
    expires_at   INTEGER,                       -- unix seconds; NULL never
    revoked_at   INTEGER                        -- unix seconds; NULL while valid
);
CREATE INDEX api_keys_principal ON api_keys (principal_id);

-- Discretionary policies: every accepted version of the Cedar policy set is kept; the highest
-- version is in force.
CREATE TABLE policy_versions (
    version    INTEGER PRIMARY KEY AUTOINCREMENT,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
