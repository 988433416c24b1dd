"""The request, and the record of what made a response: pure data, shaped like the Together SDK's.

``ImageRequest`` has the SDK's fields and accepts extra ones: requests carry ``steps``,
``guidance_scale``, ``aspect_ratio`` and friends to the API. ``Provenance`` (a response's) and
``ImageProvenance`` (each image's, whose request reproduces that image alone) are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from ..models.ratelimit import RateLimit

__all__ = ["Fetcher", "ImageProvenance", "ImageRequest", "Provenance"]


class Fetcher(Protocol):
    """Downloads image URLs: the client that made a response, so the same pool, UA and rules apply."""

    def fetch(self, url: str) -> bytes: ...

    async def afetch(self, url: str) -> bytes: ...


class ImageRequest(BaseModel):
    """The body of ``POST /images/generations``; send ``payload()`` (None fields are left out)."""

    model_config = ConfigDict(extra="allow")

    prompt: str
    model: str
    seed: int | None = None
    n: int = 1
    height: int | None = None
    width: int | None = None
    negative_prompt: str | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body, as the Together SDK builds it."""
        return self.model_dump(exclude_none=True)


@dataclass(frozen=True)
class ImageProvenance:
    """What made one image: ``request`` reproduces it alone (its own seed); ``position``: its place there."""

    request: ImageRequest | None
    position: int = 0

    @property
    def seed(self) -> int | None:
        if self.request is None or self.request.seed is None:
            return None
        return self.request.seed

    @property
    def of(self) -> int:
        """How many images that request made (1 when each image had a request of its own)."""
        return self.request.n if self.request is not None else 1


@dataclass(frozen=True)
class Provenance:
    """What made a response. Immutable; replaced as a whole (``dataclasses.replace``), never edited."""

    request: ImageRequest | None = None
    images: tuple[ImageProvenance, ...] = ()
    elapsed: float | None = None
    cached: bool = False
    backend: str | None = None
    """``offline``, ``together`` or the base URL of another server (never a key)."""
    cost: float | None = None
    """Estimated dollars spent (0 when served from the cache), None when the price is unknown."""
    saved: tuple[Path | None, ...] = ()
    source: str | None = None
    rate_limit: RateLimit | None = None
