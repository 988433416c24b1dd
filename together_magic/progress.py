"""A live status line under a running cell that leaves nothing behind in the saved notebook.

The line is a display with a ``display_id`` that starts with *no data at all*, is updated in place while
the request runs ("generating 4 images with FLUX.1-schnell ... 2.4 s", then "2 of 4 done"), and is emptied
again when the cell finishes. A saved notebook (JupyterLab, nbclient) therefore holds an empty output, and
nbval, which compares the first message of each output and ignores updates, sees no data to compare either.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from types import TracebackType
from typing import Any

__all__ = ["OFFLINE_NOTICE_TEXT", "StatusLine", "offline_notice"]

OFFLINE_NOTICE_TEXT = (
    "offline backend: no TOGETHER_API_KEY is set, so these pictures come from together-magic's procedural "
    "renderer (not a diffusion model); set TOGETHER_API_KEY before starting Jupyter to use Together AI."
)
_STYLE = "font:12px/1.4 sans-serif;opacity:.75"
TICK_SECONDS = 0.2


_noticed = False


def offline_notice() -> None:
    """The once-per-kernel information line: grey, small, on stdout's level (never stderr)."""
    from IPython.display import display

    global _noticed
    if _noticed:
        return
    _noticed = True
    display(  # type: ignore[no-untyped-call]
        {
            "text/plain": OFFLINE_NOTICE_TEXT,
            "text/html": f'<div style="{_STYLE}">{html.escape(OFFLINE_NOTICE_TEXT)}</div>',
        },
        raw=True,
    )


class StatusLine:
    """``with StatusLine("generating 4 images with X") as status: ...`` on the kernel's running loop."""

    def __init__(self, text: str, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.text = text
        self.done = 0
        self.total = 0
        self._handle: Any = None
        self._task: asyncio.Task[None] | None = None
        self._started = time.perf_counter()

    def __enter__(self) -> StatusLine:
        from IPython.display import display

        if not self.enabled:
            return self
        try:
            self._handle = display({}, raw=True, display_id=True)  # type: ignore[no-untyped-call]
            self._task = asyncio.get_running_loop().create_task(self._tick())
        except Exception:  # no kernel, no loop: a status line is a nicety, never a failure
            self._handle = None
        return self

    def part_done(self, index: int, response: object) -> None:
        self.done += 1

    def _render(self) -> dict[str, str]:
        seconds = time.perf_counter() - self._started
        text = f"{self.text} … {seconds:.1f} s"
        if self.done:
            text += f" ({self.done} done)"
        return {"text/plain": text, "text/html": f'<div style="{_STYLE}">⏳ {html.escape(text)}</div>'}

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self._handle is not None:
                self._handle.update(self._render(), raw=True)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._handle is not None:
            with contextlib.suppress(Exception):
                self._handle.update({}, raw=True)
