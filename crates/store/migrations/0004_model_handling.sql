-- Handling caveats beyond the label: a JSON array of "itar" (US persons only) and "phi"
-- (principals holding the PHI access only).
ALTER TABLE models ADD COLUMN handling TEXT NOT NULL DEFAULT '[]';
