"""``ImagineOptions`` -> ``Plan``: a checked ``ImageRequest`` (or one per image) and what to do with it.

This is where the catalogue's limits meet the user's options. Everything a user can get wrong for the model
they chose is caught here as one ``OptionError`` line that names the option, the allowed values and, when
there is one, a suggestion ("--size 500x500: ... try 496x496 or 504x504"). Explicit options the model does
not take are errors; configured defaults it does not take are simply not sent. Unknown model ids pass through
untouched (Together may know models this catalogue does not).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from .. import models
from ..config import Imagine, parse_size
from ..errors import OptionError
from ..types import ImageRequest
from .cost import part_cost
from .flags import FIELD_OPTIONS
from .inputs import resolve
from .line import check_text
from .options import ImagineOptions, from_request
from .saving import read_recipe
from .values import json_problem

__all__ = ["Plan", "Saved", "build_plan", "merge_from", "missing_input", "read_saved", "saved_of"]


@dataclass(frozen=True)
class Plan:
    """What to send and what to do with the answer.

    ``request`` is the request as the user expressed it (``n`` images, seed S); ``parts`` is what is sent:
    the request itself, or, with ``Imagine.split_n``, one single-image request per image seeded S, S+1, ...
    so each image can be reproduced alone.
    """

    request: ImageRequest
    parts: tuple[ImageRequest, ...]
    options: ImagineOptions
    out: str | None = None
    save: Path | None = None
    display: bool = True
    cache: bool = True
    cost: float | None = None


def _models_list(field: str) -> str:
    ids = models.models_taking(field)
    shown = ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
    return shown or "none of the catalogued models"


def _not_taken(option: str, field: str, spec: models.ModelSpec) -> OptionError:
    return OptionError(f"{option}: {spec.id} does not take {field}; models that do: {_models_list(field)}")


@dataclass(frozen=True)
class Saved:
    """A ``--from`` file, read once per cell: the recipe it holds and the name that messages quote."""

    name: str
    recipe: Mapping[str, Any]

    @property
    def sweep(self) -> dict[str, Any] | None:
        """The whole sweep a contact sheet records, or None for a single image's file."""
        found = self.recipe.get("sweep")
        return found if isinstance(found, dict) else None


def read_saved(path: str) -> Saved:
    """Read a ``--from`` file (an image saved by ``--save``, a contact sheet); ``OptionError`` in one line."""
    if not path.strip():
        raise OptionError("--from needs a path: an image saved with --save, or a sweep's contact sheet")
    try:
        recipe = read_recipe(path)
    except FileNotFoundError:
        raise OptionError(f"--from: no file {path[:80]!r}") from None
    except (ValueError, OSError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OptionError(f"--from: {Path(path).name or path}: {detail}") from None
    return Saved(Path(path).name or path, recipe)


def saved_of(options: ImagineOptions, saved: Saved | None = None) -> Saved | None:
    """What ``options.from_path`` holds: ``saved`` when the caller read it already, else read now."""
    if options.from_path is None:
        return None
    return saved if saved is not None else read_saved(options.from_path)


def merge_from(options: ImagineOptions, saved: Saved | None = None) -> ImagineOptions:
    """With ``--from PATH``: the saved request's options, overridden by what this line gives."""
    found = saved_of(options, saved)
    if found is None:
        return options
    payload = found.recipe.get("request")
    if not isinstance(payload, dict):
        raise OptionError(f"--from: {found.name} holds no generation parameters")
    base = from_request(payload)
    _need_inputs_again(found.recipe.get("omitted"), options)
    given = {
        name: value
        for name, value in vars(options).items()
        if value not in (None, ()) and name not in ("display", "cache", "interpolate")
    }
    return base.replace(
        **given, display=options.display, cache=options.cache, interpolate=options.interpolate
    )


def _need_inputs_again(omitted: Any, options: ImagineOptions) -> None:
    """A saved edit leaves its input image out of the file (it would double its size): ``--from`` asks
    for it again rather than send a text-to-image request in the edit's place."""
    flag = missing_input(omitted, options)
    if flag is not None:
        name = Path(options.from_path or "").name
        raise OptionError(
            f"--from: {name} was made from an uploaded image, which the file does not hold; "
            f"give it again with {flag} PATH"
        )


def missing_input(omitted: Any, options: ImagineOptions) -> str | None:
    """The flag that gives back an input image a saved recipe left out (``omitted`` names the fields, as
    ``saving.omitted_inputs`` wrote them), or None when ``options`` give back every kind left out: the
    image to edit by ``--image``, references by ``--reference`` (a model such as FLUX.2 flex takes both, so
    one cannot stand in for the other)."""
    names = {str(n) for n in omitted} if isinstance(omitted, list | tuple) else set()
    if {"image_url", "image_base64"} & names and options.image is None:
        return "--image"
    if "reference_images" in names and not options.references:
        return "--reference"
    return None


def _check_range(option: str, value: int | float, low: float, high: float, where: str) -> None:
    if not low <= value <= high:
        raise OptionError(f"{option} must be between {_num(low)} and {_num(high)}{where}, got {_num(value)}")


def _num(value: float) -> str:
    """Whole numbers in full (seeds are 10 digits), others short."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e30 else f"{value:g}"


def _size(options: ImagineOptions, spec: models.ModelSpec | None, config: Imagine) -> dict[str, Any]:
    """width/height (or aspect_ratio alone) checked against the model, with nearest valid sizes."""
    width, height, ratio = options.width, options.height, options.aspect_ratio
    if ratio is not None:
        allowed = _ratios(spec)
        if ratio not in allowed:
            where = f" for {spec.id}" if spec else ""
            raise OptionError(f"--aspect-ratio must be one of {', '.join(allowed)}{where}, got {ratio!r}")
    limits = spec.limits if spec else None
    typed = parse_size(options.size) if options.size is not None else None
    if typed is not None:
        width, height = typed
    elif options.size is not None:  # a preset label such as "2K"
        if spec is None or limits is None or not limits.presets:
            raise OptionError(
                f"--size {options.size}: preset sizes are for models such as google/gemini-3-pro-image"
            )
        label = options.size if " " in options.size else f"{options.size} {ratio or '1:1'}"
        found = [(w, h) for name, w, h in limits.presets if name == label]
        if not found:
            names = sorted({name.split()[0] for name, _, _ in limits.presets})
            raise OptionError(f"--size must be one of {', '.join(names)} for {spec.id}, got {options.size!r}")
        return {"width": found[0][0], "height": found[0][1]}
    if width is None and height is None:
        if ratio is not None:
            if spec is None or spec.takes("aspect_ratio"):
                return {"aspect_ratio": ratio}
            width, height = _ratio_size(ratio, spec)
        else:
            width, height = config.width, config.height
    elif width is None or height is None:
        if ratio is None:
            width = width if width is not None else config.width
            height = height if height is not None else config.height
        else:
            w, h = (int(x) for x in ratio.split(":"))
            step = limits.multiple if limits else 8
            width = width if width is not None else round((height or 0) * w / h / step) * step
            height = height if height is not None else round(width * h / w / step) * step
    if spec is not None:
        _check_size(options, spec, int(width), int(height))
    elif width <= 0 or height <= 0:
        raise OptionError(f"--size must be positive, got {width}x{height}")
    return {"width": int(width), "height": int(height)}


def _ratios(spec: models.ModelSpec | None) -> list[str]:
    """The ratios ``--aspect-ratio`` may name: those the model's ``aspect_ratio`` field takes (Kontext's
    five), else those of its preset sizes (Gemini 3 Pro Image), else the standard sizes' ratios."""
    if spec is not None and spec.takes("aspect_ratio") and spec.limits.aspect_ratios:
        return list(spec.limits.aspect_ratios)
    if spec is not None and spec.limits.presets:
        return list(dict.fromkeys(name.split()[1] for name, _, _ in spec.limits.presets))
    return list(models.ASPECT_RATIOS)


def _ratio_size(ratio: str, spec: models.ModelSpec) -> tuple[int, int]:
    """The size a model that takes no aspect_ratio should get for one: its preset, or the standard size."""
    for name, w, h in spec.limits.presets:
        if name == f"1K {ratio}":
            return w, h
    w, h = models.ASPECT_RATIOS[ratio]
    step = spec.limits.multiple
    return w - w % step, h - h % step


def _check_size(options: ImagineOptions, spec: models.ModelSpec, width: int, height: int) -> None:
    limits = spec.limits
    if limits.presets:
        if (width, height) not in {(w, h) for _, w, h in limits.presets}:
            tiers = "/".join(dict.fromkeys(name.split()[0] for name, _, _ in limits.presets))
            near = " or ".join(f"{w}x{h}" for _, w, h in models.nearest_presets(width, height, limits))
            raise OptionError(
                f"--size {width}x{height}: {spec.id} takes only its {len(limits.presets)} sizes ({tiers}); "
                f"try {near}, or --size {tiers.split('/')[-1]} with --aspect-ratio"
            )
        return
    low, high = limits.size
    bad = [
        (name, v)
        for name, v in (("width", width), ("height", height))
        if not low <= v <= high or v % limits.multiple
    ]
    if not bad:
        return
    rule = f"a multiple of {limits.multiple} between {low} and {high} for {spec.id}"
    ws, hs = models.nearest_sizes(width, limits), models.nearest_sizes(height, limits)
    pairs = zip(ws, hs, strict=True) if len(ws) == len(hs) else itertools.product(ws, hs)
    tries = [f"{w}x{h}" for w, h in pairs]
    if options.size is None:
        name, value = bad[0]
        near = " or ".join(str(v) for v in models.nearest_sizes(value, limits))
        raise OptionError(f"--{name} must be {rule}, got {value}; try {near}")
    raise OptionError(
        f"--size {width}x{height}: width and height must each be {rule}; try {' or '.join(tries)}"
    )


def _fields(
    options: ImagineOptions, spec: models.ModelSpec | None, config: Imagine, ns: Mapping[str, Any]
) -> dict[str, Any]:
    """The model-dependent optional fields, explicit options checked, defaults sent only if taken."""
    takes = spec.takes if spec else (lambda field: True)
    where = f" for {spec.id}" if spec else ""
    fields: dict[str, Any] = {}
    if options.steps is not None:
        if spec and not spec.takes("steps"):
            raise _not_taken("--steps", "steps", spec)
        if spec and spec.limits.steps:
            _check_range("--steps", options.steps, *spec.limits.steps, where)
        fields["steps"] = options.steps
    elif config.steps is not None and takes("steps"):
        top = spec.limits.steps[1] if spec and spec.limits.steps else config.steps
        fields["steps"] = min(config.steps, top)
    # guidance_scale is the field on every model that takes guidance (FLUX.2 dev/flex too: their older
    # "guidance" spelling may silently do nothing on the cloud now).
    if options.guidance is not None:
        if spec and not spec.takes("guidance_scale"):
            raise _not_taken("--guidance", "guidance_scale", spec)
        _check_range(
            "--guidance", options.guidance, *(spec.limits.guidance if spec else models.GUIDANCE_RANGE), where
        )
        fields["guidance_scale"] = options.guidance
    elif config.guidance is not None and takes("guidance_scale"):
        fields["guidance_scale"] = config.guidance
    for option, field, value in (
        ("--negative", "negative_prompt", options.negative),
        ("--format", "output_format", options.format),
        ("--upsample", "prompt_upsampling", options.upsample),
    ):
        if value is not None:
            if spec and not spec.takes(field):
                raise _not_taken(option, field, spec)
            fields[field] = value
    if options.image is not None:
        target = "image_url" if (spec is None or spec.takes("image_url")) else "reference_images"
        if spec and not spec.takes(target):
            models_ = sorted(
                set(models.models_taking("image_url")) | set(models.models_taking("reference_images"))
            )
            raise OptionError(
                f"--image: {spec.id} takes no image input; models that do: {', '.join(models_[:6])} ..."
            )
        url = resolve(options.image, ns, "--image")
        fields[target] = url if target == "image_url" else [url]
    if options.references:
        if spec and not spec.takes("reference_images"):
            raise _not_taken("--reference", "reference_images", spec)
        fields["reference_images"] = [
            *fields.get("reference_images", []),
            *(resolve(r, ns, "--reference") for r in options.references),
        ]
    if options.loras:
        if spec and not spec.takes("image_loras"):
            if not models.models_taking("image_loras"):  # no listed model does: say why, not "use X"
                raise OptionError(f"--lora: {models.LORAS_DEPRECATED}; {spec.id} takes none, drop --lora")
            raise _not_taken("--lora", "image_loras", spec)
        top = spec.limits.loras if spec else models.MAX_LORAS
        if len(options.loras) > top:
            raise OptionError(f"--lora: at most {top} LoRAs{where}, got {len(options.loras)}")
        low, high = models.LORA_SCALE_RANGE
        loras = []
        for path, scale in options.loras:
            _check_range(f"--lora {path[:40]}", scale, low, high, " (0.3-1.2 advised)")
            loras.append({"path": path, "scale": scale})
        fields["image_loras"] = loras
    return fields


def build_plan(
    options: ImagineOptions,
    *,
    config: Imagine,
    namespace: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
    saved: Saved | None = None,
) -> Plan:
    """Turn typed options into a checked request and its handling (``OptionError`` on any mistake).

    ``saved``: the ``--from`` file when the caller has read it already (it is read once per cell)."""
    options = merge_from(options, saved)
    ns = namespace or {}
    prompt = (options.prompt or "").strip()
    if not prompt:
        raise OptionError("the prompt is empty: write it in the cell body (or quote it after %imagine)")
    check_text(prompt, "the prompt")
    if len(prompt) > models.PROMPT_MAX:
        raise OptionError(
            f"the prompt is {len(prompt):,} characters; at most {models.PROMPT_MAX:,} are accepted"
        )
    model = options.model or config.model
    spec = models.find_model(model)
    where = f" for {spec.id}" if spec else ""
    n = options.n if options.n is not None else config.n
    _check_range("--n", n, *(spec.limits.n if spec else models.N_RANGE), where)
    seed = options.seed
    low, high = models.SEED_RANGE
    if seed is None:
        seed = (rng or random.SystemRandom()).randint(*models.DRAWN_SEED_RANGE)
    _check_range("--seed", seed, low, high, "")
    fields: dict[str, Any] = {"prompt": prompt, "model": model, "seed": seed, "n": n}
    fields.update(_size(options, spec, config))
    fields["response_format"] = config.response_format
    fields.update(_fields(options, spec, config, ns))
    fields.update(dict(options.params))
    given = dict(options.params)
    for name, value in fields.items():
        problem = json_problem(value)
        if problem is not None:
            option = f"-p {name}" if name in given else FIELD_OPTIONS.get(name, f"-p {name}")
            raise OptionError(f"{option}: {problem}")
    try:
        request = ImageRequest(**fields)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first.get("loc") else "?"
        option = FIELD_OPTIONS.get(name, f"-p {name}")
        raise OptionError(f"{option}: {first['msg']}, got {str(first.get('input'))[:60]!r}") from None
    parts = _split(request, config.split_n)
    save = options.save or config.save_dir or None
    cost = part_cost(request, config)
    return Plan(
        request=request,
        parts=parts,
        options=options,
        out=options.out,
        save=Path(save).expanduser() if save else None,
        display=options.display,
        # Strict: a retired model is asked again, never answered from the store, so it gets the cloud's 404.
        cache=config.cache and options.cache and not (config.strict and spec is not None and spec.retired),
        cost=cost,
    )


def _split(request: ImageRequest, split: bool) -> tuple[ImageRequest, ...]:
    """One single-image request per image, seeded S, S+1, ... (wrapping within the seed range)."""
    if not split or request.n <= 1 or request.seed is None:
        return (request,)
    top = models.SEED_RANGE[1] + 1
    return tuple(
        request.model_copy(update={"n": 1, "seed": (request.seed + k) % top}) for k in range(request.n)
    )
