"""One generation as front ends want it: budget, cache, send, verify, time, record, save, provenance.

The magic, the panel, the CLI, sweeps and the Python helpers all come here with a ``Plan``. The plan's
parts (one request, or one per image with ``Imagine.split_n``) are looked up in the local store, the rest
are sent concurrently on the running loop through the per-loop client (``loop``), every image is decoded
before anything is cached (a corrupt answer is an error now, never a cached picture later), and the
response gets its provenance attached exactly once, here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..client.clients import AsyncTogether
from ..config import Imagine
from ..errors import ImageDataError, TogetherError
from ..store.store import Generation, Store, StoreError
from ..types import ImageProvenance, ImageRequest, ImageResponse, Provenance, attach_provenance
from .cost import charge, check_budget, part_cost
from .live import add_live_hint
from .loop import client_for_running_loop
from .saving import SaveReport, save_response
from .stored import generation_of, response_of, store_for, stored_request

if TYPE_CHECKING:
    from .plan import Plan

log = logging.getLogger("together_magic")

__all__ = ["Generated", "cache_key", "generate", "record_part", "stored_response", "verify"]


@dataclass
class Generated:
    """A finished generation: the response (provenance attached) and, if it was saved, the report.

    ``failure``: with ``generate(..., keep_partial=True)``, the error of the parts that failed while others
    brought their images (a class budget spent after two images of ``-n 4``): the response holds those
    images, and the front end shows them, then says the error."""

    response: ImageResponse
    saved: SaveReport | None = None
    parts_cached: int = 0
    parts_sent: int = 0
    notes: list[str] = field(default_factory=list)
    failure: TogetherError | None = None


def cache_key(request: ImageRequest, endpoint: str) -> str | None:
    """The store key of a seeded base64 request at an endpoint (never the key); None: not cacheable."""
    payload = request.payload()
    if payload.get("seed") is None or payload.get("response_format", "url") != "base64":
        return None
    canonical = json.dumps({"endpoint": endpoint, "request": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def verify(response: ImageResponse, request: ImageRequest) -> ImageResponse:
    """Every image's bytes, now (downloads on the loop), strict base64, a real image header, and as many
    images as asked for: a corrupt or short answer is an error now, never a cached picture later."""
    choices = response.data or []
    if len(choices) < request.n:
        raise ImageDataError(f"asked for {request.n} images, the answer holds {len(choices)}")
    for choice in choices:
        await choice.aimage_bytes()
        if choice.format is None:
            raise ImageDataError(f"image {choice.index}: the bytes are not a JPEG, PNG, WebP or GIF image")
    return response


def record_part(
    store: Store,
    response: ImageResponse,
    request: ImageRequest,
    config: Imagine,
    *,
    source: str,
    backend: str,
    key: str | None,
    elapsed: float,
    cost: float | None,
    saved: Sequence[Path] = (),
) -> int:
    """Record one answered request (cache and history) and keep the store within ``cache_size_mb``.

    Blocking (call it in a worker thread); raises ``StoreError``, and the caller decides how loudly a store
    that cannot be written is said: it never costs anyone their images."""
    record = generation_of(
        response, request=request, source=source, backend=backend, cache_key=key, elapsed=elapsed, cost=cost
    )
    row = store.record(dataclasses.replace(record, saved_paths=list(saved)) if saved else record)
    store.evict(config.cache_size_mb * 1_000_000)
    return row


async def generate(
    plan: Plan,
    config: Imagine,
    *,
    source: str = "python",
    client: AsyncTogether | None = None,
    on_part: Callable[[int, ImageResponse], None] | None = None,
    keep_partial: bool = False,
) -> Generated:
    """Run a plan to a finished ``Generated`` (see the module docstring). Raises ``TogetherError``s.

    ``keep_partial``: when some parts fail with a ``TogetherError`` after others brought their images
    (paid for, perhaps), return those images with the error as ``Generated.failure`` instead of raising
    it; with no image at all, the error is raised as always."""
    started = time.perf_counter()
    client = client or await client_for_running_loop(config)
    store = store_for(config) if config.cache_size_mb > 0 else None
    keys = [cache_key(part, client.base_url) if plan.cache and store else None for part in plan.parts]
    results: list[ImageResponse | None] = [await _lookup(store, key) for key in keys]
    cached = [r is not None for r in results]
    missing = [i for i, r in enumerate(results) if r is None]
    costs = [part_cost(plan.parts[i], config) for i in missing]
    cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
    check_budget(config, cost, parts=[plan.parts[i] for i in missing])
    limit = asyncio.Semaphore(max(1, config.max_concurrency))
    recorded: list[int | None] = [None] * len(plan.parts)  # store rows, so saved paths can join them
    chosen_seed = plan.options.seed is not None

    async def send(index: int) -> None:
        part_started = time.perf_counter()
        async with limit:
            response = await verify(await client.images.send(plan.parts[index]), plan.parts[index])
        results[index] = response
        # History off keeps only what the cache can answer again: requests whose seed the user chose (a
        # seed drawn for this run is never asked for again by re-running the cell).
        if store is not None and (config.history or (keys[index] is not None and chosen_seed)):
            recorded[index] = await _record(
                lambda: record_part(
                    store,
                    response,
                    plan.parts[index],
                    config,
                    source=source,
                    backend=response.provenance.backend or client.backend,
                    key=keys[index],
                    elapsed=time.perf_counter() - part_started,
                    cost=_part_cost(plan.parts[index], response, config),
                ),
                store,
            )
        if on_part is not None:
            on_part(index, response)

    if missing:
        tasks = [asyncio.ensure_future(send(i)) for i in missing]
        try:
            # Every part runs to its end even when another fails: a part in flight may already be paid
            # for (a class budget spent by the parts before it), and it is then recorded, not thrown away.
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()  # only matters when the wait itself was cancelled (an interrupt)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            await add_live_hint(failure, config, client)  # "did you mean" among the cloud's own list
        keep = keep_partial and isinstance(failure, TogetherError) and any(r is not None for r in results)
        if failure is not None and not keep:
            raise failure
    else:
        failure = None
    done: list[ImageResponse] = [r for r in results if r is not None]
    spent = [
        0.0 if cached[i] else _part_cost(plan.parts[i], r, config)
        for i, r in enumerate(results)
        if r is not None
    ]
    cost = None if any(c is None for c in spent) else sum(c for c in spent if c is not None)
    charge(cost, requests=len(missing))
    response = _combine(plan, done)
    provenance = Provenance(
        request=plan.request,
        elapsed=time.perf_counter() - started,
        cached=all(cached),
        backend=_backend(done, client.backend),
        cost=cost,
        source=source,
        rate_limit=done[-1].rate_limit if done else None,
    )
    own = _image_provenance(plan, results, cached, spent, client.backend)
    attach_provenance(response, provenance, own)
    saved = None
    if plan.save is not None:  # named and described by each image's own provenance, attached just above
        saved = save_response(response, plan.save)
        attach_provenance(response, dataclasses.replace(provenance, saved=saved.paths))
        if store is not None:
            await _record_saved(store, recorded, saved.paths)
    kept = failure if isinstance(failure, TogetherError) else None
    return Generated(response, saved, parts_cached=sum(cached), parts_sent=len(missing), failure=kept)


def _part_cost(part: ImageRequest, response: ImageResponse, config: Imagine) -> float | None:
    """What one answered part cost: nothing when the server said so (a class gateway's shared cache or
    offline fallback), else its list price (None when unknown)."""
    return 0.0 if response.provenance.free else part_cost(part, config)


def _backend(done: Sequence[ImageResponse], default: str) -> str:
    """What answered: the server's own word when it gave one (a gateway, or its fallback), else the
    client's. A gateway that fell back for some images only is the gateway (each image says its own)."""
    said = {r.provenance.backend for r in done if r.provenance.backend}
    if len(said) > 1:
        said.discard("offline")
    return said.pop() if len(said) == 1 else default


async def _lookup(store: Store | None, key: str | None) -> ImageResponse | None:
    """A cached part, or None; a damaged entry is dropped by the store and simply missed here."""
    if store is None or key is None:
        return None
    try:
        found = await asyncio.to_thread(store.lookup, key)
    except StoreError:
        return None  # a store that cannot be read is only a slower cache
    return response_of(found) if found is not None and found.images else None


_unwritable: set[str] = set()
"""Stores this process could not write: said once each (a read-only shared cache would say it per image)."""


async def _record(write: Callable[[], int], store: Store) -> int | None:
    """Run a store write in a worker thread; its row id, or None when the store cannot be written."""
    try:
        return await asyncio.to_thread(write)
    except StoreError as exc:  # a store that cannot be written must never cost the user their images
        if str(store.folder) not in _unwritable:
            _unwritable.add(str(store.folder))
            log.warning("together-magic: generations are not recorded: %s", exc)
        return None


async def _record_saved(store: Store, rows: Sequence[int | None], paths: Sequence[Path | None]) -> None:
    """The history learns where each image was saved (image k belongs to part k, or to the one part)."""
    by_row: dict[int, list[Path]] = {}
    for position, path in enumerate(paths):
        row = rows[position] if len(rows) > 1 else rows[0]
        if row is not None and path is not None:
            by_row.setdefault(row, []).append(path.absolute())

    def write() -> None:
        for row, saved in by_row.items():
            store.add_saved_paths(row, saved)

    if by_row:
        try:
            await asyncio.to_thread(write)
        except StoreError as exc:
            log.warning("together-magic: could not record where images were saved: %s", exc)


def stored_response(generation: Generation) -> ImageResponse:
    """A stored generation as a response with its provenance (for the history): each image keeps the
    request that reproduces it alone."""
    response = response_of(generation)
    own = [ImageProvenance(stored_request(image.request), 0) for image in generation.images]
    provenance = Provenance(
        request=stored_request(generation.request),
        elapsed=generation.elapsed,
        cached=True,
        backend=generation.backend,
        cost=generation.cost,
        saved=tuple(Path(p) for p in generation.saved_paths),
        source=generation.source,
    )
    return attach_provenance(response, provenance, own)


def _combine(plan: Plan, done: Sequence[ImageResponse]) -> ImageResponse:
    if len(plan.parts) == 1:
        return done[0]
    return ImageResponse.combine(done)


def _image_provenance(
    plan: Plan,
    results: Sequence[ImageResponse | None],
    cached: Sequence[bool],
    costs: Sequence[float | None],
    default: str,
) -> list[ImageProvenance]:
    """Each image's own record, in the order ``_combine`` puts them: the part's request (its own seed; the
    one request's with its position), what made it and what it cost (its part's cost, shared out)."""
    own: list[ImageProvenance] = []
    answered = [(plan.parts[i], r, cached[i]) for i, r in enumerate(results) if r is not None]
    for (part, response, from_store), cost in zip(answered, costs, strict=True):
        count = len(response.data or [])
        each = None if cost is None else cost / max(count, 1)
        backend = response.provenance.backend or default
        own += [ImageProvenance(part, k, backend, each, from_store) for k in range(count)]
    return own
