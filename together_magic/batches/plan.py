"""Planning a batch: each item through ``plan.build_plan``, the manifest synced, files on disk adopted.

"The same call" means the same requests: an item already in the manifest keeps the seed it was given there,
its request is rebuilt from this call's items and defaults, and its key (request, seed, split) must match
what the manifest holds; otherwise the call is refused in one line that names the first item and fields that
differ, unless it asks for a new batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Imagine
from ..errors import OptionError
from ..generation.cost import part_cost
from ..generation.options import ImagineOptions
from ..generation.plan import Plan, build_plan
from ..imagefiles import metadata
from ..imagefiles.files import safe_stem
from ..types import ImageRequest
from .items import Entry, per_item_options
from .manifest import FileEntry, ItemRow, Manifest, canonical, shown_request

__all__ = ["ItemState", "Job", "adopt", "cost_of", "plan_batch", "sha256_of"]


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


# ------------------------------------------------------------------------------ jobs and files on disk
@dataclass
class Job:
    """One request of one item, and how it went so far in this run."""

    item: int
    part: int
    request: ImageRequest
    headers: dict[str, str]
    attempts_before: int = 0
    errors: int = 0
    throttles: int = 0
    sent: int = 0


@dataclass
class ItemState:
    index: int
    parts_left: int
    attempts_before: int
    files: list[FileEntry] = field(default_factory=list)
    error: str | None = None
    sent: int = 0


_REFERENCE_FIELDS = ("image_url", "image_base64", "reference_images")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------- adoption
def _matches(saved: Any, payload: dict[str, Any]) -> bool:
    """Does an image's embedded request equal this request? (Big reference images are not embedded.)"""
    if not isinstance(saved, dict):
        return False
    for key, value in payload.items():
        if key in saved:
            if canonical(saved[key]) != canonical(value):
                return False
        elif key not in _REFERENCE_FIELDS:
            return False
    return set(saved) <= set(payload)


def adopt(folder: Path, names: list[str], request: ImageRequest) -> list[FileEntry] | None:
    """The files already in ``folder`` holding this request's images (one per image), or None.

    Only names that start like the ones ``generation.saving`` gives this prompt and seed are opened, so a
    resume reads a handful of files per unfinished item, not the whole folder.
    """
    if request.seed is None:
        return None
    stem, tag = safe_stem(request.prompt, max_length=60), f"-s{request.seed}"
    payload = request.payload()
    found: dict[int, FileEntry] = {}
    for name in names:
        if not (name.startswith(stem + tag) and name.lower().endswith(_IMAGE_SUFFIXES)):
            continue
        try:
            record = metadata.read_recipe(folder / name)
        except Exception:  # not an image of ours, damaged, unreadable: never adopted, never touched
            continue
        position = record.get("index", 0)
        if isinstance(position, int) and position not in found and _matches(record.get("request"), payload):
            try:
                found[position] = FileEntry(name, sha256_of(folder / name), position)
            except OSError:
                continue
    if all(k in found for k in range(request.n)):
        return [found[k] for k in range(request.n)]
    return None


def cost_of(jobs: list[Job], config: Imagine) -> float | None:
    """What the jobs would cost at list prices; None when a model's price is unknown (no budget counts it)."""
    costs = [part_cost(job.request, config) for job in jobs]
    return None if None in costs else sum(c for c in costs if c is not None)


def plan_batch(
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
