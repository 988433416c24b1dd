"""When to retry and how long to wait: the rules of Together's Python SDK 3.1.1, on sync and async paths.

Source: ``together==3.1.1``, ``together/_constants.py`` (INITIAL_RETRY_DELAY 1.0, MAX_RETRY_DELAY 10.0) and
``_base_client.py`` (``_should_retry``, ``_calculate_retry_timeout``). Retried: connection errors and
timeouts, 408, 409, 429 and every 5xx, unless the server says ``x-should-retry: false`` (and anything it
marks ``x-should-retry: true``). The wait is the server's ``retry-after-ms`` / ``Retry-After`` (seconds or
an HTTP date) when it is more than 0 and at most 60 s; otherwise (no hint, 0, negative, or longer than a
minute) the backoff: 1 s doubling to at most 10 s, times a jitter in (0.75, 1], so a class of 30
notebooks that all hit a 429 does not come back in lockstep.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

from ..errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    ImageDataError,
    TogetherError,
)

__all__ = [
    "MAX_RETRY_AFTER",
    "RETRY_HEADER",
    "backoff",
    "parse_retry_after",
    "retry_delay",
    "retryable",
    "should_retry_status",
    "wait_before_retry",
]

RETRY_HEADER = "x-together-magic-retry-count"
"""Sent on every attempt (0 on the first), like the official SDK's ``x-stainless-retry-count``: a server
(the offline backend's ``times=N`` faults, a gateway's pace) can tell a retry from a new request."""

INITIAL_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 10.0
MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` honoured; a longer one (or 0) gets the backoff instead, as in SDK 3.1.1."""
RETRYABLE_STATUS = frozenset({408, 409, 429})


def should_retry_status(status: int, headers: Mapping[str, str]) -> bool:
    verdict = headers.get("x-should-retry", "").strip().lower()
    if verdict == "true":
        return True
    if verdict == "false":
        return False
    return status in RETRYABLE_STATUS or status >= 500


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it says nothing usable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    when = email.utils.mktime_tz(parsed)
    return max(0.0, when - (time.time() if now is None else now))


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Wait before retry number ``attempt + 1`` when the server gave no hint."""
    base: float = min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY)
    jitter: float = 1 - 0.25 * (rng.random() if rng is not None else random.random())
    return base * jitter


def retryable(err: TogetherError) -> bool:
    """Is a failed request worth sending again? The same rule as ``should_retry_status`` for an answer,
    plus what went wrong before one: a dropped connection, a timeout, an unusable 2xx, a corrupt image."""
    if isinstance(err, APIConnectionError) and err.certificate is not None:
        return False  # an untrusted certificate stays untrusted
    if isinstance(err, ImageDataError | APIConnectionError | APIResponseValidationError):
        return True
    if isinstance(err, APIStatusError) and err.status_code is not None:
        return should_retry_status(err.status_code, {})
    return False


def wait_before_retry(attempt: int, hinted: float | None) -> float:
    """Seconds before retry ``attempt + 1``: the server's hint when 0 < hint <= 60, else the backoff."""
    if hinted is not None and 0 < hinted <= MAX_RETRY_AFTER:
        return hinted
    return backoff(attempt)


def retry_delay(attempt: int, headers: Mapping[str, str] | None) -> float:
    return wait_before_retry(attempt, parse_retry_after(headers) if headers is not None else None)
