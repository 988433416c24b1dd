"""Planning a batch: each item through ``plan.build_plan``, the manifest synced, files on disk adopted.

"The same call" means the same requests: an item already in the manifest keeps the seed it was given there,
its request is rebuilt from this call's items and defaults, and its key (request, seed, split) must match
what the manifest holds; otherwise the call is refused in one line that names the first item and fields that
differ, unless it asks for a new batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..config import Imagine
from ..errors import OptionError
from ..generation.cost import part_cost, unpriced
from ..generation.generate import BudgetError, session
from ..generation.options import ImagineOptions
from ..generation.plan import Plan, build_plan
from .items import Entry, per_item_options
from .manifest import ItemRow, Manifest, canonical, shown_request
from .run import ItemState, Job, adopt

__all__ = ["check_budget", "prepare"]


def _key(plan: Plan) -> str:
    """What makes an item "the same" on a re-run: its request (seed included) and how it is split."""
    parts = [part.payload() for part in plan.parts]
    return hashlib.sha256(canonical({"request": plan.request.payload(), "parts": parts}).encode()).hexdigest()


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = []
    for name in sorted(set(old) | set(new)):
        if canonical(old.get(name)) != canonical(new.get(name)):
            before, after = (_shown(d[name]) if name in d else "not set" for d in (old, new))
            changed.append(f"{name} was {before}, now {after}")
    return "; ".join(changed[:3]) or "the way images are split into requests changed (Imagine.split_n)"


def _shown(value: Any) -> str:
    return repr(value[:40]) if isinstance(value, str) else str(value)[:40]


def _plans(
    entries: list[Entry],
    defaults: ImagineOptions,
    template: str | None,
    namespace: Mapping[str, Any],
    config: Imagine,
    stored: dict[int, ItemRow],
) -> list[Plan]:
    """A checked plan per item; an item already in the manifest keeps the seed it was given there."""
    plans = []
    for entry in entries:
        options = per_item_options(entry, defaults, template, namespace)
        seed = stored[entry.index].request.get("seed") if entry.index in stored else None
        if options.seed is None and isinstance(seed, int):
            options = options.replace(seed=seed)
        try:
            plans.append(build_plan(options.replace(save=None, out=None), config=config, namespace=namespace))
        except OptionError as exc:
            raise OptionError(f"{entry.where}: {exc}") from None
    return plans


def _sync(
    manifest: Manifest,
    plans: list[Plan],
    entries: list[Entry],
    defaults: dict[str, Any],
    *,
    new: bool,
    new_flag: str,
    source: str,
) -> int:
    """The batch this call continues (or a new one); refuses a call whose requests changed."""
    rows = [ItemRow(e.index, _key(p), p.request.payload()) for e, p in zip(entries, plans, strict=True)]
    batch = None if new else manifest.current_batch()
    if batch is None:
        return manifest.new_batch(defaults, source, rows)
    stored = manifest.items(batch)
    again = f"pass {new_flag} to start a new batch in that folder (nothing is deleted), or use another folder"
    if len(rows) < len(stored):
        raise OptionError(
            f"{manifest.folder} holds a batch of {len(stored)} items and this call gives {len(rows)}: "
            f"give the same items, or {again}"
        )
    for old, row, entry in zip(stored, rows, entries, strict=False):
        if old.key != row.key:
            diff = _differences(old.request, shown_request(row.request))
            raise OptionError(
                f"{manifest.folder} holds a batch made with other settings ({entry.where}: {diff}); {again}"
            )
    if len(rows) > len(stored):
        manifest.add_items(batch, rows[len(stored) :])
    return batch


def check_budget(config: Imagine, jobs: list[Job]) -> None:
    if config.budget is None:
        return
    why = unpriced([job.request for job in jobs], config)
    if why is not None:
        raise BudgetError(why)
    costs = [part_cost(job.request, config) for job in jobs]
    cost = sum(c for c in costs if c is not None)
    left = config.budget - session().spent
    if cost > left + 1e-12:
        raise BudgetError(
            f"this batch would cost about ${cost:.4f} but the session budget has ${max(left, 0):.4f} of "
            f"${config.budget:.2f} left; raise Imagine.budget or split the batch"
        )


def prepare(
    manifest: Manifest,
    entries: list[Entry],
    defaults: ImagineOptions,
    template: str | None,
    namespace: Mapping[str, Any],
    config: Imagine,
    retry_failed: bool,
    new: bool,
    new_flag: str,
    source: str,
) -> tuple[int, list[Job], dict[int, ItemState], int]:
    """Plan every item, sync the manifest, adopt files already on disk: (batch, jobs, states, adopted)."""
    folder = manifest.folder
    current = None if new else manifest.current_batch()
    stored = {row.index: row for row in manifest.items(current)} if current is not None else {}
    plans = _plans(entries, defaults, template, namespace, config, stored)
    described = {"options": defaults.tokens(), "template": template}
    batch = _sync(manifest, plans, entries, described, new=new, new_flag=new_flag, source=source)
    rows = {row.index: row for row in manifest.items(batch)}
    wanted = ("pending", "failed") if retry_failed else ("pending",)
    todo = [e.index for e in entries if rows[e.index].status in wanted]
    names = sorted(p.name for p in folder.iterdir()) if todo else []
    jobs: list[Job] = []
    states: dict[int, ItemState] = {}
    adopted = 0
    for index in todo:
        plan, entry, row = plans[index], entries[index], rows[index]
        found = [adopt(folder, names, part) for part in plan.parts]
        state = ItemState(index, 0, row.attempts)
        for number, (part, files) in enumerate(zip(plan.parts, found, strict=True)):
            if files is not None:
                state.files.extend(replace(f, part=number * part.n + f.part) for f in files)
                continue
            state.parts_left += 1
            jobs.append(Job(index, number, part, entry.headers, attempts_before=row.attempts))
        if state.parts_left == 0:
            manifest.finish(batch, index, status="done", files=state.files, attempts=row.attempts)
            adopted += 1
        else:
            states[index] = state
    return batch, jobs, states, adopted
