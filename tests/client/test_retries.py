"""Retry decisions and waits, including the header forms the live API and proxies send."""

from __future__ import annotations

import email.utils
import random

import pytest

from together_magic.client import retries as r


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (408, {}, True),
        (409, {}, True),
        (429, {}, True),
        (500, {}, True),
        (503, {}, True),
        (529, {}, True),
        (400, {}, False),
        (401, {}, False),
        (404, {}, False),
        (422, {}, False),
        (503, {"x-should-retry": "false"}, False),
        (400, {"x-should-retry": "true"}, True),
    ],
)
def test_should_retry_status(status: int, headers: dict[str, str], expected: bool) -> None:
    assert r.should_retry_status(status, headers) is expected


def test_retry_after_forms() -> None:
    assert r.parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert r.parse_retry_after({"retry-after": "2"}) == 2.0
    assert r.parse_retry_after({"retry-after": "1.5"}) == 1.5
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert r.parse_retry_after({"retry-after": date}, now=now) == pytest.approx(7, abs=1)
    assert r.parse_retry_after({"retry-after": "soon"}) is None
    assert r.parse_retry_after({}) is None
    assert r.parse_retry_after({"retry-after": "-5"}) == 0.0


def test_retry_after_is_capped_and_backoff_used_without_hint() -> None:
    assert r.retry_delay(0, {"retry-after": "3600"}) == r.MAX_RETRY_AFTER
    assert r.retry_delay(0, {"retry-after": "3"}) == 3.0
    for attempt, (low, high) in enumerate(
        [(0.375, 0.5), (0.75, 1.0), (1.5, 2.0), (3.0, 4.0), (6.0, 8.0), (6.0, 8.0)]
    ):
        assert low <= r.retry_delay(attempt, None) <= high


def test_backoff_has_jitter() -> None:
    rng = random.Random(1)
    assert len({round(r.backoff(2, rng), 6) for _ in range(20)}) > 10
