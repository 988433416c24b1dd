"""When to retry and how long to wait: the conventions of Together's own SDKs, on both sync and async paths.

Retried: connection errors and timeouts, 408, 409, 429 and every 5xx, unless the server says
``x-should-retry: false`` (and anything it marks ``x-should-retry: true``). The wait is the server's
``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date) when it gives one, capped at a minute;
otherwise exponential backoff from 0.5 s to 8 s with up to 25 % jitter, so a class of 30 notebooks that
all hit a 429 does not come back in lockstep.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

__all__ = ["MAX_RETRY_AFTER", "backoff", "parse_retry_after", "retry_delay", "should_retry_status"]

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
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


def retry_delay(attempt: int, headers: Mapping[str, str] | None) -> float:
    hinted = parse_retry_after(headers) if headers is not None else None
    if hinted is not None:
        return min(hinted, MAX_RETRY_AFTER)
    return backoff(attempt)
