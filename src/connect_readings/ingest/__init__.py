"""The ingest channels: every way readings come in besides the API's own handler, and the batch parser that
handler shares. None knows HTTP (`api/` is not imported here); all validate with the domain's one reading parser
and write through `Store.ingest`.

- `batch`: the envelope `{"data": [reading, …]}` (the HTTP body, MQTT `readings` topics);
- `mqtt`: `connect-readings mqtt`, at-least-once from a broker;
- `p1`: DSMR/P1 telegrams (dsmr-parser) → readings;
- `importer`: `connect-readings import` of CSV, JSONL and P1 files;
- `copy`: `connect-readings copy` from one store into another.
"""
