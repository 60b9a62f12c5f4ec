-- Each node's audit trail, anchored outside its segment files: the last record the node knows
-- is on disk. A trail found shorter than, older than or different from its anchor is refused
-- at start (see docs/adr/0012-audit-anchor.md).
CREATE TABLE audit_anchor (
    node       TEXT PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq >= 0),
    hash       TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    public_key TEXT NOT NULL DEFAULT ''   -- hex; a change is recorded in the trail
);
