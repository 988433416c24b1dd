"""What a running cell says while it works: the live status line, and the once-per-kernel offline notice.

The status line is a ``live.LiveDisplay`` ("generating 4 images with FLUX.1-schnell ... 2.4 s", then
"2 done"): it leaves nothing behind in a saved notebook.
"""

from __future__ import annotations

from .live import LiveDisplay, info_line, status_html

__all__ = ["OFFLINE_NOTICE_TEXT", "StatusLine", "offline_notice"]

OFFLINE_NOTICE_TEXT = (
    "offline backend: no TOGETHER_API_KEY is set, so these pictures come from together-magic's procedural "
    "renderer (not a diffusion model); set TOGETHER_API_KEY before starting Jupyter to use Together AI."
)


_noticed = False


def offline_notice() -> None:
    """The once-per-kernel information line: grey, small, on stdout's level (never stderr)."""
    global _noticed
    if not _noticed:
        _noticed = True
        info_line(OFFLINE_NOTICE_TEXT)


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
