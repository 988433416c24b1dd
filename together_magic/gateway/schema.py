"""The gateway's tables, kept in the store's SQLite file under the component name ``gateway``.

One file holds the shared cache (the store's own tables) and the class (these), so a reservation, the pace
and the cache are judged in one database by every uvicorn worker. Money is counted in whole micro-dollars
(``estimate_cost`` rounds to six decimals), so "7 of 7" and "$0.02 of $0.02" compare exactly, never as
floating-point sums. Tokens are stored as SHA-256 digests only: they are 192 random bits, so a digest
cannot be reversed, and a stolen database opens nothing.
"""

from __future__ import annotations

from ..store.store import Store

__all__ = ["COMPONENT", "MIGRATIONS", "ensure"]

COMPONENT = "gateway"

_V1 = """
CREATE TABLE IF NOT EXISTS gateway_students (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    images_limit INTEGER,            -- NULL: no limit on images
    budget_micros INTEGER,           -- NULL: no limit on dollars
    expires REAL,                    -- unix time, NULL: never
    created REAL NOT NULL,
    revoked REAL,                    -- unix time of revocation
    images_used INTEGER NOT NULL DEFAULT 0,
    micros_used INTEGER NOT NULL DEFAULT 0,
    cached INTEGER NOT NULL DEFAULT 0,   -- images answered from the shared cache (free)
    offline INTEGER NOT NULL DEFAULT 0,  -- images from the offline fallback (free)
    refused INTEGER NOT NULL DEFAULT 0,  -- requests refused for a spent budget
    last_seen REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS gateway_students_active ON gateway_students(name) WHERE revoked IS NULL;
-- what requests on their way upstream have set aside; settled or released when they finish
CREATE TABLE IF NOT EXISTS gateway_reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student INTEGER NOT NULL REFERENCES gateway_students(id),
    images INTEGER NOT NULL,
    micros INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS gateway_reservations_student ON gateway_reservations(student);
-- one request per cache key at a time goes upstream; identical ones wait for its answer
CREATE TABLE IF NOT EXISTS gateway_inflight (
    cache_key TEXT PRIMARY KEY,
    reservation INTEGER NOT NULL,
    started REAL NOT NULL
) WITHOUT ROWID;
-- when upstream requests were (or are scheduled to be) sent: the rolling window of the global pace
CREATE TABLE IF NOT EXISTS gateway_pace (at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS gateway_pace_at ON gateway_pace(at);
CREATE TABLE IF NOT EXISTS gateway_wall (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student INTEGER NOT NULL REFERENCES gateway_students(id),
    created REAL NOT NULL,
    generation_id INTEGER REFERENCES generations(id) ON DELETE SET NULL,
    images INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,            -- JSON: model, size, seed, steps...
    backend TEXT NOT NULL,           -- together, gateway or offline
    how TEXT NOT NULL,               -- upstream, cached or offline
    hidden INTEGER NOT NULL DEFAULT 0,
    url_token TEXT NOT NULL UNIQUE   -- names the images at /shrt/<token>-<position>
);
CREATE TABLE IF NOT EXISTS gateway_teacher (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    token_sha256 TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
"""

_V2 = """
-- the request a wall row answered (its cache key), so hiding it hides every copy and blocks the request
ALTER TABLE gateway_wall ADD COLUMN cache_key TEXT;
CREATE INDEX IF NOT EXISTS gateway_wall_cache_key ON gateway_wall(cache_key) WHERE cache_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS gateway_wall_generation ON gateway_wall(generation_id);
-- requests whose image the teacher hid: served to nobody but the student who made it
CREATE TABLE IF NOT EXISTS gateway_hidden (
    cache_key TEXT PRIMARY KEY,
    maker INTEGER,                   -- the student who made it (keeps their own copy)
    created REAL NOT NULL
) WITHOUT ROWID;
-- each student's recent requests, upstream refusals and fallback megapixels: their own rolling minutes
CREATE TABLE IF NOT EXISTS gateway_student_pace (
    student INTEGER NOT NULL,
    kind TEXT NOT NULL,              -- request, refused or fallback
    at REAL NOT NULL,
    weight INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS gateway_student_pace_who ON gateway_student_pace(student, kind, at);
CREATE INDEX IF NOT EXISTS gateway_student_pace_at ON gateway_student_pace(at);
"""

MIGRATIONS: list[str] = [_V1, _V2]


def ensure(store: Store) -> None:
    """Create or bring the gateway's tables up to date (cheap when they are)."""
    store.ensure_schema(COMPONENT, MIGRATIONS)
