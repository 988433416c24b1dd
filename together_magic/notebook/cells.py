"""The three kinds of ``%%imagine`` cell: one generation, a sweep (``--vary``), a batch (``--each``).

Each runs its work and hands back a ``CellResult``; the magic binds it to ``-o NAME``, says once per
kernel that the pictures are offline, shows it and returns it. Nothing here touches the user's namespace
or the magic object, so the same cells serve any shell. A ``--from`` file is read once, here, and handed
on to the plan or the sweep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.display import display

from ..batches.api import run_batch
from ..batches.plan import each_defaults, items_named
from ..batches.view import progress_mode
from ..config import Imagine
from ..display.live import LiveDisplay, info_line, status_html
from ..display.status import StatusLine
from ..errors import OptionError
from ..generation.generate import generate
from ..generation.loop import Interrupted
from ..generation.options import ImagineOptions
from ..generation.plan import Plan, Saved, build_plan, read_saved
from ..sweeps.result import Cell, Sweep
from ..sweeps.run import (
    announce,
    first_failure,
    interrupted_message,
    plan_sweep,
    run_sweep,
    save_sweep,
    saved_summary,
)

__all__ = ["CellResult", "LiveGrid", "run_cell"]


@dataclass
class CellResult:
    """What a cell made, for the magic to bind, announce and show.

    ``bind``: the ``-o`` variable (None for a batch, whose ``--out`` is its folder). ``show``: the cell
    shows its value (no ``--no-display``). ``backend``: what answered, for the once-per-kernel offline
    notice. ``failure``: raised after binding, and after showing when ``show_failed`` (there is something
    to see: images whose saving failed), so nothing the user already has is lost.
    """

    value: Any
    bind: str | None
    show: bool
    backend: str | None = None
    failure: BaseException | None = None
    show_failed: bool = False
    models: tuple[str, ...] = ()
    """The models it used, for the once-per-model notice of a retired one."""


async def run_cell(
    options: ImagineOptions, namespace: Mapping[str, Any], config: Imagine, *, live: bool
) -> CellResult:
    """One cell's work: a sweep (``--vary``, or ``--from`` a contact sheet), a batch or one generation.

    ``live``: the cell runs on the kernel's loop as a top-level await, so a status line can update.
    ``OptionError`` and ``TogetherError`` are the magic's to show as one line; an interrupted sweep raises
    ``Interrupted`` whose ``result`` is the partial sweep (the magic binds it before it stops the cell).
    """
    saved = read_saved(options.from_path) if options.from_path is not None else None
    if options.vary or (saved is not None and saved.sweep is not None):
        return await _sweep_cell(options, namespace, config, saved, live=live)
    if options.each is not None:
        return await _batch_cell(options, namespace, config, live=live)
    plan = build_plan(options, config=config, namespace=namespace, saved=saved)
    with StatusLine(_waiting_text(plan), enabled=live) as status:
        generated = await generate(plan, config, source="magic", on_part=status.part_done, keep_partial=True)
    report = generated.saved
    unsaved = OptionError(report.summary(plan.save or "")) if report is not None and not report.ok else None
    # Images that arrived while another part failed (a class budget spent after two of -n 4) were made
    # and charged: they are bound and shown, then the failure is the cell's one line.
    failure = generated.failure or unsaved
    response = generated.response
    backends = {choice.provenance.backend for choice in response.data or []}
    backend = "offline" if "offline" in backends else response.provenance.backend  # the notice, once
    return CellResult(response, plan.out, plan.display, backend, failure, True, (plan.request.model,))


def _waiting_text(plan: Plan) -> str:
    count = plan.request.n
    model = plan.request.model.rsplit("/", 1)[-1]
    return f"generating {count} image{'s' if count != 1 else ''} with {model}"


# ------------------------------------------------------------------------------------------- sweeps
class LiveGrid(LiveDisplay):
    """The grid filling in cell by cell while a sweep runs on the kernel's loop (a ``live.LiveDisplay``:
    the finished ``Sweep`` is the cell's result, so a saved notebook and nbval see the final grid once)."""

    def __init__(self, sweep: Sweep, *, enabled: bool = True) -> None:
        super().__init__(enabled=enabled)
        self.sweep = sweep
        self._dirty = True
        self._grid = ""

    def cell_done(self, cell: Cell) -> None:
        self._dirty = True

    def render(self) -> dict[str, str]:
        if self._dirty:
            self._grid, self._dirty = self.sweep.html(), False
        text = f"{self.sweep.summary()} … {self.seconds:.1f} s"
        return {"text/plain": text, "text/html": status_html(text) + self._grid}


def _kept(planned: Sweep, out: str | None) -> str:
    kept = f"bound to {out}" if out else "add -o NAME to keep a partial sweep"
    if out is None and planned.options.seed is not None:
        kept += f"; with --seed {planned.options.seed} a re-run takes finished cells from the cache"
    if planned.save_dir is not None and planned.saved:
        kept += f"; saved in {planned.save_dir}"
    return kept


async def _sweep_cell(
    options: ImagineOptions,
    namespace: Mapping[str, Any],
    config: Imagine,
    saved: Saved | None,
    *,
    live: bool,
) -> CellResult:
    """A ``%%imagine --vary`` cell: the grid fills in while the requests run. An interrupt cancels every
    pending request at once, saves (``--save``) and shows what finished, and raises ``Interrupted`` with
    it, whose line says how many cells finished and how many were cancelled; when every cell failed, the
    first error is the failure, as a single request's would be."""
    planned = plan_sweep(options, config=config, namespace=namespace, where="notebook", saved=saved)
    info_line(announce(planned, config))
    try:
        with LiveGrid(planned, enabled=live and options.display) as grid:
            await run_sweep(planned, config, source="magic", on_cell=grid.cell_done)
    except Interrupted:
        if planned.save_dir is not None and planned.responses:
            save_sweep(planned, planned.save_dir)
        if options.display and planned.responses:
            display(planned)  # type: ignore[no-untyped-call]
        raise Interrupted(interrupted_message(planned, _kept(planned, options.out)), planned) from None
    finished = next(iter(planned.responses.values()), None)
    backend = finished.provenance.backend if finished is not None else None
    problems = save_sweep(planned, planned.save_dir) if planned.save_dir is not None else []
    planned.save_errors = problems
    used = tuple(dict.fromkeys(cell.request.model for cell in planned.cells))
    result = CellResult(planned, options.out, options.display, backend, models=used)
    failure = first_failure(planned)
    if failure is not None:  # no cell finished: nothing to show, the first cell's error says why
        result.failure = failure
    elif problems:
        result.failure = OptionError(saved_summary(planned, problems, planned.save_dir or Path(".")))
        result.show_failed = True
    return result


# ------------------------------------------------------------------------------------------ batches
async def _batch_cell(
    options: ImagineOptions, namespace: Mapping[str, Any], config: Imagine, *, live: bool
) -> CellResult:
    """``%%imagine --each VAR --out DIR``: the cell body is the template; the result is the ``Batch``.

    ``-o`` is not a name here: ``--out`` is the batch's folder, so the batch is the cell's result only."""
    defaults = each_defaults(options)
    items = items_named(str(options.each), namespace)

    def note(line: str) -> None:
        display({"text/plain": line}, raw=True)  # type: ignore[no-untyped-call]

    result = await run_batch(
        items,
        out=str(options.out),
        defaults=defaults,
        template=options.prompt,
        namespace=namespace,
        config=config,
        concurrency=options.concurrency,
        rpm=options.rpm,
        retry_failed=options.retry_failed,
        new=options.new,
        progress=progress_mode(None, live=live),
        source="magic",
        new_flag="--new",
        on_interrupt=note,
    )
    return CellResult(result, None, options.display, result.summary.backend)
