-- The entity registry (docs/semantics.md §12): what an entity is (all nullable: unknown), when it was
-- registered and when its latest reading is. Ingest keeps `last_seen` (the max of its batches' last
-- timestamps) and sets `created` when it registers an entity, and PUT /v1/entities/{id} sets the rest.
ALTER TABLE entities
    ADD COLUMN type       text,    -- Battery, ChargePoint, EV, HeatPump, SolarPlant, RetrofitMeter, Meter, Inverter
    ADD COLUMN name       text,
    ADD COLUMN brand      text,
    ADD COLUMN identifier text,
    ADD COLUMN parent_id  uuid,    -- an entity id
    ADD COLUMN properties text,    -- a JSON object (kept as text, as sent after validation)
    ADD COLUMN time_zone  text,    -- IANA name: the entity's default timeZone
    ADD COLUMN created    bigint NOT NULL DEFAULT 0,  -- µs UTC
    ADD COLUMN last_seen  bigint;                     -- µs UTC of the latest reading

-- Entities of before the registry: created at their first reading (else now), last seen at their latest.
UPDATE entities SET
    created = coalesce((SELECT min(ts) FROM readings r WHERE r.entity_id = entities.entity_id),
                       (extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
    last_seen = (SELECT max(ts) FROM readings r WHERE r.entity_id = entities.entity_id);
