"""The Together image models the offline backend answers for, with the limits the real API enforces.

Figures come from Together's docs and recorded responses (see the project's API notes): default steps,
accepted step range, size range and the multiple sizes must be of. Where Together publishes nothing the
values are the ones its examples use, so a request that works offline also works in the cloud.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "find_model"]


class ModelSpec(NamedTuple):  # a NamedTuple, not a dataclass: %load_ext imports this, so it must be cheap
    id: str
    display_name: str
    default_steps: int
    max_steps: int
    min_size: int = 256
    max_size: int = 1792
    size_multiple: int = 8
    max_n: int = 4
    reference_image: bool = False  # takes image_url / image_base64 / reference_images


_BFL = "black-forest-labs"

MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(f"{_BFL}/FLUX.1-schnell", "FLUX.1 [schnell]", default_steps=4, max_steps=12),
        ModelSpec(f"{_BFL}/FLUX.1-schnell-Free", "FLUX.1 [schnell] Free", default_steps=4, max_steps=4),
        ModelSpec(f"{_BFL}/FLUX.1-dev", "FLUX.1 [dev]", default_steps=28, max_steps=50),
        ModelSpec(f"{_BFL}/FLUX.1-dev-lora", "FLUX.1 [dev] LoRA", default_steps=28, max_steps=50),
        ModelSpec(f"{_BFL}/FLUX.1-pro", "FLUX.1 [pro]", default_steps=28, max_steps=50),
        ModelSpec(f"{_BFL}/FLUX.1.1-pro", "FLUX1.1 [pro]", default_steps=28, max_steps=50),
        ModelSpec(f"{_BFL}/FLUX.1-kontext-dev", "FLUX.1 Kontext [dev]", 28, 50, reference_image=True),
        ModelSpec(f"{_BFL}/FLUX.1-kontext-pro", "FLUX.1 Kontext [pro]", 28, 50, reference_image=True),
        ModelSpec(f"{_BFL}/FLUX.1-kontext-max", "FLUX.1 Kontext [max]", 28, 50, reference_image=True),
        ModelSpec(f"{_BFL}/FLUX.2-dev", "FLUX.2 [dev]", 28, 50, 512, 2048, 16, reference_image=True),
        ModelSpec(f"{_BFL}/FLUX.2-pro", "FLUX.2 [pro]", 28, 50, 512, 2048, 16, reference_image=True),
        ModelSpec(f"{_BFL}/FLUX.2-flex", "FLUX.2 [flex]", 28, 50, 512, 2048, 16, reference_image=True),
        ModelSpec("stabilityai/stable-diffusion-xl-base-1.0", "Stable Diffusion XL 1.0", 20, 50, 256, 1536),
    )
}

DEFAULT_MODEL = f"{_BFL}/FLUX.1-schnell"


def find_model(model_id: str) -> ModelSpec | None:
    """The model with this id; Together's ids are case-sensitive, and so is this lookup."""
    return MODELS.get(model_id)
