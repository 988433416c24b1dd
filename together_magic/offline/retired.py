"""How the offline backend answers a retired model: as before, but saying so; or, strict, as the cloud does.

By default a retired id (``models.RETIRED``) still renders, so an old notebook runs, and the answer carries
``x-together-magic-retired: <id>; use <replacement>``. Strict (``serve --strict``, or a request with
``x-together-magic-strict: 1``, which ``Together(strict=True)`` and ``Imagine.strict`` send) answers it
exactly as Together's cloud does now, 404 ``model_not_available``, with the replacement named, so a CI run
proves a notebook will run on the cloud.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..models import ModelSpec, is_on
from .apierror import OfflineAPIError

__all__ = [
    "RETIRED_HEADER",
    "STRICT_HEADER",
    "not_available",
    "retired_headers",
    "wants_strict",
]

RETIRED_HEADER = "x-together-magic-retired"
STRICT_HEADER = "x-together-magic-strict"


def wants_strict(headers: Mapping[str, str]) -> bool:
    return is_on(headers.get(STRICT_HEADER))


def retired_headers(spec: ModelSpec) -> dict[str, str]:
    """The header a non-strict answer for a retired model carries (none for a listed one)."""
    if spec.replacement is None:
        return {}
    return {RETIRED_HEADER: f"{spec.id}; use {spec.replacement}"}


def not_available(spec: ModelSpec) -> OfflineAPIError:
    """The cloud's answer to a model it no longer serves, with what to use instead."""
    gone = spec.retirement
    instead = (
        f" Together no longer lists {spec.id} (as of {gone.learned}); use {gone.replacement}." if gone else ""
    )
    return OfflineAPIError(
        404,
        f"Unable to access model {spec.id}. Please visit https://api.together.ai/models to view the list of "
        f"supported models.{instead}",
        code="model_not_available",
    )
