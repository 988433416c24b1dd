"""How a batch looks: the ``Batch`` result (summary, paged thumbnails, ``.done``/``.failed``), and its bar.

A 1,000-image batch must not put 1,000 previews into a notebook: ``Batch`` shows one page of small
thumbnails, read from the files on disk when it is displayed (nothing is kept in memory), and
``batch.page(n)`` shows another. The progress bar is tqdm's: a widget in a notebook, shown inside a display
that starts and ends empty (so a saved notebook keeps nothing of it), a text bar on a terminal's stderr, and
nothing at all when stderr is not a terminal (a successful CLI run in a pipe or CI writes nothing there).
"""

from __future__ import annotations

import collections
import contextlib
import html
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..generation.options import from_request
from ..types import ImageChoicesData
from ..types.view import figure, shorten

__all__ = ["Batch", "BatchItem", "BatchPage", "Progress", "Summary", "progress_mode"]

PAGE_SIZE = 24
THUMBNAIL = 160
_FAILED_SHOWN = 10
_WRAP = "display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start"
_NOTE = "font:12px/1.4 sans-serif;opacity:.8;margin:4px 0"
_CAPTION = "font:11px/1.3 ui-monospace,monospace;opacity:.8;white-space:nowrap;overflow:hidden"
_PROMPT = "font:11px/1.3 sans-serif;white-space:nowrap;overflow:hidden;text-overflow:ellipsis"


@dataclass(frozen=True)
class BatchItem:
    """One item of a batch as its manifest records it."""

    index: int
    request: dict[str, Any]
    status: str
    error: str | None = None
    files: tuple[Path, ...] = ()
    sha256: tuple[str, ...] = ()
    attempts: int = 0

    @property
    def prompt(self) -> str:
        return str(self.request.get("prompt", ""))

    @property
    def seed(self) -> int | None:
        seed = self.request.get("seed")
        return seed if isinstance(seed, int) else None


@dataclass(frozen=True)
class Summary:
    """What one run of a batch did (the folder's totals come from the manifest)."""

    total: int
    done: int
    failed: int
    pending: int
    made: int = 0
    """Items finished by this run (not counting those found done or adopted from disk)."""
    adopted: int = 0
    requests: int = 0
    """Successful requests this run (an item with ``n`` images split into ``n`` requests counts ``n``)."""
    throttled: int = 0
    retries: int = 0
    elapsed: float = 0.0
    cost: float | None = None
    limit: float | None = None
    """Requests per minute allowed: ``--rpm`` or the server's ``x-ratelimit-limit``; None if unknown."""
    interrupted: bool = False
    failures: dict[str, int] = field(default_factory=dict)
    backend: str | None = None

    @property
    def rate(self) -> float | None:
        """Requests per minute this run: N requests paced evenly span N - 1 intervals, so N / elapsed would
        read "61/min (limit 60/min)" for a run that never had 61 in a minute."""
        return (self.requests - 1) / self.elapsed * 60 if self.elapsed > 0 and self.requests > 1 else None

    def parts(self) -> list[str]:
        counts = [f"{self.done} of {self.total} done"]
        if self.failed:
            counts.append(f"{self.failed} failed")
        if self.pending:
            counts.append(f"{self.pending} pending")
        out = [", ".join(counts)]
        if self.made or self.requests:
            out.append(f"{self.made} made now in {self.elapsed:.2f} s")
        if self.adopted:
            out.append(f"{self.adopted} found on disk")
        if self.rate is not None:
            limit = f"limit {self.limit:,.0f}/min" if self.limit else "no limit seen"
            out.append(f"{self.rate:,.0f}/min ({limit})")
        if self.throttled:
            out.append(f"{self.throttled} rate-limit answer{'s' if self.throttled != 1 else ''} absorbed")
        if self.retries:
            out.append(f"{self.retries} retr{'ies' if self.retries != 1 else 'y'}")
        if self.cost:
            out.append(f"est. ${self.cost:.4f}")
        return out

    def line(self) -> str:
        return " · ".join(self.parts())

    def failure_lines(self) -> list[str]:
        return [f"{count} x {error}" for error, count in sorted(self.failures.items(), key=lambda x: -x[1])]


class Batch:
    """A batch's outcome: ``.done``, ``.failed`` (each with a one-line ``.error``), ``.to_pandas()``."""

    def __init__(
        self, folder: Path, items: list[BatchItem], summary: Summary, *, page_size: int = PAGE_SIZE
    ) -> None:
        self.folder = folder
        self.items = items
        self.summary = summary
        self.page_size = max(1, page_size)

    @property
    def done(self) -> list[BatchItem]:
        return [it for it in self.items if it.status == "done"]

    @property
    def failed(self) -> list[BatchItem]:
        return [it for it in self.items if it.status == "failed"]

    @property
    def pending(self) -> list[BatchItem]:
        return [it for it in self.items if it.status == "pending"]

    @property
    def paths(self) -> list[Path]:
        """Every image file of the batch, in item order."""
        return [path for it in self.items for path in it.files]

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        lines = [f"Batch in {self.folder}: {self.summary.line()}"]
        lines += [f"  failed: {line}" for line in self.summary.failure_lines()]
        return "\n".join(lines)

    def to_pandas(self) -> Any:
        """One row per item: index, status, error, attempts, files, then the request's fields."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Batch.to_pandas needs pandas: pip install pandas") from None
        rows = [
            {
                "index": it.index,
                "status": it.status,
                "error": it.error,
                "attempts": it.attempts,
                "files": [str(p) for p in it.files],
                **it.request,
            }
            for it in self.items
        ]
        return pandas.DataFrame(rows).set_index("index")

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.done) // self.page_size))

    def page(self, number: int = 1) -> BatchPage:
        """Thumbnails of the done items on page ``number`` (1-based)."""
        if not 1 <= number <= self.pages:
            raise ValueError(f"page must be between 1 and {self.pages}, got {number}")
        return BatchPage(self, number)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.page(1)._repr_mimebundle_(include, exclude)


class BatchPage:
    """One page of a batch's thumbnails, made from the files when shown."""

    def __init__(self, batch: Batch, number: int) -> None:
        self.batch = batch
        self.number = number

    def __repr__(self) -> str:
        return repr(self.batch) + f"\n  page {self.number} of {self.batch.pages}"

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        batch, size = self.batch, self.batch.page_size
        done = batch.done
        shown = done[(self.number - 1) * size : self.number * size]
        figures = [_thumbnail(it, path) for it in shown for path in it.files[:1]]
        where = html.escape(str(batch.folder))
        head = f"<b>Batch</b> in <code>{where}</code>: {html.escape(batch.summary.line())}"
        notes = [f'<div style="{_NOTE}">{head}</div>']
        if batch.pages > 1:
            first = (self.number - 1) * size + 1
            last = min(self.number * size, len(done))
            nxt = f"; .page({self.number + 1}) shows the next" if self.number < batch.pages else ""
            notes.append(
                f'<div style="{_NOTE}">items {first}-{last} of {len(done)} done '
                f"(page {self.number} of {batch.pages}{nxt})</div>"
            )
        failed = [
            f"#{it.index} {html.escape(shorten(it.prompt, 40))}: {html.escape(it.error or '?')}"
            for it in batch.failed[:_FAILED_SHOWN]
        ]
        if failed:
            more = len(batch.failed) - len(failed)
            tail = f"<br>… and {more} more (.failed lists them all)" if more > 0 else ""
            notes.append(f'<div style="{_NOTE}">failed:<br>{"<br>".join(failed)}{tail}</div>')
        body = "".join(notes) + f'<div style="{_WRAP}">{"".join(f for f in figures if f)}</div>'
        data = {"text/plain": repr(self), "text/html": body}
        return data, {}


def _thumbnail(item: BatchItem, path: Path) -> str:
    try:
        choice = ImageChoicesData.from_bytes(path.read_bytes())
        caption = (  # facts on one line, the prompt on the next: cut with an ellipsis, whole on hover
            f'<div style="{_CAPTION}">#{item.index} · seed {item.seed}</div>'
            f'<div style="{_PROMPT}" title="{html.escape(item.prompt, quote=True)}">'
            f"{html.escape(shorten(item.prompt, 60))}</div>"
        )
        return figure(choice, THUMBNAIL, title=_code(item), caption_html=caption, width_hint=THUMBNAIL)
    except Exception:  # a file removed or damaged since: the page still shows the others
        return f'<div style="{_CAPTION}">#{item.index}: {html.escape(path.name)} cannot be read</div>'


def _code(item: BatchItem) -> str:
    """The hover of a thumbnail: the ``%%imagine`` cell that makes this item again on its own (model, size
    and every other field the caption has no room for), or its prompt when an uploaded image has no file."""
    if any(str(v).endswith(" characters>") for v in item.request.values()):  # manifest.shown_request
        return item.prompt  # an image input the manifest does not hold: no cell would make it again
    try:
        return from_request(item.request).to_cell()
    except (ValueError, TypeError):
        return item.prompt


# ----------------------------------------------------------------------------------- progress
def progress_mode(wanted: bool | None, *, live: bool = True) -> str | None:
    """``notebook`` (a widget), ``terminal`` (text on stderr, only on a TTY) or None (no bar)."""
    if wanted is False:
        return None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is a dependency
        shell = None
    if shell is not None and hasattr(shell, "kernel"):
        return "notebook" if live or wanted else None
    stream = sys.stderr
    return "terminal" if stream is not None and stream.isatty() else None


class Progress:
    """done / failed / 429s, rate and ETA while a batch runs; leaves nothing behind when closed."""

    def __init__(self, mode: str | None, *, total: int, initial: int, description: str) -> None:
        self.mode = mode
        self.failed = 0
        self.throttled = 0
        self._bar: Any = None
        self._handle: Any = None
        if mode is None:
            return
        options: dict[str, Any] = {
            "total": total,
            "initial": initial,
            "desc": description,
            "unit": "img",
            "leave": False,
            "smoothing": 0.1,
        }
        try:
            if mode == "notebook":
                from IPython.display import display

                self._handle = display({}, raw=True, display_id=True)  # type: ignore[no-untyped-call]
                self._bar = _notebook_bar(self._handle, options)
            else:
                from tqdm import tqdm as text_bar

                self._bar = text_bar(file=sys.stderr, dynamic_ncols=True, **options)
        except Exception:  # a bar is a nicety: no widgets, no terminal, no bar
            self._bar = None

    def advance(self, *, failed: bool = False) -> None:
        if failed:
            self.failed += 1
        if self._bar is not None:
            self._postfix()
            self._bar.update(1)

    def note_throttled(self) -> None:
        self.throttled += 1
        if self._bar is not None:
            self._postfix()
            self._bar.refresh()

    def _postfix(self) -> None:
        fields = collections.OrderedDict()
        if self.failed:
            fields["failed"] = self.failed
        if self.throttled:
            fields["429s"] = self.throttled
        self._bar.set_postfix(fields, refresh=False)

    def close(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            with contextlib.suppress(Exception):
                bar.close()
        if self._handle is not None:
            with contextlib.suppress(Exception):
                self._handle.update({}, raw=True)
            self._handle = None


_METER = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def _notebook_bar(handle: Any, options: dict[str, Any]) -> Any:
    """tqdm's meter (counts, rate, ETA) drawn as HTML in a display handle rather than as ipywidgets.

    Widgets would leave their state in a saved notebook even after being closed (nbclient keeps every
    model it saw); a display that starts and ends empty leaves nothing, as the status line does.
    """
    import io

    from tqdm import tqdm as text_bar

    class HTMLBar(text_bar):  # type: ignore[misc]
        monitor_interval = 0  # no monitor thread: updates come from the batch itself

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            meter = self.format_meter(**{**self.format_dict, "bar_format": _METER})
            share = self.n / self.total if self.total else 0
            colour = "#c0392b" if "failed" in (self.postfix or "") else "#2e7d32"
            bar = (
                '<div style="display:inline-block;width:200px;height:8px;background:#e0e0e0;'
                f'border-radius:4px;vertical-align:middle;margin-right:8px"><div style="width:{share:.1%};'
                f'height:8px;background:{colour};border-radius:4px"></div></div>'
            )
            text = f'<span style="font:12px/1.4 ui-monospace,monospace">{html.escape(meter)}</span>'
            handle.update({"text/plain": meter, "text/html": f"<div>{bar}{text}</div>"}, raw=True)
            return True

    return HTMLBar(file=io.StringIO(), **options)
