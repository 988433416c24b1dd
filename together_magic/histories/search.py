"""Everything generated before, from any notebook, the panel or the CLI: ``history()``, ``%imagine_history``.

Records come from the local store (``Imagine.cache_dir``), newest first. Each ``HistoryRecord`` carries the
usual types: ``.response`` (an ``ImageResponse`` whose images each keep the request that reproduces them)
and ``.request``. ``--clear`` deletes records and their image files after a confirmation flag.

In a notebook the collection shows itself with the panel's cards, a page at a time (``widgets.history``, a
front end above this module, registers itself through ``set_viewer``); without widgets (a terminal, a saved
notebook, nbconvert) it is a static page of thumbnails, each with its own "copy as code" cell.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import re
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from .. import config as _config
from ..config import Imagine
from ..errors import OptionError
from ..generation.generate import stored_response
from ..generation.options import from_request
from ..generation.stored import store_for
from ..store.store import Generation, StoreError
from ..types import ImageRequest, ImageResponse
from ..types.view import figure, grid, shorten

__all__ = [
    "PAGE_SIZE",
    "History",
    "HistoryRecord",
    "clear_history",
    "history",
    "parse_history_line",
    "parse_since",
    "set_viewer",
]

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""What a terminal would act on rather than show: C0 and C1 controls but tab and newline (escape
sequences set the window title, clear the screen, move the cursor), DEL, and bidirectional overrides."""
_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Of those, what ``json.dumps(ensure_ascii=False)`` writes raw (it escapes C0 controls itself)."""
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
THUMB = 192
PAGE_SIZE = 24
"""Images per page: a long history never floods the notebook (the live view pages through the rest)."""
_viewer: Callable[[History], bool] | None = None


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` as a terminal shows it without obeying it: each control character as a visible escape."""
    return _CONTROL.sub(_escaped, text)


def set_viewer(viewer: Callable[[History], bool] | None) -> None:
    """Register how a ``History`` shows itself in a notebook (returns False where it cannot: no kernel)."""
    global _viewer
    _viewer = viewer


def parse_since(text: str | None, *, now: float | None = None) -> float | None:
    """``2026-11-20``, ``2026-11-20T14:00``, ``today``, ``yesterday`` or ``3h`` / ``2d`` ago -> unix time."""
    if text is None or not text.strip():
        return None
    current = time.time() if now is None else now
    word = text.strip().lower()
    midnight = dt.datetime.fromtimestamp(current).replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "today":
        return midnight.timestamp()
    if word == "yesterday":
        return (midnight - dt.timedelta(days=1)).timestamp()
    match = _RELATIVE.match(word)
    if match:
        return current - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise OptionError(
            f"--since must be a date (2026-11-20), a time (2026-11-20T14:00), today, yesterday or an age "
            f"such as 3h or 2d; got {text[:40]!r}"
        ) from None
    try:
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):  # a real date before the epoch (or past 9999 locally)
        return 0.0 if moment.year < 1970 else float("inf")


@dataclass(frozen=True)
class HistoryRecord:
    """One past generation: the usual types plus when, where from and with which backend."""

    generation: Generation
    response: ImageResponse

    @property
    def request(self) -> ImageRequest | None:
        return self.response.request

    @property
    def created(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.generation.created)

    @property
    def source(self) -> str:
        return self.generation.source

    def summary(self) -> dict[str, Any]:
        """A JSON-able line for ``together-magic history --json`` (never a key: the store has none)."""
        g = self.generation
        return {
            "id": g.id,
            "created": self.created.isoformat(timespec="seconds"),
            "source": g.source,
            "model": g.model,
            "prompt": g.prompt,
            "seeds": [image.seed for image in g.images],
            "backend": g.backend,
            "cost": g.cost,
            "notebook": g.notebook,
            "files": [str(image.path) for image in g.images],
            "saved": list(g.saved_paths),
        }


class History(Sequence[HistoryRecord]):
    """Records, newest first; in a notebook, pages of cards with each image's actions and code."""

    def __init__(self, records: list[HistoryRecord], query: str = "", unreadable: int = 0) -> None:
        self.records = records
        self.query = query
        self.unreadable = unreadable
        """Matching generations left out because their image files are missing or damaged."""

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: Any) -> Any:
        return self.records[index]

    def __iter__(self) -> Iterator[HistoryRecord]:
        return iter(self.records)

    def __repr__(self) -> str:
        head = f"{len(self.records)} generation{'s' if len(self.records) != 1 else ''}{self.query}"
        if self.unreadable:
            head += f" ({self.unreadable} not shown: image files missing)"
        lines = [head]
        for record in self.records:
            g = record.generation
            seeds = ",".join(str(i.seed) for i in g.images)
            lines.append(
                f"  {record.created:%Y-%m-%d %H:%M} · {g.source} · {g.model.rsplit('/', 1)[-1]} · seed "
                f"{seeds} · {shorten(g.prompt, 50)}"
            )
        return terminal_safe("\n".join(lines))  # stored text is anyone's: never an escape sequence

    def images(self) -> list[tuple[HistoryRecord, int]]:
        """Every image as (record, position in its response), newest first: what the pages hold."""
        return [(record, k) for record in self.records for k in range(len(record.response.data or []))]

    def pages(self, page_size: int = PAGE_SIZE) -> int:
        return max(1, -(-len(self.images()) // max(1, page_size)))

    def page_note(self, page: int, page_size: int = PAGE_SIZE) -> str:
        """``images 25-48 of 57, page 2 of 3`` (empty when everything fits on one page)."""
        total = len(self.images())
        if total <= page_size:
            return ""
        first = page * page_size
        last = min(total, first + page_size)
        return f"images {first + 1}-{last} of {total}, page {page + 1} of {self.pages(page_size)}"

    def html(self, page: int = 0, page_size: int = PAGE_SIZE) -> str:
        """One page as plain HTML: thumbnails, each with its ``%%imagine`` cell under "copy as code"."""
        figures = []
        chosen = self.images()[page * page_size : (page + 1) * page_size]
        for record, position in chosen:
            g = record.generation
            choice = (record.response.data or [])[position]
            own = choice.provenance.request
            code = from_request(own.payload()).to_cell() if own is not None else ""
            caption = (
                f'<div style="font:12px sans-serif;white-space:nowrap;overflow:hidden;'
                f'text-overflow:ellipsis" title="{html.escape(g.prompt, quote=True)}">'
                f"{html.escape(shorten(g.prompt, 40))}</div>"
                f'<div style="font:11px monospace;opacity:.75">{record.created:%Y-%m-%d %H:%M} · '
                f"{html.escape(g.source)} · seed {choice.seed}</div>"
                f'<details><summary style="font:11px sans-serif;cursor:pointer">copy as code</summary>'
                f'<pre style="font-size:11px;white-space:pre-wrap">{html.escape(code)}</pre></details>'
            )
            figures.append(figure(choice, THUMB, title=g.prompt, caption_html=caption, width_hint=THUMB))
        note = self.page_note(page, page_size)
        line = repr(self).splitlines()[0] + (f" · {note}" if note else "")
        head = f"<div style='font:12px sans-serif;opacity:.75'>{html.escape(line)}</div>"
        return head + _wrap(figures)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"text/plain": repr(self), "text/html": self.html()}, {}

    def _ipython_display_(self) -> None:
        """The cards where a viewer is registered and a kernel shows widgets; else the static page."""
        if _viewer is not None and _viewer(self):
            return
        from IPython.display import display

        display(self._repr_mimebundle_()[0], raw=True)  # type: ignore[no-untyped-call]


def _wrap(figures: list[str]) -> str:
    """History is long: a wrapping thumbnail grid (unlike result grids, which keep their columns)."""
    return grid(figures).replace(
        "grid-auto-flow:column;grid-auto-columns:max-content",
        "grid-template-columns:repeat(auto-fill,minmax(192px,1fr))",
    )


def history(
    text: str | None = None,
    *,
    last: int | None = 50,
    model: str | None = None,
    since: str | float | None = None,
    source: str | None = None,
    config: Imagine | None = None,
) -> History:
    """Past generations from the local store, newest first (``text`` matches the prompt)."""
    settings = config or _config.current()
    when = parse_since(since) if isinstance(since, str) else since
    if last is not None and last < 1:
        raise OptionError(f"--last must be 1 or more, got {last}")
    found = store_for(settings).history(text, last=last, model=model, since=when, source=source)
    records, unreadable = [], 0
    for generation in found:
        # One image file deleted by a clean-up tool (or damaged) must not hide the whole history: that
        # record is left out and counted; its row stays (the file may come back from a backup).
        try:
            records.append(HistoryRecord(generation, stored_response(generation)))
        except StoreError:
            unreadable += 1
    query = f" matching {text!r}" if text else ""
    return History(records, query, unreadable)


def clear_history(
    text: str | None = None,
    *,
    model: str | None = None,
    since: str | float | None = None,
    yes: bool = False,
    config: Imagine | None = None,
) -> tuple[int, bool]:
    """(count, deleted): without ``yes`` it only counts what would go (nobody loses work by accident)."""
    settings = config or _config.current()
    when = parse_since(since) if isinstance(since, str) else since
    store = store_for(settings)
    everything = text is None and model is None and when is None
    if not yes:
        return len(store.history(text, last=None, model=model, since=when)), False
    return store.clear(text, model=model, since=when, everything=everything), True


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise OptionError(f"%imagine_history: {message}")


def history_parser(
    prog: str = "%imagine_history", parser: argparse.ArgumentParser | None = None
) -> argparse.ArgumentParser:
    made = parser or _Parser(prog=prog, add_help=False)
    made.add_argument("text", nargs="*", help="words the prompt contains")
    made.add_argument("--last", type=int, default=50, metavar="N", help="at most N generations (default 50)")
    made.add_argument("--model", metavar="MODEL", help="only this model")
    made.add_argument("--since", metavar="DATE", help="since a date, a time, today, yesterday, or 3h/2d ago")
    made.add_argument("--clear", action="store_true", help="delete the matching records and their images")
    made.add_argument("--yes", action="store_true", help="confirm --clear")
    return made


def parse_history_line(line: str) -> argparse.Namespace:
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise OptionError(f"%imagine_history: {exc} (check the quotes)") from None
    return history_parser().parse_args(tokens)


def run_history(args: argparse.Namespace, config: Imagine | None = None) -> History | str:
    """The shared body of ``%imagine_history`` and ``together-magic history``."""
    text = " ".join(args.text) or None
    if args.clear:
        count, deleted = clear_history(text, model=args.model, since=args.since, yes=args.yes, config=config)
        if deleted:
            return f"deleted {count} generation{'s' if count != 1 else ''} and their image files"
        plural = "s" if count != 1 else ""
        return f"--clear would delete {count} generation{plural} and their images; add --yes to do it"
    return history(text, last=args.last, model=args.model, since=args.since, config=config)


def as_json(records: History) -> str:
    """One JSON line per record; every character a terminal would obey is a JSON escape."""
    lines = (json.dumps(record.summary(), ensure_ascii=False) for record in records)
    return "\n".join(_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", line) for line in lines)
