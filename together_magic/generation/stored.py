"""Between the store's plain records and the SDK-shaped types: responses in, responses back out.

The store deals in bytes and dicts (it sits below the response types); the service and the history need
``ImageResponse`` objects. This module converts both ways, so neither side knows the other's shapes.
One store object per folder per process (it is lazy, thread- and process-safe).
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

from ..config import Imagine
from ..store.store import Generation, NewGeneration, NewImage, Store
from ..types import ImageChoicesData, ImageRequest, ImageResponse

__all__ = ["generation_of", "response_of", "store_for", "stored_request"]

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def store_for(config: Imagine) -> Store:
    """The store in ``Imagine.cache_dir`` (created on first use)."""
    folder = str(Path(config.cache_dir).expanduser().resolve())
    with _lock:
        store = _stores.get(folder)
        if store is None:
            store = _stores[folder] = Store(folder)
        return store


def generation_of(
    response: ImageResponse,
    *,
    request: ImageRequest,
    source: str,
    backend: str,
    cache_key: str | None,
    elapsed: float | None,
    cost: float | None,
) -> NewGeneration:
    """A finished part (one request and its images) as a store record; bytes already verified."""
    images = [
        NewImage(choice.image_bytes(), seed=own.seed, request=own.request.payload() if own.request else None)
        for choice in response.data or []
        for own in [choice.provenance]
    ]
    return NewGeneration(
        source=source,
        request=request.payload(),
        images=images,
        backend=backend,
        model=response.model or request.model,
        response_id=response.id,
        elapsed=elapsed,
        cost=cost,
        notebook=os.environ.get("JPY_SESSION_NAME") or None,
        cache_key=cache_key,
    )


def response_of(generation: Generation) -> ImageResponse:
    """The stored generation as the response it was (base64 images); provenance is the caller's job."""
    data = [
        ImageChoicesData(
            index=image.position,
            b64_json=base64.b64encode(image.read_bytes()).decode("ascii"),
            type="b64_json",
        )
        for image in generation.images
    ]
    made = ImageResponse(id=generation.response_id, model=generation.model, object="list", data=data)
    return made


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def stored_request(payload: dict[str, object]) -> ImageRequest | None:
    """A stored request body as an ``ImageRequest`` (None if it no longer validates)."""
    try:
        return ImageRequest(**payload)
    except (TypeError, ValueError):
        return None
