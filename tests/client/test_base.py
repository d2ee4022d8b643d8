"""The client's decisions that need no server (base.py): parameters, Retry-After, when to retry."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from connect_readings.client import ConnectReadingsError, RetryPolicy
from connect_readings.client.base import Attempts, delete_entity_call, health_call, instant, resolution, retry_after

NOW = datetime(2024, 5, 27, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, sent", [
    ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),  # text as given
    (date(2024, 1, 1), "2024-01-01"),  # a date or a naive datetime: wall time, read by the server in the
    (datetime(2024, 10, 27, 2, 30), "2024-10-27T02:30:00"),  # query's zone (docs/semantics.md §2)
    (datetime(2024, 1, 1, 6, tzinfo=timezone.utc), "2024-01-01T06:00:00+00:00"),  # aware: kept
])
def test_instants(value, sent):
    assert instant(value) == sent


@pytest.mark.parametrize("value, sent", [
    ("15 minutes", "15 minutes"), (timedelta(days=1), "86400 seconds"),
    (timedelta(microseconds=1500), "1500 microseconds"),
])
def test_resolutions(value, sent):
    assert resolution(value) == sent


@pytest.mark.parametrize("header, seconds", [
    (None, None), ("", None), ("2", 2.0), (" 120 ", 120.0), ("soon", None),
    ("Mon, 27 May 2024 12:00:30 GMT", 30.0), ("Mon, 27 May 2024 11:00:00 GMT", 0.0),  # a past date: now
])
def test_retry_after(header, seconds):
    assert retry_after(header, NOW) == seconds


def error(status: int | None, code: str = "X", after: float | None = None) -> ConnectReadingsError:
    return ConnectReadingsError(status, code, "m", retry_after=after)


FIXED = RetryPolicy(jitter=False, backoff_s=1.0, max_backoff_s=8.0, max_attempts=5, max_total_s=30.0)


@pytest.mark.parametrize("attempt, elapsed, failure, idempotent, wait", [
    (1, 0, error(429), True, 1.0),
    (2, 0, error(503), True, 2.0),
    (4, 0, error(504), True, 8.0),
    (5, 0, error(504), True, None),  # the last attempt
    (1, 0, error(429, after=5.0), True, 5.0),  # never sooner than Retry-After
    (3, 0, error(429, after=1.0), True, 4.0),  # nor than the backoff
    (1, 28, error(429, after=5.0), True, None),  # beyond max_total_s
    (1, 0, error(400), True, None),
    (1, 0, error(404), True, None),
    (1, 0, error(500), True, None),
    (1, 0, error(None, "ConnectionError"), True, 1.0),
    (1, 0, error(None, "ConnectionError"), False, None),
])
def test_when_to_retry(attempt, elapsed, failure, idempotent, wait):
    assert FIXED.next_wait(attempt, elapsed, failure, idempotent) == wait


def test_jitter_stays_between_half_and_all_of_the_backoff():
    waits = {RetryPolicy(backoff_s=1.0).delay(3, None) for _ in range(200)}
    assert min(waits) >= 2.0 and max(waits) <= 4.0 and len(waits) > 100


def test_attempts_give_up_with_the_last_error():
    attempts = Attempts(health_call(), RetryPolicy(max_attempts=2, jitter=False), clock=lambda: 0.0)
    assert attempts.answer(503, {"retry-after": "3"}, b"") == (False, 3.0)
    with pytest.raises(ConnectReadingsError) as caught:
        attempts.answer(503, {"x-request-id": "r1"}, b'{"errors":[{"code":"ServiceUnavailable","message":"busy"}]}')
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (503, "ServiceUnavailable", "r1")


def test_a_delete_whose_answer_was_lost_is_done_when_the_retry_finds_it_gone():
    entity = "8667fb97-68f2-485a-87c7-f3bdfa9482e1"
    gone = b'{"errors":[{"code":"EntityNotFound","message":"no such entity"}]}'
    attempts = Attempts(delete_entity_call(entity), RetryPolicy(jitter=False), clock=lambda: 0.0)
    assert attempts.answer(204, {}, b"") == (True, None)
    attempts = Attempts(delete_entity_call(entity), RetryPolicy(jitter=False), clock=lambda: 0.0)
    assert attempts.lost(ConnectionResetError("reset")) == 0.5
    assert attempts.answer(404, {}, gone) == (True, None)  # the lost attempt deleted it
    attempts = Attempts(delete_entity_call(entity), RetryPolicy(jitter=False), clock=lambda: 0.0)
    with pytest.raises(ConnectReadingsError) as caught:  # answered: a 404 is a 404
        attempts.answer(404, {}, gone)
    assert caught.value.code == "EntityNotFound"


def test_a_body_that_is_not_an_error_result_still_gives_the_status():
    attempts = Attempts(health_call(), RetryPolicy.none())
    with pytest.raises(ConnectReadingsError) as caught:
        attempts.answer(502, {}, b"<html>Bad Gateway</html>")
    assert (caught.value.status, caught.value.code) == (502, "Http502")


def test_a_2xx_of_the_wrong_shape_is_invalid_response():
    with pytest.raises(ConnectReadingsError) as caught:
        Attempts(health_call(), RetryPolicy.none()).answer(200, {}, b'{"unexpected": true}')
    assert caught.value.code == "InvalidResponse"


@pytest.mark.parametrize("module", ["client.base", "wire.models", "wire.frames", "client.sync", "client.aio"])
def test_doctests(module: str):
    import doctest
    import importlib

    found = doctest.testmod(importlib.import_module(f"connect_readings.{module}"))
    assert found.failed == 0


@pytest.mark.parametrize("metrics", ["stateOfCharge,range", " stateOfCharge , range ", ["stateOfCharge", "range"],
                                     ("stateOfCharge", "range")])
def test_metrics_as_a_comma_separated_string_or_a_list(metrics):  # (issue 20: a string was read letter by letter)
    from connect_readings.client.base import statistics_call

    call = statistics_call("8667fb97-68f2-485a-87c7-f3bdfa9482e1", "2024-05-27", "1 day", metrics=metrics)
    assert call.params["metrics"] == "stateOfCharge,range"
