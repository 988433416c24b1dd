"""How an offline backend behaves, and the two figures every way in shares (body limit, default rate).

Options are checked when made, so a bad value fails once at start (``serve`` turns it into one usage line)
and never as a 500 on every request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .faults import DEFAULT_FAULTS, FAULTS

__all__ = ["DEFAULT_RATE_LIMIT", "MAX_BODY_BYTES", "BackendOptions", "FlagError"]

DEFAULT_RATE_LIMIT = 6000
"""Requests per rolling minute when none is given: generous (100 a second), and always advertised."""
MAX_BODY_BYTES = 32 * 2**20
"""32 MiB: room for a 20 MB reference image as base64 (26.7 MB) plus the rest of the request."""


class FlagError(ValueError):
    """A ``serve`` flag (a backend setting) with a value that cannot work; ``option`` names the flag.

    Not the front ends' ``errors.OptionError``: the backend has its own, as it imports no front end."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class BackendOptions:
    """How a backend behaves; checked when made, so a bad value fails at start and never per request."""

    require_key: str | None = field(default=None, repr=False)
    """A key, like any API key, never shown: not in a repr, not in an error message."""
    latency: float = 0.0
    fail_rate: float = 0.0
    faults: tuple[str, ...] = DEFAULT_FAULTS
    rate_limit: int = DEFAULT_RATE_LIMIT
    """Requests per rolling minute; more get 429 with ``Retry-After``. Always advertised in headers."""
    slow_seconds: float = 30.0
    fault_seed: int | None = None
    strict: bool = False
    """Answer retired models as the cloud does now (404 ``model_not_available``), not from their old facts."""

    def __post_init__(self) -> None:
        key = self.require_key
        if key is not None and (not key or key != key.strip() or not key.isprintable() or not key.isascii()):
            # HTTP clients send headers as ASCII: any other key could never be presented
            raise FlagError("--require-key", "must be printable ASCII without surrounding spaces")
        for option, value, most in (
            ("--latency", self.latency, 3600.0),
            ("--slow-seconds", self.slow_seconds, 3600.0),
            ("--fail-rate", self.fail_rate, 1.0),
        ):
            if not _finite(value) or not 0 <= value <= most:
                raise FlagError(option, f"must be a number from 0 to {most:g}, got {value!r}")
        limit = self.rate_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10**9:
            raise FlagError(
                "--rate-limit", f"must be a whole number of requests per minute, 1 or more, got {limit!r}"
            )
        unknown = sorted(set(self.faults) - set(FAULTS)) if self.faults else ["(none)"]
        if unknown:
            raise FlagError("--faults", f"unknown fault kinds {unknown}; choose from {','.join(FAULTS)}")
        if self.fault_seed is not None and (
            isinstance(self.fault_seed, bool) or not isinstance(self.fault_seed, int)
        ):
            raise FlagError("--fault-seed", f"must be a whole number, got {self.fault_seed!r}")
        if not isinstance(self.strict, bool):
            raise FlagError("--strict", f"must be true or false, got {self.strict!r}")
