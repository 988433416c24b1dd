"""Many responses at once: ``compare`` (labelled, side by side), the panel's card captions, the model table.

One response shows itself (``types.view``); this module builds on the same previews and captions.
"""

from __future__ import annotations

import html
from typing import Any

from .. import config as _config
from .. import models
from ..types import ImageChoicesData, ImageResponse
from ..types.view import (
    BADGE_STYLES,
    PROMPT_CHARS,
    PROMPT_STYLE,
    caption_parts,
    captions,
    figure,
    grid,
    shorten,
)

__all__ = [
    "Comparison",
    "ModelTable",
    "card_caption_html",
    "compare",
    "list_models",
    "models_markdown",
    "models_text",
    "price_text",
    "short_model",
    "status_text",
]


def card_caption_html(response: ImageResponse, position: int) -> str:
    """A narrow caption for a thumbnail card: the facts wrap between items, never inside one.

    The prompt is one shortened line (full on hover); ``#k`` is left out (the card's place says it).
    """
    parts = caption_parts(response, position)
    badges = [p for p in parts if p in BADGE_STYLES]
    facts = [p for p in parts[1:] if p not in badges]
    request = (response.data or [])[position].provenance.request or response.request
    prompt = request.prompt if request is not None else ""
    full = html.escape(f"{prompt}\n{' · '.join(parts)}", quote=True)
    chips = "".join(f'<span style="{BADGE_STYLES[b]}">{b}</span>' for b in badges)
    items = " · ".join(f'<span style="white-space:nowrap">{html.escape(p)}</span>' for p in facts)
    return (
        f'<div class="together-magic-caption" title="{full}">'
        f'<div style="{PROMPT_STYLE}">{html.escape(shorten(prompt, PROMPT_CHARS))}</div>'
        f'<div style="font:11px/1.35 sans-serif;opacity:.8">{items} {chips}</div></div>'
    )


class Comparison:
    """Several responses side by side, each under a label: the classroom's "what does this knob do".

    A value may also be one image (``response.data[0]``), to compare a single picture with others.
    """

    def __init__(
        self, labelled: dict[str, ImageResponse | ImageChoicesData], *, max_side: int | None = None
    ) -> None:
        self.labelled = dict(labelled)
        self.max_side = max_side

    @staticmethod
    def _choices(value: ImageResponse | ImageChoicesData) -> list[ImageChoicesData]:
        return [value] if isinstance(value, ImageChoicesData) else list(value.data or [])

    def __repr__(self) -> str:
        def text(value: ImageResponse | ImageChoicesData) -> str:
            if isinstance(value, ImageChoicesData):
                return f"seed {value.seed}" if value.seed is not None else "1 image"
            return "; ".join(captions(value))

        return "\n".join(f"{label}: {text(value)}" for label, value in self.labelled.items())

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        side = self.max_side or _config.current().preview_size
        figures = [
            figure(choice, side, title=label, caption_html=f"<b>{html.escape(label)}</b>")
            for label, value in self.labelled.items()
            for choice in self._choices(value)
        ]
        return {"text/plain": repr(self), "text/html": grid(figures)}, {}


def compare(
    labelled: dict[str, ImageResponse | ImageChoicesData], *, max_side: int | None = None
) -> Comparison:
    """Show responses side by side under their labels, e.g. ``compare({"4 steps": a, "28 steps": b})``."""
    return Comparison(labelled, max_side=max_side)


def short_model(model_id: str | None) -> str:
    spec = models.find_model(model_id or "")
    return spec.short_name if spec else str(model_id or "?").rsplit("/", 1)[-1]


class ModelTable:
    """The catalogue as a table (``together_magic.list_models()``): listed models by maker, then retired."""

    def __repr__(self) -> str:
        rows = [f"{spec.id}  {status_text(spec)}  ({price_text(spec)})" for spec in _by_maker()]
        return "\n".join([*rows, _footer()])

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(spec.maker)}</td><td><code>{html.escape(spec.id)}</code></td>"
            f"<td>{html.escape(status_text(spec))}</td><td>{html.escape(price_text(spec))}</td>"
            f"<td>{html.escape(', '.join(sorted(spec.inputs)) or '-')}</td><td>{spec.as_of}</td></tr>"
            for spec in _by_maker()
        )
        head = (
            "<tr><th>maker</th><th>model id</th><th>status</th><th>price</th><th>also takes</th>"
            "<th>source date</th></tr>"
        )
        return f"<table>{head}{cells}</table><small>{html.escape(_footer())}</small>"


def _footer() -> str:
    return (
        f"Together's list of {models.CATALOGUE_AS_OF}; prices as of {models.PRICES_AS_OF} "
        "(Imagine.prices overrides them)"
    )


def status_text(spec: models.ModelSpec) -> str:
    """``listed``, or ``retired 2026-10-07, use FLUX.2-dev``."""
    if spec.retirement is None:
        return spec.status
    return f"{spec.status} {spec.retirement.learned}, use {spec.retirement.replacement}"


def price_text(spec: models.ModelSpec) -> str:
    return "not served" if spec.retired else spec.price.text


def _by_maker() -> list[models.ModelSpec]:
    return sorted(models.MODELS.values(), key=lambda s: (s.retired, s.maker, s.id))


def models_text() -> str:
    """The catalogue for a terminal (``together-magic info --models``): a line per model (and what its sources
    leave open), then the sources."""
    lines = []
    for spec in models.MODELS.values():
        lines.append(
            f"{spec.id:41} {status_text(spec)}; {price_text(spec)}; source {spec.as_of}; "
            f"takes {', '.join(sorted(spec.inputs)) or '-'}"
        )
        gone = spec.retirement
        why = [f"{gone.replacement} is our choice: {gone.reason}"] if gone else []
        lines += [f"{'':41}   note: {note}" for note in (*spec.notes, *why)]
    sources = [f"  {source.cited}" for source in models.SOURCES.values()]
    return "\n".join([*lines, f"({_footer()})", "sources:", *sources])


def models_markdown() -> str:
    """The catalogue as the README's Markdown table (``together-magic info --models --markdown``)."""
    rows = [
        "| maker | model id | status | price | also takes | source date |",
        "|---|---|---|---|---|---|",
    ]
    for spec in _by_maker():
        inputs = ", ".join(f"`{field}`" for field in sorted(spec.inputs)) or "-"
        cells = (spec.maker, f"`{spec.id}`", status_text(spec), price_text(spec), inputs, spec.as_of)
        rows.append(f"| {' | '.join(cells)} |")
    return "\n".join(rows)


def list_models() -> ModelTable:
    """Every catalogued image model: status, price, the optional inputs it takes and its source date."""
    return ModelTable()
