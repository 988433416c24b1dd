"""The store's plain-data records and their conversion to and from database rows.

Plain frozen dataclasses on purpose: the store sits below the client and the pydantic types, so the service
layer converts (``Generation.request`` is the JSON body, ``StoredImage.read_bytes()`` the encoded image).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .blobs import ImageInfo, clean_text, elide, file_matches, inspect_image, sanitize_backend, to_json

__all__ = [
    "GENERATION_COLUMNS",
    "SOURCES",
    "Generation",
    "Memo",
    "NewGeneration",
    "NewImage",
    "Prepared",
    "RepairReport",
    "StoreError",
    "StoreStats",
    "StoredImage",
    "load_generations",
    "rows_of",
    "text_paths",
]

SOURCES = ("magic", "panel", "cli", "python", "sweep", "batch", "gateway")
_INT64 = (-(2**63), 2**63 - 1)


class StoreError(Exception):
    """The store could not do what was asked; the message is one line naming what and why."""


@dataclass(frozen=True)
class NewImage:
    """One image to record: its encoded bytes, its seed, and (optionally) the request that makes it alone.

    Without ``request`` the generation's request is used with ``n = 1`` and this seed.
    """

    data: bytes = field(repr=False)
    seed: int | None = None
    request: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class NewGeneration:
    """What ``Store.record`` takes: plain data, the request *body* (never headers), images as bytes.

    ``backend`` is a label (``offline``, ``together`` or a base URL); a URL's credentials are cut off.
    """

    source: str
    request: Mapping[str, Any]
    images: Sequence[NewImage]
    backend: str
    model: str | None = None  # defaults to request["model"]
    response_id: str | None = None
    elapsed: float | None = None
    cost: float | None = None
    notebook: str | None = None
    saved_paths: Sequence[str | os.PathLike[str]] = ()
    cache_key: str | None = None


@dataclass(frozen=True)
class StoredImage:
    position: int
    seed: int | None
    width: int
    height: int
    format: str  # jpeg, png, webp or gif
    sha256: str
    size: int
    request: dict[str, Any]  # this image's own request: reproduces it alone
    path: Path
    _data: bytes | None = field(default=None, repr=False, compare=False)

    def read_bytes(self) -> bytes:
        """The image's bytes, checked against their hash (a missing or damaged file raises ``StoreError``)."""
        if self._data is not None:
            return self._data
        data = file_matches(self.path, self.size, self.sha256)
        if data is None:
            raise StoreError(f"image file {self.path} is missing or damaged")
        return data


@dataclass(frozen=True)
class Generation:
    id: int
    created: float
    last_used: float
    source: str
    prompt: str
    negative_prompt: str | None
    model: str
    request: dict[str, Any]  # the JSON body sent, data: URLs and long strings elided
    response_id: str | None
    backend: str
    elapsed: float | None
    cost: float | None
    notebook: str | None
    saved_paths: tuple[str, ...]
    cache_key: str | None
    images: tuple[StoredImage, ...]


class StoreStats(NamedTuple):
    generations: int
    images: int  # image rows
    files: int  # distinct image files (identical images share one)
    bytes: int  # bytes of those files: what ``evict`` bounds


class RepairReport(NamedTuple):
    rows_removed: int
    files_removed: int


class Prepared(NamedTuple):
    row: tuple[Any, ...]  # the generations columns, in GENERATION_COLUMNS order
    images: list[tuple[Any, ...]]  # images columns after generation_id
    blobs: dict[str, tuple[str, bytes]]  # sha256 -> (file name, bytes)


GENERATION_COLUMNS = (
    "created, last_used, source, prompt, negative_prompt, model, request, response_id, backend, elapsed,"
    " cost, notebook, saved_paths, cache_key"
)


def _request_json(request: Mapping[str, Any]) -> str:
    try:
        return to_json(elide(request))
    except (ValueError, TypeError, RecursionError) as exc:
        raise StoreError(f"request: {exc}") from None


def text_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Paths as bindable text; ``StoreError`` for anything that is not a text path."""
    if isinstance(paths, str | bytes | os.PathLike):
        raise StoreError(f"saved_paths: must be a list of paths, not one {type(paths).__name__}")
    out = []
    for path in paths:
        text = os.fspath(path) if isinstance(path, str | os.PathLike) else path
        if not isinstance(text, str):
            raise StoreError(f"saved_paths: {text!r} is not a text path")
        out.append(clean_text(text))
    return out


def _optional(text: object) -> str | None:
    return clean_text(text) if isinstance(text, str) else None


Memo = dict[int, tuple[bytes, str, ImageInfo]]


def rows_of(gen: NewGeneration, memo: Memo) -> Prepared:
    """Check a generation and turn it into rows and files; ``StoreError`` names the first bad field.

    ``memo`` maps ``id(bytes)`` to (the bytes, hash, info) within one call, so a bulk record of many
    generations sharing image bytes hashes and inspects each object once; holding the bytes keeps the id
    from being reused by another object meanwhile.
    """
    if gen.source not in SOURCES:
        raise StoreError(f"source: {gen.source!r} is not one of {', '.join(SOURCES)}")
    if not isinstance(gen.request, Mapping):
        raise StoreError("request: must be the JSON body (a mapping)")
    prompt, negative = gen.request.get("prompt", ""), gen.request.get("negative_prompt")
    model = gen.model if gen.model is not None else gen.request.get("model", "")
    for name, value in (("prompt", prompt), ("model", model), ("backend", gen.backend)):
        if not isinstance(value, str):
            raise StoreError(f"{name}: must be text, not {type(value).__name__}")
    for name, number in (("elapsed", gen.elapsed), ("cost", gen.cost)):
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number)
        ):
            raise StoreError(f"{name}: must be a finite number or None, not {number!r}")
    if gen.cache_key is not None and not gen.images:
        raise StoreError("cache_key: only a generation with images can be a cache entry")
    images, blobs = [], {}
    for position, image in enumerate(gen.images):
        seed = image.seed
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not _INT64[0] <= seed <= _INT64[1]
        ):
            raise StoreError(f"image {position}: seed {seed!r} is not a 64-bit integer")
        if not isinstance(image.data, bytes):
            raise StoreError(f"image {position}: data must be bytes, not {type(image.data).__name__}")
        known = memo.get(id(image.data))
        if known is None or known[0] is not image.data:
            try:
                info = inspect_image(image.data)
            except ValueError as exc:
                raise StoreError(f"image {position}: {exc}; not stored") from None
            known = memo[id(image.data)] = (image.data, hashlib.sha256(image.data).hexdigest(), info)
        _, sha, info = known
        own = image.request
        if own is None:
            own = {**gen.request, "n": 1, **({"seed": seed} if seed is not None else {})}
        blobs[sha] = (f"{sha}.{info.extension}", image.data)
        images.append(
            (position, seed, info.width, info.height, info.format, sha, len(image.data), _request_json(own))
        )
    now = time.time()
    for name, optional in (
        ("response_id", gen.response_id),
        ("notebook", gen.notebook),
        ("cache_key", gen.cache_key),
    ):
        if optional is not None and not isinstance(optional, str):
            raise StoreError(f"{name}: must be text or None, not {type(optional).__name__}")
    saved = text_paths(gen.saved_paths)
    row = (
        now, now, gen.source, clean_text(prompt), _optional(negative), clean_text(model),
        _request_json(gen.request), _optional(gen.response_id), sanitize_backend(gen.backend),
        gen.elapsed, gen.cost, _optional(gen.notebook), to_json(saved), _optional(gen.cache_key),
    )  # fmt: skip
    return Prepared(row, images, blobs)


def load_generations(
    conn: sqlite3.Connection, ids: Sequence[int], folder: Path, data: Mapping[str, bytes] | None = None
) -> list[Generation]:
    """The generations with these ids, in this order (missing ids are skipped); ``data`` preloads bytes."""
    out: dict[int, Generation] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        images: dict[int, list[StoredImage]] = {}
        for r in conn.execute(
            "SELECT generation_id, position, seed, width, height, format, images.sha256, images.size,"
            f" request, blobs.name FROM images JOIN blobs USING (sha256) WHERE generation_id IN ({marks})"
            " ORDER BY generation_id, position",
            chunk,
        ):
            preload = data.get(r[6]) if data else None
            position, seed, width, height, fmt, sha, size = r[1:8]
            image = StoredImage(
                position, seed, width, height, fmt, sha, size, json.loads(r[8]), folder / r[9], preload
            )
            images.setdefault(r[0], []).append(image)
        for r in conn.execute(
            f"SELECT id, {GENERATION_COLUMNS} FROM generations WHERE id IN ({marks})", chunk
        ):
            out[r[0]] = Generation(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9], r[10], r[11],
                r[12], tuple(json.loads(r[13])), r[14], tuple(images.get(r[0], ())),
            )  # fmt: skip
    return [out[i] for i in ids if i in out]
