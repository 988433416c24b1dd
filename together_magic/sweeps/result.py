"""``Sweep``: the result of ``%%imagine --vary``, ``together_magic.sweep()`` and the panel's compare row.

A sweep is a grid of cells. Axis 1 runs along the columns, axis 2 down the rows, axis 3 makes one grid per
value; every cell is one single-image request (its own ``Plan``) whose answer, error or cancellation is
kept on the cell, so a failed or interrupted sweep still holds everything that finished.

Reading it back::

    s = together_magic.sweep("a red fox", vary={"steps": [4, 8], "guidance": [1, 3.5]}, seed=42)
    s.cell(steps=8, guidance=3.5)   # the ImageResponse of that cell (a KeyError names what is missing)
    s[8, 3.5]                       # the same, by values in axis order (``s[8]`` with one axis)
    s.responses                     # {(4, 1.0): ImageResponse, ...} for the cells that finished
    s.failed                        # {(8, 1.0): "404 ...: Unable to access model ...", ...}
    s.to_image()                    # the contact sheet, a PIL image with the axis labels drawn in
    s.to_cell()                     # the %%imagine --vary cell that makes it again

(``s[steps=8]`` is not Python syntax, hence ``cell(**values)``.) ``rows(grid)`` and ``find(**values)`` hand
out the ``Cell`` objects themselves, for front ends that put actions on each cell.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config as _config
from ..display.gallery import short_model
from ..display.sheets import Sheet, SheetCell, preview_side, rows_of, sheet_html, sheet_image
from ..generation.options import ImagineOptions
from ..generation.plan import Plan
from ..generation.saving import file_payload, omitted_inputs
from ..types import ImageRequest, ImageResponse
from ..types.view import shorten
from .axes import Axis
from .values import ALIASES, value_text

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["RECORD_VERSION", "Cell", "Sweep"]

RECORD_VERSION = 1


@dataclass
class Cell:
    """One cell: where it is (``at``: index along each axis), its axis ``values``, what makes it alone
    (``options``, ``plan``) and how it ended (``response``, ``error`` or ``cancelled``)."""

    at: tuple[int, ...]
    values: tuple[Any, ...]
    options: ImagineOptions
    plan: Plan
    response: ImageResponse | None = None
    error: str | None = None
    cancelled: bool = False
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    """The error itself (a ``TogetherError``), for callers that raise it again."""

    @property
    def request(self) -> ImageRequest:
        return self.plan.request

    @property
    def state(self) -> str:
        """``done``, ``failed``, ``cancelled`` or ``pending``."""
        if self.response is not None:
            return "done"
        if self.error is not None:
            return "failed"
        return "cancelled" if self.cancelled else "pending"

    @property
    def seed(self) -> int | None:
        return self.request.seed

    def to_line(self) -> str:
        """The ``%%imagine`` line of this image alone (empty when an uploaded image has no file).

        The model is written out even when it was the kernel's default: the line must make this image in
        a fresh kernel too, whatever ``Imagine.model`` is there."""
        options = self.options if self.options.model else self.options.replace(model=self.request.model)
        try:
            return options.to_line()
        except ValueError:
            return ""

    def to_cell(self) -> str:
        line = self.to_line()
        return f"{line}\n{self.options.prompt or ''}" if line else ""


class Sweep:
    """Cells over up to three axes (see the module docstring)."""

    def __init__(
        self,
        options: ImagineOptions,
        axes: Sequence[Axis],
        cells: Sequence[Cell],
        *,
        save: Path | None = None,
        cost: float | None = None,
    ) -> None:
        self.options = options
        """The options every cell starts from (seed drawn, ``--from`` merged), without the axes."""
        self.axes = tuple(axes)
        self.cells = tuple(cells)
        self.save_dir = save
        self.cost = cost
        """Estimated dollars for all cells if none were cached (None when a price is unknown)."""
        self.saved: dict[tuple[Any, ...], Path] = {}
        """Cell values -> the file written by ``--save`` (filled by the front end that saved)."""
        self.sheet_path: Path | None = None
        self.save_errors: list[str] = []
        """Files ``--save`` could not write, one line each (nothing else is lost)."""
        self.elapsed: float | None = None

    # ------------------------------------------------------------------------------ reading cells
    def __len__(self) -> int:
        return len(self.cells)

    def __iter__(self) -> Iterator[Cell]:
        return iter(self.cells)

    @property
    def shape(self) -> tuple[int, ...]:
        """Values per axis: (columns, rows, grids) as far as there are axes."""
        return tuple(len(axis.values) for axis in self.axes)

    @property
    def responses(self) -> dict[tuple[Any, ...], ImageResponse]:
        """Axis values -> response, for the cells that finished (keys are tuples, even with one axis)."""
        return {cell.values: cell.response for cell in self.cells if cell.response is not None}

    @property
    def failed(self) -> dict[tuple[Any, ...], str]:
        """Axis values -> the one-line error of each cell whose request failed."""
        return {cell.values: cell.error for cell in self.cells if cell.error is not None}

    @property
    def cancelled(self) -> list[tuple[Any, ...]]:
        return [cell.values for cell in self.cells if cell.state == "cancelled"]

    def find(self, **values: Any) -> Cell:
        """The ``Cell`` where the named axes have these values (enough of them to pick one cell)."""
        wanted: dict[int, Any] = {}
        for name, value in values.items():
            position = self._axis_position(name)
            wanted[position] = self.axes[position].index(value)
        found = [c for c in self.cells if all(c.at[k] == i for k, i in wanted.items())]
        if len(found) != 1:
            missing = [a.name for k, a in enumerate(self.axes) if k not in wanted]
            raise KeyError(f"give a value for {', '.join(missing)} too" if found else "no such cell")
        return found[0]

    def _axis_position(self, name: str) -> int:
        key = ALIASES.get(name, name)
        for position, axis in enumerate(self.axes):
            if axis.name == key:
                return position
        raise KeyError(f"this sweep has no axis {name!r}; its axes: {', '.join(a.name for a in self.axes)}")

    def cell(self, **values: Any) -> ImageResponse:
        """The response of the cell with these values: ``sweep.cell(steps=8, guidance=3.5)``."""
        return self._response(self.find(**values))

    def __getitem__(self, key: Any) -> ImageResponse:
        """``sweep[8, 3.5]``: the cell with these values, in axis order (``sweep[8]`` for one axis)."""
        values = key if isinstance(key, tuple) else (key,)
        if len(values) != len(self.axes):
            names = ", ".join(a.name for a in self.axes)
            raise KeyError(f"give {len(self.axes)} value(s), one per axis ({names}), got {len(values)}")
        return self.cell(**{axis.name: value for axis, value in zip(self.axes, values, strict=True)})

    def _response(self, cell: Cell) -> ImageResponse:
        if cell.response is None:
            raise KeyError(
                f"cell {self.label(cell)} {cell.state}" + (f": {cell.error}" if cell.error else "")
            )
        return cell.response

    def rows(self, grid: int = 0) -> list[list[Cell]]:
        """The cells of one grid (one value of the third axis) as rows of columns."""
        columns = self.shape[0] if self.axes else 1
        per_grid = columns * (self.shape[1] if len(self.axes) > 1 else 1)
        chosen = self.cells[grid * per_grid : (grid + 1) * per_grid]
        return [list(chosen[k : k + columns]) for k in range(0, len(chosen), columns)]

    def label(self, cell: Cell) -> str:
        """``steps=8, guidance=3.5``: a cell named by its axis values."""
        return ", ".join(f"{a.title}={a.label(v)}" for a, v in zip(self.axes, cell.values, strict=True))

    # ------------------------------------------------------------------------------ summaries
    def summary(self) -> str:
        """``12 cells (steps x guidance): 11 done, 1 failed``."""
        counts = {
            state: sum(c.state == state for c in self.cells) for state in ("done", "failed", "cancelled")
        }
        shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        pending = len(self.cells) - sum(counts.values())
        if pending:
            shown = ", ".join(filter(None, [shown, f"{pending} waiting"]))
        names = " x ".join(a.title for a in self.axes)
        return f"{len(self.cells)} cells ({names}): {shown or 'nothing yet'}"

    def heading(self) -> str:
        models = {c.request.model for c in self.cells}
        seeds = {c.seed for c in self.cells}
        parts = [shorten(self.options.prompt or "", 70)]
        parts.append(short_model(models.pop()) if len(models) == 1 else f"{len(models)} models")
        if len(seeds) == 1:
            parts.append(f"seed {seeds.pop()}")
        return " · ".join([*parts, self.summary()])

    def __repr__(self) -> str:
        lines = [f"Sweep: {self.heading()}"]
        for cell in self.cells:
            lines.append(f"  {self.label(cell)}: {self.caption(cell)}")
        return "\n".join(lines)

    def caption(self, cell: Cell) -> str:
        """What is said under a cell: its time (or ``cached``), its error, or ``cancelled``."""
        if cell.response is not None:
            prov = cell.response.provenance
            return "cached" if prov.cached else f"{prov.elapsed or 0:.2f} s"  # seed: in a header already
        if cell.error is not None:
            return f"failed: {cell.error}"
        return "cancelled" if cell.cancelled else "waiting…"

    # ------------------------------------------------------------------------------ drawing
    def sheet(self) -> Sheet:
        """What ``sheets`` draws: headers from the axes, one ``SheetCell`` per cell."""
        cells = [
            SheetCell(
                cell.response.data[0] if cell.response is not None and cell.response.data else None,
                self.caption(cell),
                cell.state,
                cell.to_cell(),  # the hover: line and prompt (a prompt S/R cell's is shown nowhere else)
                (cell.request.width or 1024, cell.request.height or 1024),
            )
            for cell in self.cells
        ]
        columns = self.axes[0] if self.axes else None
        rows = self.axes[1] if len(self.axes) > 1 else None
        grids = self.axes[2] if len(self.axes) > 2 else None
        width = len(columns.values) if columns else 1
        per_grid = width * (len(rows.values) if rows else 1)
        titles = [f"{grids.title}: {grids.label(v)}" for v in grids.values] if grids else [None]
        return Sheet(
            heading=self.heading(),
            column_title=columns.title if columns else "",
            columns=tuple(columns.label(v) for v in columns.values) if columns else ("",),
            row_title=rows.title if rows else None,
            rows=tuple(rows.label(v) for v in rows.values) if rows else ("",),
            grids=tuple(
                (title, rows_of(cells[k * per_grid : (k + 1) * per_grid], width))
                for k, title in enumerate(titles)
            ),
        )

    def to_image(self, cell_size: int = 512) -> Image.Image:
        """The contact sheet: every cell at most ``cell_size`` px, axis names and values drawn in."""
        return sheet_image(self.sheet(), cell_size)

    def html(self, side: int | None = None) -> str:
        columns = self.shape[0] if self.axes else 1
        side = side or preview_side(columns, len(self.cells), _config.current().preview_size)
        return sheet_html(self.sheet(), side)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        data: dict[str, Any] = {"text/plain": repr(self)}
        if (include is None or "text/html" in include) and not (exclude and "text/html" in exclude):
            data["text/html"] = self.html()
        meta = {"axes": [a.token() for a in self.axes], "cells": len(self.cells), "failed": len(self.failed)}
        return data, {"together_magic": {"sweep": meta}}

    # ------------------------------------------------------------------------------ as code, as a recipe
    def to_line(self) -> str:
        """The ``%%imagine --vary ...`` line that makes this sweep again (the seed written out)."""
        options = self.options.replace(vary=tuple(a.token() for a in self.axes), from_path=None)
        if options.model is None and self.cells and not any(a.name == "model" for a in self.axes):
            options = options.replace(model=self.cells[0].request.model)  # not the kernel's default
        return options.to_line()

    def to_cell(self) -> str:
        return f"{self.to_line()}\n{self.options.prompt or ''}"

    def recipe(self) -> dict[str, Any]:
        """What a contact sheet carries, so ``--from sheet.png`` makes every cell's request again.

        ``request`` is the first cell's (any reader of together-magic recipes gets one image from it);
        ``sweep`` holds the axes, the base options as ``%%imagine`` tokens and every cell's request.
        """
        base = self.options.replace(vary=(), from_path=None, out=None, save=None, display=True, cache=True)
        try:
            tokens = base.replace(prompt=None).tokens()
        except ValueError:  # uploaded images (bytes) have no file to name: the cells still have it all
            tokens = []
        first = self.cells[0].request if self.cells else None
        return {
            "request": file_payload(first) if first is not None else {},
            "index": 0,
            "sweep": {
                "version": RECORD_VERSION,
                "prompt": base.prompt,
                "tokens": tokens,
                "axes": [{"name": a.name, "target": a.target, "values": list(a.values)} for a in self.axes],
                "cells": [_cell_recipe(c) for c in self.cells],
            },
        }


def _cell_recipe(cell: Cell) -> dict[str, Any]:
    """A cell in the sheet's recipe; ``omitted`` names the image inputs left out for their size, which
    ``--from`` takes from the sweep's ``--image``/``--reference`` files (or refuses to guess)."""
    omitted = omitted_inputs(cell.request)
    return {
        "at": list(cell.at),
        "request": file_payload(cell.request),
        **({"omitted": omitted} if omitted else {}),
    }


def cell_order(axes: Sequence[Axis]) -> list[tuple[int, ...]]:
    """Reading order: columns fastest, then rows, then grids; each entry is the index along each axis."""
    ranges = [range(len(axis.values)) for axis in reversed(axes)]
    return [tuple(reversed(combo)) for combo in itertools.product(*ranges)]


def values_at(axes: Sequence[Axis], at: Sequence[int]) -> tuple[Any, ...]:
    return tuple(axis.values[i] for axis, i in zip(axes, at, strict=True))


def describe(axes: Sequence[Axis], values: Sequence[Any]) -> str:
    """``steps=8, guidance=3.5`` as ``--vary`` would write it (for messages)."""
    return ", ".join(
        f"{a.token().split('=', 1)[0]}={value_text(v)}" for a, v in zip(axes, values, strict=True)
    )
