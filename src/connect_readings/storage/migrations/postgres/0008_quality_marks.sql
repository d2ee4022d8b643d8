-- Quality marks (docs/semantics.md §10, §14): the readings whose `extra` holds the instantaneous metric `quality`
-- or `gasQuality` (what the interval import puts where a non-measured interval ends), in a partial index, so
-- /statistics?metrics=quality reads only those (its cost follows the marks, not the readings). `extra` is json
-- (its text kept verbatim), and the cast json::text is immutable, as an index predicate must be. The store
-- writes `extra` with orjson, which never escapes a key, so a stored mark always holds the quoted name
-- literally; a reading that merely mentions it elsewhere is in the index too and is skipped when read.
-- The store's query repeats this predicate word for word (a partial index serves only a query that implies it).
CREATE INDEX readings_quality ON readings (entity_id, ts)
    WHERE extra IS NOT NULL AND (strpos(extra::text, '"quality"') > 0 OR strpos(extra::text, '"gasQuality"') > 0);
