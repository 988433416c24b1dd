"""A display that updates in place while work runs on the kernel's loop, and leaves nothing behind.

It starts with *no data at all*, is updated in place every ``TICK_SECONDS``, and is emptied when the work
ends. A saved notebook (JupyterLab, nbclient) therefore holds an empty output, and nbval, which compares
each output's first message and ignores updates, sees no data to compare either. Subclasses say what to
show (``render``): the magic's status line, a sweep's grid filling in.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["STYLE", "TICK_SECONDS", "LiveDisplay", "info_line", "status_html"]

L = TypeVar("L", bound="LiveDisplay")
STYLE = "font:12px/1.4 sans-serif;opacity:.75"
TICK_SECONDS = 0.2


def info_line(text: str) -> None:
    """A small grey information line in the cell's output: information, never stderr."""
    from IPython.display import display

    display({"text/plain": text, "text/html": f'<div style="{STYLE}">{html.escape(text)}</div>'}, raw=True)  # type: ignore[no-untyped-call]


def status_html(text: str) -> str:
    """The grey "working" line, as HTML."""
    return f'<div style="{STYLE}">⏳ {html.escape(text)}</div>'


class LiveDisplay:
    """``with Subclass(...) as live: ...`` on a running loop; a nicety that never fails the work."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.started = time.perf_counter()
        self._handle: Any = None
        self._task: asyncio.Task[None] | None = None

    def render(self) -> dict[str, str]:
        """The mime bundle to show now."""
        raise NotImplementedError

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def __enter__(self: L) -> L:
        from IPython.display import display

        if not self.enabled:
            return self
        try:
            self._handle = display({}, raw=True, display_id=True)  # type: ignore[no-untyped-call]
            self._task = asyncio.get_running_loop().create_task(self._tick())
        except Exception:  # no kernel, no loop: a live display is a nicety, never a failure
            self._handle = None
        return self

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self._handle is not None:
                self._handle.update(self.render(), raw=True)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._handle is not None:
            with contextlib.suppress(Exception):
                self._handle.update({}, raw=True)
