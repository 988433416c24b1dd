"""``Imagine``: the defaults of ``%%imagine`` and the panel, as traitlets configuration.

Set them for one notebook with ``%config Imagine.model = "..."`` (bare ``%config Imagine`` lists them) or
for every session in ``ipython_config.py`` with ``c.Imagine.model = "..."``. There is deliberately no API
key trait: the key lives in ``TOGETHER_API_KEY`` so it never lands in a saved notebook or a config dump.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from .offline.catalogue import DEFAULT_MODEL

__all__ = ["SIZE_PATTERN", "Imagine", "current", "default_cache_dir", "parse_size", "set_current"]
SIZE_PATTERN = re.compile(r"^\s*(\d{1,5})\s*[xX\u00d7*]\s*(\d{1,5})\s*$")


def parse_size(text: str) -> tuple[int, int] | None:
    """``"1024x768"`` -> (1024, 768); None when the text is not WIDTHxHEIGHT."""
    match = SIZE_PATTERN.match(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "together-magic")


class Imagine(Configurable):
    """Defaults for ``%%imagine``, the panel and ``together-magic generate``."""

    model = Unicode(DEFAULT_MODEL, help="Model id used when --model is not given.").tag(config=True)
    n = Int(1, help="Images per request (1-4).").tag(config=True)
    size = Unicode("1024x1024", help="Default WIDTHxHEIGHT, e.g. 1024x768.").tag(config=True)
    steps = Int(None, allow_none=True, help="Default --steps; None lets the model decide.").tag(config=True)
    guidance = Float(None, allow_none=True, help="Default guidance_scale; None lets the model decide.").tag(
        config=True
    )
    response_format = Enum(
        ["base64", "url"], "base64", help="base64 keeps images in the response; url ones expire."
    ).tag(config=True)
    preview_size = Int(512, help="Longest side, in pixels, of the previews stored in the notebook.").tag(
        config=True
    )
    save_dir = Unicode("", help="Save every image here when set (like --save).").tag(config=True)
    cache = Bool(True, help="Reuse the images of an identical seeded request from the disk cache.").tag(
        config=True
    )
    cache_dir = Unicode(default_cache_dir(), help="Where the cache lives.").tag(config=True)
    cache_size_mb = Int(500, help="Upper bound of the cache on disk; oldest entries go first.").tag(
        config=True
    )
    timeout = Float(60.0, help="Seconds to wait for an answer (read timeout).").tag(config=True)
    max_retries = Int(2, help="Retries on 408/409/429/5xx and connection errors.").tag(config=True)
    base_url = Unicode(
        None, allow_none=True, help="API base URL; None uses TOGETHER_BASE_URL or the default."
    ).tag(config=True)

    @validate("n")
    def _check_n(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if not 1 <= value <= 4:
            raise TraitError(f"Imagine.n must be between 1 and 4, got {value}")
        return value

    @validate("size")
    def _check_size(self, proposal: dict[str, Any]) -> str:
        parsed = parse_size(str(proposal["value"]))
        if parsed is None:
            raise TraitError(
                f"Imagine.size must look like WIDTHxHEIGHT (e.g. 1024x768), got {proposal['value']!r}"
            )
        return f"{parsed[0]}x{parsed[1]}"

    @validate("preview_size", "cache_size_mb", "max_retries")
    def _check_non_negative(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 0:
            raise TraitError(f"Imagine.{proposal['trait'].name} must be 0 or more, got {value}")
        return value

    @validate("timeout")
    def _check_timeout(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if value <= 0:
            raise TraitError(f"Imagine.timeout must be more than 0 seconds, got {value}")
        return value

    @property
    def width(self) -> int:
        return (parse_size(self.size) or (1024, 1024))[0]

    @property
    def height(self) -> int:
        return (parse_size(self.size) or (1024, 1024))[1]


_current: Imagine | None = None


def current() -> Imagine:
    """The configuration of the loaded extension, or defaults (in scripts, the CLI, tests)."""
    global _current
    if _current is None:
        _current = Imagine()
    return _current


def set_current(config: Imagine | None) -> None:
    global _current
    _current = config
