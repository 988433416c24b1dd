"""The store's database handle: one connection per process, transactions that retry while locked.

Separate from ``store`` (what is stored) so that this part, how SQLite is driven safely by several
threads, processes and forks at once, can be read on its own. ``Store`` subclasses ``Database``.
"""

from __future__ import annotations

import os
import random
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from . import schema
from .rows import StoreError

__all__ = ["DATABASE", "Database"]

T = TypeVar("T")
DATABASE = "store.sqlite3"


class _Handle:
    """The connection and session of one process; closed by ``Store.close`` or at interpreter exit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()
        self.token = secrets.token_hex(8)
        self.wrote = False

    def close(self) -> None:
        if self.pid != os.getpid():
            return  # a forked child must not close (or write through) its parent's connection
        try:
            if self.wrote:
                self.conn.execute("PRAGMA busy_timeout = 200")
                self.conn.execute("DELETE FROM sessions WHERE token = ?", (self.token,))
        except sqlite3.Error:
            pass  # the session then looks unclean and the next open repairs: safe, only slower
        finally:
            self.conn.close()


class Database:
    """The SQLite file in ``folder``: lazy (no work until first use), thread-, process- and fork-safe."""

    def __init__(
        self,
        folder: str | Path,
        *,
        orphan_grace: float = 600.0,
        lock_timeout: float = 30.0,
        full_text: bool = True,
    ) -> None:
        """``orphan_grace``: seconds an unreferenced image file may belong to a writer about to commit;
        ``lock_timeout``: how long to wait for another process's transaction before a ``StoreError``;
        ``full_text=False``: search by scanning, as when this Python's SQLite lacks FTS5 (tests, benchmarks).
        """
        self.folder = Path(folder)
        self.full_text = full_text
        self.images = self.folder / "images"
        self.database = self.folder / DATABASE
        self.orphan_grace = orphan_grace
        self.lock_timeout = lock_timeout
        self._lock = threading.RLock()
        self._handle: _Handle | None = None
        self._fts = False
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._ready = self._preparing = False
        self.read_only = False
        """True when the folder cannot be written here: history and the cache read, nothing is recorded."""

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()  # runs _Handle.close once
            self._handle, self._finalizer, self._ready = None, None, False

    # -- connection and transactions ------------------------------------------------------------------
    def _open(self) -> _Handle:
        if self._handle is not None and self._handle.pid == os.getpid():
            return self._handle
        self._handle = None  # after a fork: open a fresh connection, never reuse the parent's
        for path in (self.database, Path(f"{self.database}-wal"), Path(f"{self.database}-shm")):
            if path.is_symlink():  # SQLite would follow it and write wherever it points
                raise StoreError(
                    f"image store {path} is a symbolic link; the store opens only its own files (move it)"
                )
        self.read_only = _read_only(self.folder, self.database)
        if self.read_only and not self.database.is_file():
            raise StoreError(f"image store {self.folder} is read-only and holds no history yet")
        if not self.read_only:
            self.images.mkdir(parents=True, exist_ok=True)
        busy = int(min(self.lock_timeout, 2.0) * 1000)
        conn = schema.configure(self.database, busy_ms=busy, read_only=self.read_only)
        try:
            if self.read_only:
                schema.check_current(conn, self.database)
            else:
                schema.migrate(conn)
            self._fts = self.full_text and schema.fts_supported(conn)
        except BaseException:
            conn.close()
            raise
        handle = self._handle = _Handle(conn)
        self._finalizer = weakref.finalize(self, handle.close)
        self._ready = False
        return handle

    def _first_use(self) -> None:
        """Hook: work due once per process before the first transaction (``Store`` finishes crashes here,
        unless the store is read-only here)."""

    def _prepare_once(self) -> None:
        with self._lock:
            if self._ready or self._preparing:
                return
            self._preparing = True
            try:
                self._first_use()
                self._ready = True
            finally:
                self._preparing = False

    def _announce(self) -> None:
        """Leave this process's session row before writing files outside a transaction.

        If the process then dies between its files and its commit, that row (never removed by a clean
        close) is what tells a later open to sweep the orphans up.
        """
        handle = self._handle
        if handle is None or not handle.wrote or handle.pid != os.getpid():
            self._transact(lambda conn: None)

    def _transact(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run ``fn`` in one transaction, retrying (it must be retry-safe) while the database is locked."""
        if not self._ready:
            self._prepare_once()
        if write and self.read_only:
            raise StoreError(f"image store {self.folder} is read-only here: nothing is recorded in it")
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.002
        while True:
            with self._lock:
                try:
                    handle = self._open()
                    conn = handle.conn
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        result = fn(conn)
                        if write:
                            conn.execute(
                                "INSERT INTO sessions VALUES (?, ?) ON CONFLICT(token) DO UPDATE"
                                " SET heartbeat = excluded.heartbeat",
                                (handle.token, time.time()),
                            )
                            handle.wrote = True
                        conn.execute("COMMIT")
                        return result
                    finally:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                except sqlite3.OperationalError as exc:
                    if not schema.is_busy(exc):
                        raise StoreError(f"image store {self.database}: {exc}") from None
                except sqlite3.DatabaseError as exc:
                    raise StoreError(f"image store {self.database} cannot be used: {exc}") from None
                except OSError as exc:
                    raise StoreError(f"image store {self.folder}: {exc.strerror or exc}") from None
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"image store {self.database} stayed locked for {self.lock_timeout:g} s by another "
                    "process; try again"
                )
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.25)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """The store's connection (WAL, busy timeout, foreign keys, autocommit), held for the block.

        For modules adding their own tables (see ``ensure_schema``); issue ``BEGIN IMMEDIATE`` yourself for
        writes, or prefer ``write(fn)``, which also retries while another process holds the lock.
        """
        if not self._ready:
            self._prepare_once()
        with self._lock:
            try:
                conn = self._open().conn
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"image store {self.database} cannot be used: {exc}") from None
            yield conn

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one write transaction, retried while locked (so ``fn`` must be retry-safe)."""
        return self._transact(fn)

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one read transaction (a consistent snapshot)."""
        return self._transact(fn, write=False)

    def ensure_schema(self, component: str, migrations: Sequence[schema.Migration]) -> int:
        """Apply ``component``'s migrations (SQL or functions; append only) past its version; return it."""
        return self._transact(lambda c: schema.apply_component(c, component, migrations))


def _read_only(folder: Path, database: Path) -> bool:
    """Can this process not write the store (a read-only mount, a folder or file it may not change)?

    ``os.access`` answers for the real user and for read-only file systems, root included."""
    if not folder.exists():
        return False  # it is created on first write
    if not os.access(folder, os.W_OK | os.X_OK):
        return True
    return database.exists() and not os.access(database, os.W_OK)
