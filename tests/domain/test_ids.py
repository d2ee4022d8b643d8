import uuid

import pytest

from connect_readings.domain.ids import UuidV5Prefix

NS = uuid.UUID("9d6c3f2e-0b8a-4c57-8e61-2f0a4b7c9d13")


@pytest.mark.parametrize(("prefix", "suffix"), [("", ""), ("a|b|", "123"), ("entity|0mon0d900us|UTC|", "-5"), ("ü", "ß")])
def test_matches_uuid5(prefix: str, suffix: str) -> None:
    assert UuidV5Prefix(NS, prefix).text(suffix) == str(uuid.uuid5(NS, prefix + suffix))
