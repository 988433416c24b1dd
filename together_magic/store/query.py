"""The store's queries that more than one method needs: search, deletion, unlinking and the orphan sweep.

Every function runs inside a transaction the caller opened (``Store._transact``), so what each one reads
and changes is one consistent step, and file unlinks happen only while the write lock is held.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .blobs import BLOB_NAME, TMP_NAME, clean_text

__all__ = ["Filters", "delete_generations", "reap", "select_ids", "sweep"]

_CHUNK = 500  # bound on SQL parameters per statement (old SQLite builds allow 999)


@dataclass(frozen=True)
class Filters:
    """What ``history`` and ``clear`` select: every given filter must hold."""

    text: str | None = None  # case-insensitive substring of the prompt or the negative prompt
    model: str | None = None
    since: float | None = None  # unix time; rows created at or after it
    source: str | None = None


def _contains(haystack: str | None, needle: str) -> bool:
    return haystack is not None and needle in haystack.lower()


def select_ids(conn: sqlite3.Connection, filters: Filters, limit: int | None, fts: bool) -> list[int]:
    """Ids of matching generations, newest first, at most ``limit`` (None: all).

    Text search: the FTS5 trigram index when this SQLite has it (a substring index: cost follows the
    matches, not the store size), else ``LIKE`` for printable ASCII, else a Python function. Each path
    may over-select (SQLite folds case differently from Python), so every candidate is checked again
    with the one rule above and the cursor is read only until ``limit`` rows passed.
    """
    where: list[str] = []
    args: list[object] = []
    source = "generations g"
    order = "g.id DESC"
    needle = clean_text(filters.text).lower() if filters.text else None
    if needle is not None:
        printable = needle.isascii() and needle.isprintable()
        if fts and printable and len(needle) >= 3 and _fts_ready(conn):
            source = f"{schema.FTS_TABLE} f JOIN generations g ON g.id = f.rowid"
            where.append(f"{schema.FTS_TABLE} MATCH ?")
            args.append('"' + needle.replace('"', '""') + '"')
            order = "f.rowid DESC"
        elif printable:
            pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(g.prompt LIKE ? ESCAPE '\\' OR g.negative_prompt LIKE ? ESCAPE '\\')")
            args += [pattern, pattern]
        else:
            where.append("(tm_contains(g.prompt, ?) OR tm_contains(g.negative_prompt, ?))")
            args += [needle, needle]
    for column, value in (("model", filters.model), ("source", filters.source)):
        if value is not None:
            where.append(f"g.{column} = ?")
            args.append(clean_text(value))
    if filters.since is not None:
        where.append("g.created >= ?")
        args.append(filters.since)
    sql = f"SELECT g.id, g.prompt, g.negative_prompt FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    ids: list[int] = []
    if limit is not None and limit <= 0:
        return ids
    for gid, prompt, negative in conn.execute(f"{sql} ORDER BY {order}", args):
        if needle is None or _contains(prompt, needle) or _contains(negative, needle):
            ids.append(gid)
            if limit is not None and len(ids) >= limit:
                break
    return ids


def _fts_ready(conn: sqlite3.Connection) -> bool:
    stale = conn.execute("SELECT 1 FROM meta WHERE key = 'fts_stale'").fetchone()
    return stale is None and schema.fts_present(conn)


def delete_generations(conn: sqlite3.Connection, ids: Sequence[int], fts: bool) -> int:
    """Delete these rows (their images cascade); doom files nobody refers to any more; return bytes freed.

    The files are not unlinked here: a crash before the commit would roll the rows back onto missing
    files. ``reap`` unlinks them in a later transaction.
    """
    freed = 0
    stale_index = not fts and schema.fts_present(conn)
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        shas = [
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT sha256 FROM images WHERE generation_id IN ({marks})", chunk
            )
        ]
        conn.execute(f"DELETE FROM generations WHERE id IN ({marks})", chunk)
        if fts:
            conn.execute(f"DELETE FROM {schema.FTS_TABLE} WHERE rowid IN ({marks})", chunk)
        for sha in shas:
            if conn.execute("SELECT 1 FROM images WHERE sha256 = ? LIMIT 1", (sha,)).fetchone() is None:
                row = conn.execute("SELECT name, size FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM blobs WHERE sha256 = ?", (sha,))
                    conn.execute("INSERT OR IGNORE INTO doomed VALUES (?)", (row[0],))
                    freed += int(row[1])
    if stale_index and ids:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('fts_stale', '1')")
    return freed


def reap(conn: sqlite3.Connection, folder: Path) -> int:
    """Unlink doomed files that no row took back meanwhile (under the write lock); return how many."""
    removed = 0
    while True:
        names = [r[0] for r in conn.execute("SELECT name FROM doomed LIMIT ?", (_CHUNK,))]
        if not names:
            return removed
        for name in names:
            match = BLOB_NAME.match(name)
            if match and conn.execute("SELECT 1 FROM blobs WHERE name = ?", (name,)).fetchone() is None:
                try:
                    (folder / name).unlink()
                    removed += 1
                except OSError:
                    pass  # already gone, or not ours to fight with (a directory): the sweep may retry
            conn.execute("DELETE FROM doomed WHERE name = ?", (name,))


def sweep(conn: sqlite3.Connection, folder: Path, grace: float, fts: bool) -> tuple[int, int]:
    """Drop rows whose file is missing or the wrong size; unlink orphans older than ``grace``.

    Orphans are files the store itself set out to write (a ``<sha256>.<ext>`` named in ``intents`` with no
    row) and its own temporaries (``.<sha256>.*.tmp``): a hash-named file it has no record of writing is
    somebody else's and stays. A younger file may belong to a writer between writing it and committing, so
    it is left alone (and that writer re-checks its files under this same lock anyway). Returns (rows
    removed, files removed).
    """
    blobs = {sha: (name, size) for sha, name, size in conn.execute("SELECT sha256, name, size FROM blobs")}
    missing = []
    for sha, (name, size) in blobs.items():
        try:
            info = os.stat(folder / name)
            ok = stat.S_ISREG(info.st_mode) and info.st_size == size
        except OSError:
            ok = False
        if not ok:
            missing.append(sha)
    ids: set[int] = set()
    for start in range(0, len(missing), _CHUNK):
        chunk = missing[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        ids.update(
            r[0] for r in conn.execute(f"SELECT generation_id FROM images WHERE sha256 IN ({marks})", chunk)
        )
    delete_generations(conn, sorted(ids), fts)
    for sha in missing:
        blobs.pop(sha, None)
    files = 0
    cutoff = time.time() - grace
    intended = {name for (name,) in conn.execute("SELECT name FROM intents WHERE at <= ?", (cutoff,))}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        entries = []
    kept = {name for name, _ in blobs.values()}
    for entry in entries:
        blob, tmp = BLOB_NAME.match(entry.name), TMP_NAME.match(entry.name)
        if (blob is not None and entry.name not in kept and entry.name in intended) or tmp is not None:
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode) and info.st_mtime <= cutoff:
                    os.unlink(entry.path)
                    files += 1
            except OSError:
                pass
    conn.execute("DELETE FROM intents WHERE at <= ?", (cutoff,))  # written and committed, or never written
    conn.execute("DELETE FROM sessions WHERE heartbeat < ?", (cutoff,))
    return len(ids), files + reap(conn, folder)
