"""The cloud's model list, kept for a day: one row per endpoint (the list as JSON and when it was fetched).

The magic and the panel read it instead of asking the cloud each time (and never in ``%load_ext``). The
row holds the endpoint (a base URL, which cannot carry a password: the client refuses one) and the list the
server gave; never a key. Its own component in ``schema_versions``, as the gateway's tables are.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time

from .db import Database
from .rows import StoreError

__all__ = ["COMPONENT", "MAX_AGE", "load_live", "save_live"]

COMPONENT = "live_models"
MAX_AGE = 86_400.0
"""A fetched list is used for a day, then fetched again when next needed."""
_MIGRATIONS = [
    "CREATE TABLE IF NOT EXISTS live_models (endpoint TEXT PRIMARY KEY, fetched REAL NOT NULL, "
    "models TEXT NOT NULL) WITHOUT ROWID;\n"
]
_ready: set[str] = set()


def _ensure(store: Database) -> None:
    if str(store.database) not in _ready:
        store.ensure_schema(COMPONENT, _MIGRATIONS)
        _ready.add(str(store.database))


def save_live(store: Database, endpoint: str, models: str, *, now: float | None = None) -> None:
    """Keep ``models`` (JSON text) as the list ``endpoint`` gave now; raises ``StoreError``."""
    _ensure(store)
    when = time.time() if now is None else now

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO live_models VALUES (?, ?, ?) ON CONFLICT(endpoint) DO UPDATE "
            "SET fetched = excluded.fetched, models = excluded.models",
            (endpoint, when, models),
        )

    store.write(write)


def load_live(
    store: Database, endpoint: str, *, max_age: float = MAX_AGE, now: float | None = None
) -> str | None:
    """The list ``endpoint`` gave less than ``max_age`` seconds ago (JSON text), or None; raises
    ``StoreError``. A read-only store without the table has no list."""
    with contextlib.suppress(StoreError):  # read-only here: read what is there
        _ensure(store)
    oldest = (time.time() if now is None else now) - max_age

    def read(conn: sqlite3.Connection) -> str | None:
        try:
            row = conn.execute(
                "SELECT models FROM live_models WHERE endpoint = ? AND fetched >= ?", (endpoint, oldest)
            ).fetchone()
        except sqlite3.OperationalError:  # no such table (a read-only store made before it)
            return None
        return str(row[0]) if row else None

    return store.read(read)
