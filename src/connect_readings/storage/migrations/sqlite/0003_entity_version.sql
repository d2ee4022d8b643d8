-- Every ingest bumps its entity's version in the same transaction: a page computed from one snapshot can be
-- remembered under (entity, version) and is never served after the data under it changed.
ALTER TABLE entities ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
