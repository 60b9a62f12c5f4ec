-- SigV4 credentials carry scopes like API keys ("*" is every action the principal may take).
-- Credentials made before scopes existed keep what they could do.
ALTER TABLE sigv4_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '["*"]';

-- A guardrail has a security label: using or reading it needs read access to that label.
-- An empty label (guardrails made before labels existed) is read as the system high.
ALTER TABLE guardrails ADD COLUMN label TEXT NOT NULL DEFAULT '';

-- Ids of deleted principals. An OIDC token whose subject names one is refused: deleting a
-- principal locks that identity out, whatever the identity provider still signs. Creating a
-- principal of that id again lifts it.
CREATE TABLE retired_principals (
    id         TEXT PRIMARY KEY NOT NULL,
    retired_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TRIGGER principals_retire AFTER DELETE ON principals
BEGIN
    INSERT OR REPLACE INTO retired_principals (id) VALUES (OLD.id);
END;

CREATE TRIGGER principals_unretire AFTER INSERT ON principals
BEGIN
    DELETE FROM retired_principals WHERE id = NEW.id;
END;
