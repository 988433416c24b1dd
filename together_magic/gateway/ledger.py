"""Reservations, the global pace and the wall's rows: every decision that must hold across workers.

Each function takes a connection inside ONE write transaction (``Store.write`` runs them under ``BEGIN
IMMEDIATE`` and retries while another process holds the lock), so two workers can never both take the
last image of a student, both send the identical request upstream, or both take the last slot of the pace.

The life of an upstream request: :func:`claim` (checks the student, the single-flight table, the student's
and the class's limits and the pace, then reserves) -> the upstream call -> :func:`settle` (the
reservation becomes usage and a wall row) or :func:`release` (nothing is charged). While the call is on
its way, its worker renews the reservation (:func:`renew`) every few seconds; a worker killed in between stops
renewing, and :data:`LEASE_SECONDS` later its reservation and its single-flight claim stop counting (the
student's images come back, identical requests stop waiting for an answer that will never come).
"""

from __future__ import annotations

import json
import math
import secrets
import shlex
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from . import pace
from .roster import Denied, judge
from .roster import dollars as _dollars

__all__ = [
    "LEASE_SECONDS",
    "MAX_PACE_WAIT",
    "PACE_WINDOW",
    "STALE_SECONDS",
    "Ask",
    "Cached",
    "Grant",
    "Policy",
    "Refused",
    "Wait",
    "WallEntry",
    "claim",
    "free",
    "hidden_from",
    "release",
    "renew",
    "retry_slot",
    "settle",
]

STALE_SECONDS = 900.0
"""The longest a request waits for an identical one on its way upstream before asking for itself; well
above the longest a request can take upstream (60 s read timeout, two retries, the pace wait)."""
LEASE_SECONDS = 30.0
"""A reservation not renewed for this long belonged to a worker that died: it stops counting, and so does
its single-flight claim. A live worker renews every ``lease / 6`` seconds (see :attr:`Policy.lease`)."""
PACE_WINDOW = 61.0
"""The pace's rolling window: the upstream's minute plus a second, so late sends never crowd its window."""
MAX_PACE_WAIT = 20.0
"""A request waits at most this long for its slot in the pace; beyond that it is answered 429 at once."""


@dataclass(frozen=True)
class Ask:
    """What one request wants: images and estimated micro-dollars, and its cache key if it is seeded."""

    student: int
    images: int
    micros: int
    key: str | None = None


@dataclass(frozen=True)
class Policy:
    rate: int
    """Upstream requests per rolling :data:`PACE_WINDOW`."""
    class_micros: int | None = None
    max_wait: float = MAX_PACE_WAIT
    lease: float = LEASE_SECONDS
    """Seconds a reservation lives without being renewed (:func:`renew`)."""


@dataclass(frozen=True)
class Grant:
    reservation: int
    send_at: float


@dataclass(frozen=True)
class Wait:
    """An identical request is on its way upstream: wait for its answer in the cache (it will be free)."""


@dataclass(frozen=True)
class Cached:
    """The cache already holds this request: read it (free)."""


@dataclass(frozen=True)
class Refused:
    status: int
    message: str
    code: str
    kind: str
    """``auth`` and ``refusals`` (never fall back), ``budget``, ``class`` or ``pace``."""
    retry_after: float | None = None


@dataclass(frozen=True)
class WallEntry:
    """A row of the wall: who made what, how, and where its images are."""

    student: int
    generation_id: int | None
    images: int
    prompt: str
    params: dict[str, Any]
    backend: str
    how: str
    """``upstream``, ``cached`` or ``offline``."""
    cache_key: str | None = None
    """The request it answered: hiding one row hides every row of that request, and blocks it."""
    url_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))


def _more(name: str, flag: str) -> str:
    """What a student with a spent budget is told: who can top it up, and the very command."""
    return f"Ask your teacher for more (together-magic class grant {shlex.quote(name)} {flag})."


def _limits(conn: sqlite3.Connection, ask: Ask, row: tuple[Any, ...], policy: Policy) -> Refused | None:
    images_limit, budget, images_used, micros_used = row[4:8]
    held_images, held_micros = conn.execute(
        "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(micros), 0) FROM gateway_reservations"
        " WHERE student = ?",
        (ask.student,),
    ).fetchone()
    taken = images_used + held_images
    if images_limit is not None and taken + ask.images > images_limit:
        if taken >= images_limit:
            message = f"Your class budget is spent: {taken} of {images_limit} images"
        else:
            message = (
                f"Your class budget has {images_limit - taken} of {images_limit} images left and this "
                f"request asks for {ask.images}: ask for fewer (n)"
            )
        return Refused(402, f"{message}. {_more(row[1], '--images N')}", "class_budget_spent", "budget")
    spent = micros_used + held_micros
    if budget is not None and spent + ask.micros > budget:
        if spent >= budget:
            message = f"Your class budget is spent: {_dollars(spent)} of {_dollars(budget)}"
        else:
            message = (
                f"This request would cost about {_dollars(ask.micros)} but your class budget has "
                f"{_dollars(budget - spent)} of {_dollars(budget)} left: ask for fewer or smaller images"
            )
        return Refused(402, f"{message}. {_more(row[1], '--budget DOLLARS')}", "class_budget_spent", "budget")
    if policy.class_micros is not None:
        total = conn.execute(
            "SELECT (SELECT COALESCE(SUM(micros_used), 0) FROM gateway_students)"
            " + (SELECT COALESCE(SUM(micros), 0) FROM gateway_reservations)"
        ).fetchone()[0]
        if total + ask.micros > policy.class_micros:
            return Refused(
                402,
                f"The whole class's budget is spent: {_dollars(total)} of {_dollars(policy.class_micros)}. "
                "Tell your teacher.",
                "class_budget_spent",
                "class",
            )
    return None


def _schedule(conn: sqlite3.Connection, policy: Policy, now: float) -> float | Refused:
    """The time this request may go upstream (now, or a little later), or a 429 when that is too far."""
    conn.execute("DELETE FROM gateway_pace WHERE at <= ?", (now - PACE_WINDOW,))
    row = conn.execute(
        "SELECT at FROM gateway_pace ORDER BY at DESC LIMIT 1 OFFSET ?", (policy.rate - 1,)
    ).fetchone()
    send_at = now if row is None else max(now, row[0] + PACE_WINDOW)
    if send_at - now > policy.max_wait:
        retry = max(1, math.ceil(send_at - now - policy.max_wait))
        return Refused(
            429,
            f"The class is making images faster than the image service allows ({policy.rate} per minute "
            f"for the whole class). Try again in {retry} s.",
            "class_rate_limit",
            "pace",
            retry_after=retry,
        )
    conn.execute("INSERT INTO gateway_pace VALUES (?)", (send_at,))
    return send_at


def retry_slot(conn: sqlite3.Connection, policy: Policy, now: float) -> float | Refused:
    """Another attempt of a request already granted: it takes its own place in the pace (attempts are
    what the upstream counts), or is refused when that place is too far."""
    return _schedule(conn, policy, now)


def _refusals(conn: sqlite3.Connection, student: int, now: float) -> Refused | None:
    wait = pace.over(conn, student, pace.REFUSED, pace.REFUSALS, now)
    if wait is None:
        return None
    retry = max(1, math.ceil(wait))
    return Refused(
        429,
        f"The image service refused {pace.REFUSALS} of your requests in the last minute: check what they "
        f"said and fix the request. Try again in {retry} s.",
        "student_refusals",
        "refusals",
        retry_after=retry,
    )


def claim(
    conn: sqlite3.Connection, ask: Ask, policy: Policy, now: float, *, check_cache: bool = True
) -> Grant | Wait | Cached | Refused:
    """Decide one request in one transaction (see the module docstring); may write, so retry-safe."""
    row = conn.execute(
        "SELECT id, name, revoked, expires, images_limit, budget_micros, images_used, micros_used"
        " FROM gateway_students WHERE id = ?",
        (ask.student,),
    ).fetchone()
    who = judge(None if row is None else row[:4], now)
    if isinstance(who, Denied):
        return Refused(401, who.message, "invalid_api_key", "auth")
    conn.execute("UPDATE gateway_students SET last_seen = ? WHERE id = ?", (now, ask.student))
    conn.execute("DELETE FROM gateway_reservations WHERE created < ?", (now - policy.lease,))
    conn.execute(
        "DELETE FROM gateway_inflight WHERE reservation NOT IN (SELECT id FROM gateway_reservations)"
    )
    if ask.key is not None:
        if (
            check_cache
            and conn.execute("SELECT 1 FROM generations WHERE cache_key = ? LIMIT 1", (ask.key,)).fetchone()
        ):
            return Cached()
        if conn.execute("SELECT 1 FROM gateway_inflight WHERE cache_key = ?", (ask.key,)).fetchone():
            return Wait()
    refused = _refusals(conn, ask.student, now) or _limits(conn, ask, row, policy)
    if refused is None:
        slot = _schedule(conn, policy, now)
        if isinstance(slot, Refused):
            return slot
        cursor = conn.execute(
            "INSERT INTO gateway_reservations (student, images, micros, created) VALUES (?, ?, ?, ?)",
            (ask.student, ask.images, ask.micros, now),
        )
        reservation = int(cursor.lastrowid or 0)
        if ask.key is not None:
            conn.execute("INSERT INTO gateway_inflight VALUES (?, ?, ?)", (ask.key, reservation, now))
        return Grant(reservation, slot)
    conn.execute("UPDATE gateway_students SET refused = refused + 1 WHERE id = ?", (ask.student,))
    return refused


def hidden_from(conn: sqlite3.Connection, key: str, student: int) -> bool:
    """Whether the teacher hid the image this request makes from ``student`` (all but its maker)."""
    row = conn.execute("SELECT maker FROM gateway_hidden WHERE cache_key = ?", (key,)).fetchone()
    return row is not None and row[0] != student


def _wall(conn: sqlite3.Connection, entry: WallEntry, now: float) -> int:
    hidden = entry.cache_key is not None and bool(
        conn.execute("SELECT 1 FROM gateway_hidden WHERE cache_key = ?", (entry.cache_key,)).fetchone()
    )  # its maker asked again for what the teacher hid: they get their copy, the wall does not show it
    cursor = conn.execute(
        "INSERT INTO gateway_wall (student, created, generation_id, images, prompt, params, backend, how,"
        " url_token, cache_key, hidden) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.student,
            now,
            entry.generation_id,
            entry.images,
            entry.prompt,
            json.dumps(entry.params, separators=(",", ":")),
            entry.backend,
            entry.how,
            entry.url_token,
            entry.cache_key,
            int(hidden),
        ),
    )
    return int(cursor.lastrowid or 0)


def settle(conn: sqlite3.Connection, grant: Grant, ask: Ask, entry: WallEntry, now: float) -> int:
    """The upstream answered: charge the reservation, end the single flight, add the wall row."""
    conn.execute(
        "UPDATE gateway_students SET images_used = images_used + ?, micros_used = micros_used + ?"
        " WHERE id = ?",
        (ask.images, ask.micros, ask.student),
    )
    conn.execute("DELETE FROM gateway_reservations WHERE id = ?", (grant.reservation,))
    conn.execute("DELETE FROM gateway_inflight WHERE reservation = ?", (grant.reservation,))
    return _wall(conn, entry, now)


def renew(conn: sqlite3.Connection, reservations: tuple[int, ...], now: float) -> None:
    """This worker's requests are still on their way: their reservations live another lease."""
    marks = ",".join("?" * len(reservations))
    conn.execute(f"UPDATE gateway_reservations SET created = ? WHERE id IN ({marks})", (now, *reservations))


def release(
    conn: sqlite3.Connection, grant: Grant, *, refused: int | None = None, now: float | None = None
) -> None:
    """The upstream failed: nothing is charged, and identical requests stop waiting for this one.

    ``refused``: the student whose request the upstream refused (a 4xx on the request itself); it counts
    against their :data:`pace.REFUSALS`.
    """
    conn.execute("DELETE FROM gateway_reservations WHERE id = ?", (grant.reservation,))
    conn.execute("DELETE FROM gateway_inflight WHERE reservation = ?", (grant.reservation,))
    if refused is not None:
        pace.record(conn, refused, pace.REFUSED, time.time() if now is None else now)


def free(conn: sqlite3.Connection, entry: WallEntry, now: float) -> int:
    """An answer that cost nothing (the shared cache, the offline fallback): counted apart, on the wall."""
    column = "cached" if entry.how == "cached" else "offline"
    conn.execute(
        f"UPDATE gateway_students SET {column} = {column} + ?, last_seen = ? WHERE id = ?",
        (entry.images, now, entry.student),
    )
    return _wall(conn, entry, now)
