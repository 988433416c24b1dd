"""Making sweeps: options -> a planned ``Sweep`` -> one request per cell -> files. Every front end (the
magic and the Python functions in ``api``, the CLI, the panel) goes through these same steps.

Planning checks everything before anything is sent: the axes (``axes``), the size of the sweep against
``Imagine.max_sweep_images``, and every cell's own plan (``plan.build_plan``), so a value a model refuses
is one line naming ``--vary`` and the cell. Cells share one seed unless ``seed`` is an axis, so what differs
between them is the axis alone. Running sends the cells through ``service.generate`` (cache, retries,
verification, provenance) at most ``Imagine.max_concurrency`` at a time; a cell's failure is kept on that
cell and never stops the others. Cancelling (an interrupt) cancels every pending request at once and raises
``loop.Interrupted`` carrying the sweep with what finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import models
from ..client.clients import AsyncTogether
from ..config import Imagine
from ..errors import OptionError, TogetherError, Where, explain
from ..generation.cost import check_budget
from ..generation.generate import generate
from ..generation.line import from_args, parse_tokens
from ..generation.loop import Interrupted, client_for_running_loop
from ..generation.options import ImagineOptions, from_request
from ..generation.plan import Saved, build_plan, merge_from, missing_input, saved_of
from ..generation.saving import save_images
from ..imagefiles import metadata
from ..imagefiles.files import atomic_write_new, safe_stem
from .axes import Axis, make_axis, parse_axis, too_many
from .result import RECORD_VERSION, Cell, Sweep, cell_order, describe, values_at

__all__ = [
    "announce",
    "first_failure",
    "interrupted_message",
    "plan_sweep",
    "run_sweep",
    "save_sweep",
    "saved_summary",
    "wants_sweep",
]

OUTPUT_OPTIONS = ("vary", "out", "save", "display", "cache", "interpolate", "from_path", "each")
_WHERE: dict[str, Where] = {"magic": "notebook", "panel": "notebook", "cli": "cli", "python": "python"}


# ------------------------------------------------------------------------------------------------ planning
def wants_sweep(options: ImagineOptions, saved: Saved | None = None) -> bool:
    """True for ``--vary``, and for ``--from`` a contact sheet (which re-runs its whole sweep).

    ``saved``: the ``--from`` file, read once by the caller and handed on to ``plan_sweep`` or the plan."""
    if options.vary:
        return True
    found = saved_of(options, saved)
    return found is not None and found.sweep is not None


def plan_sweep(
    options: ImagineOptions,
    *,
    config: Imagine,
    namespace: Mapping[str, Any] | None = None,
    vary: Mapping[str, Any] | None = None,
    where: str = "notebook",
    rng: random.Random | None = None,
    saved: Saved | None = None,
) -> Sweep:
    """A checked ``Sweep`` whose cells are all planned and none sent (``OptionError`` on any mistake).

    ``options.vary`` holds ``AXIS=VALUES`` texts (the magic, the CLI); ``vary`` maps axis names to Python
    values (``together_magic.sweep``, the panel); both may be given. ``where`` picks the advice in the
    "too many images" message (``notebook``, ``cli`` or ``python``).
    """
    if options.each is not None:
        raise OptionError("--vary and --each do not combine; use one of them")
    limit = config.max_sweep_images
    found = saved_of(options, saved)
    stored = found.sweep if found is not None else None
    if stored is not None:
        if options.vary or vary:
            raise OptionError(
                "--from: this contact sheet holds a whole sweep with its axes; drop --vary, or use --from "
                "with one of its images to start another sweep"
            )
        return _from_recipe(stored, options, config, namespace, where)
    options = merge_from(options, found).replace(from_path=None)
    axes = [parse_axis(text, options, namespace=namespace, limit=limit, where=where) for text in options.vary]
    axes += [
        make_axis(name, values, options, limit=limit, where=where) for name, values in (vary or {}).items()
    ]
    if not axes:
        raise OptionError("--vary: give an axis, e.g. --vary steps=2,4,8 (see --vary in %%imagine?)")
    names = [a.name if a.name not in ("prompt", "lora") else f"{a.name}:{a.target}" for a in axes]
    if len(set(names)) != len(names):
        raise OptionError(f"--vary: each axis once, got {', '.join(names)}")
    if len(axes) > 3:
        raise OptionError(f"--vary takes at most 3 axes (columns, rows, grids), got {len(axes)}")
    if options.n not in (None, 1):
        raise OptionError("--n: a sweep makes one image per cell; for more images add --vary seed=1..4")
    count = math.prod(len(a.values) for a in axes)
    if count > limit:
        raise too_many(count, limit, where)
    if options.seed is None and not any(a.name == "seed" for a in axes):
        low, high = models.SEED_RANGE
        options = options.replace(seed=(rng or random.SystemRandom()).randrange(low, high + 1))
    model_axis = next((a for a in axes if a.name == "model"), None)
    used = [str(v) for v in model_axis.values] if model_axis else [options.model or config.model]
    for axis in axes:
        axis.check(options, used)
    cells = []
    for at in cell_order(axes):
        values = values_at(axes, at)
        cell_options = options
        for axis, value in zip(axes, values, strict=True):
            cell_options = axis.apply(cell_options, value)
        cells.append(_planned(at, values, _alone(cell_options), axes, options, config, namespace))
    _refuse_twins(cells, axes)
    return Sweep(options, axes, cells, save=_save_dir(options, config), cost=_total(cells))


def _refuse_twins(cells: list[Cell], axes: list[Axis]) -> None:
    """Two cells that send the same request are a grid whose labels lie: an axis applied later undid an
    earlier one (``size`` after ``width``, ``aspect_ratio`` after ``size``...)."""
    seen: dict[str, Cell] = {}
    for cell in cells:
        key = json.dumps(cell.request.payload(), sort_keys=True, default=str)
        first = seen.setdefault(key, cell)
        if first is not cell:
            raise OptionError(
                f"--vary: {describe(axes, first.values)} and {describe(axes, cell.values)} send the same "
                "request (one axis overrides another, e.g. size after width); vary one of them"
            )


def _alone(options: ImagineOptions) -> ImagineOptions:
    """A cell's options: one image, nothing bound or saved by itself (the sweep does that)."""
    return options.replace(n=1, vary=(), out=None, save=None, from_path=None, each=None, display=True)


def _planned(
    at: tuple[int, ...],
    values: tuple[Any, ...],
    options: ImagineOptions,
    axes: list[Axis],
    base: ImagineOptions,
    config: Imagine,
    namespace: Mapping[str, Any] | None,
) -> Cell:
    try:
        plan = build_plan(options, config=config, namespace=namespace)
    except OptionError as exc:
        try:  # a mistake of the options themselves is reported as it is, without blaming a cell
            build_plan(_alone(base), config=config, namespace=namespace)
        except OptionError as same:
            if str(same) == str(exc):
                raise
        raise OptionError(f"--vary {describe(axes, values)}: {exc}") from None
    return Cell(at, values, options, dataclasses.replace(plan, save=None, out=None))


def _save_dir(options: ImagineOptions, config: Imagine) -> Path | None:
    folder = options.save or config.save_dir or None
    return Path(folder).expanduser() if folder else None


def _total(cells: list[Cell]) -> float | None:
    costs = [c.plan.cost for c in cells]
    return None if any(c is None for c in costs) else round(sum(c for c in costs if c is not None), 6)


def _from_recipe(
    stored: dict[str, Any],
    options: ImagineOptions,
    config: Imagine,
    namespace: Mapping[str, Any] | None,
    where: str,
) -> Sweep:
    """The sweep a contact sheet records: every cell's own request again, with this line's overrides."""
    name = Path(options.from_path or "").name
    try:
        if stored.get("version") != RECORD_VERSION:
            raise ValueError("unknown version")
        axes = [Axis(str(a["name"]), tuple(a["values"]), a.get("target")) for a in stored["axes"]]
        stored_cells = [
            (tuple(int(i) for i in c["at"]), dict(c["request"]), [str(k) for k in c.get("omitted") or ()])
            for c in stored["cells"]
        ]
        base = from_args(parse_tokens([str(t) for t in stored.get("tokens") or []]), stored.get("prompt"))
        for axis in axes:
            _ = axis.kind, [axis.label(v) for v in axis.values]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise OptionError(f"--from: {name} has a damaged sweep recipe") from None
    if len(stored_cells) > config.max_sweep_images:
        raise too_many(len(stored_cells), config.max_sweep_images, where)
    given = {
        field: value
        for field, value in vars(options).items()
        if value not in (None, ()) and field not in OUTPUT_OPTIONS
    }
    base = base.replace(**given, out=options.out, save=options.save, cache=options.cache)
    cells = []
    for at, payload, omitted in stored_cells:
        try:
            values = values_at(axes, at)
            cell_options = from_request(payload).replace(**given, cache=options.cache)
        except (IndexError, TypeError, ValueError):
            raise OptionError(f"--from: {name} has a damaged sweep recipe") from None
        cell_options = _inputs(cell_options, base, omitted)
        for axis, value in zip(axes, values, strict=True):
            if axis.name != "prompt" or "prompt" in given:
                cell_options = axis.apply(cell_options, value)
        try:
            cells.append(_planned(at, values, _alone(cell_options), axes, base, config, namespace))
        except OptionError:
            raise
        except (TypeError, ValueError, AttributeError):  # values of the wrong type in an edited file
            raise OptionError(f"--from: {name} has a damaged sweep recipe") from None
    return Sweep(base, axes, cells, save=_save_dir(options, config), cost=_total(cells))


def _inputs(cell: ImagineOptions, base: ImagineOptions, omitted: list[str]) -> ImagineOptions:
    """A cell's image inputs, which the sheet leaves out when they are data (an image file read in): taken
    again from the sweep's own ``--image``/``--reference`` (or this line's), never silently dropped."""
    if cell.image is None and base.image is not None:
        cell = cell.replace(image=base.image)
    if not cell.references and base.references:
        cell = cell.replace(references=base.references)
    flag = missing_input(omitted, cell)
    if flag is not None:
        raise OptionError(
            f"--from: this contact sheet's sweep was made from an uploaded image, which the sheet does not "
            f"hold; give it again with {flag} PATH"
        )
    return cell


def announce(sweep: Sweep, config: Imagine) -> str:
    """The line shown before sending: images, requests, models, concurrency and the estimated cost."""
    shape = " x ".join(a.title for a in sweep.axes)
    if len(sweep.axes) > 1:
        shape = " x ".join(str(len(a.values)) for a in sweep.axes) + f": {shape}"
    used = list(dict.fromkeys(c.request.model for c in sweep.cells))
    names = ", ".join(m.rsplit("/", 1)[-1] for m in used[:4]) + (" ..." if len(used) > 4 else "")
    cost = f", about ${sweep.cost:.4f}" if sweep.cost else ""
    count = len(sweep.cells)
    return (
        f"sweep: {count} image{'s' if count != 1 else ''} ({shape}), one request each to {names}, "
        f"{max(1, config.max_concurrency)} at a time{cost}; cached cells are not sent"
    )


# ------------------------------------------------------------------------------------------------ running
async def run_sweep(
    sweep: Sweep,
    config: Imagine,
    *,
    source: str = "python",
    on_cell: Callable[[Cell], None] | None = None,
    client: AsyncTogether | None = None,
) -> Sweep:
    """Send every pending cell (see the module docstring); returns the same ``Sweep``, filled in.

    Raises ``BudgetError`` before sending when the cells would go over ``Imagine.budget``, and
    ``loop.Interrupted`` (``.result`` is the sweep) when cancelled.
    """
    started = time.perf_counter()
    pending = [cell for cell in sweep.cells if cell.state == "pending"]
    if pending:
        check_budget(config, _total(pending), what="this sweep")
    client = client or await client_for_running_loop(config)
    limit = asyncio.Semaphore(max(1, config.max_concurrency))
    where = _WHERE.get(source, "python")

    async def one(cell: Cell) -> None:
        async with limit:
            try:
                generated = await generate(cell.plan, config, source=source, client=client)
            except TogetherError as err:
                cell.error, cell.exception = str(explain(err, where)), err
            except Exception as exc:  # never let one cell's surprise stop the others
                cell.error = f"{type(exc).__name__}: {exc}"
            else:
                cell.response = generated.response
        if on_cell is not None:
            on_cell(cell)

    tasks = [asyncio.ensure_future(one(cell)) for cell in pending]
    try:
        if tasks:
            await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=1.0)
        for cell in pending:
            cell.cancelled = cell.state == "pending"
        sweep.elapsed = time.perf_counter() - started
        raise Interrupted(f"sweep interrupted: {sweep.summary()}", sweep) from None
    finally:
        for task in tasks:  # a KeyboardInterrupt raised inside this task must not leave requests behind
            task.cancel()
    sweep.elapsed = time.perf_counter() - started
    return sweep


# ------------------------------------------------------------------------------------------------ saving
def sheet_bytes(sweep: Sweep, cell_size: int | None = None) -> bytes:
    """The contact sheet as PNG with the sweep's recipe inside (what ``--from`` reads back).

    Cells are 512 px at most, less for bigger sweeps, and the PNG is compressed lightly: a 64-cell sheet
    takes a few tenths of a second, so saving it still fits in an interrupted cell's moment of cleanup.
    """
    count = len(sweep.cells)
    side = cell_size or (512 if count <= 16 else 384 if count <= 36 else 256)
    out = io.BytesIO()
    sweep.to_image(side).save(out, format="PNG", compress_level=1)
    return metadata.embed(out.getvalue(), sweep.recipe())


def save_sweep(sweep: Sweep, folder: Path) -> list[str]:
    """Write each finished cell (``outputs.save_images``: the usual names and metadata) in reading order,
    then the contact sheet. Returns one line per file that could not be written (nothing is overwritten)."""
    problems: list[str] = []
    for cell in sweep.cells:
        if cell.response is None:
            continue
        report = save_images(cell.response.data or [], folder, cell.request)
        if report.paths and report.paths[0] is not None:
            sweep.saved[cell.values] = report.paths[0]
        problems += [f"{sweep.label(cell)}: {error}" for error in report.errors if error]
    seeds = {cell.seed for cell in sweep.cells}
    stem = safe_stem(sweep.options.prompt or "sweep", max_length=50)
    if len(seeds) == 1:
        stem += f"-s{seeds.pop()}"
    target = folder / f"{stem}-sweep-{'-'.join(a.name for a in sweep.axes)}.png"
    try:
        data = sheet_bytes(sweep)
        same = target.is_file() and not target.is_symlink() and target.read_bytes() == data
        sweep.sheet_path = target if same else atomic_write_new(target, data)
    except OSError as exc:
        problems.append(f"contact sheet: {exc.strerror or exc}")
    return problems


def saved_summary(sweep: Sweep, problems: list[str], folder: Path) -> str:
    head = f"--save: {len(problems)} file(s) could not be written to {folder}"
    return f"{head} ({'; '.join(problems)[:300]}); written: {len(sweep.saved)} cells" + (
        f" and the sheet {sweep.sheet_path.name}" if sweep.sheet_path else ""
    )


def interrupted_message(sweep: Sweep, kept: str) -> str:
    """``sweep interrupted: 5 of 12 cells finished (bound to s), 7 cancelled``; ``kept`` says where."""
    return (
        f"sweep interrupted: {len(sweep.responses)} of {len(sweep.cells)} cells finished ({kept}), "
        f"{len(sweep.cancelled)} cancelled"
    )


def first_failure(sweep: Sweep) -> BaseException | None:
    """When no cell finished and none was cancelled: the first cell's error (raised as a single request's
    would be, rather than a grid of identical errors)."""
    if sweep.responses or sweep.cancelled or not sweep.cells:
        return None
    first = sweep.cells[0]
    return first.exception or OptionError(first.error or "failed")
