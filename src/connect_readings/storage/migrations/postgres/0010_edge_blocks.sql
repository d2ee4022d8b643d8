-- Quarter-hour register edges in rows of 16 UTC days (block = ts div 1,382,400,000,000, domain/edges.py ROW_DAYS:
-- 1,536 little-endian doubles, NaN where unknown) instead of one day: a year of daily buckets reads 23 rows per
-- register instead of 366. The migration runner moves the day rows of 0009 into it (edges.rows_of_days), then
-- drops `register_edges`.
CREATE TABLE register_edge_blocks (
    entity_id uuid   NOT NULL,
    register  text   NOT NULL,
    block     bigint NOT NULL,
    edges     bytea  NOT NULL,
    PRIMARY KEY (entity_id, register, block)
);
-- Stored as is: doubles of metered values hardly compress, and trying costs every write.
ALTER TABLE register_edge_blocks ALTER COLUMN edges SET STORAGE EXTERNAL;
