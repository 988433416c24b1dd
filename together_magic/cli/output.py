"""The command's standard streams: a print must never cost the work already done, nor end in a traceback.

``main`` wraps stdout in ``ReaderMayLeave`` and makes both streams replace what the terminal cannot show.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, TextIO

__all__ = ["ReaderMayLeave", "tolerant_output"]


def tolerant_output() -> None:
    """A terminal that cannot show a character (an ASCII-only locale, ``PYTHONIOENCODING=ascii``) gets a
    replacement for it: captions use '·' and prompts hold anything, and a print must never fail after the
    work is done (the image saved, the command then dying with a traceback)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower().replace("-", "") != "utf8":
            reconfigure(errors="replace")


class ReaderMayLeave:
    """stdout for a command: output that cannot be written (a reader that left, ``| head -1``; a full
    disk, ``>/dev/full``) costs the rest of the output, never the work (the image is still made and saved)
    nor a traceback. A reader leaving is normal and quiet (the recipe of Python's signal docs); any other
    failure is said once on stderr."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lost = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._gone(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._gone(exc)

    def _gone(self, exc: OSError) -> None:
        with contextlib.suppress(OSError, ValueError):  # what is left in the buffer now goes nowhere
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        if not self._lost and not isinstance(exc, BrokenPipeError):
            with contextlib.suppress(OSError):
                print(f"together-magic: stdout: {exc.strerror or exc}; the rest of the output is dropped",
                      file=sys.stderr)  # fmt: skip
        self._lost = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
