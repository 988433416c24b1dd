"""The catalogue itself (listed models, then retired ones) and the questions every layer asks of it."""

from __future__ import annotations

import math
from collections.abc import Iterable

from .listed import LISTED_MODELS
from .retired import RETIRED_MODELS
from .sources import OURS
from .spec import ASPECT_RATIOS, Limits, ModelSpec

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "closest",
    "estimate_cost",
    "find_model",
    "listed_ids",
    "models_taking",
    "nearest_presets",
    "nearest_sizes",
    "retirement_notice",
    "size_for_aspect",
]

MODELS: dict[str, ModelSpec] = {spec.id: spec for spec in (*LISTED_MODELS, *RETIRED_MODELS)}
"""Every catalogued id, listed first (in Together's groups), then the retired ones."""

DEFAULT_MODEL = "black-forest-labs/FLUX.2-dev"
"""Listed, takes seed and steps (default 20), one of the cheapest known prices (per image): see README."""

_MEGAPIXEL = 1_000_000
"""Together's billing: "MP = Width x Height / 1,000,000" (models.md, 2026-10-07)."""


def find_model(model_id: str) -> ModelSpec | None:
    """The model with this id, listed or retired (``spec.status`` says which); Together's ids are
    case-sensitive, and so is this lookup. None: not catalogued (it may still exist on the cloud)."""
    return MODELS.get(model_id)


def listed_ids() -> list[str]:
    """The ids the cloud serves, in catalogue order."""
    return [spec.id for spec in MODELS.values() if spec.listed]


def models_taking(field: str) -> list[str]:
    """Ids of the listed models that take ``field``, for "models that do: ..." hints."""
    return [spec.id for spec in MODELS.values() if field in spec.inputs and spec.listed]


def retirement_notice(model_id: str) -> str | None:
    """The one line front ends show for a retired model (None for any other id)."""
    spec = find_model(model_id)
    if spec is None or spec.retirement is None:
        return None
    gone = spec.retirement
    chosen = " (our suggestion: no source names one)" if gone.chosen_by == OURS else ""
    return (
        f"{spec.id} is retired: Together no longer lists it (as of {gone.learned}) and the cloud answers "
        f"404 for it; use {gone.replacement} instead{chosen}"
    )


def closest(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The choice a mistyped ``word`` most likely meant (case-insensitive), or None."""
    import difflib  # only when a mistake is being explained: it costs %load_ext 10 ms

    options = list(choices)
    needle = word.lower().strip()
    if len(needle) >= 3:
        contained = [c for c in options if needle in c.lower()]
        if contained:
            return contained[0]
    maker, _, tail = needle.rpartition("/")
    if maker:
        # "black-forest-labs/FLUX.2-de": the maker must match; the model part is what is compared,
        # so a shared long prefix does not make every id of that maker look close.
        options = [c for c in options if c.lower().rpartition("/")[0] == maker] or options
    tails = {c.lower().rpartition("/")[2]: c for c in options}
    match = difflib.get_close_matches(tail, list(tails), n=1, cutoff=cutoff)
    return tails[match[0]] if match else None


def nearest_sizes(value: int, limits: Limits) -> list[int]:
    """The one or two valid sizes closest to ``value`` (below and above), for "try 496 or 504"."""
    low, high = limits.size
    step = limits.multiple
    below = max(low, min(high, value - value % step))
    below -= below % step
    while below < low:
        below += step
    above = below + step if below < value else below
    found = [s for s in (below, above) if low <= s <= high]
    return sorted(set(found)) or [low]


def nearest_presets(width: int, height: int, limits: Limits, count: int = 2) -> list[tuple[str, int, int]]:
    """The ``count`` preset sizes closest to ``width x height`` (shape first, then area): a "try ..."
    that only ever names sizes the model takes."""
    if width <= 0 or height <= 0:
        width, height = limits.presets[0][1:] if limits.presets else (1, 1)

    def distance(preset: tuple[str, int, int]) -> tuple[float, float]:
        _, w, h = preset
        return abs(math.log(w / h) - math.log(width / height)), abs(math.log(w * h / (width * height)))

    return sorted(limits.presets, key=distance)[:count]


def size_for_aspect(aspect_ratio: str) -> tuple[int, int] | None:
    return ASPECT_RATIOS.get(aspect_ratio)


def estimate_cost(
    model_id: str,
    width: int,
    height: int,
    steps: int | None = None,
    n: int = 1,
    prices: dict[str, float] | None = None,
) -> float | None:
    """Dollars for ``n`` images, or None when the model's price is unknown (not catalogued, not published,
    not served) and ``prices`` gives none.

    As Together bills (2026-10-07): per-megapixel models cost width x height / 1,000,000 x the price, more
    when steps exceed the default (in proportion); per-image models cost their price whatever the size (an
    estimate: the provider's charge varies). ``prices`` (model id -> dollars per MP or per image, as the
    model bills) overrides the catalogue, e.g. from ``Imagine.prices``.
    """
    spec = find_model(model_id)
    if spec is None:
        return None
    override = (prices or {}).get(model_id)
    amount = override if override is not None else spec.price.amount
    if amount is None:
        return None
    if spec.price.unit == "image":
        return round(amount * n, 6)
    factor = 1.0
    default = spec.limits.default_steps
    if steps is not None and default:
        factor = max(1.0, steps / default)
    return round(width * height / _MEGAPIXEL * amount * factor * n, 6)
