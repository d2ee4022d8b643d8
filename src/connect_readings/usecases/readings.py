"""Readings: a page of raw readings, oldest first (docs/semantics.md §1, §6)."""

from __future__ import annotations

import uuid

from ..storage.base import Store
from .pages import Page


def readings_page(store: Store, entity_id: uuid.UUID, start: int, end: int, page_size: int) -> Page:
    rows = store.readings(entity_id, start, end, page_size + 1)
    if len(rows) > page_size:
        return Page(rows[:page_size], rows[page_size].ts)
    return Page(rows, None)
