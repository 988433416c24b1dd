"""The local store: one SQLite database and content-addressed image files for every generation.

The face hands on :class:`Store` and its plain-data records (``together_magic.store.Store`` is public).
Owns: ``store`` (the facade), ``db`` (one connection per process, retried transactions), ``schema``
(tables, migrations), ``rows`` (records <-> rows), ``query`` (search, deletion, the orphan sweep),
``live`` (the cloud's model list, kept a day) and ``blobs`` (image files written by the store). Imports
nothing of the package outside this wing: the store knows rows and bytes, never responses
(``generation.stored`` converts between the two).
"""

from __future__ import annotations

from .store import (
    DATABASE,
    SOURCES,
    Filters,
    Generation,
    NewGeneration,
    NewImage,
    RepairReport,
    Store,
    StoredImage,
    StoreError,
    StoreStats,
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
