"""What a request costs, estimated from the catalogue's list prices (``Imagine.prices`` overrides them)."""

from __future__ import annotations

from .. import models
from ..config import Imagine
from ..types import ImageRequest

__all__ = ["part_cost", "unpriced"]


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


def unpriced(parts: list[ImageRequest], config: Imagine) -> str | None:
    """Why a budget cannot count these requests (a model whose price is unknown), or None.

    A budget that let an unknown price through would not be one: such a request is refused under a budget
    until ``Imagine.prices`` gives the model a price (Together publishes no amount for most models)."""
    for part in parts:
        if part_cost(part, config) is None:
            return (
                f"{part.model} has no known price, so Imagine.budget cannot count it: give it one with "
                f"%config Imagine.prices = {{{part.model!r}: DOLLARS}} "
                "(per image or MP, as the model bills), "
                "or set Imagine.budget = None"
            )
    return None
