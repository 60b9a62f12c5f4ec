-- Every model carries a classification label (a canonical banner marking).
ALTER TABLE models ADD COLUMN label TEXT NOT NULL DEFAULT 'UNCLASSIFIED';
