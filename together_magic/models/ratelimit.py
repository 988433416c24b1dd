"""The rate-limit headers of an answer as numbers, so callers (batches, the gateway) can pace themselves."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RateLimit", "rate_limit_of"]


@dataclass(frozen=True)
class RateLimit:
    """The ``x-ratelimit-*`` headers of an answer: requests allowed, left, and seconds until a slot frees."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None


def rate_limit_of(headers: Mapping[str, str]) -> RateLimit | None:
    """The ``x-ratelimit-*`` headers as numbers (``reset`` may be written ``"1.5"`` or ``"1.5s"``)."""

    def number(name: str) -> float | None:
        raw = headers.get(name)
        if raw is None:
            return None
        try:
            value = float(raw.strip().removesuffix("s"))
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    limit, remaining, reset = (number(f"x-ratelimit-{k}") for k in ("limit", "remaining", "reset"))
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimit(
        None if limit is None else int(limit),
        None if remaining is None else int(remaining),
        reset,
    )
