"""The 26 models Together lists on 2026-10-07, each with exactly what Together documents for it.

Every model takes the common parameters: prompt, n (1-4), width and height (256-1920, multiples of 8), seed,
response_format and disable_safety_checker. Beyond them an entry takes only what the 2026-10-07 reference
names for it (the feature matrix and the per-model lists of api-reference.md and models.md); a model with
nothing documented takes the common parameters only, so a request that passes here is one the cloud takes.
Prices: Together's dated sources publish none; the three known amounts are a third party's (2026-10-08),
every other is ``None`` (not published) and estimates leave it out rather than guess.
"""

from __future__ import annotations

from .sources import LISTING, OURS, SCRIPTS, THIRD_PARTY_PRICES
from .spec import DEFAULT_GUIDANCE, SIZE_RANGE, Limits, ModelSpec, Price, inputs_of

__all__ = ["GEMINI_SIZES", "KONTEXT_RATIOS", "LISTED_MODELS"]

_BFL = "black-forest-labs"
KONTEXT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:2")
"""``aspect_ratio`` on Kontext: "Kontext output size: 1:1, 16:9, 9:16, 4:3, 3:2" (api-reference)."""
_GEMINI_1K = (
    ("1:1", 1024, 1024),
    ("3:2", 1248, 832),
    ("2:3", 832, 1248),
    ("4:3", 1184, 864),
    ("3:4", 864, 1184),
    ("4:5", 896, 1152),
    ("5:4", 1152, 896),
    ("9:16", 768, 1344),
    ("16:9", 1344, 768),
    ("21:9", 1536, 672),
)
GEMINI_SIZES = tuple(
    (f"{tier} {ratio}", w * factor, h * factor)
    for tier, factor in (("1K", 1), ("2K", 2), ("4K", 4))
    for ratio, w, h in _GEMINI_1K
)
"""Gemini 3 Pro Image's 30 sizes, in models.md's order: 1K, then 2K (each doubled) and 4K (each x4). The
tiers and sizes are Together's; the ratio in each label is ours (the nearest common ratio)."""

_MP = "megapixel"
_IMG = "image"


def _model(
    model_id: str,
    name: str,
    maker: str,
    inputs: str = "",
    *,
    unit: str = _IMG,
    price: float | None = None,
    steps: int | None = None,
    upsample: bool = False,
    presets: tuple[tuple[str, int, int], ...] = (),
    ratios: tuple[str, ...] = (),
    facts: tuple[tuple[str, str], ...] = (),
    notes: tuple[str, ...] = (),
) -> ModelSpec:
    """One listed entry. ``steps``: the default steps of a model that takes steps (1-50, the generic range:
    no model's own range is documented). ``guidance_scale`` defaults to 3 ("default 3; FLUX.2 dev/flex")."""
    taken = inputs_of(model_id, inputs)
    if ("steps" in taken) != (steps is not None):
        raise ValueError(f"{model_id}: a model that takes steps needs its default steps, and only it")
    if presets:
        sides = [side for _, w, h in presets for side in (w, h)]
        size, multiple = (min(sides), max(sides)), 16
    else:
        size, multiple = SIZE_RANGE, 8
    limits = Limits(
        size=size,
        multiple=multiple,
        presets=presets,
        steps=(1, 50) if steps is not None else None,
        default_steps=steps,
        default_guidance=3.0 if "guidance_scale" in taken else DEFAULT_GUIDANCE,
        upsample=upsample,
        aspect_ratios=ratios,
    )
    source = THIRD_PARTY_PRICES if price is not None else LISTING
    return ModelSpec(
        model_id,
        name,
        maker,
        taken,
        limits,
        Price(unit, price, source),
        facts=(("status", LISTING), *facts),
        notes=notes,
    )


_FLUX2_STEPS = (("steps", OURS),)
_PARTNER = "partner-hosted: the cloud answers 403 third_party_data_sharing_blocked unless the organisation "
_PARTNER += "enables third-party data sharing"
_DEV_STEPS = "default steps not documented: 20, as Together's own scripts use (our choice)"

LISTED_MODELS: tuple[ModelSpec, ...] = (
    _model(f"{_BFL}/FLUX.2-dev", "FLUX.2 [dev]", "Black Forest Labs",
           "steps guidance_scale reference_images output_format", steps=20, price=0.0154,
           facts=(("steps", SCRIPTS),),
           notes=(_DEV_STEPS, "guidance_scale default 3 (OpenAPI 2026-04-28 said 3.5)", _PARTNER)),
    _model(f"{_BFL}/FLUX.2-flex", "FLUX.2 [flex]", "Black Forest Labs",
           "steps guidance_scale image_url reference_images output_format", steps=20, facts=_FLUX2_STEPS,
           notes=("default steps not documented: 20, as FLUX.2 [dev] (our choice)", _PARTNER)),
    _model(f"{_BFL}/FLUX.2-pro", "FLUX.2 [pro]", "Black Forest Labs",
           "image_url reference_images prompt_upsampling output_format", upsample=True,
           notes=("up to 9 MP output per Together, but no side limit is documented: we keep 256-1920 "
                  "(our choice, conservative)", _PARTNER)),
    _model(f"{_BFL}/FLUX.2-max", "FLUX.2 [max]", "Black Forest Labs", "output_format", unit=_MP,
           notes=("the feature matrix's FLUX.2 column says reference_images, the per-model list does not "
                  "name [max]: not taken",)),
    _model(f"{_BFL}/FLUX.1.1-pro", "FLUX1.1 [pro]", "Black Forest Labs",
           "negative_prompt output_format", unit=_MP),
    _model(f"{_BFL}/FLUX.1-kontext-pro", "FLUX.1 Kontext [pro]", "Black Forest Labs",
           "steps aspect_ratio image_url output_format", unit=_MP, price=0.04, steps=28,
           ratios=KONTEXT_RATIOS, facts=(("steps", LISTING),),
           notes=("the pixel size of each aspect ratio is not documented: Together's standard sizes",)),
    _model(f"{_BFL}/FLUX.1-kontext-max", "FLUX.1 Kontext [max]", "Black Forest Labs",
           "steps aspect_ratio image_url output_format", unit=_MP, steps=28, ratios=KONTEXT_RATIOS,
           facts=(("steps", LISTING),)),
    _model("openai/gpt-image-2", "GPT Image 2", "OpenAI",
           notes=("Together's pick for text-to-image and image-to-image; which field carries the input "
                  "image is not documented",)),
    _model("openai/gpt-image-1.5", "GPT Image 1.5", "OpenAI"),
    _model("google/flash-image-2.5", "Flash Image 2.5 (Nano Banana)", "Google", "reference_images"),
    _model("google/gemini-3-pro-image", "Gemini 3 Pro Image (Nano Banana Pro)", "Google",
           "reference_images", presets=GEMINI_SIZES, facts=(("sizes", LISTING),),
           notes=("which field selects a size tier is not documented: width and height",)),
    _model("google/flash-image-3.1", "Gemini 3.1 Flash Image (Nano Banana 2)", "Google",
           notes=("the matrix's Google column says reference_images, the model list does not: not taken",)),
    _model("google/flash-image-3.1-lite", "Gemini 3.1 Flash-Lite Image (Nano Banana 2 Lite)", "Google"),
    _model("ByteDance/Seedream-5.0-lite", "Seedream 5.0 Lite", "ByteDance"),
    _model("ByteDance-Seed/Seedream-4.0", "Seedream 4.0", "ByteDance"),
    _model("ByteDance-Seed/Seedream-3.0", "Seedream 3.0", "ByteDance", price=0.018),
    _model("Qwen/Qwen-Image-2.0-Pro", "Qwen Image 2.0 Pro", "Qwen"),
    _model("Qwen/Qwen-Image-2.0", "Qwen Image 2.0", "Qwen"),
    _model("Qwen/Qwen-Image", "Qwen Image", "Qwen"),
    _model("Wan-AI/Wan2.6-image", "Wan 2.6 Image", "Wan-AI"),
    _model("ideogram/ideogram-4.0", "Ideogram 4.0", "Ideogram"),
    _model("ideogram/ideogram-3.0", "Ideogram 3.0", "Ideogram"),
    _model("prunaai/p-image-ideogram", "P-Image-Ideogram", "Pruna AI"),
    _model("RunDiffusion/Juggernaut-pro-flux", "Juggernaut Pro Flux", "RunDiffusion"),
    _model("Rundiffusion/Juggernaut-Lightning-Flux", "Juggernaut Lightning Flux", "RunDiffusion"),
    _model("stabilityai/stable-diffusion-xl-base-1.0", "SD XL", "Stability AI",
           notes=("listed 2026-02, replaced by a duplicated SD 3 Medium row 2026-03..07, listed again",)),
)  # fmt: skip
