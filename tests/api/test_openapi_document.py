"""The served contract is a valid OpenAPI 3.1 document, and states the rules a client generator can use."""

from __future__ import annotations

from openapi_spec_validator import validate

from ..conftest import ApiClient


def test_the_served_document_is_valid_openapi_3_1(client: ApiClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on any keyword or shape the specification does not allow


def test_metric_names_are_stated_with_property_names(client: ApiClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ConnectReadings.ReadingData", "ConnectReadings.StoredReadingData"):
        assert schemas[name]["propertyNames"] == {"pattern": "^[a-z][A-Za-z0-9]{0,63}$"}, name
        assert schemas[name]["maxProperties"] == 32
