-- The entity registry (docs/semantics.md §12): what an entity is (all nullable: unknown), when it was
-- registered and when its latest reading is. Ingest keeps `last_seen` (the max of its batches' last
-- timestamps) and sets `created` when it registers an entity, and PUT /v1/entities/{id} sets the rest.
ALTER TABLE entities ADD COLUMN type TEXT;        -- Battery, ChargePoint, EV, HeatPump, SolarPlant, RetrofitMeter, Meter, Inverter
ALTER TABLE entities ADD COLUMN name TEXT;
ALTER TABLE entities ADD COLUMN brand TEXT;
ALTER TABLE entities ADD COLUMN identifier TEXT;
ALTER TABLE entities ADD COLUMN parent_id BLOB;   -- an entity id
ALTER TABLE entities ADD COLUMN properties TEXT;  -- a JSON object
ALTER TABLE entities ADD COLUMN time_zone TEXT;   -- IANA name: the entity's default timeZone
ALTER TABLE entities ADD COLUMN created INTEGER NOT NULL DEFAULT 0;  -- µs UTC
ALTER TABLE entities ADD COLUMN last_seen INTEGER;                  -- µs UTC of the latest reading

-- Entities of before the registry: created at their first reading (else now), last seen at their latest.
UPDATE entities SET
    created = coalesce((SELECT min(ts) FROM readings r WHERE r.entity_id = entities.entity_id),
                       CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    last_seen = (SELECT max(ts) FROM readings r WHERE r.entity_id = entities.entity_id);
