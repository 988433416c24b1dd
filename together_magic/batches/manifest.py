"""The manifest of a batch: one SQLite file inside the output folder that says what each item is and where.

The folder describes itself: next to the images (usual names, parameters embedded) lies
``together-magic-batch.sqlite`` with, per item, its request, status (``pending``, ``done``, ``failed``), a
one-line error, its files with their SHA-256 and how many attempts it took. Re-running the same call reads
it to skip what is done; a call whose requests differ is refused unless it asks for a new batch, which is
recorded next to the old one (files are never deleted).

Why SQLite in WAL mode: a batch can be SIGKILLed at any moment, and a committed transaction survives the
death of the process (``synchronous=NORMAL`` gives that without an fsync per item; only a power cut can lose
the last commits, and the images themselves are adopted from disk on resume). One process at a time fills a
folder: an advisory lock on ``together-magic-batch.lock`` says so, and dies with its holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..imagefiles.files import remove_stale_temps

try:  # advisory locks: POSIX; elsewhere a folder is not guarded against a second process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "MANIFEST_NAME", "FileEntry", "ItemRow", "Manifest", "canonical"]

MANIFEST_NAME = "together-magic-batch.sqlite"
LOCK_NAME = "together-magic-batch.lock"
SCHEMA_VERSION = 1
STATUSES = ("pending", "done", "failed")
_LONG_VALUE = 2048

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY, created REAL NOT NULL, defaults TEXT NOT NULL, source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    batch INTEGER NOT NULL REFERENCES batches(id),
    idx INTEGER NOT NULL,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    files TEXT NOT NULL DEFAULT '[]',
    updated REAL NOT NULL,
    PRIMARY KEY (batch, idx)
);
"""


def canonical(value: Any) -> str:
    """The one JSON spelling of a value (sorted keys, no spaces): what keys are hashed from."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def shown_request(payload: dict[str, Any]) -> dict[str, Any]:
    """A request as the manifest keeps it: a data: URL of a reference image is replaced by its size."""
    return {
        k: (v if len(str(v)) < _LONG_VALUE else f"<{len(str(v))} characters>") for k, v in payload.items()
    }


@dataclass(frozen=True)
class FileEntry:
    """One image file of an item: its name in the folder, the SHA-256 of its bytes, its part."""

    name: str
    sha256: str
    part: int = 0


@dataclass(frozen=True)
class ItemRow:
    index: int
    key: str
    request: dict[str, Any]
    status: str = "pending"
    error: str | None = None
    attempts: int = 0
    files: tuple[FileEntry, ...] = field(default_factory=tuple)


class Manifest:
    """An open manifest; use as a context manager (``with Manifest.open(folder) as m:``)."""

    def __init__(self, folder: Path, connection: sqlite3.Connection, lock: int | None) -> None:
        self.folder = folder
        self.path = folder / MANIFEST_NAME
        self._db = connection
        self._lock = lock

    # ------------------------------------------------------------------------ opening, closing
    @classmethod
    def open(cls, folder: str | Path, *, create: bool = True) -> Manifest:
        """Open (or create) the manifest of ``folder``, taking the folder's lock.

        ``OptionError`` (one line) when another process is filling the folder, the folder cannot be made,
        or the file is not a manifest this version can read.
        """
        directory = Path(folder).expanduser()
        if directory.exists() and not directory.is_dir():
            raise OptionError(f"--out: {directory} is a file, not a folder")
        if not create and not (directory / MANIFEST_NAME).exists():
            raise OptionError(f"--out: {directory} holds no batch ({MANIFEST_NAME} is missing)")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptionError(f"--out: cannot make the folder {directory}: {exc.strerror or exc}") from None
        planted = _planted(directory)
        if planted is not None:
            raise OptionError(
                f"--out: {planted} is a symbolic link; a batch folder's own files must be real files "
                "(move the link away)"
            )
        lock = _lock(directory)
        # This process now owns the folder: temp files a killed run left are abandoned (a live writer
        # elsewhere would hold its file's lock, which remove_stale_temps respects), so clean them now.
        remove_stale_temps(directory, stale_after=0)
        try:
            connection = sqlite3.connect(directory / MANIFEST_NAME, timeout=10, isolation_level=None)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(_SCHEMA)
                version = connection.execute("SELECT value FROM meta WHERE key='version'").fetchone()
                if version is None:
                    connection.execute("INSERT INTO meta VALUES ('version', ?)", (str(SCHEMA_VERSION),))
                elif int(version[0]) > SCHEMA_VERSION:
                    raise OptionError(
                        f"--out: {directory} was made by a newer together-magic (manifest version "
                        f"{version[0]}); upgrade together-magic to continue it"
                    )
            except BaseException:
                connection.close()
                raise
        except sqlite3.DatabaseError as exc:
            _unlock(lock)
            name = directory / MANIFEST_NAME
            raise OptionError(f"--out: {name} is not a readable manifest ({exc})") from None
        except BaseException:
            _unlock(lock)
            raise
        return cls(directory, connection, lock)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        _unlock(self._lock)
        self._lock = None

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a disk that is full (or gone read-only) mid-batch is one line, not a traceback:
        what was committed before stays, and the images already written are adopted by the next run."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back by itself (a full disk)
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            raise OptionError(
                f"--out: cannot write the manifest {self.path} ({exc}); what was done is kept: make room "
                "and run the same command again"
            ) from None

    # ------------------------------------------------------------------------ batches
    def current_batch(self) -> int | None:
        row = self._db.execute("SELECT max(id) FROM batches").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def defaults(self, batch: int) -> dict[str, Any]:
        row = self._db.execute("SELECT defaults FROM batches WHERE id=?", (batch,)).fetchone()
        loaded = json.loads(row[0]) if row else {}
        return loaded if isinstance(loaded, dict) else {}

    def new_batch(self, defaults: dict[str, Any], source: str, items: Sequence[ItemRow]) -> int:
        """Record a batch and its items (all pending) in one transaction; returns its id."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO batches (created, defaults, source) VALUES (?, ?, ?)",
                (now, canonical(defaults), source),
            )
            batch = int(cursor.lastrowid or 0)
            self._insert(db, batch, items, now)
        return batch

    def add_items(self, batch: int, items: Sequence[ItemRow]) -> None:
        """Items appended to a batch (a list or file that grew since the last run)."""
        with self._transaction() as db:
            self._insert(db, batch, items, time.time())

    @staticmethod
    def _insert(db: sqlite3.Connection, batch: int, items: Iterable[ItemRow], now: float) -> None:
        db.executemany(
            "INSERT INTO items (batch, idx, key, request, updated) VALUES (?, ?, ?, ?, ?)",
            [(batch, it.index, it.key, canonical(shown_request(it.request)), now) for it in items],
        )

    # ------------------------------------------------------------------------ items
    def items(self, batch: int) -> list[ItemRow]:
        rows = self._db.execute(
            "SELECT idx, key, request, status, error, attempts, files FROM items WHERE batch=? ORDER BY idx",
            (batch,),
        ).fetchall()
        return [_row(r) for r in rows]

    def counts(self, batch: int) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, count(*) FROM items WHERE batch=? GROUP BY status", (batch,)
        ).fetchall()
        found = {str(status): int(count) for status, count in rows}
        return {status: found.get(status, 0) for status in STATUSES}

    def finish(
        self,
        batch: int,
        index: int,
        *,
        status: str,
        files: Sequence[FileEntry],
        attempts: int,
        error: str | None = None,
    ) -> None:
        """Record an item's outcome (its files were written before this is called) in one transaction."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        listed = canonical([{"name": f.name, "sha256": f.sha256, "part": f.part} for f in files])
        with self._transaction() as db:
            db.execute(
                "UPDATE items SET status=?, error=?, attempts=?, files=?, updated=? WHERE batch=? AND idx=?",
                (status, error, attempts, listed, time.time(), batch, index),
            )


def _row(row: Sequence[Any]) -> ItemRow:
    index, key, request, status, error, attempts, files = row
    listed = json.loads(files) if files else []
    return ItemRow(
        index=int(index),
        key=str(key),
        request=json.loads(request),
        status=str(status),
        error=error,
        attempts=int(attempts),
        files=tuple(
            FileEntry(str(f["name"]), str(f["sha256"]), int(f.get("part", 0)))
            for f in listed
            if isinstance(f, dict)
        ),
    )


def _planted(folder: Path) -> Path | None:
    """The first of the folder's own files (manifest, its log and index, the lock) that is a symbolic link:
    SQLite and the lock would follow it and write wherever it points."""
    for name in (MANIFEST_NAME, f"{MANIFEST_NAME}-wal", f"{MANIFEST_NAME}-shm", LOCK_NAME):
        if (folder / name).is_symlink():
            return folder / name
    return None


def _lock(folder: Path) -> int | None:
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:  # a read-only folder, or something else in the lock file's place
        raise OptionError(f"--out: cannot write in {folder}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OptionError(
            f"--out: another process is filling {folder} right now; wait for it to finish or use another "
            "folder"
        ) from None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the descriptor releases the lock
