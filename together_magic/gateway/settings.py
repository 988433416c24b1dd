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
    "DEFAULT_FALLBACK_RATE",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_STUDENT_RATE",
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
DEFAULT_STUDENT_RATE = 120
"""Requests per rolling minute one student may send, whatever becomes of them (cache hits and refusals
too): a notebook, a sweep or a batch stays well under it; a loop hammering the gateway does not."""
DEFAULT_FALLBACK_RATE = 20
"""Offline fallback images per rolling minute per student, in megapixels (a 1024x1024 image counts 1, a
4096x4096 one 16): the renderer is the gateway's own CPU, which the whole class shares."""
DEFAULT_READ_TIMEOUT = 10.0
"""Seconds a client has for a request's headers, and for each piece of its body (the whole body gets
three times as long): a slow or stalled client is dropped instead of holding a connection."""
DEFAULT_MAX_CONNECTIONS = 500
"""Open connections per worker; more are closed at once (each costs a file descriptor and some memory)."""
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


def _whole_number(flag: str, value: object, low: int, high: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionError(f"{flag}: must be a whole number of {unit} from {low} to {high}, got {value!r}")


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
    """The class data on disk (the shared cache's images, the database with its wall rows, and its write-ahead
    log) is kept under this many megabytes."""
    allow_unsafe: bool = False
    """``--allow-unsafe``: students' ``disable_safety_checker`` goes upstream (otherwise it is refused)."""
    student_rate: int = DEFAULT_STUDENT_RATE
    fallback_rate: int = DEFAULT_FALLBACK_RATE
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

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
        if not isinstance(self.allow_unsafe, bool):
            raise OptionError(f"--allow-unsafe: takes no value, got {self.allow_unsafe!r}")
        _whole_number("--student-rate", self.student_rate, 1, 1_000_000, "requests per minute")
        _whole_number("--fallback-rate", self.fallback_rate, 1, 1_000_000, "megapixels per minute")
        _whole_number("--max-connections", self.max_connections, 8, 100_000, "connections per worker")
        seconds = self.read_timeout
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0.1 <= seconds <= 3600
        ):
            raise OptionError(f"--read-timeout: must be seconds from 0.1 to 3600, got {seconds!r}")

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
