"""What a gateway is told at start: where to forward, where its data lives, how it paces and falls back.

Checked once, when made, so a nonsense flag is one usage line before anything listens. The settings travel
to uvicorn's worker processes as JSON in an environment variable; the upstream key is deliberately not a
setting: every worker reads it from ``TOGETHER_API_KEY`` itself, so it is never copied, printed or stored.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from ..errors import OptionError

__all__ = [
    "DEFAULT_UPSTREAM_RATE",
    "FALLBACKS",
    "KEY_ENV",
    "SETTINGS_ENV",
    "GatewaySettings",
    "default_data_dir",
    "upstream_label",
]

KEY_ENV = "TOGETHER_API_KEY"
SETTINGS_ENV = "TOGETHER_MAGIC_GATEWAY_SETTINGS"
DEFAULT_UPSTREAM_RATE = 60
"""Upstream requests per rolling minute when ``--upstream-rate`` is not given (Together's image limits are
small and per account; the teacher raises it to what their account allows)."""
FALLBACKS = ("offline",)
OFFLINE = "offline"


def default_data_dir() -> Path:
    """``<user data dir>/together-magic/gateway`` (``~/.local/share/...`` on Linux, per platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("together-magic", appauthor=False)) / "gateway"


def upstream_label(upstream: str) -> str:
    """The backend badge for what the upstream makes: ``together`` (the cloud), ``offline`` or ``gateway``."""
    if upstream == OFFLINE:
        return "offline"
    host = httpx.URL(upstream).host
    return "together" if host.startswith("api.together.") else "gateway"


def _check_upstream(upstream: str) -> str:
    text = upstream.strip().rstrip("/")
    if text == OFFLINE:
        return text
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise OptionError(
            f"--upstream: {upstream!r} is not an http(s) URL; give e.g. https://api.together.ai "
            "(Together's cloud), http://HOST:PORT (another together-magic serve) or offline"
        )
    if url.userinfo or url.query or url.fragment:
        raise OptionError("--upstream: give the URL without user:password@, ?query or #fragment")
    if url.port is not None and not 0 < url.port < 65536:
        raise OptionError(f"--upstream: port {url.port} is not between 1 and 65535")
    return text


@dataclass(frozen=True)
class GatewaySettings:
    """Everything a gateway worker needs except the upstream key (read from ``TOGETHER_API_KEY``)."""

    upstream: str
    """A Together-compatible base URL (the bare host or ``.../v1``), or ``offline``."""
    data: Path
    fallback: str | None = None
    """``offline``: answer with the offline renderer when the upstream fails or a budget is spent."""
    upstream_rate: int = DEFAULT_UPSTREAM_RATE
    class_budget: float | None = None
    """Dollars the whole class may spend upstream (None: only the students' own limits)."""
    cache_mb: int = 2000
    """The gateway's store (shared cache and wall images) is kept under this many megabytes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "upstream", _check_upstream(str(self.upstream)))
        object.__setattr__(self, "data", Path(self.data).expanduser())
        if self.fallback is not None and self.fallback not in FALLBACKS:
            raise OptionError(f"--fallback: {self.fallback!r} is not one of {', '.join(FALLBACKS)}")
        rate = self.upstream_rate
        if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 1_000_000:
            raise OptionError(
                f"--upstream-rate: must be a whole number of requests per minute from 1 to 1000000, "
                f"got {rate!r}"
            )
        budget = self.class_budget
        if budget is not None and (
            isinstance(budget, bool)
            or not isinstance(budget, int | float)
            or not math.isfinite(budget)
            or not 0 <= budget <= 1_000_000
        ):
            raise OptionError(f"--class-budget: must be dollars from 0 to 1000000, got {budget!r}")
        if isinstance(self.cache_mb, bool) or not isinstance(self.cache_mb, int) or self.cache_mb < 1:
            raise OptionError(
                f"--cache-mb: must be a whole number of megabytes, 1 or more, got {self.cache_mb!r}"
            )

    @property
    def label(self) -> str:
        return upstream_label(self.upstream)

    def to_json(self) -> str:
        fields = asdict(self)
        fields["data"] = str(self.data)
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> GatewaySettings:
        fields = json.loads(text)
        return cls(**{**fields, "data": Path(fields["data"])})

    @classmethod
    def from_environment(cls) -> GatewaySettings:
        text = os.environ.get(SETTINGS_ENV)
        if not text:
            raise RuntimeError(
                f"{SETTINGS_ENV} is not set: start the gateway with together-magic serve --upstream"
            )
        return cls.from_json(text)
