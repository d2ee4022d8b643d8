-- Quarter-hour register edges (docs/semantics.md §5): each register's value at every 15-minute UTC edge, in
-- the raw frame (reset offsets are added when read, as to readings), kept by the ingest planner inside the
-- batch's transaction. One row per entity, register and UTC day (day = ts div 86,400,000,000): 96 little-endian
-- doubles, NaN where the edge is unknown (outside the register's readings, or between two more than an
-- hour apart). A missing row or a NaN is read by
-- seeking the readings, so data written before this migration answers the same, only slower, until rewritten.
CREATE TABLE register_edges (
    entity_id BLOB NOT NULL,
    register  TEXT NOT NULL,
    day       INTEGER NOT NULL,
    edges     BLOB NOT NULL,
    PRIMARY KEY (entity_id, register, day)
) WITHOUT ROWID

-- A price series' revision: a random number drawn at every write of it (put_prices), so a reader can tell
-- whether the prices it holds are still the stored ones (usecases/costs.price_columns) without comparing them;
-- random rather than a counter, so a restored backup cannot repeat a revision a running reader has seen.
ALTER TABLE price_series ADD COLUMN revision INTEGER NOT NULL DEFAULT 0
