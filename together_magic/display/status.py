"""What a running cell says while it works: the live status line, and the once-per-kernel notices (the
offline backend; each retired model used, with its replacement).

The status line is a ``live.LiveDisplay`` ("generating 4 images with FLUX.2-dev ... 2.4 s", then
"2 done"): it leaves nothing behind in a saved notebook.
"""

from __future__ import annotations

from .. import config as _config
from .. import models
from ..client.base import OFFLINE_NOTICE, resolve_settings
from ..errors import TogetherError
from .live import LiveDisplay, info_line, status_html

__all__ = [
    "GATEWAY_OFFLINE_TEXT",
    "OFFLINE_NOTICE_TEXT",
    "StatusLine",
    "offline_notice",
    "offline_text",
    "retired_notice",
]

OFFLINE_NOTICE_TEXT = OFFLINE_NOTICE.format(why="no TOGETHER_API_KEY is set", when=" before starting Jupyter")
GATEWAY_OFFLINE_TEXT = (
    "offline: your class's gateway answered with together-magic's procedural renderer (not a diffusion "
    "model), free of charge; your teacher decides when it uses Together AI."
)


def offline_text() -> str:
    """What to say about offline pictures. This kernel's own offline backend means no key is set; otherwise
    a server (a class gateway, which has no upstream or fell back) answered offline, and the student, who did
    set their token, must not be told to set a key."""
    try:
        in_kernel = resolve_settings(base_url=_config.current().base_url).offline
    except TogetherError:
        in_kernel = True
    return OFFLINE_NOTICE_TEXT if in_kernel else GATEWAY_OFFLINE_TEXT


_noticed = False


def offline_notice() -> None:
    """The once-per-kernel information line: grey, small, on stdout's level (never stderr)."""
    global _noticed
    if not _noticed:
        _noticed = True
        info_line(offline_text())


_retired_noticed: set[str] = set()


def retired_notice(model_id: str | None) -> None:
    """Once per model per kernel: a grey line saying the model is retired and what to use instead."""
    text = models.retirement_notice(model_id or "")
    if text is not None and model_id not in _retired_noticed:
        _retired_noticed.add(str(model_id))
        info_line(text)


class StatusLine(LiveDisplay):
    """``with StatusLine("generating 4 images with X") as status: ...``: a live "working" line."""

    def __init__(self, text: str, *, enabled: bool = True) -> None:
        super().__init__(enabled=enabled)
        self.text = text
        self.done = 0

    def part_done(self, index: int, response: object) -> None:
        self.done += 1

    def render(self) -> dict[str, str]:
        text = f"{self.text} … {self.seconds:.1f} s"
        if self.done:
            text += f" ({self.done} done)"
        return {"text/plain": text, "text/html": status_html(text)}
