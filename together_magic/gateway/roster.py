"""The class list: students and their tokens, the teacher's token, and who is allowed in right now.

Tokens are shown once, when made, and stored only as SHA-256 digests. Every request looks its token up in
the database (one indexed read), so ``class revoke`` and an expiry take effect on the very next request in
every worker process, with nothing cached to go stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionError
from ..store.store import Store
from . import schema

__all__ = [
    "NAME_MAX",
    "STUDENT_PREFIX",
    "TEACHER_PREFIX",
    "Denied",
    "Roster",
    "Student",
    "Usage",
    "check_allowance",
    "check_name",
    "digest",
    "dollars",
    "micros",
    "new_tokens",
    "parse_expiry",
]

STUDENT_PREFIX = "class-"
TEACHER_PREFIX = "teacher-"
NAME_MAX = 40


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def micros(dollars: float) -> int:
    """Dollars as whole micro-dollars (the unit every sum in the database is kept in)."""
    return round(dollars * 1_000_000)


def dollars(value: int) -> str:
    """Micro-dollars as dollars a student can compare: ``$5.00``, ``$0.02``, ``$0.000169`` (never rounded
    to a misleading ``$0.0000``)."""
    whole, _, fraction = f"{value / 1_000_000:.6f}".rstrip("0").partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Student:
    """Who a request comes from (its token matched, not revoked, not expired at that moment)."""

    id: int
    name: str


@dataclass(frozen=True)
class Denied:
    """Why a token does not let a request in; ``message`` is what the student reads."""

    message: str


@dataclass(frozen=True)
class Usage:
    """One row of ``class list`` and of the wall's usage table."""

    name: str
    images_used: int
    images_limit: int | None
    micros_used: int
    budget_micros: int | None
    cached: int
    offline: int
    refused: int
    last_seen: float | None
    expires: float | None
    revoked: float | None
    created: float

    def status(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"


def parse_expiry(text: str, *, now: float | None = None) -> float:
    """``--expires``: a date in any ISO form (``2026-11-23``, ``20261123``, ``2026-W48-1``: valid to the end
    of that day, local time) or an ISO date and time (local unless it names its zone). It must be
    showable as a local time too (``class list``, a student's refusal), so year 9999 is refused here."""
    value = text.strip()
    try:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.astimezone()
        else:
            moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).astimezone()
    except ValueError:
        raise OptionError(
            f"--expires: {text!r} is not a date; give YYYY-MM-DD (valid to the end of that day) "
            "or YYYY-MM-DDTHH:MM"
        ) from None
    except OverflowError:  # the day after 9999-12-31
        moment = None
    try:
        if moment is None:
            raise OverflowError
        when = moment.timestamp()
        dt.datetime.fromtimestamp(when)
    except (ValueError, OverflowError, OSError):
        raise OptionError(f"--expires: {value} is too far in the future; give a date before 9999") from None
    if when <= (time.time() if now is None else now):
        raise OptionError(f"--expires: {value} is already past")
    return when


def check_allowance(images: int | None, budget: float | None, *, positive: bool) -> None:
    """``--images`` and ``--budget`` of ``add`` (0 or more) and of ``grant`` (more than 0)."""
    low = 1 if positive else 0
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < low):
        raise OptionError(f"--images: must be a whole number, {low} or more, got {images!r}")
    if budget is None:
        return
    above = budget > 0 if positive else budget >= 0
    if not (above and budget <= 1_000_000):  # also refuses nan
        raise OptionError(
            f"--budget: must be dollars from {'more than ' if positive else ''}0 to 1000000, got {budget!r}"
        )


def check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > NAME_MAX or not clean.isprintable():
        raise OptionError(f"NAME: give 1 to {NAME_MAX} printable characters, got {name!r}")
    return clean


def new_tokens(names: Sequence[str]) -> list[tuple[str, str]]:
    """Each name (checked, stripped) with a new token of its own; a name given twice is refused."""
    clean = [check_name(name) for name in names]
    twice = next((name for i, name in enumerate(clean) if name in clean[:i]), None)
    if twice is not None:
        raise OptionError(f"NAME: {twice} is given twice; each student needs a name of their own")
    return [(name, _new_token(STUDENT_PREFIX)) for name in clean]


_USAGE = (
    "name, images_used, images_limit, micros_used, budget_micros, cached, offline, refused, last_seen,"
    " expires, revoked, created"
)


class Roster:
    """The class in a data folder: the gateway's tables in the store's SQLite file."""

    def __init__(self, store: Store | str | Path) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        self._ready = False

    def _prepare(self) -> Store:
        if not self._ready:
            schema.ensure(self.store)
            self._ready = True
        return self.store

    def close(self) -> None:
        self.store.close()

    # -- the teacher ---------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        *,
        images: int | None,
        budget: float | None,
        expires: float | None,
    ) -> str:
        """Add a student and return their token (the only time it exists in clear)."""
        students = new_tokens([name])
        self.add_many(students, images=images, budget=budget, expires=expires)
        return students[0][1]

    def add_many(
        self,
        students: Sequence[tuple[str, str]],
        *,
        images: int | None,
        budget: float | None,
        expires: float | None,
    ) -> None:
        """Add students (``(name, token)`` from :func:`new_tokens`) in ONE transaction, each with the same
        allowance. All or nothing: a name already in the class refuses the whole call (``class add
        --roster`` leaves such names out first, and says so), so a half-added class never exists."""
        check_allowance(images, budget, positive=False)
        now = time.time()

        def insert(conn: sqlite3.Connection) -> None:
            for name, token in students:
                taken = conn.execute(
                    "SELECT 1 FROM gateway_students WHERE name = ? AND revoked IS NULL", (name,)
                ).fetchone()
                if taken:  # raised inside the transaction: everything added before it is rolled back
                    raise OptionError(
                        f"NAME: {name} is already in the class; 'together-magic class grant {name}' gives "
                        f"them more, 'together-magic class revoke {name}' first gives them a new token"
                    )
                conn.execute(
                    "INSERT INTO gateway_students (name, token_sha256, images_limit, budget_micros,"
                    " expires, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, digest(token), images, None if budget is None else micros(budget), expires, now),
                )

        self._prepare().write(insert)

    def active_names(self) -> set[str]:
        """The names of the students whose tokens are not revoked (expired ones included)."""
        rows = self._prepare().read(
            lambda c: c.execute("SELECT name FROM gateway_students WHERE revoked IS NULL").fetchall()
        )
        return {row[0] for row in rows}

    def grant(self, name: str | None, *, images: int | None, budget: float | None) -> list[Usage]:
        """Add ``images`` and ``budget`` dollars to a student's allowance (``name`` None: every student
        not revoked), at once for every worker's next request; their rows as they are now.

        A limit that is not set (no image limit, no dollar limit) stays unset: adding to it changes
        nothing. Raises ``OptionError`` when no active student has that name."""
        check_allowance(images, budget, positive=True)
        added = 0 if budget is None else micros(budget)
        clean = None if name is None else name.strip()

        def update(conn: sqlite3.Connection) -> list[Usage]:
            where, args = (
                ("revoked IS NULL", ()) if clean is None else ("revoked IS NULL AND name = ?", (clean,))
            )
            conn.execute(
                "UPDATE gateway_students SET images_limit = images_limit + ?,"
                f" budget_micros = budget_micros + ? WHERE {where}",
                (images or 0, added, *args),
            )
            rows = conn.execute(f"SELECT {_USAGE} FROM gateway_students WHERE {where} ORDER BY id", args)
            return [Usage(*row) for row in rows.fetchall()]

        granted = self._prepare().write(update)
        if clean is not None and not granted:
            raise OptionError(
                f"NAME: no active student named {clean!r} (together-magic class list shows them)"
            )
        return granted

    def revoke(self, name: str) -> bool:
        """Revoke a student's token now; False when no active student has that name."""
        now = time.time()
        clean = name.strip()

        def update(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE gateway_students SET revoked = ? WHERE name = ? AND revoked IS NULL", (now, clean)
            )
            return cursor.rowcount > 0

        return self._prepare().write(update)

    def usage(self) -> list[Usage]:
        """Every student ever added (revoked ones too), in the order they were added."""
        rows = self._prepare().read(
            lambda c: c.execute(f"SELECT {_USAGE} FROM gateway_students ORDER BY id").fetchall()
        )
        return [Usage(*row) for row in rows]

    def new_teacher_token(self) -> str:
        """A new teacher token for ``/class``; the previous one stops working."""
        token = _new_token(TEACHER_PREFIX)
        now = time.time()
        self._prepare().write(
            lambda c: c.execute(
                "INSERT INTO gateway_teacher VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE"
                " SET token_sha256 = excluded.token_sha256, created = excluded.created",
                (digest(token), now),
            )
        )
        return token

    def first_teacher_token(self) -> str | None:
        """A teacher token if none exists yet (the gateway's first start), else None."""
        token = _new_token(TEACHER_PREFIX)
        now = time.time()

        def insert(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO gateway_teacher VALUES (1, ?, ?) ON CONFLICT(id) DO NOTHING",
                (digest(token), now),
            )
            return cursor.rowcount > 0

        return token if self._prepare().write(insert) else None

    # -- every request -------------------------------------------------------------------------------
    def is_teacher(self, token: str | None) -> bool:
        if not token:
            return False
        row = self._prepare().read(
            lambda c: c.execute("SELECT token_sha256 FROM gateway_teacher WHERE id = 1").fetchone()
        )
        return row is not None and secrets.compare_digest(row[0], digest(token))

    def student(self, token: str | None, *, now: float | None = None) -> Student | Denied:
        """The student a token belongs to, or why it is refused (unknown, revoked, expired)."""
        if not token:
            return Denied(
                "No API key provided: set TOGETHER_API_KEY to the class token your teacher gave you."
            )
        if token.startswith(TEACHER_PREFIX):
            return Denied(
                "This is the teacher's token, for the class wall (/class); students use their own class "
                "token."
            )
        row = self._prepare().read(
            lambda c: c.execute(
                "SELECT id, name, revoked, expires FROM gateway_students WHERE token_sha256 = ?",
                (digest(token),),
            ).fetchone()
        )
        return judge(row, time.time() if now is None else now)


def judge(row: tuple[int, str, float | None, float | None] | None, now: float) -> Student | Denied:
    """A student row as the answer to "may this token come in now?"."""
    if row is None:
        return Denied(
            "Invalid API key provided: this class gateway takes only class tokens; check TOGETHER_API_KEY "
            "or ask your teacher for yours."
        )
    sid, name, revoked, expires = row
    if revoked is not None:
        return Denied(
            f"The class token of {name} was revoked by the teacher; ask your teacher for a new one."
        )
    if expires is not None and now >= expires:
        day = dt.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M")
        return Denied(f"The class token of {name} expired on {day}; ask your teacher for a new one.")
    return Student(sid, name)
