"""The store's SQLite schema, its migrations and the settings every connection to it gets.

Versioning: ``PRAGMA user_version`` counts the store's own migrations (``MIGRATIONS[i]`` takes version ``i``
to ``i + 1``; only ever append). Other modules (batch manifests, the gateway's tokens and usage) keep their
tables in the same file under their own name in ``schema_versions`` (see ``apply_component``), so their
migrations never collide with these. A database from a newer together-magic (higher version) is used as
is: migrations only add tables, columns and indexes, so older code still reads and writes what it knows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "FTS_TABLE",
    "MIGRATIONS",
    "Migration",
    "apply_component",
    "check_current",
    "configure",
    "fts_present",
    "fts_supported",
    "is_busy",
    "migrate",
    "rebuild_fts",
]

Migration = Callable[[sqlite3.Connection], None] | str
"""One step: SQL (may hold several statements) or a function given the connection, inside a transaction."""

_V1 = """
CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a stale search-index row cannot alias a new row
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    source TEXT NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT,
    model TEXT NOT NULL,
    request TEXT NOT NULL,                 -- JSON body, long strings elided
    response_id TEXT,
    backend TEXT NOT NULL,
    elapsed REAL,
    cost REAL,
    notebook TEXT,
    saved_paths TEXT NOT NULL DEFAULT '[]',
    cache_key TEXT
);
CREATE INDEX IF NOT EXISTS generations_cache_key ON generations(cache_key) WHERE cache_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS generations_last_used ON generations(last_used);
CREATE INDEX IF NOT EXISTS generations_created ON generations(created);
CREATE INDEX IF NOT EXISTS generations_model ON generations(model);
CREATE TABLE IF NOT EXISTS images (
    generation_id INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    seed INTEGER,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    size INTEGER NOT NULL,
    request TEXT NOT NULL,
    PRIMARY KEY (generation_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS images_sha256 ON images(sha256);
-- one row per image file, present exactly while some image row refers to it
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    size INTEGER NOT NULL
) WITHOUT ROWID;
-- files whose last reference was deleted and committed; unlinked later under the write lock
CREATE TABLE IF NOT EXISTS doomed (name TEXT PRIMARY KEY) WITHOUT ROWID;
-- writers that have not closed cleanly (their heartbeat is refreshed by every write)
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, heartbeat REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)
    WITHOUT ROWID;
"""

_V2 = """
-- image files a writer is about to write: the orphan sweep removes only these (and its own temporaries),
-- never a file it has no record of writing, such as a user's hash-named image in a shared folder
CREATE TABLE IF NOT EXISTS intents (name TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
"""

MIGRATIONS: list[Migration] = [_V1, _V2]

FTS_TABLE = "generations_fts"
_FTS_DDL = f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(prompt, negative_prompt, tokenize='trigram')"


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether an error only means another connection holds a lock (worth retrying)."""
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def configure(path: Path, busy_ms: int, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with the store's settings: WAL, a busy timeout, foreign keys, explicit transactions.

    ``synchronous=NORMAL`` in WAL mode keeps the database consistent through any crash; a power cut may
    lose the last commits, which costs at most a cache entry (image files are fsynced before the commit
    that names them, so a committed row never points to a file that was not written).

    ``read_only``: a folder this process cannot write (a shared, read-only cache): opened ``mode=ro``, or,
    where SQLite cannot even keep its shared-memory index there, as an immutable file. Nothing is changed.
    """
    if read_only:
        return _read_only(path, busy_ms)
    conn = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        conn.create_function("tm_contains", 2, _contains, deterministic=True)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _read_only(path: Path, busy_ms: int) -> sqlite3.Connection:
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?{flags}",
            uri=True,
            timeout=busy_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the WAL index is opened here
        except sqlite3.Error as exc:
            conn.close()
            last = exc
            continue
        conn.create_function("tm_contains", 2, _contains, deterministic=True)
        return conn
    assert last is not None
    raise last


def _contains(haystack: str | None, needle: str) -> bool:
    """Case-insensitive substring test for text SQLite's ``LIKE`` cannot fold (non-ASCII, control chars)."""
    return haystack is not None and needle in haystack.lower()


def _run(conn: sqlite3.Connection, step: Migration) -> None:
    if isinstance(step, str):
        statement = ""
        for line in step.splitlines(keepends=True):  # executescript would commit our transaction
            statement += line
            if sqlite3.complete_statement(statement):
                conn.execute(statement)
                statement = ""
    else:
        step(conn)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the store's own tables to the newest version (no-op, one read, when they already are)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
        for step in MIGRATIONS[version:]:
            _run(conn, step)
        conn.execute(f"PRAGMA user_version = {max(version, len(MIGRATIONS))}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def check_current(conn: sqlite3.Connection, path: Path) -> None:
    """A read-only store must already be at this version: it cannot be migrated here."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"{path.name} is at version {version} and read-only here; open it once where it can be written"
        )


def apply_component(conn: sqlite3.Connection, component: str, migrations: Sequence[Migration]) -> int:
    """Apply a module's migrations past its recorded version (call inside a write transaction)."""
    row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
    version = row[0] if row else 0
    for step in migrations[version:]:
        _run(conn, step)
    if len(migrations) > version:
        conn.execute(
            "INSERT INTO schema_versions VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = ?",
            (component, len(migrations), len(migrations)),
        )
    return max(version, len(migrations))


def fts_supported(conn: sqlite3.Connection) -> bool:
    """Whether this Python's SQLite has FTS5 with the trigram tokenizer (substring search; SQLite >= 3.34)."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.tm_probe USING fts5(x, tokenize='trigram')")
        conn.execute("DROP TABLE temp.tm_probe")
    except sqlite3.OperationalError:
        return False
    return True


def fts_present(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (FTS_TABLE,)).fetchone()
    return row is not None


def rebuild_fts(conn: sqlite3.Connection) -> None:
    """(Re)create the search index from the rows (inside a write transaction).

    The index is maintained by the store's code, not by triggers, so a Python whose SQLite lacks FTS5 can
    still write to a database made elsewhere: it marks the index stale instead, and the next FTS-capable
    process rebuilds it here.
    """
    if not fts_present(conn):
        conn.execute(_FTS_DDL)
    conn.execute(f"DELETE FROM {FTS_TABLE}")
    conn.execute(
        f"INSERT INTO {FTS_TABLE}(rowid, prompt, negative_prompt) "
        "SELECT id, prompt, negative_prompt FROM generations"
    )
    conn.execute("DELETE FROM meta WHERE key = 'fts_stale'")
