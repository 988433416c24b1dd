"""The axes of a ``--vary`` sweep: which knobs can be swept, how their values are written, how a value
becomes one cell's options.

``--vary steps=2,4,8`` (a comma list), ``--vary seed=1..4`` (whole numbers, both ends included),
``--vary steps=4:28:8`` (start:stop:step, AUTOMATIC1111's stepped range), ``--vary "negative=\\"\\",blurry"``
(CSV quoting, so a value may hold a comma; ``""`` is "no negative prompt"), ``--vary "seed={{ seeds }}"``
(any Python iterable from the notebook, evaluated here rather than pasted in as text, so a ``range`` or a
NumPy array works) and ``--vary prompt:fox=fox,owl,cat`` (search and replace in the prompt, A1111's
"Prompt S/R"; ``prompt=fox,owl,cat`` searches for the first value).

Every mistake is one ``OptionError`` line that names ``--vary``, the axis and what is allowed, before anything
is sent. What a *model* accepts for a value (steps 1-12, sizes in steps of 8...) stays with ``plan``, which
checks every cell.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import models
from ..config import parse_size
from ..errors import OptionError
from ..generation.line import interpolate
from ..generation.options import ImagineOptions
from .values import ALIASES, AXES, quoted, same, split_values, too_many, typed, value_text

__all__ = ["AXES", "Axis", "axes_for", "axis_names", "make_axis", "parse_axis", "too_many", "value_text"]

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)


def axis_names() -> list[str]:
    return list(AXES)


def axes_for(model_id: str) -> list[str]:
    """The axes a sweep with this model can take (the panel's choice of axis); unknown ids: all of them."""
    spec = models.find_model(model_id)
    if spec is None:
        return list(AXES)
    return [name for name, (_, field, _) in AXES.items() if field is None or spec.takes(field)]


@dataclass(frozen=True)
class Axis:
    """One swept knob: ``name`` (a key of ``AXES``), its ``values`` in order, and a ``target`` for the
    two axes that need one (the searched text of ``prompt``, the 0-based LoRA index of ``lora``)."""

    name: str
    values: tuple[Any, ...]
    target: str | None = None

    @property
    def kind(self) -> str:
        return AXES[self.name][0]

    @property
    def title(self) -> str:
        """The header: ``steps``, ``prompt: fox``, ``LoRA 2 scale``."""
        if self.name == "prompt":
            return f"prompt: {self.target}"
        if self.name == "lora" and self.target not in (None, "0"):
            return f"LoRA {int(self.target or 0) + 1} scale"
        return AXES[self.name][2]

    def label(self, value: Any) -> str:
        """A value as a header shows it (a model by its short name, an empty negative as ``(none)``)."""
        if self.name == "model":
            spec = models.find_model(str(value))
            return spec.short_name if spec else str(value)
        if self.kind == "text" and value == "":
            return "(none)"
        return value_text(value)

    def token(self) -> str:
        """``--vary`` text that gives exactly these values back (copy as code, the sheet's record)."""
        head = self.name
        if self.name == "prompt":
            head = f"prompt:{self.target}"
        elif self.name == "lora" and self.target not in (None, "0"):
            head = f"lora:{int(self.target or 0) + 1}"
        return f"{head}={','.join(quoted(value_text(v)) for v in self.values)}"

    def index(self, value: Any) -> int:
        """The position of ``value`` on this axis (a model may be named by its short name)."""
        for position, mine in enumerate(self.values):
            if same(mine, value) or (self.name == "model" and self.label(mine) == str(value)):
                return position
        shown = ", ".join(self.label(v) for v in self.values)
        raise KeyError(f"{self.name} has no value {value!r}; its values: {shown}")

    def apply(self, options: ImagineOptions, value: Any) -> ImagineOptions:
        """The options of a cell where this axis has ``value``."""
        name = self.name
        if name in ("width", "height"):
            sized = parse_size(options.size) if options.size else None
            if sized is not None:
                options = options.replace(width=sized[0], height=sized[1], size=None)
            return options.replace(**{name: value})
        if name == "size":
            return options.replace(size=value, width=None, height=None)
        if name == "aspect_ratio":
            return options.replace(aspect_ratio=value, width=None, height=None, size=None)
        if name == "negative":
            return options.replace(negative=value or None)
        if name == "prompt":
            return options.replace(prompt=(options.prompt or "").replace(self.target or "", value))
        if name == "lora":
            at = int(self.target or 0)
            loras = tuple(
                (path, value if k == at else scale) for k, (path, scale) in enumerate(options.loras)
            )
            return options.replace(loras=loras)
        return options.replace(**{name: value})

    def check(self, options: ImagineOptions, model_ids: Iterable[str]) -> None:
        """Refuse an axis the sweep's models do not take, or a target the options do not have."""
        field = AXES[self.name][1]
        if field is not None:
            for model_id in model_ids:
                spec = models.find_model(model_id)
                if spec is not None and not spec.takes(field):
                    allowed = models.models_taking(field)
                    if not allowed:  # no listed model takes it (LoRAs): say why
                        why = models.LORAS_DEPRECATED if field == "image_loras" else "no listed model does"
                        raise OptionError(f"--vary {self.name}: {spec.id} does not take {field}; {why}")
                    more = " ..." if len(allowed) > 4 else ""
                    raise OptionError(
                        f"--vary {self.name}: {spec.id} does not take {field}; models that do: "
                        f"{', '.join(allowed[:4])}{more}"
                    )
        if self.name == "prompt" and (self.target or "") not in (options.prompt or ""):
            raise OptionError(
                f"--vary prompt:{self.target}: {self.target!r} does not occur in the prompt; write "
                "--vary prompt:WORD=A,B with a WORD of the prompt"
            )


# ---------------------------------------------------------------------------------------- reading axes
def _name_and_target(head: str, options: ImagineOptions) -> tuple[str, str | None]:
    raw, _, target = head.partition(":")
    name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if name not in AXES:
        guess = models.closest(name, [*AXES, *ALIASES], cutoff=0.6) if name else None
        hint = f"did you mean {ALIASES.get(guess, guess)}? " if guess else ""
        raise OptionError(f"--vary: unknown axis {raw.strip()!r}; {hint}axes: {', '.join(AXES)}")
    if target and name not in ("prompt", "lora"):
        raise OptionError(f"--vary {head}: only prompt:WORD= and lora:N= take a ':' part")
    if name == "prompt":
        return name, target or None
    if name == "lora":
        return name, _lora_target(target, options)
    return name, None


def _lora_target(target: str, options: ImagineOptions) -> str:
    loras = options.loras
    if not loras:
        raise OptionError("--vary lora: give the LoRA with --lora PATH first; the axis varies its scale")
    if not target:
        if len(loras) > 1:
            raise OptionError("--vary lora: there are two --lora; name one with lora:1= or lora:2=")
        return "0"
    if target.strip().isdigit() and 1 <= int(target) <= len(loras):
        return str(int(target) - 1)
    for position, (path, _) in enumerate(loras):
        if path == target:
            return str(position)
    raise OptionError(f"--vary lora:{target}: no such --lora; use lora:1= to lora:{len(loras)}=")


def parse_axis(
    text: str,
    options: ImagineOptions,
    *,
    namespace: Mapping[str, Any] | None,
    limit: int,
    where: str = "notebook",
) -> Axis:
    """``AXIS=VALUES`` as typed after ``--vary`` -> a checked ``Axis`` (see the module docstring)."""
    head, sep, spec = text.partition("=")
    if not sep or not head.strip():
        raise OptionError(f"--vary expects AXIS=VALUES (e.g. --vary steps=2,4,8), got {text[:60]!r}")
    name, target = _name_and_target(head, options)
    label = f"--vary {head.strip()}"
    whole = _WHOLE.match(spec)
    if options.interpolate and "{{" in spec:
        if namespace is None:
            raise OptionError(f"{label}: {{{{ }}}} needs a notebook namespace; list the values instead")
        if whole:
            found = _evaluate(whole.group(1), namespace, label)
            if isinstance(found, str):  # text such as "4,8,16" reads like typed values
                found = split_values(name, found, label, limit, where)
            return _build(name, target, label, found, limit, where)
        spec = interpolate(spec, namespace, label)
    return _build(name, target, label, split_values(name, spec, label, limit, where), limit, where)


def _evaluate(expr: str, namespace: Mapping[str, Any], label: str) -> Any:
    expr = expr.strip()
    if not expr:
        raise OptionError(f"{label}: empty {{{{ }}}}; put a list or an expression giving one inside")
    try:
        scope = namespace if isinstance(namespace, dict) else dict(namespace)
        return eval(expr, scope)  # the user's own namespace, as {{ }} everywhere else in the line
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        detail = " ".join(str(exc).split())[:120]
        raise OptionError(f"{label}={{{{ {expr[:60]} }}}} failed: {type(exc).__name__}: {detail}") from None


def make_axis(head: str, values: Any, options: ImagineOptions, *, limit: int, where: str = "python") -> Axis:
    """An ``Axis`` from Python values (``vary={"guidance": [1, 3.5, 7]}``); a string is read as a line's."""
    name, target = _name_and_target(head, options)
    label = f"--vary {head.strip()}"
    if isinstance(values, str):
        values = split_values(name, values, label, limit, where)
    return _build(name, target, label, values, limit, where)


def _build(name: str, target: str | None, label: str, values: Any, limit: int, where: str) -> Axis:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        values = [values]
    try:
        taken = list(itertools.islice(iter(values), min(limit, sys.maxsize - 1) + 1))  # limit may be huge
    except Exception as exc:  # a generator of the user's that fails half-way
        raise OptionError(f"{label}: reading the values failed: {type(exc).__name__}: {exc}"[:300]) from None
    if len(taken) > limit:
        raise too_many(len(values) if isinstance(values, Sequence) else None, limit, where)
    if not taken:
        raise OptionError(f"{label} has no values; e.g. --vary steps=2,4,8")
    found = [typed(name, value, label) for value in taken]
    for first, second in itertools.combinations(range(len(found)), 2):
        if same(found[first], found[second]):
            raise OptionError(f"{label}: {value_text(found[first])!r} is listed twice; each value once")
    if name == "prompt" and target is None:
        target = str(found[0])  # A1111's Prompt S/R: the first value is the text to replace
    return Axis(name, tuple(found), target)
