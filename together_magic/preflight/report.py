"""The preflight's answer: one line per cell (its number, images, cost, verdict), then the totals.

A cell with several ``%imagine`` lines is one row (the worst verdict), its lines' problems listed beneath
it. Costs are list-price estimates (``generation.cost.part_cost``, the catalogue's billing per megapixel or
per image); a model whose price nobody publishes shows ``?`` and is counted apart, never as free.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from .. import models
from .reading import Magic

__all__ = ["EXPECTED", "FAILS", "NOT_PLANNED", "OK", "WIDTH", "Problem", "Report", "Row"]

OK = "ok"
FAILS = "fails"
EXPECTED = "fails as intended"
"""A failing cell tagged ``raises-exception`` (a lesson about an error): shown, not counted as a failure."""
NOT_PLANNED = "not planned"
_WORST = (FAILS, EXPECTED, NOT_PLANNED, OK)
WIDTH = 110
"""Lines are wrapped at this width, a cell's verdict under its column."""
_INDENT = " " * 25


class Problem(NamedTuple):
    """Why the cloud (or the plan before it) refuses a magic, and the change that makes it go."""

    message: str
    fix: str | None = None

    @property
    def text(self) -> str:
        said = not self.fix or self.fix in self.message
        return self.message if said else f"{self.message}; fix: {self.fix}"


@dataclass(frozen=True)
class Row:
    """One magic's verdict: ``images``/``cost`` are None when it could not be planned."""

    magic: Magic
    verdict: str
    images: int | None = None
    cost: float | None = None
    """Dollars for the images whose price is known."""
    unpriced: int = 0
    """Images of models whose price is not published."""
    problems: tuple[Problem, ...] = ()
    models: tuple[str, ...] = ()
    note: str = ""
    """Why it was not planned."""

    @property
    def details(self) -> list[str]:
        return [p.text for p in self.problems] or ([self.note] if self.note else [])


@dataclass(repr=False)
class Report:
    """The preflight of one notebook; ``repr`` is the table (so ``%imagine_check`` shows it)."""

    path: str
    rows: list[Row]

    @property
    def ok(self) -> bool:
        """No cell would fail on the cloud (cells that fail on purpose aside)."""
        return not any(row.verdict == FAILS for row in self.rows)

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    @property
    def images(self) -> int:
        return sum(row.images or 0 for row in self.rows)

    @property
    def cost(self) -> float:
        """Estimated dollars for the images whose price is known (``unpriced`` counts the others)."""
        return round(sum(row.cost or 0.0 for row in self.rows), 6)

    @property
    def unpriced(self) -> int:
        return sum(row.unpriced for row in self.rows)

    def cells(self) -> Iterator[tuple[int, list[Row]]]:
        """The rows grouped by cell, in notebook order."""
        grouped: dict[int, list[Row]] = {}
        for row in self.rows:
            grouped.setdefault(row.magic.cell, []).append(row)
        yield from grouped.items()

    def verdicts(self) -> dict[int, str]:
        """Each cell's verdict: the worst of its magics'."""
        return {cell: min((r.verdict for r in rows), key=_WORST.index) for cell, rows in self.cells()}

    def text(self) -> str:
        lines = [self.path]
        if not self.rows:
            lines.append("no %%imagine cells: nothing to make, nothing to pay")
            return "\n".join(lines)
        lines.append(f"{'cell':>4}  {'images':>6}  {'cost':>9}  verdict")
        verdicts = self.verdicts()
        for cell, rows in self.cells():
            details = [
                (f"line {row.magic.line}: " if len(rows) > 1 and row.magic.line else "") + detail
                for row in rows
                for detail in row.details
            ]
            verdict = verdicts[cell]
            head = f"{verdict}: {details.pop(0)}" if len(details) == 1 else verdict
            row = f"{cell:>4}  {_images(rows):>6}  {_cost(rows):>9}  "
            lines.extend(_wrap(head, row, _INDENT))
            for detail in details:
                lines.extend(_wrap(detail, _INDENT, _INDENT + "  "))
        lines.extend(line for part in self.totals().splitlines() for line in _wrap(part, "", "  "))
        return "\n".join(lines)

    def totals(self) -> str:
        """Two lines: what the notebook makes and costs, and the date of the prices and models."""
        verdicts = list(self.verdicts().values())
        cells = _plural(len(verdicts), "cell")
        said = [f"total: {_plural(self.images, 'image')} in {cells}, about ${self.cost:.4f}"]
        if self.unpriced:
            said[0] += f" + {_plural(self.unpriced, 'image')} at unpublished prices"
        for verdict, words in ((NOT_PLANNED, "not planned"), (EXPECTED, "failing as intended")):
            if verdicts.count(verdict):
                said.append(f"{_plural(verdicts.count(verdict), 'cell')} {words}")
        refused = verdicts.count(FAILS)
        failing = f"{_plural(refused, 'cell')} would fail on the cloud"
        said.append(failing if refused else "no cell would fail")
        dates = f"prices: list prices as of {models.PRICES_AS_OF}, models as of {models.CATALOGUE_AS_OF}"
        unpublished = "; give unpublished ones with %config Imagine.prices" if self.unpriced else ""
        return "; ".join(said) + "\n" + dates + unpublished

    def __repr__(self) -> str:
        return self.text()


def _wrap(text: str, first: str, then: str) -> list[str]:
    """Wrapped at ``WIDTH``, never inside a model id (``black-forest-labs/...``) or a size."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=then,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _images(rows: list[Row]) -> str:
    known = [row.images for row in rows if row.images is not None]
    if not known:
        return "-"
    return f"{sum(known)}" + ("+?" if len(known) < len(rows) else "")


def _cost(rows: list[Row]) -> str:
    planned = [row for row in rows if row.images is not None]
    if not planned:
        return "-"
    if all(row.unpriced == row.images for row in planned):
        return "?"
    partial = len(planned) < len(rows) or any(row.unpriced for row in planned)
    return f"${sum(row.cost or 0.0 for row in planned):.4f}" + ("+?" if partial else "")
