"""Check a request body the way Together does and say what is wrong in Together's own words.

Everything a client can send arrives here as untrusted bytes; the only ways out are a ``Job`` or an
``OfflineAPIError`` carrying the status, type, param and message the real API would answer with. Every limit
comes from :mod:`together_magic.models`, the one catalogue, so the offline backend and the client's own
checks cannot drift apart.

The rules where Together's documentation is silent (the README states them too):
- Every field the API defines is type-checked on every model, as the API's schema is checked before the
  request reaches a model (``"steps": "x"`` is a 400 everywhere). Ranges and choices are the model's own.
- A non-image field a model does not take (``steps`` on GPT Image 2, ``negative_prompt`` on FLUX.2,
  ``aspect_ratio`` on Seedream...) is type-checked and then ignored, as the cloud ignores unknown fields. An
  image input it does not take (``image_url``, ``reference_images``, ``image_loras``; ``image_base64`` is
  the older spelling of ``image_url``) is refused with 400 ``Unsupported use of '<field>'``.
- Unknown fields are ignored; of duplicate JSON keys the last wins (as in every mainstream JSON parser);
  ``NaN``/``Infinity`` (not JSON) and numbers that do not fit a double are refused.
- ``guidance_scale`` is the one guidance field (FLUX.2 dev/flex included, default 3); the older spelling
  ``guidance`` is type-checked and ignored, as the cloud now ignores it.
- A retired model is answered from its former facts (see ``retired``), or, strict, with the cloud's 404.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..models import (
    ASPECT_RATIOS,
    DEFAULT_GUIDANCE,
    DEFAULT_SIZE,
    LORA_SCALE_RANGE,
    PROMPT_MAX,
    ModelSpec,
    find_model,
)
from .apierror import OfflineAPIError, invalid, is_int, is_number, parse_body
from .images import Reference, image_inputs
from .retired import not_available

__all__ = ["Job", "Lora", "OfflineAPIError", "Reference", "parse_body", "parse_job"]

_ECHO = 200
"""How much of a client's model id an error message repeats."""


@dataclass(frozen=True)
class Lora:
    path: str
    scale: float


@dataclass(frozen=True)
class Job:
    prompt: str
    model: ModelSpec
    n: int
    width: int
    height: int
    steps: int | None
    """None for models that take no steps."""
    seed: int
    negative_prompt: str
    guidance: float
    response_format: str
    output_format: str
    edits: tuple[Reference, ...] = ()
    """``image_url`` / ``image_base64``: the picture to edit."""
    references: tuple[Reference, ...] = ()
    """``reference_images``: pictures whose look guides the result."""
    loras: tuple[Lora, ...] = ()
    upsample: bool = False


def _int(body: dict[str, Any], name: str, allowed: tuple[int, int], what: str | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    low, high = allowed
    if not is_int(value) or not low <= value <= high:
        raise invalid(name, f"{what or name} must be an integer between {low} and {high}.")
    return int(value)


def _typed(body: dict[str, Any], name: str, kind: type, words: str) -> Any:
    value = body.get(name)
    if value is None:
        return None
    ok = (
        is_number(value)
        if kind is float
        else isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    )
    if not ok:
        raise invalid(name, f"{name} must be {words}.")
    return value


def _choice(body: dict[str, Any], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value.lower() not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise invalid(name, f"{name} must be one of {listed}.")
    return value.lower()


def _presets_text(spec: ModelSpec) -> str:
    """The presets by label, e.g. ``1K 1024x1024, 848x1264, ...; 2K and 4K the same times 2 and 4``."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for label, w, h in spec.limits.presets:
        groups.setdefault(label.split()[0], []).append((w, h))
    (first, base), *rest = groups.items()
    listed = f"{first} " + ", ".join(f"{w}x{h}" for w, h in base)
    factors = []
    for _, sizes in rest:
        factor = sizes[0][0] // base[0][0]
        factors.append(factor if sizes == [(w * factor, h * factor) for w, h in base] else None)
    if rest and None not in factors:
        names = " and ".join(label for label, _ in rest)
        return f"{listed}; {names} the same times {' and '.join(str(f) for f in factors)}"
    return "; ".join([listed, *(f"{label} " + ", ".join(f"{w}x{h}" for w, h in s) for label, s in rest)])


def _check_size(spec: ModelSpec, name: str, value: Any, why: str = "") -> int:
    low, high = spec.limits.size
    step = spec.limits.multiple
    if not is_int(value) or not low <= value <= high or value % step:
        label = "Image width" if name == "width" else "Image height"
        raise invalid(
            name, f"{label} must be an integer value between {low} and {high}, in multiples of '{step}'.{why}"
        )
    return int(value)


def _round_to(value: float, step: int) -> int:
    return max(step, round(value / step) * step)


def _size(body: dict[str, Any], spec: ModelSpec) -> tuple[int, int]:
    width, height = body.get("width"), body.get("height")
    ratio = _typed(body, "aspect_ratio", str, "a string")
    if ratio is not None and spec.takes("aspect_ratio"):
        allowed = spec.limits.aspect_ratios or tuple(ASPECT_RATIOS)
        if ratio not in allowed:
            listed = ", ".join(f"'{r}'" for r in allowed)
            raise invalid("aspect_ratio", f"aspect_ratio must be one of {listed}.")
        across, down = (int(part) for part in ratio.split(":"))
        if width is None and height is None:
            width, height = ASPECT_RATIOS[ratio]
        elif height is None:
            width = _check_size(spec, "width", width)
            height = _round_to(width * down / across, spec.limits.multiple)
            why = f" (height {height} follows from width {width} and aspect_ratio '{ratio}')"
            return width, _check_size(spec, "height", height, why)
        elif width is None:
            height = _check_size(spec, "height", height)
            width = _round_to(height * across / down, spec.limits.multiple)
            why = f" (width {width} follows from height {height} and aspect_ratio '{ratio}')"
            return _check_size(spec, "width", width, why), height
    width = DEFAULT_SIZE[0] if width is None else width
    height = DEFAULT_SIZE[1] if height is None else height
    presets = spec.limits.presets
    if not presets:
        return _check_size(spec, "width", width), _check_size(spec, "height", height)
    if any(width == w and height == h for _, w, h in presets):
        return int(width), int(height)
    bad = "height" if any(width == w for _, w, _ in presets) else "width"
    raise invalid(bad, f"{spec.id} takes only its preset sizes (width x height): {_presets_text(spec)}.")


def _loras(body: dict[str, Any], spec: ModelSpec) -> tuple[Lora, ...]:
    value = body.get("image_loras")
    if value is None:
        return ()
    low, high = LORA_SCALE_RANGE
    most = spec.limits.loras

    def ok(item: object) -> bool:
        return (
            isinstance(item, dict)
            and isinstance(item.get("path"), str)
            and bool(item["path"].strip())
            and is_number(item.get("scale"))
            and low <= item["scale"] <= high
        )

    if not isinstance(value, list) or len(value) > most or not all(ok(item) for item in value):
        raise invalid(
            "image_loras",
            f"image_loras must be a list of at most {most} objects "
            f'{{"path": "<LoRA URL or repository>", "scale": <number between {low:g} and {high:g}>}}.',
        )
    return tuple(Lora(item["path"], float(item["scale"])) for item in value)


def _guidance(body: dict[str, Any], spec: ModelSpec) -> float:
    low, high = spec.limits.guidance
    words = f"a number between {low:g} and {high:g}"
    _typed(body, "guidance", float, words)  # the older FLUX.2 spelling: checked, then ignored
    value = _typed(body, "guidance_scale", float, words)
    if not spec.takes("guidance_scale"):
        return DEFAULT_GUIDANCE
    if value is None:
        return spec.limits.default_guidance
    if not low <= value <= high:
        raise invalid("guidance_scale", f"guidance_scale must be a number between {low:g} and {high:g}.")
    return float(value)


def parse_job(body: Any, *, strict: bool = False) -> Job:
    """Validate a decoded JSON body in the order Together does: model first, then parameters. ``strict``:
    a retired model is the cloud's 404, not an answer."""
    if not isinstance(body, dict):
        raise OfflineAPIError(400, "Request body must be a JSON object.")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise invalid("model", "model must be a non-empty string naming an image model.")
    spec = find_model(model_id)
    if spec is None:
        shown = model_id if len(model_id) <= _ECHO else model_id[:_ECHO] + "..."
        raise OfflineAPIError(
            404,
            f"Unable to access model {shown}. Please visit https://api.together.ai/models to view "
            "the list of supported models.",
            code="model_not_available",
        )
    if strict and spec.retired:
        raise not_available(spec)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("prompt", "prompt must be a non-empty string.")
    if len(prompt) > PROMPT_MAX:
        raise invalid("prompt", f"prompt must be at most {PROMPT_MAX} characters.")
    edits, references = image_inputs(body, spec)
    loras = _loras(body, spec)
    n = _int(body, "n", spec.limits.n) or 1
    width, height = _size(body, spec)
    if spec.limits.steps is None:
        _typed(body, "steps", int, "an integer")
        steps = None  # the model takes no steps: ignored, as the cloud ignores fields a model does not use
    else:
        steps = _int(body, "steps", spec.limits.steps, f"steps for {spec.id}")
        if steps is None:
            steps = spec.limits.default_steps or spec.limits.steps[1]
    seed = _int(body, "seed", spec.limits.seed)
    if seed is None:
        seed = random.SystemRandom().randint(*spec.limits.seed)
    negative = _typed(body, "negative_prompt", str, "a string")
    upsample = _typed(body, "prompt_upsampling", bool, "true or false")
    _typed(body, "disable_safety_checker", bool, "true or false")
    response_format = _choice(body, "response_format", "url", ("base64", "url"))
    output_format = _choice(body, "output_format", "jpeg", ("jpeg", "png"))
    return Job(
        prompt=prompt,
        model=spec,
        n=n,
        width=width,
        height=height,
        steps=steps,
        seed=seed,
        negative_prompt=(negative or "") if spec.takes("negative_prompt") else "",
        guidance=_guidance(body, spec),
        response_format=response_format,
        output_format=output_format if spec.takes("output_format") else "jpeg",
        edits=edits,
        references=references,
        loras=loras,
        upsample=(spec.limits.upsample if upsample is None else upsample) and spec.takes("prompt_upsampling"),
    )
