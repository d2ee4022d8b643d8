-- Costs (docs/semantics.md §15): price series shared by entities, their intervals, and each entity's tariff.
CREATE TABLE price_series (
    price_id text PRIMARY KEY,         -- a slug [a-z0-9-]{1,64}
    name     text,
    unit     text NOT NULL,            -- the unit its prices were sent in (EUR/MWh or EUR/kWh), stored per kWh
    currency text NOT NULL,
    updated  bigint NOT NULL           -- µs UTC of the last PUT
);
CREATE TABLE price_intervals (
    price_id text NOT NULL,
    start_ts bigint NOT NULL,          -- µs UTC, [start_ts, end_ts), non-overlapping within a series
    end_ts   bigint NOT NULL,
    price    double precision NOT NULL, -- currency per kWh
    PRIMARY KEY (price_id, start_ts)
);
CREATE TABLE tariffs (
    entity_id uuid PRIMARY KEY,
    document  text NOT NULL,           -- the tariff as validated (JSON, instants in UTC)
    updated   bigint NOT NULL
);
