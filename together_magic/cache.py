"""A disk cache of seeded responses, so re-running a notebook shows the same images without paying again.

The key is a hash of the canonical request and the endpoint it went to; the API key is never part of it
nor of anything stored. Only base64 responses are kept (URLs expire). Entries are written atomically and
the oldest go first once the cache is over its size bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import ImageRequest, ImageResponse

__all__ = ["ResponseCache", "cache_key"]


def cache_key(request: ImageRequest, endpoint: str) -> str | None:
    payload = request.payload()
    if payload.get("seed") is None or payload.get("response_format", "url") != "base64":
        return None
    canonical = json.dumps({"endpoint": endpoint, "request": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    def __init__(self, folder: str | Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> ImageResponse | None:
        from .types import ImageResponse

        path = self._path(key)
        try:
            raw = path.read_bytes()
            response = ImageResponse.model_validate_json(raw)
        except (OSError, ValueError):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used entries are evicted last
        return response

    def put(self, key: str, response: ImageResponse) -> None:
        if self.max_bytes <= 0:
            return
        data = response.model_dump_json(exclude_none=True).encode()
        if len(data) > self.max_bytes:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self._path(key))
        except OSError:
            return  # a cache that cannot be written is only a slower cache
        self._evict()

    def _evict(self) -> None:
        entries = []
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
