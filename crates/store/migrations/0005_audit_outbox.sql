-- Audit events from processes that do not hold the audit trail (the CLI's admin changes), kept
-- here until the server appends them to the trail and deletes them.
CREATE TABLE audit_outbox (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL            -- JSON of a scif_audit::Event
);
