"""Bulk generation: ``generate_many``, ``agenerate_many``, and ``run_batch`` behind every front door.

Thousands of prompts, paced to the account's rate limit, resumable after any crash, with progress. Each
item goes through ``plan.build_plan`` (the magic's checks and defaults), all of them before anything is
sent, so a bad row is one line naming it, not a failure at item 800. The output folder describes itself:
images with their usual names and embedded parameters, and a manifest (``manifest``) with every item's
request, status, error, files and attempts. Running the same call again skips what is done (seeds drawn
for an item are kept in the manifest, so "the same call" means the same requests); a call whose requests
differ is refused unless it asks for a new batch (``new=True`` / ``--new``). ``plan`` plans,
``run`` sends, ``pacing`` paces, ``view`` shows.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import config as _config
from ..client.clients import AsyncTogether
from ..config import Imagine
from ..errors import OptionError
from ..generation.cost import check_budget
from ..generation.loop import run_blocking
from ..generation.options import ImagineOptions
from ..generation.values import check_rpm
from .items import load_items, options_from_fields
from .manifest import Manifest
from .pacing import Pacer
from .plan import ItemState, Job, cost_of, plan_batch
from .run import Runner, error_kind
from .view import Batch, BatchItem, Progress, Summary, progress_mode

__all__ = ["agenerate_many", "generate_many", "run_batch"]

DEFAULT_CONCURRENCY = 64
"""The most requests a batch keeps in flight unless told: pacing starts at a few and grows only while
requests queue for a slot; in flight = rate x latency (10/s x 3 s = 30), under the pool's 100 connections."""


# ----------------------------------------------------------------------------------- running
async def run_batch(
    items: Any,
    *,
    out: str | Path,
    defaults: ImagineOptions | None = None,
    template: str | None = None,
    namespace: Mapping[str, Any] | None = None,
    config: Imagine | None = None,
    concurrency: int | None = None,
    rpm: float | None = None,
    retry_failed: bool = False,
    new: bool = False,
    progress: str | None = None,
    client: AsyncTogether | None = None,
    source: str = "python",
    new_flag: str = "new=True",
    on_interrupt: Callable[[str], None] | None = None,
) -> Batch:
    """The whole batch, on the running loop (see the module docstring); every front end comes here."""
    config = config or _config.current()
    defaults = defaults or ImagineOptions()
    namespace = namespace or {}
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)):
        raise OptionError(f"--concurrency must be a whole number, 1 or more, got {concurrency!r}")
    if concurrency is not None and concurrency < 1:
        raise OptionError(f"--concurrency must be 1 or more, got {concurrency}")
    if rpm is not None:
        rpm = check_rpm(rpm)
    if not isinstance(out, str | os.PathLike) or not str(out).strip():
        raise OptionError(f"--out must name a folder for the images and the manifest, got {out!r}")
    entries = load_items(items)
    with Manifest.open(Path(out).expanduser()) as manifest:
        batch, jobs, states, adopted = plan_batch(
            manifest, entries, defaults, template, namespace, config, retry_failed, new, new_flag, source
        )
        del entries  # from here on only the unfinished items' requests are held
        check_budget(
            config,
            cost_of(jobs, config),
            what="this batch",
            advice="raise Imagine.budget or split the batch",
            parts=[job.request for job in jobs],
        )
        return await _run(
            manifest,
            batch,
            jobs,
            states,
            config,
            client,
            adopted,
            concurrency=concurrency,
            rpm=rpm,
            progress=progress,
            on_interrupt=on_interrupt,
        )


async def _run(
    manifest: Manifest,
    batch: int,
    jobs: list[Job],
    states: dict[int, ItemState],
    config: Imagine,
    client: AsyncTogether | None,
    adopted: int,
    *,
    concurrency: int | None,
    rpm: float | None,
    progress: str | None,
    on_interrupt: Callable[[str], None] | None,
) -> Batch:
    counts = manifest.counts(batch)
    total = sum(counts.values())
    pacer = Pacer(rpm=rpm, max_concurrency=concurrency or DEFAULT_CONCURRENCY)
    mode = progress if states else None  # nothing to send: no bar at all
    bar = Progress(mode, total=total, initial=total - len(states), description=manifest.folder.name)
    own_client = client is None
    if client is None:
        client = AsyncTogether(
            base_url=config.base_url,
            timeout=config.timeout,
            max_retries=0,
            announce_offline=False,
            ca_file=config.ca_file or None,
        )
    runner = Runner(
        manifest=manifest,
        batch=batch,
        jobs=jobs,
        states=states,
        client=client,
        pacer=pacer,
        config=config,
        on_item=lambda failed: bar.advance(failed=failed),
        on_throttle=bar.note_throttled,
    )
    started = time.perf_counter()
    interrupted = False
    try:
        await runner.run()
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
        raise
    finally:
        bar.close()
        if own_client:
            await asyncio.shield(client.aclose())
        if interrupted and on_interrupt is not None:
            now = manifest.counts(batch)
            on_interrupt(
                f"interrupted: {now['done']} of {total} done are kept in {manifest.folder}; "
                "run it again to finish the rest"
            )
    stats = runner.stats
    counts = manifest.counts(batch)
    failures: dict[str, int] = {}
    for row in manifest.items(batch):
        if row.status == "failed":
            kind = error_kind(row.error or "?")
            failures[kind] = failures.get(kind, 0) + 1
    summary = Summary(
        total=total,
        done=counts["done"],
        failed=counts["failed"],
        pending=counts["pending"],
        made=stats.made,
        adopted=adopted,
        requests=stats.requests,
        throttled=pacer.stats.throttled,
        retries=stats.retries,
        elapsed=time.perf_counter() - started,
        cost=stats.cost if stats.costed else None,
        limit=pacer.limit,
        failures=failures,
        backend=client.backend,
    )
    return _result(manifest, batch, summary)


def _result(manifest: Manifest, batch: int, summary: Summary) -> Batch:
    folder = manifest.folder
    items = [
        BatchItem(
            index=row.index,
            request=row.request,
            status=row.status,
            error=row.error,
            files=tuple(folder / f.name for f in row.files),
            sha256=tuple(f.sha256 for f in row.files),
            attempts=row.attempts,
        )
        for row in manifest.items(batch)
    ]
    return Batch(folder, items, summary)


# ----------------------------------------------------------------------------------- Python API
async def agenerate_many(
    items: Any,
    *,
    out: str | Path,
    prompt: str | None = None,
    concurrency: int | None = None,
    rpm: float | None = None,
    retry_failed: bool = False,
    new: bool = False,
    progress: bool | None = None,
    config: Imagine | None = None,
    client: AsyncTogether | None = None,
    **defaults: Any,
) -> Batch:
    """``await agenerate_many(["a fox", "an owl"], out="animals", model=..., size="512x512")``.

    ``items``: prompts, dicts of request fields, a DataFrame, or a path to a .txt/.csv/.jsonl file.
    ``prompt``: a template filled per item (``"a {{ item }} in watercolour"``, ``"{{ item.animal }}"``).
    ``defaults``: request fields for every item (``model``, ``size``, ``width``, ``steps``, ``seed``...).
    ``rpm``: never more requests a minute (default: the server's ``x-ratelimit-limit`` once seen).
    """
    options, _ = options_from_fields(defaults, "generate_many")
    return await run_batch(
        items,
        out=out,
        defaults=options,
        template=prompt,
        config=config,
        concurrency=concurrency,
        rpm=rpm,
        retry_failed=retry_failed,
        new=new,
        progress=progress_mode(progress),
        client=client,
        on_interrupt=print,
    )


def generate_many(items: Any, *, out: str | Path, **options: Any) -> Batch:
    """Like ``agenerate_many``, from synchronous code (a script, a notebook cell without ``await``)."""
    return run_blocking(lambda: agenerate_many(items, out=out, **options))
