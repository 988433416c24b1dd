"""The panel's compare row: one axis and its values make a labelled grid ("what does this knob do?").

Compare builds a sweep from the form exactly as ``%%imagine --vary AXIS=VALUES`` would (``plan_sweep``: the
same value syntax, ``4,8,16``, ``1..4``, ``4:28:8``, and the same one-line errors, shown in the status line
before anything is sent). The announce line comes first; then the sweep runs on the kernel's loop as a task,
like Generate: Cancel cancels it, finished cells are kept, and the task ends with ``loop.Interrupted``
carrying the partial ``Sweep``. The grid entry fills in cell by cell; each finished cell is a card with the
usual actions (its "copy as code" is that cell alone), a failed cell shows its one-line error, and "copy
the sweep" gives the ``%%imagine --vary`` cell of the whole grid.
"""

from __future__ import annotations

import asyncio
import functools
import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import OptionError, TogetherError, explain
from ..generation.cost import check_budget
from ..generation.loop import Interrupted, run_blocking
from ..sweeps.axes import axes_for
from ..sweeps.result import Cell, Sweep
from ..sweeps.run import announce, interrupted_message, plan_sweep, run_sweep
from ..sweeps.values import AXES
from ..types.view import caption_parts
from .cards import (
    Card,
    action_button,
    cell_code_of,
    close_tree,
    make_card,
    sweep_code,
    write_references,
)
from .clipboard import CopyButton, CopyResult

if TYPE_CHECKING:
    from ..config import Imagine
    from ..generation.options import ImagineOptions

__all__ = ["BUSY_NOTE", "EXAMPLES", "CellView", "PanelCompare", "SweepEntry"]

BUSY_NOTE = "Generate and Compare wait until this finishes; Cancel stops it."

EXAMPLES = {
    "seed": "1..4",
    "steps": "1,2,4,8",
    "guidance": "1,3.5,7",
    "width": "512,768,1024",
    "height": "512,768,1024",
    "size": "512x512,1024x768",
    "aspect_ratio": "1:1,16:9,9:16",
    "negative": '"",blurry',
    "model": "FLUX.2-dev,FLUX.2-flex",
    "lora": "0,0.5,1",
    "prompt": "fox,owl,cat (the first is a word of the prompt)",
    "format": "jpeg,png",
    "upsample": "false,true",
}
"""What the values box suggests for each axis (the same syntax as after ``--vary AXIS=``)."""
PREFERRED = ("steps", "guidance", "seed")
_BOX = "border-radius:4px;box-sizing:border-box;padding:6px;font:12px/1.35 sans-serif;overflow-wrap:anywhere"
_STATE_STYLE = {
    "failed": "background:#f8e6e6;color:#7a1f1f",
    "cancelled": "background:#eee;color:#555",
    "pending": "background:var(--jp-layout-color2,#f4f4f4);color:var(--jp-ui-font-color2,#888)",
}


@dataclass
class CellView:
    """One cell of a compare grid on screen: its box, and its card once the image is there."""

    cell: Cell
    box: w.Box
    card: Card | None = None
    code: tuple[str, list[tuple[Path, bytes]]] = ("", [])


@dataclass
class SweepEntry:
    """A compare grid in the gallery: the sweep, its widget, its heading and one view per cell."""

    sweep: Sweep
    widget: w.VBox
    heading: w.HTML
    copy: CopyButton
    files: list[tuple[Path, bytes]]
    views: list[CellView] = field(default_factory=list)


class PanelCompare:
    """The compare half of ``ImaginePanel`` (a mixin)."""

    settings: Imagine
    status: w.HTML
    model: w.Dropdown
    generate: w.Button
    cancel: w.Button
    lock: w.ToggleButton
    seed: w.BoundedIntText
    code: w.Textarea
    model_id: str
    task: asyncio.Task[Any] | None
    sent: int
    _started: float

    if TYPE_CHECKING:  # provided by the form, the gallery and the panel

        def options(self) -> ImagineOptions: ...

        def _seed_to_send(self) -> None: ...

        def _seed_sent(self) -> None: ...

        def _reference_refused(self) -> str | None: ...

        def _namespace(self) -> dict[str, Any]: ...

        def _show_error(self, message: str) -> None: ...

        def _act(self, card: Card | None, action: str) -> None: ...

        def _copied(self, card: Card | None, result: CopyResult) -> None: ...

        def _report_copy(self, what: str, text: str, result: CopyResult) -> None: ...

        def _add_entries(self, new: list[Any]) -> None: ...

        def _card_actions(self) -> list[tuple[str, str, str, str]]: ...

        def open_viewer(self, card: Card) -> None: ...

        def _busy(self, busy: bool) -> None: ...

        def _after_result(self, backend: str | None) -> None: ...

        @property
        def busy(self) -> bool: ...

    def _build_compare(self) -> w.HBox:
        """The row: the Compare button, an axis (those the chosen model takes) and its values."""
        self.sweeps: list[Sweep] = []
        self.axis = w.Dropdown(layout={"width": "100px", "flex": "0 0 auto"}, tooltip="what to vary")
        self.values = w.Text(layout={"width": "auto", "flex": "1 1 auto", "min_width": "60px"})
        self.compare = w.Button(
            description="Compare",
            icon="th",
            tooltip="one image per value, everything else as in the form; a labelled grid in the gallery",
            layout={"width": "auto", "flex": "0 0 auto"},
        )
        self.axis.add_class("together-magic-axis")
        self.values.add_class("together-magic-values")
        self.compare.on_click(self._on_compare)
        self.axis.observe(lambda _: self._suggest(), names="value")
        self.model.observe(lambda _: self._compare_axes(), names="value")
        self._compare_axes()
        # the button leads its own row (one row less beside Generate: Generate and Cancel share one)
        return w.HBox(
            [self.compare, self.axis, self.values], layout={"align_items": "center", "width": "auto"}
        )

    @property
    def last_sweep(self) -> Sweep | None:
        return self.sweeps[-1] if self.sweeps else None

    def _compare_axes(self) -> None:
        names = axes_for(str(self.model.value))
        previous = self.axis.value
        self.axis.options = [(AXES[name][2], name) for name in names]
        preferred = [name for name in PREFERRED if name in names]
        self.axis.value = previous if previous in names else (preferred or names)[0]
        self._suggest()

    def _suggest(self) -> None:
        self.values.placeholder = EXAMPLES.get(str(self.axis.value), "")

    # ------------------------------------------------------------------------------ starting
    def _on_compare(self, _: Any = None) -> None:
        if self.busy:  # the button is disabled meanwhile; this guards programmatic double clicks
            return
        refused = self._reference_refused()
        if refused:
            self._show_error(refused)
            return
        axis = str(self.axis.value)
        self._seed_to_send()
        try:
            options = self.options().replace(n=None)  # one image per cell: the form's count is for Generate
            sweep = plan_sweep(
                options,
                config=self.settings,
                namespace=self._namespace(),
                vary={axis: self.values.value},
                where="notebook",
            )
            if sweep.cells:
                check_budget(self.settings, sweep.cost, what="this comparison")
        except (OptionError, TogetherError) as exc:
            self._show_error(str(exc))
            return
        self._seed_sent()
        self.status.value = html.escape(announce(sweep, self.settings))
        self.code.layout.display = "none"
        entry = self._entry(sweep)
        self.sweeps.append(sweep)
        self._add_entries([entry])
        self._started = time.perf_counter()
        self._busy(True)
        coroutine = self._run_compare(entry)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no kernel loop (plain Python): run it here, blocking
            try:
                run_blocking(lambda: coroutine)
            except (Interrupted, KeyboardInterrupt):
                pass
            finally:
                self._busy(False)
            return
        self.task = loop.create_task(coroutine)
        self.task.add_done_callback(functools.partial(self._compare_ended, entry))

    def _compare_ended(self, entry: SweepEntry, task: asyncio.Task[Any]) -> None:
        self._busy(False)
        if task.cancelled():  # cancelled before the sweep started: nothing was sent
            for cell in entry.sweep.cells:
                cell.cancelled = cell.state == "pending"
            self._finish_entry(entry)
            self.status.value = "cancelled before anything was sent"
        elif not isinstance(task.exception(), Interrupted | None):  # retrieved: nothing reaches stderr
            self._show_error(f"compare: {task.exception()}")

    # ------------------------------------------------------------------------------ the work
    async def _run_compare(self, entry: SweepEntry) -> Sweep:
        """Run the sweep; Cancel keeps what finished and ends the task with ``Interrupted`` (its sweep)."""
        sweep = entry.sweep
        ticker = asyncio.ensure_future(self._tick_compare(sweep))
        self.sent += 1
        try:
            await run_sweep(
                sweep, self.settings, source="panel", on_cell=lambda cell: self._cell_ended(entry, cell)
            )
        except Interrupted:
            self._finish_entry(entry)
            self.status.value = html.escape(interrupted_message(sweep, "kept in the grid"))
            raise
        except TogetherError as err:
            self._finish_entry(entry)
            self._show_error(str(explain(err, "notebook")))
            return sweep
        except Exception as exc:  # a widget callback must never die silently
            self._finish_entry(entry)
            self._show_error(f"{type(exc).__name__}: {exc}")
            return sweep
        finally:
            ticker.cancel()
        self._finish_entry(entry)
        if not sweep.responses and sweep.failed:
            first = next(iter(sweep.failed.values()))
            self._show_error(f"all {len(sweep.cells)} cells failed: {first}")
        else:
            self.status.value = f"done: {html.escape(sweep.summary())} ({sweep.elapsed or 0:.1f} s)"
        return sweep

    async def _tick_compare(self, sweep: Sweep) -> None:
        await asyncio.sleep(0.25)  # the announce line stays a moment
        while True:
            seconds = time.perf_counter() - self._started
            self.status.value = f"comparing… {html.escape(sweep.summary())}, {seconds:.1f} s — {BUSY_NOTE}"
            await asyncio.sleep(0.25)

    def _cell_ended(self, entry: SweepEntry, cell: Cell) -> None:
        try:
            view = next(view for view in entry.views if view.cell is cell)
            self._show_cell(entry, view)
        except Exception as exc:  # the image is kept on the sweep; the status says what went wrong
            self._show_error(f"a cell arrived but could not be shown: {type(exc).__name__}: {exc}")

    def _finish_entry(self, entry: SweepEntry) -> None:
        for view in entry.views:
            if view.card is None:
                self._show_cell(entry, view)
        entry.heading.value = _line(entry.sweep.heading())
        first = next(iter(entry.sweep.responses.values()), None)
        self._after_result(first.provenance.backend if first is not None else None)

    # ------------------------------------------------------------------------------ the grid entry
    def _entry(self, sweep: Sweep) -> SweepEntry:
        text, files = sweep_code(sweep)
        copy = CopyButton(
            description="Copy the sweep",
            icon="clipboard",
            tooltip="copy the %%imagine --vary cell that makes this whole grid",
            text=text,
        )
        copy.anchor = self.model_id
        copy.add_class("together-magic-sweep-copy")
        heading = w.HTML(_line(announce(sweep, self.settings)))
        heading.layout = w.Layout(flex="1 1 auto", min_width="0")
        head = w.HBox([heading, copy], layout={"align_items": "center", "width": "auto"})
        rows = w.VBox(layout={"overflow": "auto hidden", "width": "auto"})
        rows.add_class("together-magic-sweep-rows")
        widget = w.VBox([head, rows], layout={"width": "auto"})  # across the gallery: see panel.css
        widget.add_class("together-magic-sweep-entry")
        entry = SweepEntry(sweep, widget, heading, copy, files)
        copy.on_copied(lambda result: self._sweep_copied(entry, result))
        lines = []
        for grid in range(len(sweep.axes[2].values) if len(sweep.axes) > 2 else 1):
            for row in sweep.rows(grid):
                boxes = []
                for cell in row:
                    view = CellView(cell, w.Box(), code=cell_code_of(cell))
                    view.box.add_class("together-magic-cell")
                    self._show_cell(entry, view)
                    entry.views.append(view)
                    boxes.append(view.box)
                line = w.HBox(boxes, layout={"flex_flow": "row nowrap", "width": "max-content"})
                lines.append(line)
        rows.children = tuple(lines)
        return entry

    def _show_cell(self, entry: SweepEntry, view: CellView) -> None:
        """Draw one cell as it stands: a card once done, else a box with its state (the error, if any)."""
        cell, sweep = view.cell, entry.sweep
        for old in view.box.children:
            close_tree(old)
        label = w.HTML(f'<div class="together-magic-cell-label">{html.escape(sweep.label(cell))}</div>')
        if cell.response is not None and cell.response.data:
            facts = caption_parts(cell.response, 0)
            short = " · ".join([f"seed {cell.seed}", sweep.caption(cell)])
            caption = (
                f'<div class="together-magic-caption" title="{html.escape(" · ".join(facts), quote=True)}"'
                f' style="font:11px/1.35 sans-serif;opacity:.8">{html.escape(short)}</div>'
            )
            view.card = make_card(
                self, cell.response, cell.response.data[0], 0, caption=caption, code=view.code, head=[label]
            )
            view.box.children = (view.card.widget,)
            return
        state = cell.state
        text = sweep.caption(cell)
        size = f"{cell.request.width or 1024} / {cell.request.height or 1024}"
        body = w.HTML(
            f'<div title="{html.escape(text, quote=True)}" style="{_BOX};{_STATE_STYLE.get(state, "")};'
            f'aspect-ratio:{size};overflow:hidden">{html.escape(text)}</div>'
        )
        buttons: list[w.Widget] = []
        if state != "pending":
            buttons.append(action_button("Reuse seed", "repeat", lambda: self._cell_seed(cell)))
            copy = CopyButton(description="Copy as code", icon="clipboard", text=view.code[0])
            copy.anchor = self.model_id
            copy.on_copied(lambda result: self._cell_copied(view, result))
            buttons.append(copy)
        actions = w.HBox(buttons)
        actions.add_class("together-magic-actions")
        card = w.VBox([label, body, actions])
        card.add_class("together-magic-card")
        card.add_class(f"together-magic-{state}")
        view.box.children = (card,)

    # ------------------------------------------------------------------------------ actions
    def _cell_seed(self, cell: Cell) -> None:
        seed = cell.seed
        if seed is not None:
            self.seed.value, self.lock.value = seed, True
            self.status.value = f"seed {seed} set and locked"

    def _cell_copied(self, view: CellView, result: CopyResult) -> None:
        try:
            write_references(view.code[1])
        except OSError as exc:
            self._show_error(f"copy as code: could not write the reference image: {exc.strerror or exc}")
            return
        self._report_copy(f"the cell for seed {view.cell.seed}", view.code[0], result)

    def _sweep_copied(self, entry: SweepEntry, result: CopyResult) -> None:
        try:
            write_references(entry.files)
        except OSError as exc:
            self._show_error(f"copy the sweep: could not write the reference image: {exc.strerror or exc}")
            return
        self._report_copy("the sweep's %%imagine --vary cell", entry.copy.text, result)


def _line(text: str) -> str:
    return f'<div style="font:12px/1.4 sans-serif">{html.escape(text)}</div>'
