-- Guardrails: named, versioned objects. A version is immutable once written: a change is a new
-- version, and the trigger below refuses updates, so what a past request was checked against can
-- always be read back.
CREATE TABLE guardrails (
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,     -- the guardrail as JSON (Bedrock CreateGuardrail shape)
    created_at  TEXT NOT NULL,     -- RFC 3339
    created_by  TEXT NOT NULL,     -- principal id, or "cli"
    PRIMARY KEY (id, version)
);

CREATE TRIGGER guardrails_immutable BEFORE UPDATE ON guardrails
BEGIN
    SELECT RAISE(ABORT, 'guardrail versions are immutable');
END;

-- Which guardrail version applies to which model, principal or group. One version per
-- (guardrail, target); attaching again replaces the version.
CREATE TABLE guardrail_attachments (
    guardrail_id TEXT NOT NULL,
    version      INTEGER NOT NULL,
    target_kind  TEXT NOT NULL CHECK (target_kind IN ('model', 'principal', 'group')),
    target       TEXT NOT NULL,
    PRIMARY KEY (guardrail_id, target_kind, target),
    FOREIGN KEY (guardrail_id, version) REFERENCES guardrails (id, version)
);
