"""The one catalogue of Together's image models: every limit, input, default and price lives here.

The magic's checks, the panel's controls, the offline backend's validation, ``together-magic info --models``
and the README's model table all read this module, so a limit is written once and they cannot disagree.

Sources (see the project's API notes): Together's 2026 documentation and skill reference (ids, the feature
matrix of which model takes ``image_url`` / ``reference_images`` / ``image_loras`` / ``guidance`` /
``negative_prompt`` / ``output_format`` / ``prompt_upsampling`` / ``aspect_ratio``, the 256-1920 size range,
FLUX.2's 512-2048 in steps of 16, Gemini 3 Pro Image's 1K/2K/4K presets) and its pricing page (dated below).
Where Together documents nothing for a model, the entry takes the common parameters only, so a request that
passes here is one the cloud accepts. Unknown ids are not refused by the client: they pass through to the
cloud untouched (only the offline backend answers them with Together's 404).

No I/O and nothing heavy: ``%load_ext`` imports this (NamedTuples, not dataclasses or pydantic).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_GUIDANCE",
    "DEFAULT_MODEL",
    "DEFAULT_SIZE",
    "DRAWN_SEED_RANGE",
    "GUIDANCE_RANGE",
    "IMAGE_INPUTS",
    "INPUTS",
    "MAX_REFERENCE_BYTES",
    "MIN_RPM",
    "MODELS",
    "N_RANGE",
    "PRICES_AS_OF",
    "PROMPT_MAX",
    "SEED_RANGE",
    "Limits",
    "ModelSpec",
    "Price",
    "closest",
    "estimate_cost",
    "find_model",
    "models_taking",
    "nearest_sizes",
    "size_for_aspect",
]

PRICES_AS_OF = "2026-05"
"""When the prices below were read from together.ai/pricing; ``Imagine.prices`` overrides them."""

SEED_RANGE = (0, 2**32 - 1)
DRAWN_SEED_RANGE = (0, 99_999)
"""Seeds drawn for the user (none given) have at most five digits, so a class can read them aloud."""
N_RANGE = (1, 4)
GUIDANCE_RANGE = (0.0, 30.0)
DEFAULT_GUIDANCE = 3.5
DEFAULT_SIZE = (1024, 1024)
PROMPT_MAX = 10_000
MIN_RPM = 1 / 60
"""The slowest batch pace accepted (one request an hour): a slower one would wait for days without a word."""
MAX_REFERENCE_BYTES = 20_000_000
"""Together accepts reference images (``image_url``, each of ``reference_images``) up to 20 MB."""
MAX_LORAS = 2
"""The most ``image_loras`` any model takes (the per-model figure is ``Limits.loras``)."""
LORA_SCALE_RANGE = (0.0, 2.0)
"""Accepted LoRA scales; Together advises 0.3-1.2."""

# aspect_ratio -> the standard size Together renders for it when no width/height is sent.
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "4:3": (1184, 864),
    "3:4": (864, 1184),
}

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
response_format and disable_safety_checker are taken by every model)."""


class Price(NamedTuple):
    """Together's list price: per megapixel at the default steps (FLUX and other open models) or per image."""

    per_mp: float | None = None
    per_image: float | None = None


class Limits(NamedTuple):
    """What one model accepts. Ranges are inclusive."""

    n: tuple[int, int] = N_RANGE
    size: tuple[int, int] = (256, 1920)
    multiple: int = 8
    presets: tuple[tuple[str, int, int], ...] = ()
    """Fixed sizes (label, width, height); when set, width and height must be one of them."""
    steps: tuple[int, int] | None = None
    """None: the model takes no ``steps``."""
    default_steps: int | None = None
    guidance: tuple[float, float] = GUIDANCE_RANGE
    seed: tuple[int, int] = SEED_RANGE
    loras: int = 0
    """How many ``image_loras`` it takes (0: none)."""
    upsample: bool = False
    """What the model does when a request leaves ``prompt_upsampling`` out (FLUX.2: true, per Together)."""


class ModelSpec(NamedTuple):
    id: str
    display_name: str
    maker: str
    inputs: frozenset[str]
    limits: Limits
    price: Price
    legacy: bool = False
    """Older ids that still answer but are no longer listed by Together."""

    def takes(self, field: str) -> bool:
        return field in self.inputs

    @property
    def short_name(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    # Shortcuts used everywhere a single figure is wanted.
    @property
    def default_steps(self) -> int | None:
        return self.limits.default_steps

    @property
    def max_n(self) -> int:
        return self.limits.n[1]


def _gemini_presets() -> tuple[tuple[str, int, int], ...]:
    base = {
        "1:1": (1024, 1024),
        "2:3": (848, 1264),
        "3:2": (1264, 848),
        "3:4": (896, 1200),
        "4:3": (1200, 896),
        "9:16": (768, 1376),
        "16:9": (1376, 768),
        "21:9": (1536, 672),
    }
    return tuple(
        (f"{label} {ratio}", w * factor, h * factor)
        for label, factor in (("1K", 1), ("2K", 2), ("4K", 4))
        for ratio, (w, h) in base.items()
    )


_BFL = "black-forest-labs"
_F1 = "steps guidance_scale output_format"  # FLUX.1-style inputs
_F2 = "output_format prompt_upsampling reference_images"  # FLUX.2-style inputs
_OPEN = "steps guidance_scale negative_prompt output_format"  # open diffusion models
_F2_SIZE = "512-2048/16"
_UPSAMPLED_BY_DEFAULT = frozenset({f"{_BFL}/FLUX.2-pro", f"{_BFL}/FLUX.2-dev", f"{_BFL}/FLUX.2-flex"})
"""Together documents ``prompt_upsampling`` as default true for FLUX.2; the other models that take it
(FLUX1.1 [pro], Kontext) leave the prompt alone unless asked."""

# One row per model: id, display name, maker, optional inputs, price ($/MP "mp" or $/image "img"),
# default steps (and the step range when it is not 1-50), sizes "min-max/multiple" ("" = 256-1920/8),
# LoRAs taken, legacy (still answered, no longer listed).
_ROWS: list[tuple[str, str, str, str, float, str, int | None, str, str, int, bool]] = [
    (f"{_BFL}/FLUX.1-schnell", "FLUX.1 [schnell]", "Black Forest Labs",
     f"{_F1} negative_prompt aspect_ratio", 0.0027, "mp", 4, "1-12", "", 0, False),
    (f"{_BFL}/FLUX.1.1-pro", "FLUX1.1 [pro]", "Black Forest Labs",
     "output_format prompt_upsampling", 0.04, "mp", None, "", "", 0, False),
    (f"{_BFL}/FLUX.1-kontext-pro", "FLUX.1 Kontext [pro]", "Black Forest Labs",
     f"{_F1} aspect_ratio image_url prompt_upsampling", 0.04, "mp", 28, "", "", 0, False),
    (f"{_BFL}/FLUX.1-kontext-max", "FLUX.1 Kontext [max]", "Black Forest Labs",
     f"{_F1} aspect_ratio image_url prompt_upsampling", 0.08, "mp", 28, "", "", 0, False),
    (f"{_BFL}/FLUX.2-pro", "FLUX.2 [pro]", "Black Forest Labs",
     f"{_F2} image_url", 0.03, "mp", None, "", _F2_SIZE, 0, False),
    (f"{_BFL}/FLUX.2-dev", "FLUX.2 [dev]", "Black Forest Labs",
     f"{_F2} steps guidance image_loras", 0.0154, "mp", 28, "", _F2_SIZE, 2, False),
    (f"{_BFL}/FLUX.2-flex", "FLUX.2 [flex]", "Black Forest Labs",
     f"{_F2} steps guidance image_url", 0.03, "mp", 28, "", _F2_SIZE, 0, False),
    ("google/imagen-4.0-preview", "Imagen 4 Preview", "Google", "", 0.04, "img", None, "", "", 0, False),
    ("google/imagen-4.0-fast", "Imagen 4 Fast", "Google", "", 0.02, "img", None, "", "", 0, False),
    ("google/imagen-4.0-ultra", "Imagen 4 Ultra", "Google", "", 0.06, "img", None, "", "", 0, False),
    ("google/flash-image-2.5", "Gemini 2.5 Flash Image", "Google",
     "reference_images", 0.039, "img", None, "", "", 0, False),
    ("google/gemini-3-pro-image", "Gemini 3 Pro Image", "Google",
     "reference_images", 0.134, "img", None, "", "presets", 0, False),
    ("ByteDance-Seed/Seedream-4.0", "Seedream 4.0", "ByteDance",
     "guidance_scale", 0.03, "img", None, "", "", 0, False),
    ("ByteDance-Seed/Seedream-3.0", "Seedream 3.0", "ByteDance",
     "guidance_scale", 0.018, "img", None, "", "", 0, False),
    ("Qwen/Qwen-Image", "Qwen-Image", "Qwen", _OPEN, 0.0058, "mp", 50, "", "", 0, False),
    ("ideogram/ideogram-3.0", "Ideogram 3.0", "Ideogram",
     "negative_prompt", 0.06, "img", None, "", "", 0, False),
    ("HiDream-ai/HiDream-I1-Full", "HiDream-I1 Full", "HiDream", _OPEN, 0.009, "mp", 50, "", "", 0, False),
    ("HiDream-ai/HiDream-I1-Dev", "HiDream-I1 Dev", "HiDream", _OPEN, 0.0045, "mp", 28, "", "", 0, False),
    ("HiDream-ai/HiDream-I1-Fast", "HiDream-I1 Fast", "HiDream", _OPEN, 0.0032, "mp", 16, "", "", 0, False),
    ("RunDiffusion/Juggernaut-pro-flux", "Juggernaut Pro Flux", "RunDiffusion",
     _F1, 0.0049, "mp", 28, "", "", 0, False),
    ("Rundiffusion/Juggernaut-Lightning-Flux", "Juggernaut Lightning Flux", "RunDiffusion",
     _F1, 0.0017, "mp", 4, "1-12", "", 0, False),
    ("Lykon/DreamShaper", "DreamShaper", "Lykon", _OPEN, 0.0006, "mp", 30, "", "", 0, False),
    ("stabilityai/stable-diffusion-3-medium", "Stable Diffusion 3 Medium", "Stability AI",
     _OPEN, 0.0019, "mp", 28, "", "", 0, False),
    (f"{_BFL}/FLUX.1-dev", "FLUX.1 [dev]", "Black Forest Labs",
     f"{_F1} negative_prompt image_loras", 0.025, "mp", 28, "", "", 2, True),
    (f"{_BFL}/FLUX.1-dev-lora", "FLUX.1 [dev] LoRA", "Black Forest Labs",
     f"{_F1} negative_prompt image_loras", 0.035, "mp", 28, "", "", 2, True),
    (f"{_BFL}/FLUX.1-kontext-dev", "FLUX.1 Kontext [dev]", "Black Forest Labs",
     f"{_F1} aspect_ratio image_url", 0.025, "mp", 28, "", "", 0, True),
    (f"{_BFL}/FLUX.1-schnell-Free", "FLUX.1 [schnell] Free", "Black Forest Labs",
     f"{_F1} negative_prompt", 0.0, "mp", 4, "1-4", "", 0, True),
    ("stabilityai/stable-diffusion-xl-base-1.0", "Stable Diffusion XL 1.0", "Stability AI",
     _OPEN, 0.0019, "mp", 20, "", "256-1536/8", 0, True),
]  # fmt: skip


def _range(text: str, default: tuple[int, int]) -> tuple[int, int]:
    if not text:
        return default
    low, _, high = text.partition("-")
    return int(low), int(high)


def _spec(row: tuple[str, str, str, str, float, str, int | None, str, str, int, bool]) -> ModelSpec:
    model_id, name, maker, inputs, price, unit, default_steps, steps, sizes, loras, legacy = row
    taken = frozenset(inputs.split())
    unknown = taken - set(INPUTS)
    if unknown:  # a typo in the table above must not ship
        raise ValueError(f"{model_id}: unknown inputs {sorted(unknown)}")
    if sizes == "presets":
        presets = _gemini_presets()
        size, multiple = (min(min(w, h) for _, w, h in presets), max(max(w, h) for _, w, h in presets)), 16
    else:
        presets = ()
        span, _, step = sizes.partition("/")
        size, multiple = _range(span, (256, 1920)), int(step or 8)
    limits = Limits(
        size=size,
        multiple=multiple,
        presets=presets,
        steps=_range(steps, (1, 50)) if "steps" in taken else None,
        default_steps=default_steps,
        loras=loras,
        upsample=model_id in _UPSAMPLED_BY_DEFAULT,
    )
    cost = Price(per_mp=price) if unit == "mp" else Price(per_image=price)
    return ModelSpec(model_id, name, maker, taken, limits, cost, legacy)


MODELS: dict[str, ModelSpec] = {row[0]: _spec(row) for row in _ROWS}

DEFAULT_MODEL = f"{_BFL}/FLUX.1-schnell"


def find_model(model_id: str) -> ModelSpec | None:
    """The model with this id; Together's ids are case-sensitive, and so is this lookup."""
    return MODELS.get(model_id)


def models_taking(field: str) -> list[str]:
    """Ids of the current (non-legacy) models that take ``field``, for "use one of ..." hints."""
    return [spec.id for spec in MODELS.values() if field in spec.inputs and not spec.legacy]


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
        # "black-forest-labs/FLUX.1-schnel": the maker must match; the model part is what is compared,
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
    """Dollars for ``n`` images, or None when the model's price is unknown.

    FLUX-style pricing: megapixels x price per MP x (steps / default steps) when steps raise it; per-image
    models cost their price whatever the size. ``prices`` (model id -> dollars per MP or per image, as the
    model is priced) overrides the catalogue, e.g. from ``Imagine.prices``.
    """
    spec = find_model(model_id)
    override = (prices or {}).get(model_id)
    if spec is None:
        return None
    per_image = (
        override if override is not None and spec.price.per_image is not None else spec.price.per_image
    )
    if per_image is not None:
        return round(per_image * n, 6)
    per_mp = override if override is not None else spec.price.per_mp
    if per_mp is None:
        return None
    factor = 1.0
    default = spec.limits.default_steps
    if steps is not None and default:
        factor = max(1.0, steps / default)
    return round(width * height / 2**20 * per_mp * factor * n, 6)  # 1024x1024 is one megapixel
