"""What a request costs, estimated from the catalogue's list prices (``Imagine.prices`` overrides them)."""

from __future__ import annotations

from .. import models
from ..config import Imagine
from ..types import ImageRequest

__all__ = ["part_cost"]


def part_cost(part: ImageRequest, config: Imagine) -> float | None:
    """Dollars for this request's images, or None when the model's price is unknown."""
    payload = part.payload()
    steps = payload.get("steps")
    width, height = models.ASPECT_RATIOS.get(str(payload.get("aspect_ratio")), models.DEFAULT_SIZE)
    return models.estimate_cost(
        part.model,
        part.width or width,
        part.height or height,
        steps=steps if isinstance(steps, int) else None,
        n=part.n,
        prices=dict(config.prices),
    )
