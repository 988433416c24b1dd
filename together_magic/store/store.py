"""One durable local store for every generation: the response cache, a searchable history, later batches.

Layout of ``folder``: ``store.sqlite3`` (+ its ``-wal``/``-shm``) and ``images/<sha256>.<ext>``. Image bytes
live in files named by their hash (deduplicated, never base64 inside the database); the database holds one
row per generation and one per image. Nothing else in ``folder`` is ever touched: old JSON cache entries, a
user's ``data.json``, a foreign file in ``images/``; only names the store writes (``images/<64 hex>.<ext>``
and its ``images/.<64 hex>.*.tmp`` temporaries) are ever deleted.

Why it survives crashes and concurrency (several kernels, the panel, the CLI and a gateway at once):
- SQLite in WAL mode, every write in ``BEGIN IMMEDIATE`` with a busy timeout, and an outer retry with
  jittered backoff up to ``lock_timeout``; only then a one-line ``StoreError``, never "database is locked".
- Image files are complete and fsynced before the transaction that names them commits. A writer killed in
  between leaves orphan files, no row; orphans older than ``orphan_grace`` are removed by ``repair()``.
- A file is unlinked only after the commit that dropped its last reference, and only under the write lock,
  after checking no row took it back (the ``doomed`` table); a writer re-checks, under that same lock, that
  each new file is still there. So no committed row ever points to a file this code removed.
- ``repair()`` (rows whose file is gone, orphans, stale temporaries) runs on first use only when a writer
  did not close cleanly (its ``sessions`` heartbeat is older than the grace), so opening stays cheap.
- ``lookup`` hashes the files it serves: a damaged entry is dropped on first sight, never served twice.

Keys: the store cannot receive one. It takes the JSON *body* of a request (Together's key travels only in
the ``Authorization`` header, which never reaches this module), plain metadata, and a backend label from
which any ``user:password@``, query string and fragment are cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace

from . import schema
from .blobs import clean_text, file_matches, to_json, write_blob
from .db import DATABASE, Database
from .query import Filters, delete_generations, reap, select_ids, sweep
from .rows import (
    GENERATION_COLUMNS,
    SOURCES,
    Generation,
    Memo,
    NewGeneration,
    NewImage,
    RepairReport,
    StoredImage,
    StoreError,
    StoreStats,
    load_generations,
    rows_of,
    text_paths,
)

__all__ = [
    "DATABASE",
    "SOURCES",
    "Filters",
    "Generation",
    "NewGeneration",
    "NewImage",
    "RepairReport",
    "Store",
    "StoreError",
    "StoreStats",
    "StoredImage",
]


class Store(Database):
    """The store in ``folder``: cheap to create (no work until first use), thread- and process-safe."""

    def _first_use(self) -> None:
        """Finish what a killed process left: a repair if a writer never closed, pending unlinks, index.

        A read-only store is read as it is: whoever can write it finishes its crashes."""
        self._transact(lambda c: None, write=False)  # opens it, and says in one line when it cannot
        if self.read_only:
            return
        cutoff = time.time() - self.orphan_grace
        stale, doomed, fts_due = self._transact(
            lambda c: (
                c.execute("SELECT 1 FROM sessions WHERE heartbeat < ? LIMIT 1", (cutoff,)).fetchone(),
                c.execute("SELECT 1 FROM doomed LIMIT 1").fetchone(),
                self._fts
                and (
                    not schema.fts_present(c)
                    or c.execute("SELECT 1 FROM meta WHERE key = 'fts_stale'").fetchone()
                ),
            ),
            write=False,
        )
        if fts_due:
            self._transact(schema.rebuild_fts)
        if stale:
            self.repair()
        elif doomed:
            self._transact(lambda c: reap(c, self.images))

    # -- writing ---------------------------------------------------------------------------------------
    def record(self, gen: NewGeneration) -> int:
        """Store one generation (images verified, files first, then one transaction); return its id.

        Raises ``StoreError`` for anything it refuses (a corrupt image, an unknown source) or cannot do.
        """
        return self.record_many([gen])[0]

    def record_many(self, gens: Iterable[NewGeneration]) -> list[int]:
        """Store several generations in one transaction (a sweep, a batch, an import); return their ids."""
        memo: Memo = {}
        prepared = [rows_of(gen, memo) for gen in gens]
        blobs = {sha: blob for p in prepared for sha, blob in p.blobs.items()}
        self._announce()
        if blobs:  # committed before any file exists, so a crash in between leaves a file the sweep may take
            blobs = self._transact(lambda c: self._claim(c, blobs))
        try:
            self.images.mkdir(parents=True, exist_ok=True)
            for sha, (name, data) in blobs.items():
                write_blob(self.images, name, data, sha)
        except OSError as exc:
            raise StoreError(f"image store {self.images}: cannot write an image ({exc.strerror})") from None

        spare: list[str] = []

        def insert(conn: sqlite3.Connection) -> list[int]:
            spare.clear()
            for sha, (name, data) in blobs.items():
                held = conn.execute("SELECT name FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
                if held is None:
                    path = self.images / name  # under the write lock now: nobody can unlink it until commit
                    if not path.is_file() or path.stat().st_size != len(data):
                        write_blob(self.images, name, data, sha)  # an orphan sweep or reap took it meanwhile
                    conn.execute("INSERT INTO blobs VALUES (?, ?, ?)", (sha, name, len(data)))
                elif held[0] != name:  # another writer stored these bytes first, under another name
                    conn.execute("INSERT OR IGNORE INTO doomed VALUES (?)", (name,))  # our copy: ours to drop
                    spare.append(name)
                conn.execute("DELETE FROM intents WHERE name = ?", (name,))
            ids = []
            marks = ", ".join("?" * len(GENERATION_COLUMNS.split(",")))
            for p in prepared:
                cursor = conn.execute(
                    f"INSERT INTO generations ({GENERATION_COLUMNS}) VALUES ({marks})", p.row
                )
                gid = int(cursor.lastrowid or 0)
                conn.executemany(
                    "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [(gid, *i) for i in p.images]
                )
                if self._fts:
                    conn.execute(
                        f"INSERT INTO {schema.FTS_TABLE}(rowid, prompt, negative_prompt) VALUES (?, ?, ?)",
                        (gid, p.row[3], p.row[4]),
                    )
                ids.append(gid)
            if not self._fts and ids and schema.fts_present(conn):
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('fts_stale', '1')")  # rebuilt elsewhere
            return ids

        ids = self._transact(insert)
        if spare:
            self._transact(lambda c: reap(c, self.images))
        return ids

    def _claim(
        self, conn: sqlite3.Connection, blobs: dict[str, tuple[str, bytes]]
    ) -> dict[str, tuple[str, bytes]]:
        """The file name each image will have, recorded as an intent before any file is written.

        A hash the store already holds keeps its file. Otherwise the content-addressed name is used unless
        a file the store did not write stands there (a user's copy of the same bytes, say): that file is
        never adopted, so never deleted with a history entry; ours is ``<sha256>-<k>.<ext>`` beside it.
        """
        chosen: dict[str, tuple[str, bytes]] = {}
        now = time.time()
        for sha, (name, data) in blobs.items():
            row = conn.execute("SELECT name FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
            if row is not None:
                chosen[sha] = (str(row[0]), data)
                continue
            stem, _, extension = name.partition(".")
            candidate, k = name, 0
            while os.path.lexists(self.images / candidate) and not self._ours(conn, candidate):
                k += 1
                candidate = f"{stem}-{k}.{extension}"
            chosen[sha] = (candidate, data)
        conn.executemany(
            "INSERT OR REPLACE INTO intents VALUES (?, ?)", [(n, now) for n, _ in chosen.values()]
        )
        return chosen

    @staticmethod
    def _ours(conn: sqlite3.Connection, name: str) -> bool:
        """Did the store write ``name``? An intent of any process, a row, or a doomed file not yet reaped."""
        return any(
            conn.execute(f"SELECT 1 FROM {table} WHERE name = ?", (name,)).fetchone() is not None
            for table in ("intents", "blobs", "doomed")
        )

    def add_saved_paths(self, generation_id: int, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Append paths the user saved this generation's images to (saving often happens after recording)."""
        extra = text_paths(paths)

        def update(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT saved_paths FROM generations WHERE id = ?", (generation_id,)
            ).fetchone()
            if row is not None:
                merged = to_json([*json.loads(row[0]), *extra])
                conn.execute("UPDATE generations SET saved_paths = ? WHERE id = ?", (merged, generation_id))

        self._transact(update)

    # -- the cache -------------------------------------------------------------------------------------
    def lookup(self, cache_key: str) -> Generation | None:
        """The newest generation recorded under ``cache_key``, its image bytes checked and preloaded.

        One indexed query (no scan, whatever the store's size) and one hash per image. If a file is missing
        or damaged, every row using it is deleted and None returned: a bad entry is never served twice.
        """

        def find(conn: sqlite3.Connection) -> list[Generation]:
            row = conn.execute(
                "SELECT id FROM generations WHERE cache_key = ? ORDER BY id DESC LIMIT 1",
                (clean_text(cache_key),),
            ).fetchone()
            return load_generations(conn, [row[0]], self.images) if row else []

        found = self._transact(find, write=False)
        if not found:
            return None
        gen, data = found[0], {}
        for image in gen.images:
            blob = file_matches(image.path, image.size, image.sha256)
            if blob is None:
                with contextlib.suppress(StoreError):  # read-only here: missed, never served, left alone
                    self._drop_damaged(gen)
                return None
            data[image.sha256] = blob
        now = time.time()
        with contextlib.suppress(StoreError):  # recency only orders eviction; the hit itself is good
            self._transact(
                lambda c: c.execute("UPDATE generations SET last_used = ? WHERE id = ?", (now, gen.id))
            )
        images = tuple(replace(image, _data=data[image.sha256]) for image in gen.images)
        return replace(gen, last_used=now, images=images)

    def _drop_damaged(self, gen: Generation) -> None:
        def drop(conn: sqlite3.Connection) -> None:
            # Checked again under the write lock: a concurrent writer may have rewritten the file meanwhile.
            bad = [i.sha256 for i in gen.images if file_matches(i.path, i.size, i.sha256) is None]
            ids = {gen.id} if bad else set()
            for sha in bad:
                ids.update(
                    r[0] for r in conn.execute("SELECT generation_id FROM images WHERE sha256 = ?", (sha,))
                )
            delete_generations(conn, sorted(ids), self._fts)

        self._transact(drop)
        self._transact(lambda c: reap(c, self.images))

    def evict(self, max_bytes: int) -> int:
        """Delete least-recently-used generations until their image files total <= ``max_bytes``.

        One store, one bound: history rows (no cache key) are evicted like cache entries, so ``evict(0)``
        empties the store. Deletes only image files no remaining row uses. Returns the rows removed.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise StoreError(f"max_bytes: must be a whole number >= 0, not {max_bytes!r}")

        def run(conn: sqlite3.Connection) -> int:
            total = conn.execute("SELECT COALESCE(SUM(size), 0) FROM blobs").fetchone()[0]
            removed = 0
            while total > max_bytes:
                ids = [
                    r[0] for r in conn.execute("SELECT id FROM generations ORDER BY last_used, id LIMIT 64")
                ]
                if not ids:
                    break
                for gid in ids:
                    total -= delete_generations(conn, [gid], self._fts)
                    removed += 1
                    if total <= max_bytes:
                        break
            return removed

        removed = self._transact(run)
        if removed:
            self._transact(lambda c: reap(c, self.images))
        return removed

    # -- history ---------------------------------------------------------------------------------------
    def history(
        self,
        text: str | None = None,
        *,
        last: int | None = 50,
        model: str | None = None,
        since: float | None = None,
        source: str | None = None,
    ) -> list[Generation]:
        """Generations newest first, at most ``last`` (None: all), matching every filter given.

        ``text`` is a case-insensitive substring of the prompt or negative prompt; ``since`` a unix time.
        """
        filters = _filters(text, model, since, source)
        if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 0):
            raise StoreError(f"last: must be a whole number >= 0 or None, not {last!r}")
        return self._transact(
            lambda c: load_generations(c, select_ids(c, filters, last, self._fts), self.images), write=False
        )

    def clear(
        self,
        text: str | None = None,
        *,
        model: str | None = None,
        since: float | None = None,
        source: str | None = None,
        everything: bool = False,
    ) -> int:
        """Delete the generations ``history`` would select (all of them, not only the last 50) and their
        now unused files; return how many. With no filter, ``everything=True`` is required."""
        filters = _filters(text, model, since, source)
        if filters == Filters() and not everything:
            raise StoreError("clear: give text, model, since or source, or everything=True to delete all")

        def run(conn: sqlite3.Connection) -> int:
            ids = select_ids(conn, filters, None, self._fts)
            delete_generations(conn, ids, self._fts)
            return len(ids)

        removed = self._transact(run)
        if removed:
            self._transact(lambda c: reap(c, self.images))
        return removed

    def get(self, generation_id: int) -> Generation | None:
        found = self._transact(lambda c: load_generations(c, [generation_id], self.images), write=False)
        return found[0] if found else None

    def count(self) -> int:
        return int(
            self._transact(lambda c: c.execute("SELECT COUNT(*) FROM generations").fetchone()[0], write=False)
        )

    def stats(self) -> StoreStats:
        def run(conn: sqlite3.Connection) -> StoreStats:
            generations = conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
            images = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
            files, size = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs").fetchone()
            return StoreStats(generations, images, files, size)

        return self._transact(run, write=False)

    # -- upkeep ----------------------------------------------------------------------------------------
    def repair(self) -> RepairReport:
        """Drop rows whose image file is missing or truncated; remove orphans older than ``orphan_grace``.

        Runs by itself on first use when a writer did not close cleanly; a full pass costs a ``stat`` per
        image file, so it is not run on every open.
        """
        rows, files = self._transact(lambda c: sweep(c, self.images, self.orphan_grace, self._fts))
        return RepairReport(rows, files)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the database is sound)."""
        rows = self._transact(lambda c: c.execute("PRAGMA integrity_check").fetchall(), write=False)
        return "\n".join(str(r[0]) for r in rows)


def _filters(text: str | None, model: str | None, since: float | None, source: str | None) -> Filters:
    if source is not None and source not in SOURCES:
        raise StoreError(f"source: {source!r} is not one of {', '.join(SOURCES)}")
    for name, value in (("text", text), ("model", model)):
        if value is not None and not isinstance(value, str):
            raise StoreError(f"{name}: must be text, not {type(value).__name__}")
    if since is not None and (
        isinstance(since, bool) or not isinstance(since, int | float) or since != since
    ):
        raise StoreError(f"since: must be a unix time (seconds), not {since!r}")
    return Filters(text or None, model, since, source)
