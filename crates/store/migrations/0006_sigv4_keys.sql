-- SigV4 credentials (access key id + secret access key) for AWS SDK clients. SigV4 needs the
-- secret itself to recompute signatures, so it is stored encrypted (ChaCha20-Poly1305 under a
-- key in the data directory's secrets/), never in the clear.
CREATE TABLE sigv4_keys (
    access_key_id TEXT PRIMARY KEY NOT NULL,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX sigv4_keys_principal ON sigv4_keys (principal_id);
