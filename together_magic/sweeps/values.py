"""Values of ``--vary`` axes: the axis table, reading ``4,8,16`` / ``1..4`` / ``4:28:8`` / CSV text, and
typing each value for its axis (whole numbers, numbers, sizes, aspect ratios, model ids...).

Every mistake is one ``OptionError`` line naming ``--vary``, the axis and what is allowed.
"""

from __future__ import annotations

import csv
import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

from .. import models
from ..config import parse_size
from ..errors import OptionError
from ..generation.line import check_text

__all__ = ["ALIASES", "AXES", "quoted", "same", "split_values", "too_many", "typed", "value_text"]

AXES: dict[str, tuple[str, str | None, str]] = {
    "seed": ("int", None, "seed"),
    "steps": ("int", "steps", "steps"),
    "guidance": ("float", "guidance_scale", "guidance"),
    "width": ("int", None, "width"),
    "height": ("int", None, "height"),
    "size": ("size", None, "size"),
    "aspect_ratio": ("ratio", None, "aspect ratio"),
    "negative": ("text", "negative_prompt", "negative prompt"),
    "model": ("model", None, "model"),
    "lora": ("float", "image_loras", "LoRA scale"),
    "prompt": ("text", None, "prompt"),
    "format": ("format", "output_format", "format"),
    "upsample": ("bool", "prompt_upsampling", "upsample"),
}
ALIASES = {
    "cfg": "guidance",
    "guidance_scale": "guidance",
    "aspect-ratio": "aspect_ratio",
    "negative_prompt": "negative",
    "output_format": "format",
}
_RANGE = re.compile(r"^\s*([-+]?\d+)\s*\.\.\s*([-+]?\d+)\s*$")
_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_STEPPED = re.compile(rf"^{_NUMBER}:{_NUMBER}:{_NUMBER}$")
_PRESET = re.compile(r"^[124]K(\s+\d+:\d+)?$", re.IGNORECASE)
_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)
_BOOLS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def too_many(count: int | None, limit: int, where: str) -> OptionError:
    """The refusal above ``Imagine.max_sweep_images``, saying how to raise it where the user is
    (``count`` None: an endless or unsized iterable)."""
    shown = f"{count}" if count is not None else f"more than {limit}"
    count = count or limit * 2
    raise_it = {
        "notebook": f"%config Imagine.max_sweep_images = {count}",
        "cli": f"--max-images {count}",
        "python": f"max_images={count}",
    }.get(where, f"Imagine.max_sweep_images = {count}")
    return OptionError(
        f"--vary: this sweep makes {shown} images, more than Imagine.max_sweep_images ({limit}); "
        f"raise it with {raise_it} or use fewer values"
    )


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def value_text(value: Any) -> str:
    """A value as written in ``--vary`` and in headers: 7.0 is ``7``, True is ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


def quoted(text: str) -> str:
    """CSV quoting where reading back needs it (a comma, a quote, an empty value, outer spaces)."""
    if text == "" or text != text.strip() or any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return bool(a == b)
    return str(a) == str(b)


def split_values(name: str, spec: str, label: str, limit: int, where: str) -> list[Any]:
    """The typed text of the values: CSV items, and for numeric axes ``A..B`` and ``A:B:STEP`` ranges."""
    if not spec.strip():
        raise OptionError(f"{label}= has no values; e.g. --vary steps=2,4,8")
    check_text(spec, label)
    try:
        items = next(csv.reader([spec], skipinitialspace=True, strict=True))
    except csv.Error as exc:
        raise OptionError(f"{label}: could not read the values ({exc}); check the quotes") from None
    kind = AXES[name][0]
    if kind not in ("int", "float"):
        return items
    out: list[Any] = []
    for item in items:
        out.extend(_numbers(item, kind, label, limit, where))
    return out


def _numbers(item: str, kind: str, label: str, limit: int, where: str) -> list[Any]:
    span = _RANGE.match(item)
    if span:
        low, high = int(span.group(1)), int(span.group(2))
        direction = 1 if high >= low else -1
        count = abs(high - low) + 1
        if count > limit:
            raise too_many(count, limit, where)
        return list(range(low, high + direction, direction))
    stepped = _STEPPED.match(item)
    if stepped:
        start, stop, step = (float(g) for g in stepped.groups())
        if step == 0 or (stop - start) * step < 0:
            raise OptionError(f"{label}: {item.strip()} gives no values (START:STOP:STEP, e.g. 4:28:8)")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > limit:
            raise too_many(count, limit, where)
        values = [round(start + k * step, 10) for k in range(count)]
        if kind == "int" or all(float(g).is_integer() for g in (start, step)):
            if kind == "int" and not all(float(g).is_integer() for g in (start, stop, step)):
                raise OptionError(f"{label}: values must be whole numbers, got the range {item.strip()}")
            return [int(v) for v in values]
        return values
    return [item]


def typed(name: str, value: Any, label: str) -> Any:
    kind = AXES[name][0]
    text = value.strip() if isinstance(value, str) else None
    if value is None and name == "negative":
        return ""
    if kind == "int":
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
            return int(float(value))
        if text is not None and re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        raise OptionError(
            f"{label}: values must be whole numbers (e.g. 1,2,3 or 1..4 or 4:28:8), got {value!r}"
        )
    if kind == "float":
        number: float | None = None
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            number = float(value)
        elif text is not None:
            try:
                number = float(text)
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            raise OptionError(f"{label}: values must be numbers (e.g. 1,3.5,7 or 1:7:1.5), got {value!r}")
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _BOOLS:
            return _BOOLS[text.lower()]
        raise OptionError(f"{label}: values must be true or false, got {value!r}")
    if not isinstance(value, str):
        if kind == "size" and isinstance(value, Sequence) and len(value) == 2:
            return typed(name, f"{value[0]}x{value[1]}", label)
        raise OptionError(f"{label}: values must be text, got {type(value).__name__} {value!r}"[:200])
    return _text_value(name, check_text(value, label), label)


def _text_value(name: str, value: str, label: str) -> str:
    kind = AXES[name][0]
    stripped = value.strip()
    if kind == "size":
        sized = parse_size(stripped)
        if sized is not None:
            return f"{sized[0]}x{sized[1]}"
        if _PRESET.match(stripped):
            return " ".join(stripped.upper().split())
        raise OptionError(
            f"{label}: values must look like WIDTHxHEIGHT (e.g. 512x512,768x512), got {value!r}"
        )
    if kind == "ratio":
        if stripped not in models.ASPECT_RATIOS:
            raise OptionError(
                f"{label}: values must be among {', '.join(models.ASPECT_RATIOS)}, got {value!r}"
            )
        return stripped
    if kind == "format":
        lowered = stripped.lower()
        if lowered not in ("jpeg", "jpg", "png"):
            raise OptionError(f"{label}: values must be jpeg or png, got {value!r}")
        return "jpeg" if lowered == "jpg" else lowered
    if kind == "model":
        return _model_id(stripped, label)
    if name == "prompt" and not stripped:
        raise OptionError(f"{label}: a replacement must not be empty")
    return value if name == "negative" else stripped


def _model_id(value: str, label: str) -> str:
    """A catalogue id, or its short name (``FLUX.2-dev``); other ids with a ``/`` pass to the API."""
    if not value:
        raise OptionError(f"{label}: a model id must not be empty")
    if models.find_model(value) is not None:
        return value
    short = [spec.id for spec in models.MODELS.values() if spec.short_name.lower() == value.lower()]
    if short:
        return short[0]
    if "/" in value:
        return value
    guess = models.closest(value, models.MODELS)
    hint = f"did you mean {guess}? " if guess else ""
    raise OptionError(f"{label}: unknown model {value!r}; {hint}(together_magic.list_models() lists them)")
