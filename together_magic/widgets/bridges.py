"""Small anywidgets for what a Python callback cannot do in the browser: hand an image to the user's own
computer (``DownloadButton``) and let Enter in the prompt box press Generate (``PromptKeys``).

A download must end in the browser (an ``<a download>`` on a blob URL): "save" writes on the server, which in
a class is the teacher's machine, not the student's. The image bytes travel only when asked (a click), so
forty cards do not put forty full-size images into the page. Their JavaScript ships in ``static/``: nothing
is loaded from the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..generation.saving import file_stem
from ..types import ImageChoicesData, ImageResponse

__all__ = ["DownloadButton", "PromptKeys", "download_button"]

_STATIC = Path(__file__).parent / "static"
DOWNLOAD_TIP = "download the image to this computer"
MIMES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


class DownloadButton(anywidget.AnyWidget):
    """A link that downloads ``data()`` as ``filename``: the bytes are sent to the browser on the first
    click (then kept there as a blob URL for the next ones)."""

    _esm = (_STATIC / "download_button.js").read_text(encoding="utf-8")
    description = traitlets.Unicode("Download").tag(sync=True)
    tooltip = traitlets.Unicode("").tag(sync=True)
    filename = traitlets.Unicode("image").tag(sync=True)
    mime = traitlets.Unicode("application/octet-stream").tag(sync=True)

    def __init__(self, data: Callable[[], bytes], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data = data
        self.on_msg(self._on_message)

    def payload(self) -> bytes:
        """The bytes a click downloads (what the browser is sent)."""
        return self._data()

    def _on_message(self, _: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "want":
            self.send({"event": "bytes"}, buffers=[self.payload()])

    def __repr__(self) -> str:
        return f"DownloadButton({self.filename!r})"


def download_button(choice: ImageChoicesData, response: ImageResponse) -> DownloadButton:
    """The card's Download: the image file, named as Save names it, onto the user's own computer."""
    name = file_stem(choice, response.request) + choice.extension
    mime = MIMES.get(choice.extension, "application/octet-stream")
    return DownloadButton(choice.image_bytes, filename=name, mime=mime, tooltip=DOWNLOAD_TIP)


class PromptKeys(anywidget.AnyWidget):
    """Invisible: Enter or Ctrl/Cmd+Enter in the panel's prompt box (``.together-magic-prompt``) calls the
    ``on_submit`` callbacks, after the box's text has reached the kernel. Shift+Enter makes a new line."""

    _esm = (_STATIC / "prompt_keys.js").read_text(encoding="utf-8")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[], None]] = []
        self.on_msg(self._on_message)

    def on_submit(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def submit(self) -> None:
        """What the key does, from Python."""
        for callback in self._callbacks:
            callback()

    def _on_message(self, _: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            self.submit()

    def __repr__(self) -> str:
        return "PromptKeys()"
