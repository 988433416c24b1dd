"""Pacing a batch to the account's rate limit: one limiter for all requests, fed by the server's headers.

Together limits image requests per account and model (a few a second, by tier) and answers 429 with
``Retry-After`` beyond that. A loop where every call retries on its own sleeps in lockstep and keeps hitting
the wall; here the whole batch slows down together:

- **spacing**: requests start at most ``rate`` per minute, evenly spaced, where ``rate`` is ``--rpm`` (never
  exceeded) and, once an answer carries ``x-ratelimit-limit``, 98 % of that limit (the margin absorbs the
  jitter between our clock and the server's rolling window);
- **gate**: a 429 closes the gate for everyone until its ``Retry-After`` (or ``x-ratelimit-reset``) has
  passed, and so does an answer saying ``x-ratelimit-remaining: 0``;
- **adaptive concurrency**: requests in flight start at a few, grow by one after a window of successes
  while requests are queuing for a slot, and halve on a 429 (once per gate), never above the cap.

Nothing here sends anything; ``run`` calls ``acquire`` before a request and reports how it went.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..client.retries import MAX_RETRY_AFTER, backoff
from ..models.ratelimit import RateLimit

__all__ = ["MARGIN", "Pacer", "PacingStats"]

MARGIN = 0.98
"""Fraction of the server's advertised limit we pace at (``--rpm`` is used as given)."""
START_CONCURRENCY = 4
NO_HINT_WAIT = 1.0
"""Seconds the gate stays closed after a 429 that says nothing about when to come back (first time)."""


@dataclass
class PacingStats:
    """What the limiter saw: requests started, answers, 429s, seconds the gate was closed."""

    started: int = 0
    succeeded: int = 0
    throttled: int = 0
    errors: int = 0
    gated_seconds: float = 0.0
    peak_concurrency: int = 0
    server_limit: int | None = None


class Pacer:
    """Shared by every request of a batch, on one event loop."""

    def __init__(
        self,
        *,
        rpm: float | None = None,
        max_concurrency: int = 16,
        start_concurrency: int = START_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rpm is not None and not rpm > 0:
            raise ValueError(f"rpm must be more than 0, got {rpm!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be 1 or more, got {max_concurrency!r}")
        self.rpm = rpm
        self.max_concurrency = max_concurrency
        self.concurrency = max(1, min(start_concurrency, max_concurrency))
        self.in_flight = 0
        self.stats = PacingStats()
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._gate = 0.0
        self._throttles_in_a_row = 0
        self._credit = 0
        self._waiters: list[asyncio.Future[None]] = []

    # ------------------------------------------------------------------------ what we pace at
    @property
    def rate(self) -> float | None:
        """Requests per minute the batch starts at most, or None while nothing says (concurrency rules)."""
        limits = [self.rpm] if self.rpm else []
        if self.stats.server_limit:
            limits.append(self.stats.server_limit * MARGIN)
        return min(limits) if limits else None

    @property
    def limit(self) -> float | None:
        """The ceiling to compare the achieved rate with: ``--rpm`` or the server's limit."""
        limits = [x for x in (self.rpm, self.stats.server_limit) if x]
        return min(limits) if limits else None

    # ------------------------------------------------------------------------ before a request
    async def acquire(self) -> None:
        """Wait for a slot in flight, then for the request's turn (spacing and gate)."""
        while self.in_flight >= self.concurrency:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.in_flight += 1
        self.stats.peak_concurrency = max(self.stats.peak_concurrency, self.in_flight)
        try:
            await self._turn()
        except BaseException:
            self.release()
            raise
        self.stats.started += 1

    async def _turn(self) -> None:
        while True:
            now = self._clock()
            rate = self.rate
            start = max(now, self._gate, self._next if rate else now)
            if start <= now:
                if rate:
                    # a microsecond more than 60/rate: rounding must never let rate + 1 into a minute
                    self._next = max(now, self._next) + 60.0 / rate + 1e-6
                return
            await self._sleep(start - now)  # then look again: a 429 meanwhile moves the gate

    def release(self) -> None:
        """A request is over (whatever its outcome): its slot is free."""
        self.in_flight = max(0, self.in_flight - 1)
        self._wake()

    def _wake(self) -> None:
        free = self.concurrency - self.in_flight
        for waiter in self._waiters[: max(0, free)]:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------------ after a request
    def _learn(self, rate_limit: RateLimit | None) -> None:
        if rate_limit is not None and rate_limit.limit and rate_limit.limit > 0:
            self.stats.server_limit = rate_limit.limit

    def succeeded(self, rate_limit: RateLimit | None) -> None:
        """An answer arrived: learn the limit, obey ``remaining: 0``, maybe allow one more in flight."""
        self.stats.succeeded += 1
        self._throttles_in_a_row = 0
        self._learn(rate_limit)
        if rate_limit is not None and rate_limit.remaining == 0:
            wait = rate_limit.reset if rate_limit.reset is not None else NO_HINT_WAIT
            self._close_gate(min(max(wait, 0.0), MAX_RETRY_AFTER))
        if self._waiters:  # requests are queuing for a slot: concurrency, not the rate, is the bottleneck
            self._credit += 1
            if self._credit >= self.concurrency and self.concurrency < self.max_concurrency:
                self.concurrency += 1
                self._credit = 0
                self._wake()

    def throttled(self, retry_after: float | None, rate_limit: RateLimit | None) -> float:
        """A 429: close the gate for everyone and halve the requests in flight; returns the wait chosen."""
        self.stats.throttled += 1
        self._learn(rate_limit)
        now = self._clock()
        if retry_after is None and rate_limit is not None and rate_limit.reset:
            retry_after = rate_limit.reset
        if retry_after is None:
            retry_after = max(NO_HINT_WAIT, backoff(self._throttles_in_a_row))
        wait = min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        if self._gate <= now:  # the first 429 of a burst cuts; the others ride the same gate
            self.concurrency = max(1, self.concurrency // 2)
            self._credit = 0
            self._throttles_in_a_row += 1
        self._close_gate(wait)
        return wait

    def failed(self) -> None:
        """Any other failure (5xx, timeout, dropped connection): counted; the caller backs off that item."""
        self.stats.errors += 1

    def _close_gate(self, seconds: float) -> None:
        now = self._clock()
        until = now + seconds
        if until > self._gate:
            self.stats.gated_seconds += until - max(self._gate, now)
            self._gate = until
