"""``Imagine``: the defaults of ``%%imagine``, the panel and the CLI, as traitlets configuration.

Set them for one notebook with ``%config Imagine.model = "..."`` (bare ``%config Imagine`` lists them) or
for every session in ``ipython_config.py`` with ``c.Imagine.model = "..."``. There is deliberately no API
key trait: the key lives in ``TOGETHER_API_KEY`` so it never lands in a saved notebook or a config dump.
Ranges come from ``models`` (the one catalogue), never written out here.
"""

from __future__ import annotations

import os
import re
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from . import models

__all__ = ["SIZE_PATTERN", "Imagine", "current", "default_cache_dir", "parse_size", "set_current"]
SIZE_PATTERN = re.compile(r"^\s*(\d{1,5})\s*[xX\u00d7*]\s*(\d{1,5})\s*$")


def parse_size(text: str) -> tuple[int, int] | None:
    """``"1024x768"`` -> (1024, 768); None when the text is not WIDTHxHEIGHT."""
    match = SIZE_PATTERN.match(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def default_cache_dir() -> str:
    """The user's cache folder for the store (``~/.cache/together-magic`` on Linux, per platformdirs)."""
    import platformdirs

    return platformdirs.user_cache_dir("together-magic", appauthor=False)


class Imagine(Configurable):
    """Defaults for ``%%imagine``, the panel and ``together-magic generate``."""

    model = Unicode(models.DEFAULT_MODEL, help="Model id used when --model is not given.").tag(config=True)
    n = Int(1, help="Images per request (1-4).").tag(config=True)
    size = Unicode("1024x1024", help="Default WIDTHxHEIGHT, e.g. 1024x768.").tag(config=True)
    steps = Int(None, allow_none=True, help="Default --steps; None lets the model decide.").tag(config=True)
    guidance = Float(None, allow_none=True, help="Default guidance; None lets the model decide.").tag(
        config=True
    )
    response_format = Enum(
        ["base64", "url"], "base64", help="base64 keeps images in the response; url ones expire."
    ).tag(config=True)
    split_n = Bool(
        True,
        help="-n N --seed S sends N one-image requests seeded S..S+N-1, so every image has its own seed; "
        "False sends one request with n, as the raw API does.",
    ).tag(config=True)
    preview_size = Int(512, help="Longest side, in pixels, of the previews stored in the notebook.").tag(
        config=True
    )
    save_dir = Unicode("", help="Save every image here when set (like --save).").tag(config=True)
    cache = Bool(True, help="Reuse the images of an identical seeded request from the local store.").tag(
        config=True
    )
    history = Bool(True, help="Record every generation in the local store (%imagine_history).").tag(
        config=True
    )
    cache_dir = Unicode(help="Where the local store (cache and history) lives.").tag(config=True)
    cache_size_mb = Int(
        500, help="Upper bound of the store's images on disk; least recently used go first."
    ).tag(config=True)
    timeout = Float(60.0, help="Seconds to wait for an answer (read timeout).").tag(config=True)
    max_retries = Int(2, help="Retries on 408/409/429/5xx and connection errors.").tag(config=True)
    max_concurrency = Int(4, help="Requests in flight at once for -n, --vary and batches.").tag(config=True)
    max_sweep_images = Int(64, help="A --vary sweep making more images than this is refused.").tag(
        config=True
    )
    budget = Float(
        None, allow_none=True, help="Dollars this kernel session may spend (estimated); None: no limit."
    ).tag(config=True)
    prices = Dict(
        value_trait=Float(),
        help=f"Price overrides, model id -> dollars per MP or per image (catalogue: {models.PRICES_AS_OF}).",
    ).tag(config=True)
    base_url = Unicode(
        None, allow_none=True, help="API base URL; None uses TOGETHER_BASE_URL or the default."
    ).tag(config=True)
    ca_file = Unicode(
        help="A PEM certificate file to trust for HTTPS besides the usual roots: your class gateway's "
        "cert.pem when it has a self-signed certificate; blank: the TOGETHER_MAGIC_CA_FILE variable, if set.",
    ).tag(config=True)
    strict = Bool(
        help="Answer retired models as Together's cloud does now (404 model_not_available) instead of "
        f"rendering them offline with a notice; default: the {models.STRICT_ENV} environment variable.",
    ).tag(config=True)

    def _cache_dir_default(self) -> str:
        return default_cache_dir()

    @validate("ca_file")
    def _check_ca_file(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if value and not os.path.isfile(os.path.expanduser(value)):
            raise TraitError(
                f"Imagine.ca_file must be a certificate file (PEM) that exists, got {value!r}: put the "
                "cert.pem your teacher gives you beside the notebook, or give its full path"
            )
        return value

    def _strict_default(self) -> bool:
        return models.is_on(os.environ.get(models.STRICT_ENV))

    @validate("n")
    def _check_n(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        low, high = models.N_RANGE
        if not low <= value <= high:
            raise TraitError(f"Imagine.n must be between {low} and {high}, got {value}")
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

    @validate("max_concurrency", "max_sweep_images")
    def _check_positive(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 1:
            raise TraitError(f"Imagine.{proposal['trait'].name} must be 1 or more, got {value}")
        return value

    @validate("timeout")
    def _check_timeout(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not value > 0 or value == float("inf"):
            raise TraitError(f"Imagine.timeout must be a number of seconds more than 0, got {value}")
        return value

    @validate("budget")
    def _check_budget(self, proposal: dict[str, Any]) -> float | None:
        value = proposal["value"]
        if value is not None and not 0 <= float(value) < float("inf"):
            raise TraitError(f"Imagine.budget must be 0 or more dollars (or None), got {value}")
        return value  # type: ignore[no-any-return]

    @property
    def width(self) -> int:
        return (parse_size(self.size) or models.DEFAULT_SIZE)[0]

    @property
    def height(self) -> int:
        return (parse_size(self.size) or models.DEFAULT_SIZE)[1]


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
