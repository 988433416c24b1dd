"""Models Together no longer lists (2026-10-07): the cloud answers 404 ``model_not_available`` for them.

The offline backend still answers them, so an old notebook runs, but never as if current: each answer says
it is retired and names the replacement (``together-magic serve --strict`` answers 404 as the cloud does).
They keep the inputs and limits together-magic gave them before the 2026-10 catalogue, with the default
steps Together last documented for them. No source names a replacement for any of them: each one here is
our choice (``Retirement.chosen_by``), with the reason.
"""

from __future__ import annotations

from .listed import KONTEXT_RATIOS
from .sources import (
    CATALOGUE_AS_OF,
    DOMAINS,
    EARLIER,
    LISTING,
    OURS,
    SKILLS_2026_02,
    SKILLS_2026_06,
    SKILLS_2026_07,
)
from .spec import RETIRED, SIZE_RANGE, Limits, ModelSpec, Price, Retirement, inputs_of

__all__ = ["RETIRED_MODELS"]

_BFL = "black-forest-labs"
_FLUX1 = "steps guidance_scale output_format"
_OPEN = "steps guidance_scale negative_prompt output_format"
_DEV = f"{_BFL}/FLUX.2-dev"
_STEPS_WHY = "listed; documented steps, seed and n; Together's own scripts default to it"


def _retired(
    model_id: str,
    name: str,
    maker: str,
    inputs: str,
    *,
    replacement: str,
    reason: str,
    steps: int | None = None,
    steps_from: str = EARLIER,
    top: int = 50,
    loras: int = 0,
    ratios: tuple[str, ...] = (),
    unit: str = "megapixel",
    said_by: str = LISTING,
) -> ModelSpec:
    taken = inputs_of(model_id, inputs)
    limits = Limits(
        size=SIZE_RANGE,
        steps=(1, top) if "steps" in taken else None,
        default_steps=steps,
        loras=loras,
        aspect_ratios=ratios,
    )
    return ModelSpec(
        model_id,
        name,
        maker,
        taken,
        limits,
        Price(unit, None, EARLIER),
        status=RETIRED,
        retirement=Retirement(CATALOGUE_AS_OF, replacement, OURS, reason, said_by),
        source=EARLIER,
        facts=(("steps", steps_from),),
    )


RETIRED_MODELS: tuple[ModelSpec, ...] = (
    _retired(f"{_BFL}/FLUX.1-schnell", "FLUX.1 [schnell]", "Black Forest Labs",
             f"{_FLUX1} negative_prompt aspect_ratio", steps=4, steps_from=SKILLS_2026_07, top=12,
             ratios=KONTEXT_RATIOS, replacement=_DEV, reason=_STEPS_WHY),
    _retired(f"{_BFL}/FLUX.1-schnell-Free", "FLUX.1 [schnell] Free", "Black Forest Labs",
             f"{_FLUX1} negative_prompt", steps=4, steps_from=SKILLS_2026_07, top=4,
             replacement=_DEV, reason="as FLUX.1 [schnell]: in no dated list, only in the SDK's model names"),
    _retired(f"{_BFL}/FLUX.1-dev", "FLUX.1 [dev]", "Black Forest Labs",
             f"{_FLUX1} negative_prompt image_loras",
             steps=28, steps_from=SKILLS_2026_02, loras=2, replacement=_DEV,
             reason="its successor in the same family; takes steps and guidance_scale (no LoRAs)"),
    _retired(f"{_BFL}/FLUX.1-dev-lora", "FLUX.1 [dev] LoRA", "Black Forest Labs",
             f"{_FLUX1} negative_prompt image_loras", steps=28, steps_from=SKILLS_2026_06, loras=2,
             replacement=_DEV, said_by=DOMAINS,
             reason="LoRAs need a dedicated endpoint now; without LoRAs, FLUX.2 [dev] serverless"),
    _retired(f"{_BFL}/FLUX.1-kontext-dev", "FLUX.1 Kontext [dev]", "Black Forest Labs",
             f"{_FLUX1} aspect_ratio image_url", steps=28, steps_from=SKILLS_2026_02, ratios=KONTEXT_RATIOS,
             replacement=f"{_BFL}/FLUX.1-kontext-pro",
             reason="same family and inputs (image_url, aspect_ratio, 28 steps); Together recommends it"),
    _retired("google/imagen-4.0-preview", "Imagen 4.0 Preview", "Google", "", unit="image",
             replacement="google/flash-image-2.5", reason="Google; Together's alternative to its own pick"),
    _retired("google/imagen-4.0-fast", "Imagen 4.0 Fast", "Google", "", unit="image",
             replacement="google/flash-image-3.1-lite", reason="the lightest listed Google model by name"),
    _retired("google/imagen-4.0-ultra", "Imagen 4.0 Ultra", "Google", "", unit="image",
             replacement="google/gemini-3-pro-image", reason="the top Google tier, up to 4K"),
    _retired("HiDream-ai/HiDream-I1-Full", "HiDream-I1-Full", "HiDream", _OPEN, steps=50,
             replacement="Qwen/Qwen-Image", reason="an open-weight full-size model still listed"),
    _retired("HiDream-ai/HiDream-I1-Dev", "HiDream-I1-Dev", "HiDream", _OPEN, steps=28,
             replacement=_DEV, reason="a dev-tier model with documented steps"),
    _retired("HiDream-ai/HiDream-I1-Fast", "HiDream-I1-Fast", "HiDream", _OPEN, steps=16,
             replacement=_DEV, reason="documented low-step use (steps=4 in Together's example)"),
    _retired("Lykon/DreamShaper", "DreamShaper", "Lykon", _OPEN, steps=30,
             replacement="stabilityai/stable-diffusion-xl-base-1.0",
             reason="the closest listed Stable Diffusion model"),
    _retired("stabilityai/stable-diffusion-3-medium", "SD 3 Medium", "Stability AI", _OPEN, steps=28,
             replacement="stabilityai/stable-diffusion-xl-base-1.0",
             reason="the one listed Stability AI model"),
)  # fmt: skip
