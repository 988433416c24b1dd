"""The cloud's own model list for the magic and the panel, when a key is set: kept in the store for a day.

Fetched lazily, never in ``%load_ext``: on the first need (the panel schedules it on the kernel's loop and
offers the catalogue until it arrives; a "did you mean" after a cloud 404 awaits it). A list fetched
today is read from the store (``store.live``), so kernels and the CLI share it. A failed fetch is quiet
(a log line at INFO): the catalogue is used, and the cloud is not asked again for ten minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable

from ..client.base import resolve_settings
from ..client.clients import AsyncTogether
from ..config import Imagine
from ..errors import APIError, TogetherError, model_hint, unknown_model
from ..models.feed import LiveModel
from ..store.live import MAX_AGE, load_live, save_live
from ..store.store import StoreError
from .loop import client_for_running_loop
from .stored import store_for

__all__ = ["FETCH_TIMEOUT", "add_live_hint", "cached_live", "endpoint_of", "fetch_soon", "live_models"]

FETCH_TIMEOUT = 10.0
"""Seconds a fetch may take before the catalogue is used instead."""
RETRY_AFTER = 600.0
_failed: dict[str, float] = {}
"""Endpoint -> when its list could last not be had (monotonic seconds)."""
_memory: dict[str, tuple[float, list[LiveModel]]] = {}
"""Endpoint -> (when fetched, the list): for a store that cannot be written."""
log = logging.getLogger("together_magic")


def endpoint_of(config: Imagine) -> str | None:
    """The base URL a client of ``config`` uses, when a key is set (else None: no live list offline)."""
    try:
        settings = resolve_settings(base_url=config.base_url)
    except TogetherError:
        return None
    return None if settings.offline or not settings.api_key else settings.base_url


def _decode(text: str) -> list[LiveModel] | None:
    try:
        return [LiveModel(**entry) for entry in json.loads(text)]
    except (ValueError, TypeError):
        return None  # a row this version cannot read: fetched again


def _load(config: Imagine, endpoint: str) -> list[LiveModel] | None:
    remembered = _memory.get(endpoint)
    if remembered is not None and time.time() - remembered[0] < MAX_AGE:
        return remembered[1]
    try:
        text = load_live(store_for(config), endpoint)
    except StoreError:
        return None
    return None if text is None else _decode(text)


def cached_live(config: Imagine) -> list[LiveModel] | None:
    """Today's list from the store (no network), or None."""
    endpoint = endpoint_of(config)
    return None if endpoint is None else _load(config, endpoint)


async def live_models(config: Imagine, client: AsyncTogether | None = None) -> list[LiveModel] | None:
    """The cloud's image models: today's kept list, else fetched now; None offline or when it fails."""
    endpoint = endpoint_of(config)
    if endpoint is None:
        return None
    found = await asyncio.to_thread(_load, config, endpoint)
    if found is not None or time.monotonic() - _failed.get(endpoint, -math.inf) < RETRY_AFTER:
        return found
    try:
        client = client or await client_for_running_loop(config)
        live = await asyncio.wait_for(client.models.list(), FETCH_TIMEOUT)
    except (TogetherError, TimeoutError, OSError) as exc:
        _failed[endpoint] = time.monotonic()
        log.info("together-magic: the cloud's model list is not available (%s); using the catalogue", exc)
        return None
    _memory[endpoint] = (time.time(), live)
    text = json.dumps([model._asdict() for model in live])
    with contextlib.suppress(StoreError):  # else kept in memory, for this process
        await asyncio.to_thread(save_live, store_for(config), endpoint, text)
    return live


def fetch_soon(config: Imagine, then: Callable[[list[LiveModel]], None]) -> asyncio.Task[None] | None:
    """Fetch the list in the background on the running loop (the kernel's) and hand it to ``then``; None
    when there is nothing to fetch (offline) or no loop runs."""
    if endpoint_of(config) is None:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None

    async def fetch() -> None:
        found = await live_models(config)
        if found is not None:
            then(found)

    return loop.create_task(fetch())


async def add_live_hint(err: BaseException, config: Imagine, client: AsyncTogether) -> None:
    """A cloud 404 for a model: "did you mean" among the cloud's own list (``errors.model_hint``)."""
    if not isinstance(err, APIError) or err.hint is not None or client.offline:
        return
    missing = unknown_model(err)
    if missing is None:
        return
    live = await live_models(config, client)
    if live is not None:
        err.hint = model_hint(missing, [model.id for model in live])
