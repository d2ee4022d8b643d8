-- Costs (docs/semantics.md §15): price series shared by entities, their intervals, and each entity's tariff.
CREATE TABLE price_series (
    price_id TEXT PRIMARY KEY,         -- a slug [a-z0-9-]{1,64}
    name     TEXT,
    unit     TEXT NOT NULL,            -- the unit its prices were sent in (EUR/MWh or EUR/kWh), stored per kWh
    currency TEXT NOT NULL,
    updated  INTEGER NOT NULL          -- µs UTC of the last PUT
);
CREATE TABLE price_intervals (
    price_id TEXT NOT NULL REFERENCES price_series (price_id),
    start_ts INTEGER NOT NULL,         -- µs UTC, [start_ts, end_ts), non-overlapping within a series
    end_ts   INTEGER NOT NULL,
    price    REAL NOT NULL,            -- currency per kWh
    PRIMARY KEY (price_id, start_ts)
) WITHOUT ROWID;
CREATE TABLE tariffs (
    entity_id BLOB PRIMARY KEY,
    document  TEXT NOT NULL,           -- the tariff as validated (JSON, instants in UTC)
    updated   INTEGER NOT NULL
);
