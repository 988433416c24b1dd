"""The one catalogue of Together's image models: every fact, limit, default and price lives in this wing.

The magic's checks, the panel's controls, ``--vary``, the offline backend's validation, ``together-magic info
--models`` and the README's model table all read it, so a limit is written once and they cannot disagree.

Each entry (``ModelSpec``) has a ``status`` (``listed``: in Together's list of 2026-10-07; ``retired``: no
longer listed, with a ``retirement`` naming the listed ``replacement``), the ``source`` its facts follow and
their date (``spec.as_of``, ``spec.cite(fact)`` -> ``Source``), and its billing (``spec.price``: unit,
amount or None when unpublished, and the amount's own source). ``find_model`` finds retired ids too.

Owns: ``spec`` (the NamedTuples and the common limits), ``sources`` (where facts come from), ``listed`` and
``retired`` (the rows), ``catalogue`` (``MODELS`` and the questions asked of it), ``ratelimit`` (the cloud's
other limit: its ``x-ratelimit-*`` headers as numbers). It imports nothing else of
the package, and nothing heavy: ``%load_ext`` imports it (NamedTuples, not dataclasses or pydantic; no I/O).
Unknown ids are not refused by the client: they pass through to the cloud untouched (only the offline
backend answers them with Together's 404).
"""

from __future__ import annotations

from .catalogue import (
    DEFAULT_MODEL,
    MODELS,
    closest,
    estimate_cost,
    find_model,
    listed_ids,
    models_taking,
    nearest_presets,
    nearest_sizes,
    retirement_notice,
    size_for_aspect,
)
from .sources import CATALOGUE_AS_OF, LORAS_DEPRECATED, SOURCES, Source
from .spec import (
    ASPECT_RATIOS,
    DEFAULT_GUIDANCE,
    DEFAULT_SIZE,
    DRAWN_SEED_RANGE,
    GUIDANCE_RANGE,
    IMAGE_INPUTS,
    INPUTS,
    LISTED,
    LORA_SCALE_RANGE,
    MAX_LORAS,
    MAX_REFERENCE_BYTES,
    MIN_RPM,
    N_RANGE,
    PROMPT_MAX,
    RETIRED,
    SEED_RANGE,
    SIZE_RANGE,
    STATUSES,
    STRICT_ENV,
    Limits,
    ModelSpec,
    Price,
    Retirement,
    is_on,
)

__all__ = [
    "ASPECT_RATIOS",
    "CATALOGUE_AS_OF",
    "DEFAULT_GUIDANCE",
    "DEFAULT_MODEL",
    "DEFAULT_SIZE",
    "DRAWN_SEED_RANGE",
    "GUIDANCE_RANGE",
    "IMAGE_INPUTS",
    "INPUTS",
    "LISTED",
    "LORAS_DEPRECATED",
    "LORA_SCALE_RANGE",
    "MAX_LORAS",
    "MAX_REFERENCE_BYTES",
    "MIN_RPM",
    "MODELS",
    "N_RANGE",
    "PRICES_AS_OF",
    "PROMPT_MAX",
    "RETIRED",
    "SEED_RANGE",
    "SIZE_RANGE",
    "SOURCES",
    "STATUSES",
    "STRICT_ENV",
    "Limits",
    "ModelSpec",
    "Price",
    "Retirement",
    "Source",
    "closest",
    "estimate_cost",
    "find_model",
    "is_on",
    "listed_ids",
    "models_taking",
    "nearest_presets",
    "nearest_sizes",
    "retirement_notice",
    "size_for_aspect",
]

PRICES_AS_OF = "2026-10-08"
"""The date of the newest price information: billing units per Together (2026-10-07), the three known
amounts per a third party (2026-10-08); Together publishes no amount. ``Imagine.prices`` overrides them."""
