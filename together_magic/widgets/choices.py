"""What the panel's form offers for the chosen model: the model list (listed models; a retired one only as
the current choice, labelled), the grey note under a retired model, and small layout helpers.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as w

from .. import models
from ..models.feed import LiveModel

__all__ = ["NOTE_STYLE", "bounds", "model_choices", "model_note", "row_label", "show"]

NOTE_STYLE = "font-size:12px;opacity:.75;line-height:1.3;margin:0 0 4px 62px"
"""A grey line under the model: a retired model's notice (what to use instead)."""


def model_choices(
    current: str | None = None, live: Sequence[LiveModel] | None = None
) -> list[tuple[str, str]]:
    """(label, id) for every listed model, grouped by maker in catalogue order. A retired or uncatalogued
    ``current`` model (from ``Imagine.model`` or a loaded image) comes first, labelled as such: a retired
    model is never offered otherwise.

    ``live``: the cloud's own list (a key is set): its models instead, those the catalogue lacks after the
    catalogue's (labelled "new on the cloud"), and a catalogued model the cloud no longer lists only as the
    current choice, labelled so."""
    on_cloud = None if live is None else {model.id for model in live}
    listed = [s for s in models.MODELS.values() if s.listed and (on_cloud is None or s.id in on_cloud)]
    makers = list(dict.fromkeys(s.maker for s in listed))
    ordered = sorted(listed, key=lambda s: makers.index(s.maker))
    choices = [(f"{s.display_name} · {s.maker}", s.id) for s in ordered]
    for model in live or ():
        if models.find_model(model.id) is None:
            named = " · ".join(part for part in (model.display_name or model.id, model.organization) if part)
            choices.append((f"{named} (new on the cloud)", model.id))
    offered = {value for _, value in choices}
    spec = models.find_model(current or "")
    if spec is not None and spec.retired and current not in offered:
        # the replacement by its name, as the list shows it (its id is in the grey note below)
        instead = models.find_model(spec.replacement or "")
        use = instead.display_name if instead is not None else spec.replacement
        choices.insert(0, (f"{spec.display_name} · {spec.maker} (retired: use {use})", spec.id))
    elif spec is not None and current not in offered:
        choices.insert(0, (f"{spec.display_name} · {spec.maker} (not on the cloud's list now)", spec.id))
    elif current and spec is None and current not in offered:
        choices.insert(0, (f"{current} (not in the catalogue)", current))
    return choices


def row_label(text: str) -> w.Label:
    """A label in front of a row, aligned with the widgets' own description labels."""
    return w.Label(
        text, layout={"width": "62px", "flex": "0 0 62px"}, _dom_classes=["together-magic-rowlabel"]
    )


def show(widget: w.Widget, visible: bool) -> None:
    widget.layout.display = "" if visible else "none"


def bounds(box: w.Widget, low: float, high: float) -> None:
    """Set a bounded box's range in an order its min <= max check accepts (the value is clamped)."""
    if low > box.max:
        box.max, box.min = high, low
    else:
        box.min, box.max = low, high


def model_note(spec: models.ModelSpec | None) -> str:
    """The grey line under the model list: a retired model's notice, else nothing."""
    notice = models.retirement_notice(spec.id) if spec else None
    return f'<div style="{NOTE_STYLE}">{html.escape(notice)}</div>' if notice else ""
