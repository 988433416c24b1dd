"""Each student's own limits, so one student cannot slow or spend the class: rolling minutes and lanes.

Three rolling minutes per student, kept in the class database so they hold across workers (each a few
indexed rows): every request they send (``--student-rate``, cache hits and refusals included, judged
before the body is read), the requests the upstream refused (:data:`REFUSALS`: after that many, their
requests stop reaching the upstream, so bad requests cannot take the class's upstream pace), and the
offline fallback's megapixels (``--fallback-rate``: the renderer is the gateway's own CPU).

And :class:`Lanes`: at most :data:`IN_FLIGHT` requests per student are worked on at once in a worker; more
wait their turn (at most :data:`QUEUE` of them, for at most :data:`QUEUE_WAIT` seconds), then 429. A worker
that dies takes its lanes with it, so nothing held in memory can outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..offline.apierror import OfflineAPIError

__all__ = [
    "FALLBACK",
    "IN_FLIGHT",
    "QUEUE",
    "QUEUE_WAIT",
    "REFUSALS",
    "REFUSED",
    "REQUEST",
    "WINDOW",
    "Crowded",
    "Held",
    "Lanes",
    "megapixels",
    "over",
    "record",
    "take",
    "too_fast",
]

WINDOW = 60.0
"""Each student limit is counted over the last minute."""
REFUSALS = 3
"""Requests the upstream may refuse per student per minute before that student's requests stop going up."""
IN_FLIGHT = 2
"""Requests of one student worked on at once in one worker (cache hits included)."""
QUEUE = 16
QUEUE_WAIT = 30.0
SLOW_DOWN = 1.0
"""Seconds a held token's 429 is kept back (at most :data:`SLOW_DOWNS` at once per token and worker): a
client resending at once then sends once a second per connection, instead of as fast as the CPU allows."""
SLOW_DOWNS = 4
REQUEST, REFUSED, FALLBACK = "request", "refused", "fallback"


def megapixels(width: int, height: int, n: int) -> int:
    """The fallback's unit: a 1024x1024 image counts 1, a 4096x4096 one 16, anything smaller 1."""
    return n * max(1, math.ceil(width * height / 2**20))


def over(conn: sqlite3.Connection, student: int, kind: str, limit: int, now: float) -> float | None:
    """Seconds until ``student``'s last minute of ``kind`` holds less than ``limit``, or None if it does."""
    rows: list[tuple[float, int]] = conn.execute(
        "SELECT at, weight FROM gateway_student_pace WHERE student = ? AND kind = ? AND at > ? ORDER BY at",
        (student, kind, now - WINDOW),
    ).fetchall()
    used = sum(weight for _, weight in rows)
    if used < limit:
        return None
    for at, weight in rows:  # oldest first: the minute has room once enough of them are past it
        used -= weight
        if used < limit:
            return max(0.0, at + WINDOW - now)
    return 0.0  # pragma: no cover - the loop ends with used == 0 < limit


def record(conn: sqlite3.Connection, student: int, kind: str, now: float, weight: int = 1) -> None:
    conn.execute("DELETE FROM gateway_student_pace WHERE at <= ?", (now - WINDOW,))
    conn.execute("INSERT INTO gateway_student_pace VALUES (?, ?, ?, ?)", (student, kind, now, weight))


def take(
    conn: sqlite3.Connection, student: int, kind: str, limit: int, now: float, weight: int = 1
) -> float | None:
    """Count ``weight`` of ``kind`` if the student's last minute has room (None), else the seconds to wait."""
    wait = over(conn, student, kind, limit, now)
    if wait is None:
        record(conn, student, kind, now, weight)
    return wait


def too_fast(what: str, wait: float, code: str) -> OfflineAPIError:
    """The 429 for a student over one of their own limits (the class is not affected)."""
    retry = max(1, math.ceil(wait))
    return OfflineAPIError(
        429,
        f"{what} Try again in {retry} s.",
        type="rate_limit",
        code=code,
        headers={"retry-after": str(retry)},
    )


class Held:
    """The tokens this worker has found over their student's minute of requests, and until when: their next
    requests are answered 429 from memory, before any database read, so a flood costs the class nothing
    but the answers. (Another worker finds out on its own; the minute itself is judged in the database.
    A token revoked meanwhile is still refused: 429 until its hold ends, then 401.)"""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._slowed: dict[str, int] = {}

    def wait(self, token: str | None, now: float) -> float | None:
        until = None if token is None else self._until.get(token)
        if until is None or token is None:
            return None
        if now >= until:
            del self._until[token]
            return None
        return until - now

    async def slow_down(self, token: str, wait: float) -> bool:
        """Keep a held token's answer back a little (:data:`SLOW_DOWN`); False when it already has
        :data:`SLOW_DOWNS` answers kept back here (then answer at once and close the connection)."""
        if self._slowed.get(token, 0) >= SLOW_DOWNS:
            return False
        self._slowed[token] = self._slowed.get(token, 0) + 1
        try:
            await asyncio.sleep(min(wait, SLOW_DOWN))
        finally:
            self._slowed[token] -= 1
            if not self._slowed[token]:
                del self._slowed[token]
        return True

    def hold(self, token: str, now: float, wait: float) -> None:
        self._until[token] = now + wait
        if len(self._until) > 4096:  # only tokens still held matter
            self._until = {k: v for k, v in self._until.items() if v > now}


class Crowded(Exception):
    """A student has too many requests open in this worker; ``error`` is their 429."""

    def __init__(self, error: OfflineAPIError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class _Lane:
    gate: asyncio.Semaphore
    users: int = 0
    waiting: int = 0


class Lanes:
    """The requests each student has in flight in this worker: :data:`IN_FLIGHT` at a time, the rest wait."""

    def __init__(self, width: int = IN_FLIGHT, queue: int = QUEUE, wait: float = QUEUE_WAIT) -> None:
        self.width, self.queue, self.wait = width, queue, wait
        self._lanes: dict[int, _Lane] = {}

    def busy(self, student: int) -> int:
        lane = self._lanes.get(student)
        return 0 if lane is None else lane.users - lane.waiting

    @contextlib.asynccontextmanager
    async def enter(self, student: int) -> AsyncIterator[None]:
        """Hold one of the student's lanes for the block; :class:`Crowded` when none comes in time."""
        lane = self._lanes.get(student)
        if lane is None:
            lane = self._lanes[student] = _Lane(asyncio.Semaphore(self.width))
        if lane.gate.locked() and lane.waiting >= self.queue:
            raise Crowded(_crowded(self.width, self.queue))
        lane.users += 1
        try:
            lane.waiting += 1
            try:
                await asyncio.wait_for(lane.gate.acquire(), self.wait)
            except TimeoutError:
                raise Crowded(_crowded(self.width, self.queue)) from None
            finally:
                lane.waiting -= 1
            try:
                yield
            finally:
                lane.gate.release()
        finally:
            lane.users -= 1
            if lane.users == 0 and self._lanes.get(student) is lane:
                del self._lanes[student]


def _crowded(width: int, queue: int) -> OfflineAPIError:
    return too_fast(
        f"You have too many requests open at once: the class gateway works on {width} of yours at a time "
        f"and keeps at most {queue} waiting.",
        5.0,
        "student_in_flight",
    )
