"""A rolling one-minute request window, and the ``x-ratelimit-*`` headers that describe it truthfully.

Units (the README states them): ``x-ratelimit-limit`` is requests per rolling 60 s; ``x-ratelimit-remaining``
how many more the window takes now (after this request); ``x-ratelimit-reset`` whole seconds, rounded up,
until the oldest request leaves the window and so frees a slot (0 when the window is empty). A 429's
``Retry-After`` is the same figure, at least 1.
"""

from __future__ import annotations

import collections
import math
import threading
import time

__all__ = ["WINDOW_SECONDS", "RateWindow"]

WINDOW_SECONDS = 60.0


class RateWindow:
    """Thread-safe; the limit is read on every call, so a backend's options may change between requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: collections.deque[float] = collections.deque()

    def _expire(self, now: float) -> None:
        while self._times and now - self._times[0] >= WINDOW_SECONDS:
            self._times.popleft()

    def _headers(self, limit: int, now: float) -> dict[str, str]:
        reset = 0
        if self._times:
            reset = max(1, math.ceil(WINDOW_SECONDS - (now - self._times[0])))
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - len(self._times))),
            "x-ratelimit-reset": str(reset),
        }

    def peek(self, limit: int) -> dict[str, str]:
        """The headers for an answer that does not count against the window (401, 413, 404 route)."""
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            return self._headers(limit, now)

    def take(self, limit: int) -> tuple[bool, dict[str, str]]:
        """Count one request if the window has room: (admitted, headers describing the window after it)."""
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            admitted = len(self._times) < limit
            if admitted:
                self._times.append(now)
            return admitted, self._headers(limit, now)
