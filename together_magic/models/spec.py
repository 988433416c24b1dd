"""The shapes of the catalogue (plain NamedTuples: ``%load_ext`` imports them) and the limits every model
shares. A figure here is the common rule; a model's own entry (``listed``, ``retired``) overrides it.
"""

from __future__ import annotations

from typing import NamedTuple

from .sources import API, OURS, SOURCES, Source

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_GUIDANCE",
    "DEFAULT_SIZE",
    "DRAWN_SEED_RANGE",
    "GUIDANCE_RANGE",
    "IMAGE_INPUTS",
    "INPUTS",
    "LISTED",
    "LORA_SCALE_RANGE",
    "MAX_LORAS",
    "MAX_REFERENCE_BYTES",
    "MIN_RPM",
    "N_RANGE",
    "PROMPT_MAX",
    "RETIRED",
    "SEED_RANGE",
    "SIZE_RANGE",
    "STATUSES",
    "STRICT_ENV",
    "Limits",
    "ModelSpec",
    "Price",
    "Retirement",
    "inputs_of",
    "is_on",
]

LISTED = "listed"
"""In Together's serverless image list of 2026-10-07: the cloud serves it."""
RETIRED = "retired"
"""No longer listed: the cloud answers 404 ``model_not_available``; offline still answers, saying so."""
STATUSES = (LISTED, RETIRED)
STRICT_ENV = "TOGETHER_MAGIC_STRICT"
"""``TOGETHER_MAGIC_STRICT=1``: clients, ``Imagine.strict`` and ``serve`` treat retired models as the cloud
does now (404), e.g. in CI; read by each of them through :func:`is_on`."""


def is_on(value: str | None) -> bool:
    """A switch's "yes" as an environment variable or header says it: ``1``, ``true``, ``yes``, ``on``."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


SEED_RANGE = (0, 2**32 - 1)
DRAWN_SEED_RANGE = (0, 99_999)
"""Seeds drawn for the user (none given) have at most five digits, so a class can read them aloud."""
N_RANGE = (1, 4)
"""``n``: "Number of images (1-4)" (api-reference, 2026-10-07)."""
SIZE_RANGE = (256, 1920)
"""``width``/``height``: "Image width in pixels (256-1920)", default 1024, multiples of 8 (api-reference)."""
GUIDANCE_RANGE = (0.0, 30.0)
"""Together documents no bounds ("1-5 creative, 8-10 faithful"): ours, wide enough never to refuse what the
cloud takes."""
DEFAULT_GUIDANCE = 3.5
"""``guidance_scale`` when a model's own default is not documented (OpenAPI, 2026-04-28)."""
DEFAULT_SIZE = (1024, 1024)
PROMPT_MAX = 10_000
MIN_RPM = 1 / 60
"""The slowest batch pace accepted (one request an hour): a slower one would wait for days without a word."""
MAX_REFERENCE_BYTES = 20_000_000
"""Together accepts reference images (``image_url``, each of ``reference_images``) up to 20 MB."""
MAX_LORAS = 2
"""The most ``image_loras`` any model ever took (the retired FLUX.1 [dev] family; ``Limits.loras``)."""
LORA_SCALE_RANGE = (0.0, 2.0)
"""Accepted LoRA scales; Together advised 0.3-1.2 while it served LoRAs."""

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "4:3": (1184, 864),
    "3:4": (864, 1184),
}
"""Together's "Standard (most models)" size for each ratio (models.md, 2026-10-07): what a model that takes
no ``aspect_ratio`` gets for ``--aspect-ratio``, and what one that takes it renders (offline). Which ratios
a model's ``aspect_ratio`` field accepts is ``Limits.aspect_ratios``."""

IMAGE_INPUTS = ("image_url", "reference_images", "image_loras")
"""Inputs a model that does not take them refuses (400 ``Unsupported use of '<field>'``)."""

INPUTS = (
    "steps",
    "negative_prompt",
    "guidance_scale",
    "guidance",
    "output_format",
    "prompt_upsampling",
    "aspect_ratio",
    *IMAGE_INPUTS,
)
"""The optional request fields that differ between models (prompt, model, n, width, height, seed,
response_format and disable_safety_checker are taken by every model). ``guidance`` is the older spelling of
``guidance_scale`` on FLUX.2 dev/flex (skills, 2026-06-01): no model takes it now; a client may still send
it."""


def inputs_of(model_id: str, text: str) -> frozenset[str]:
    """The optional inputs a catalogue row names (space-separated); a typo in a row must not ship."""
    taken = frozenset(text.split())
    unknown = taken - set(INPUTS)
    if unknown:
        raise ValueError(f"{model_id}: unknown inputs {sorted(unknown)}")
    return taken


class Price(NamedTuple):
    """How a model bills and, when anyone has published it, for how much.

    ``unit`` is Together's billing unit (2026-10-07): ``"megapixel"`` for the models it serves itself
    (FLUX1.1 [pro], FLUX.1 Kontext, FLUX.2 [max]; MP = width x height / 1,000,000, higher past the default
    steps) or ``"image"`` (an estimate: the provider's charge varies with resolution and quality).
    ``amount`` is dollars per unit, or None when no price is published; ``source`` says where it is from.
    """

    unit: str
    amount: float | None = None
    source: str = API

    @property
    def per_mp(self) -> float | None:
        return self.amount if self.unit == "megapixel" else None

    @property
    def per_image(self) -> float | None:
        return self.amount if self.unit == "image" else None

    @property
    def known(self) -> bool:
        return self.amount is not None

    @property
    def text(self) -> str:
        """``$0.0154/image (third-party, 2026-10-08)`` or ``per image, not published``."""
        unit = "MP" if self.unit == "megapixel" else "image"
        if self.amount is None:
            return f"per {unit}, not published"
        cited = SOURCES[self.source]
        basis = "third-party" if cited.third_party else "Together"
        return f"${self.amount:g}/{unit} ({basis}, {cited.date})"


class Limits(NamedTuple):
    """What one model accepts. Ranges are inclusive."""

    n: tuple[int, int] = N_RANGE
    size: tuple[int, int] = SIZE_RANGE
    multiple: int = 8
    presets: tuple[tuple[str, int, int], ...] = ()
    """Fixed sizes (label, width, height); when set, width and height must be one of them."""
    steps: tuple[int, int] | None = None
    """None: the model takes no ``steps``."""
    default_steps: int | None = None
    guidance: tuple[float, float] = GUIDANCE_RANGE
    default_guidance: float = DEFAULT_GUIDANCE
    """``guidance_scale`` when a request leaves it out (FLUX.2 dev/flex: 3, per Together 2026-10-07)."""
    seed: tuple[int, int] = SEED_RANGE
    loras: int = 0
    """How many ``image_loras`` it takes (0: none; no listed model takes any)."""
    upsample: bool = False
    """What the model does when a request leaves ``prompt_upsampling`` out (FLUX.2 [pro]: true)."""
    aspect_ratios: tuple[str, ...] = ()
    """The values its ``aspect_ratio`` field takes (Kontext: 1:1, 16:9, 9:16, 4:3, 3:2)."""


class Retirement(NamedTuple):
    """Why a model is retired and what to use instead."""

    learned: str
    """When we learned Together no longer lists it (ISO date)."""
    replacement: str
    """A listed model id to use instead."""
    chosen_by: str
    """``"together-magic"`` when no source names a replacement (our choice), else the source's key."""
    reason: str
    """Why this replacement (one line)."""
    source: str
    """The key (``SOURCES``) of the source that says it is no longer listed."""


class ModelSpec(NamedTuple):
    """One catalogue entry. ``status`` is ``listed`` or ``retired``; ``source`` is the key of the source its
    facts follow, ``facts`` names another source for single facts (``spec.cite("steps")``)."""

    id: str
    display_name: str
    maker: str
    inputs: frozenset[str]
    limits: Limits
    price: Price
    status: str = LISTED
    retirement: Retirement | None = None
    source: str = API
    facts: tuple[tuple[str, str], ...] = ()
    """(fact, source key) for facts that follow another source than ``source``: ``status``, ``inputs``,
    ``sizes``, ``steps``, ``guidance``, ``price``, ``replacement``."""
    notes: tuple[str, ...] = ()
    """What the sources leave open or contradict, and what we chose (shown by ``info --models``)."""

    def takes(self, field: str) -> bool:
        return field in self.inputs

    @property
    def listed(self) -> bool:
        return self.status == LISTED

    @property
    def retired(self) -> bool:
        return self.status == RETIRED

    @property
    def legacy(self) -> bool:
        """The older name of ``retired`` (kept for code that asked it)."""
        return self.retired

    @property
    def replacement(self) -> str | None:
        """The listed model to use instead of a retired one (None for a listed model)."""
        return self.retirement.replacement if self.retirement else None

    def cite(self, fact: str) -> Source:
        """The source a fact of this entry follows: its own for that fact, else the entry's."""
        if fact == "price":
            return SOURCES[self.price.source]
        if fact in ("status", "replacement") and self.retirement is not None:
            return SOURCES[OURS if fact == "replacement" else self.retirement.source]
        return SOURCES[dict(self.facts).get(fact, self.source)]

    @property
    def as_of(self) -> str:
        """The "source date": of the newest Together source this entry follows (its status included).
        Third-party prices carry their own date (``price.text``); our own choices have none."""
        keys = {self.source, self.price.source, *(key for _, key in self.facts)}
        if self.retirement is not None:
            keys.add(self.retirement.source)
        dated = [SOURCES[key] for key in keys]
        return max(s.date for s in dated if not (s.ours or s.third_party))

    @property
    def short_name(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    @property
    def default_steps(self) -> int | None:
        return self.limits.default_steps

    @property
    def max_n(self) -> int:
        return self.limits.n[1]
