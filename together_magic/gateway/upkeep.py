"""The class data's one bound on disk, ``--cache-mb``: image files, the database (wall rows too) and its log.

The store's own eviction counts image files only, but a class's database grows too: every answer adds a
wall row, every request its cache entry's texts. So the gateway measures all three (the database by the
pages it uses, since SQLite reuses freed pages rather than shrinking its file, so the file never grows
past the most ever in use; the write-ahead log by its file). The log gets a fixed share of the bound
(:func:`log_allowance`: SQLite checkpoints it that often and cuts it back to that size); past
:data:`SLACK` of the rest, the images and the database are trimmed to :data:`TRIM_TO` of that: the
oldest wall rows beyond the wall's own :data:`WALL_SIZE`, then the least recently used cache entries.
The wall's latest answers and the class's accounts (students, reservations, paces, hidden requests) are
never trimmed.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..store.store import Store

__all__ = [
    "JOURNAL_LIMIT",
    "TRIM_TO",
    "WALL_SIZE",
    "Footprint",
    "footprint",
    "log_allowance",
    "prepare",
    "trim",
]

WALL_SIZE = 60
"""How many of the latest answers the wall shows (and trimming always keeps)."""
TRIM_TO = 0.8
"""Past the bound, the class data is trimmed to this share of it, so trimming is not due on every write."""
SLACK = 0.85
"""The share of the rest the images and pages in use may fill: the database file also holds pages freed
since (reused before it grows), so its size runs a little ahead of the pages in use."""
JOURNAL_LIMIT = 4 * 2**20
"""The most bytes the write-ahead log is given (SQLite's default checkpoint comes at about this size)."""
_PAGE = 4096


@dataclass(frozen=True)
class Footprint:
    images: int
    database: int
    """Bytes of the database's pages in use (freed pages are reused before the file grows)."""
    log: int
    """Bytes of the write-ahead log file."""

    @property
    def total(self) -> int:
        return self.images + self.database + self.log

    @property
    def data(self) -> int:
        return self.images + self.database


def log_allowance(bound: int) -> int:
    """The share of ``bound`` the write-ahead log may take: an eighth, at most :data:`JOURNAL_LIMIT`."""
    return max(16 * _PAGE, min(JOURNAL_LIMIT, bound // 8))


def prepare(store: Store, bound: int) -> None:
    """Keep this process's write-ahead log inside its allowance: checkpointed when it holds that much, and
    cut back to it after (per-connection settings; cheap to repeat)."""
    allowance = log_allowance(bound)
    with store.connect() as conn:
        conn.execute(f"PRAGMA journal_size_limit = {allowance}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {max(16, allowance // _PAGE)}")


def _log_size(store: Store) -> int:
    wal = Path(f"{store.database}-wal")
    try:
        return wal.stat().st_size
    except OSError:
        return 0


def footprint(store: Store) -> Footprint:
    def measure(conn: sqlite3.Connection) -> tuple[int, int]:
        images = int(conn.execute("SELECT COALESCE(SUM(size), 0) FROM blobs").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        unused = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        return images, (pages - unused) * size

    images, database = store.read(measure)
    return Footprint(images, database, _log_size(store))


def _drop_wall_rows(conn: sqlite3.Connection, share: float) -> int:
    """Delete ``share`` of the wall rows older than the wall's latest, oldest first; and every such row
    whose images are gone (it shows nothing). The hidden requests stay hidden (their own table)."""
    newest = conn.execute(
        "SELECT MIN(id) FROM (SELECT id FROM gateway_wall ORDER BY id DESC LIMIT ?)", (WALL_SIZE,)
    ).fetchone()[0]
    if newest is None:
        return 0
    older = int(conn.execute("SELECT COUNT(*) FROM gateway_wall WHERE id < ?", (newest,)).fetchone()[0])
    drop = math.ceil(older * share)
    removed = conn.execute(
        "DELETE FROM gateway_wall WHERE id IN (SELECT id FROM gateway_wall WHERE id < ? ORDER BY id LIMIT ?)",
        (newest, drop),
    ).rowcount
    removed += conn.execute(
        "DELETE FROM gateway_wall WHERE id < ? AND generation_id IS NULL", (newest,)
    ).rowcount
    return int(removed)


def trim(store: Store, bound: int) -> Footprint:
    """Bring the class data under ``bound`` bytes if it is over (see the module docstring)."""
    prepare(store, bound)
    found = footprint(store)
    room = (bound - log_allowance(bound)) * SLACK
    if found.data <= room:
        return found
    goal = room * TRIM_TO
    for _ in range(4):
        share = min(1.0, (found.data - goal) / max(found.data, 1))
        store.write(partial(_drop_wall_rows, share=share))
        store.evict(int(found.images * (1 - share)))
        with store.connect() as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # never waits: a busy log is cut next time
        found = footprint(store)
        if found.data <= goal:
            break
    return found
