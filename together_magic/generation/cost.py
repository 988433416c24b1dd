"""What work costs and what the session may still spend: list-price estimates and ``Imagine.budget``.

Prices come from the catalogue (``Imagine.prices`` overrides them). Every front end checks the budget here
before sending and charges here after an answer, so a cell, a sweep, the panel and a batch spend from one
purse and refuse with one sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import models
from ..config import Imagine
from ..errors import BudgetError
from ..types import ImageRequest

__all__ = ["Session", "charge", "check_budget", "part_cost", "session"]


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


@dataclass
class Session:
    """What this process has spent (estimated dollars) and how many requests it sent, for the budget."""

    spent: float = 0.0
    requests: int = 0


_session = Session()


def session() -> Session:
    return _session


def charge(cost: float | None, requests: int = 1) -> None:
    """Count answered requests and what they cost (None: a price we do not know adds nothing)."""
    if cost:
        _session.spent += cost
    _session.requests += requests


def check_budget(
    config: Imagine,
    cost: float | None,
    *,
    what: str = "this request",
    advice: str = "",
    parts: Sequence[ImageRequest] = (),
) -> None:
    """``BudgetError`` when ``cost`` would take the session past ``Imagine.budget`` (nothing is sent).

    An unknown cost (None: a model whose price nobody publishes, as for most of Together's) is refused
    under a budget, which could not count it, until ``Imagine.prices`` gives the model one; ``parts``
    lets the sentence name that model."""
    if config.budget is None:
        return
    if cost is None:
        model = next((p.model for p in parts if part_cost(p, config) is None), "MODEL")
        raise BudgetError(
            f"{what} uses {model if parts else 'a model'} whose price is unknown, so Imagine.budget cannot "
            f"count it: give it one with %config Imagine.prices = {{{model!r}: DOLLARS}} (per image or MP, "
            "as the model bills), or set Imagine.budget = None"
        )
    left = config.budget - _session.spent
    if cost > left + 1e-12:
        advice = advice or f"raise it with %config Imagine.budget = {config.budget * 2:g}"
        raise BudgetError(
            f"{what} would cost about ${cost:.4f} but the session budget has ${max(left, 0):.4f} of "
            f"${config.budget:.2f} left; {advice}"
        )
