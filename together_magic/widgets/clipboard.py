"""``CopyButton``: a button that puts text on the clipboard (and can insert it as a new cell).

ipywidgets has no clipboard: a Python callback runs in the kernel, after the click, where the browser no
longer counts it as the user's gesture, so Safari and Firefox refuse to write. This small anywidget copies
inside the click handler itself (``static/copy_button.js``, shipped in the package: nothing comes from a CDN)
and then reports to Python what happened, so the panel can say "copied" or show the text to copy by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import traitlets

__all__ = ["CopyButton", "CopyResult"]

_ESM = (Path(__file__).parent / "static" / "copy_button.js").read_text(encoding="utf-8")


@dataclass(frozen=True)
class CopyResult:
    """What the browser reported: ``copied`` to the clipboard; ``inserted`` as a cell (None: not asked)."""

    copied: bool
    inserted: bool | None = None
    reason: str = ""


class CopyButton(anywidget.AnyWidget):
    """A button that copies ``text``; with ``insert=True`` it also adds it as a cell below ``anchor``'s cell.

    ``anchor`` is the model id of the widget whose output cell the new cell goes under (the panel).
    """

    _esm = _ESM
    description = traitlets.Unicode("copy").tag(sync=True)
    icon = traitlets.Unicode("clipboard").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    text = traitlets.Unicode("").tag(sync=True)
    insert = traitlets.Bool(False).tag(sync=True)
    anchor = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[CopyResult], None]] = []
        self.on_msg(self._on_message)

    def on_copied(self, callback: Callable[[CopyResult], None]) -> None:
        """Call ``callback(result)`` after every click, once the browser has tried to copy."""
        self._callbacks.append(callback)

    def click(self) -> None:
        """What a click does, from Python (no browser, so nothing reaches a clipboard): the callbacks run."""
        self._report(CopyResult(copied=False, inserted=False if self.insert else None, reason="no browser"))

    def _on_message(self, _: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("event") != "copied":
            return
        inserted = content.get("inserted")
        self._report(
            CopyResult(
                copied=content.get("copied") is True,
                inserted=inserted if isinstance(inserted, bool) else None,
                reason=str(content.get("reason") or "")[:200],
            )
        )

    def _report(self, result: CopyResult) -> None:
        for callback in self._callbacks:
            callback(result)

    def __repr__(self) -> str:
        return f"CopyButton({self.description!r})"
