-- Quarter-hour register edges in rows of 16 UTC days (block = ts div 1,382,400,000,000, domain/edges.py ROW_DAYS:
-- 1,536 little-endian doubles, NaN where unknown) instead of one day: a year of daily buckets reads 23 rows per
-- register instead of 366. A rowid table: rows of 12 KiB sit badly in a WITHOUT ROWID b-tree. The migration
-- runner moves the day rows of 0009 into it (edges.rows_of_days), then drops `register_edges`.
CREATE TABLE register_edge_blocks (
    entity_id BLOB NOT NULL,
    register  TEXT NOT NULL,
    block     INTEGER NOT NULL,
    edges     BLOB NOT NULL,
    PRIMARY KEY (entity_id, register, block)
)
