"""Deterministic ids (UUIDv5), fast enough for the hot path.

`uuid.uuid5` hashes namespace + name from scratch and builds a UUID object per call; a page needs dozens
of ids that share a long prefix, so we hash the prefix once and finish each id from a copy.
"""

from __future__ import annotations

import hashlib
import uuid
from functools import lru_cache


class UuidV5Prefix:
    """uuid5(namespace, prefix + suffix) for many suffixes, as canonical text."""

    def __init__(self, namespace: uuid.UUID, prefix: str) -> None:
        self._hasher = hashlib.sha1(namespace.bytes + prefix.encode())

    def text(self, suffix: str) -> str:
        hasher = self._hasher.copy()
        hasher.update(suffix.encode())
        raw = bytearray(hasher.digest()[:16])
        raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Remembered: a page needs an id per bucket, the same ones request after request (`python -m bench --only
# hot`, page cache off).
@lru_cache(maxsize=65_536)
def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """str(uuid.uuid5(namespace, name)), remembered: a dashboard asks for the same buckets again and again."""
    return UuidV5Prefix(namespace, "").text(name)
