"""Together's model list (``GET /v1/models``, a bare JSON array of ``ModelInfo``) for image models: the
catalogue said in that shape, a list read back, and the two compared (``together-magic models --check``).

Not imported by ``%load_ext``: the offline backend, the client and the CLI load it when they list models.

How a price travels (our decision; the README says it too). ``ModelInfo.pricing`` has five numbers (hourly,
input, output, base, finetune); Together's real feed has them all 0 for image models (a recorded answer),
and a third party reports (2026-10-08, unverified) that it now adds ``image.example_price`` (dollars per
image) and ``image_pixel.price_per_megapixel``. So an entry we serve carries:

- ``pricing.base``: the catalogue's dollars per billing unit, 0 when not published; the other four 0;
- ``image: {"example_price": x}`` for a per-image model or ``image_pixel: {"price_per_megapixel": x}`` for a
  per-megapixel one, only when the amount is known.

Read back, an entry's price is its ``image_pixel.price_per_megapixel`` (per MP), else ``image.example_price``
(per image), else a non-zero ``pricing.base`` (in the catalogue's unit for that model). Zero or nothing
means "not published": the real feed's zeros are never reported as a price change. ``compare`` reports ids
new on the cloud, listed ids gone from it, and every published price that differs from the catalogue's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, NamedTuple

from .catalogue import MODELS, find_model
from .sources import CATALOGUE_AS_OF
from .spec import Limits, ModelSpec, Price

__all__ = ["Drift", "FeedError", "LiveModel", "compare", "drift_lines", "model_info", "parse_feed"]

_MP = "megapixel"


class FeedError(ValueError):
    """A model list that is not a JSON array of ``ModelInfo`` objects (the message says where)."""


class LiveModel(NamedTuple):
    """One image model as a model list states it."""

    id: str
    display_name: str = ""
    organization: str = ""
    price: float | None = None
    """Dollars per ``unit``; None: not published (absent or 0)."""
    unit: str | None = None
    """``image`` or ``megapixel`` when the entry says; None: a bare ``pricing.base``."""

    @property
    def price_text(self) -> str:
        if self.price is None:
            return "price not published"
        unit = self.unit or _unit_of(self.id)
        return f"${self.price:g}/{'MP' if unit == _MP else 'image'}"

    def spec(self) -> ModelSpec:
        """The catalogue's entry for this id, or, for an id it lacks, one taking the common parameters only
        (what a server simulating this list accepts for it)."""
        known = find_model(self.id)
        if known is not None:
            return known
        unit = self.unit or "image"
        return ModelSpec(
            self.id,
            self.display_name or self.id,
            self.organization,
            frozenset(),
            Limits(),
            Price(unit, self.price),
        )


def _unit_of(model_id: str) -> str:
    spec = find_model(model_id)
    return spec.price.unit if spec is not None else "image"


def model_info(spec: ModelSpec) -> dict[str, Any]:
    """One catalogue entry as ``GET /v1/models`` answers it (see the module docstring for the price)."""
    amount = spec.price.amount
    entry: dict[str, Any] = {
        "id": spec.id,
        "object": "model",
        "created": 0,
        "type": "image",
        "display_name": spec.display_name,
        "organization": spec.maker,
        "pricing": {"hourly": 0, "input": 0, "output": 0, "base": amount or 0, "finetune": 0},
    }
    if amount is not None:
        if spec.price.unit == _MP:
            entry["image_pixel"] = {"price_per_megapixel": amount}
        else:
            entry["image"] = {"example_price": amount}
    return entry


def _number(value: Any) -> float | None:
    """A published price: a finite number above 0 (0, absent or nonsense: not published)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if value > 0 else None


def _price(entry: dict[str, Any]) -> tuple[float | None, str | None]:
    pixel, image, pricing = (entry.get(k) for k in ("image_pixel", "image", "pricing"))
    if isinstance(pixel, dict) and _number(pixel.get("price_per_megapixel")) is not None:
        return _number(pixel["price_per_megapixel"]), _MP
    if isinstance(image, dict) and _number(image.get("example_price")) is not None:
        return _number(image["example_price"]), "image"
    if isinstance(pricing, dict):
        return _number(pricing.get("base")), None
    return None, None


def parse_feed(data: Any) -> list[LiveModel]:
    """The image models of a decoded model list (entries of another ``type`` are left out). Takes the bare
    array Together answers, or ``{"data": [...]}`` (the OpenAI shape); raises ``FeedError`` otherwise."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise FeedError("a model list must be a JSON array of ModelInfo objects")
    found: dict[str, LiveModel] = {}
    for number, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            raise FeedError(f"entry {number} is not a JSON object")
        model_id, kind = entry.get("id"), entry.get("type")
        if not isinstance(model_id, str) or not model_id.strip():
            raise FeedError(f'entry {number} has no "id" (a non-empty string)')
        if not isinstance(kind, str):
            raise FeedError(f'entry {number} ({model_id[:100]}) has no "type" (e.g. "image")')
        if kind != "image":
            continue
        name, maker = entry.get("display_name"), entry.get("organization")
        price, unit = _price(entry)
        found[model_id] = LiveModel(
            model_id,
            name if isinstance(name, str) else "",
            maker if isinstance(maker, str) else "",
            price,
            unit,
        )
    return list(found.values())


class Drift(NamedTuple):
    """How a live list differs from the catalogue's listed models."""

    new: list[LiveModel]
    """On the live list, not listed by the catalogue (unknown to it, or catalogued as retired)."""
    gone: list[ModelSpec]
    """Listed by the catalogue, not on the live list."""
    changed: list[tuple[ModelSpec, LiveModel]]
    """On both, with a published price (or unit) other than the catalogue's."""

    @property
    def total(self) -> int:
        return len(self.new) + len(self.gone) + len(self.changed)


def _differs(spec: ModelSpec, live: LiveModel) -> bool:
    if live.price is None:
        return False  # not published by the list: nothing to compare
    if live.unit is not None and live.unit != spec.price.unit:
        return True
    ours = spec.price.amount
    return ours is None or not math.isclose(ours, live.price, rel_tol=1e-9, abs_tol=1e-12)


def compare(live: Iterable[LiveModel]) -> Drift:
    entries = {model.id: model for model in live}
    listed = [spec for spec in MODELS.values() if spec.listed]
    new = [m for m in entries.values() if m.id not in MODELS or MODELS[m.id].retired]
    gone = [spec for spec in listed if spec.id not in entries]
    changed = [(s, entries[s.id]) for s in listed if s.id in entries and _differs(s, entries[s.id])]
    return Drift(new, gone, changed)


def drift_lines(drift: Drift, where: str, total: int) -> list[str]:
    """What ``models --check`` prints: a heading with the catalogue's source date, then each difference."""
    lines = [f"catalogue: Together's list of {CATALOGUE_AS_OF}; {where} lists {total} image models"]
    if drift.total == 0:
        return [*lines, "no difference: the same models, and no published price differs"]
    if drift.new:
        lines.append(f"new on the cloud ({len(drift.new)}):")
        for model in drift.new:
            spec = find_model(model.id)
            said = f" (the catalogue has it as retired, use {spec.replacement})" if spec else ""
            named = " · ".join(part for part in (model.display_name, model.organization) if part)
            lines.append(f"  + {model.id}" + (f"  {named}" if named else "") + f"; {model.price_text}{said}")
    if drift.gone:
        lines.append(
            f"gone from the cloud ({len(drift.gone)}): listed in the catalogue, not on the cloud's list"
        )
        lines += [f"  - {spec.id}  {spec.display_name}" for spec in drift.gone]
    if drift.changed:
        lines.append(f"price changed ({len(drift.changed)}):")
        for spec, model in drift.changed:
            lines.append(f"  ~ {spec.id}  {spec.price.text} -> {model.price_text}")
    lines.append(
        f"differences: {len(drift.new)} new, {len(drift.gone)} gone, {len(drift.changed)} price changed "
        "(a newer together-magic may know them; Imagine.prices overrides prices)"
    )
    return lines
