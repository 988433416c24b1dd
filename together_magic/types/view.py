"""How a response shows itself: a row of captioned previews in notebooks, a line per image elsewhere.

The notebook gets previews (longest side ``Imagine.preview_size``, JPEG) rather than the full images, so
saved notebooks stay small; the full images stay in the response. Previews are made once per image and size.
Every caption is built from the image's own provenance (its seed, its request), so what a class reads under
a picture is what reproduces that picture alone.

It lives in the ``types`` wing, whose face imports it, so every response shows itself however it was made
(any client, the store, ``ImageResponse.model_validate``); the display wing builds grids, comparisons and
cards from these pieces.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import config as _config
from .request import ImageProvenance
from .response import ImageChoicesData, ImageResponse, register_display

__all__ = [
    "BADGE_STYLES",
    "GRID_STYLE",
    "PROMPT_CHARS",
    "PROMPT_STYLE",
    "backend_badge",
    "caption_html",
    "caption_parts",
    "captions",
    "figure",
    "grid",
    "preview",
    "provenance_metadata",
    "response_bundle",
    "response_html",
    "short_path",
    "shorten",
]

_LONG_FIELD = 512
PROMPT_CHARS = 60
_PATH_CHARS = 40
GRID_STYLE = (
    "display:grid;grid-auto-flow:column;grid-auto-columns:max-content;gap:8px;overflow-x:auto;"
    "align-items:start;padding-bottom:4px"
)
_CAPTION_STYLE = "font:12px/1.35 ui-monospace,monospace;opacity:.8;white-space:nowrap;overflow:hidden;"
_FACTS_STYLE = "font:12px/1.35 ui-monospace,monospace;opacity:.8"
"""Facts wrap between items, never inside one (a model name never breaks as "FLUX.2-" / "dev")."""
PROMPT_STYLE = "font:12px/1.35 sans-serif;white-space:nowrap;overflow:hidden;text-overflow:ellipsis"
_BADGE = "display:inline-block;padding:0 4px;border-radius:3px;margin-right:3px;font-size:11px;"
BADGE_STYLES = {
    "offline": _BADGE + "background:#e3e8f0;color:#333",
    "together": _BADGE + "background:#dfeedd;color:#1b4d1b",
    "cached": _BADGE + "background:#f3ead0;color:#5a4500",
    "gateway": _BADGE + "background:#dcecf5;color:#123f5a",
    "custom": _BADGE + "background:#e8def3;color:#3d2a55",
}


def preview(choice: ImageChoicesData, max_side: int) -> tuple[bytes, str, int, int]:
    """(bytes, mime type, width, height) of the notebook preview of one image."""
    return choice.memo(("preview", max_side), lambda: _make_preview(choice.image_bytes(), max_side))


def _make_preview(data: bytes, max_side: int) -> tuple[bytes, str, int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        if img.format == "JPEG" and (max_side <= 0 or max(width, height) <= max_side):
            return data, "image/jpeg", width, height
        if img.format == "JPEG" and max_side > 0:
            img.draft("RGB", (max_side, max_side))  # decode at reduced scale: much faster
        img.load()
        small = img.convert("RGB") if img.mode not in ("RGB", "L") else img.copy()
        if max_side > 0:
            small.thumbnail((max_side, max_side))
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=75)  # a preview: the full image stays in the response
        return out.getvalue(), "image/jpeg", small.width, small.height


def image_size(choice: ImageChoicesData) -> tuple[int, int] | None:
    try:
        return choice.size
    except Exception:  # a broken image still gets a caption; its error shows when it is used
        return None


def shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def short_path(path: Path | str, limit: int = _PATH_CHARS) -> str:
    text = str(path)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def backend_badge(backend: str | None) -> str | None:
    """The badge for what answered: ``offline``, ``together``, a class ``gateway`` (as the gateway says in
    its answers' header), or ``custom`` for any other endpoint."""
    if backend in (None, "offline", "together", "gateway"):
        return backend
    return "custom"


def caption_parts(response: ImageResponse, position: int) -> list[str]:
    """The facts under one image: its number, own seed, size, steps, guidance, model, time, its own cost
    (``free`` when a class gateway's cache or offline fallback made it) and its own backend's badge."""
    choice = (response.data or [])[position]
    own: ImageProvenance = choice.provenance
    request = own.request or response.request
    fields = request.payload() if request is not None else {}
    count = len(response.data or [])
    parts = [f"#{position}" if own.of <= 1 else f"#{own.position} of {own.of}"]
    if own.seed is not None:
        parts.append(f"seed {own.seed}")
    size = image_size(choice)
    if size:
        parts.append(f"{size[0]}x{size[1]}")
    if fields.get("steps") is not None:
        parts.append(f"{fields['steps']} steps")
    for key in ("guidance_scale", "guidance"):
        if fields.get(key) is not None:
            parts.append(f"g {fields[key]:g}" if isinstance(fields[key], int | float) else f"g {fields[key]}")
            break
    model = response.model or fields.get("model")
    parts.append(str(model or "?").rsplit("/", 1)[-1])
    prov = response.provenance
    if prov.cached or own.cached:
        parts.append("cached")
    else:
        if prov.elapsed is not None:
            parts.append(f"{prov.elapsed:.2f} s")
        cost = own.cost if own.cost is not None else _share(prov.cost, count)
        if cost is not None:
            parts.append("free" if cost == 0 else f"${cost:.4f}")
    badge = backend_badge(own.backend or prov.backend)  # its own: a gateway may have fallen back for it
    if badge is not None:
        parts.append(badge)
    return parts


def _share(cost: float | None, count: int) -> float | None:
    """One image's part of a response's cost, when only the whole is known (a raw ``n`` request)."""
    return cost / count if cost is not None and count else None


def captions(response: ImageResponse) -> list[str]:
    """One line per image (what terminals, the CLI and ``text/plain`` show)."""
    saved = response.provenance.saved
    lines = []
    for position in range(len(response.data or [])):
        parts = caption_parts(response, position)
        if position < len(saved) and saved[position] is not None:
            parts.append(f"saved {saved[position]}")
        lines.append(" · ".join(parts))
    return lines


def figure(
    choice: ImageChoicesData,
    max_side: int,
    *,
    title: str,
    caption_html: str,
    width_hint: int | None = None,
    fluid: bool = False,
) -> str:
    """One captioned preview; ``title`` is the full text shown on hover (the prompt, a path...).
    ``fluid``: as wide as its grid cell, up to its own width (a grid that shrinks to fit the output)."""
    data, mime, width, height = preview(choice, max_side)
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    alt = html.escape(title, quote=True)
    box = width_hint or width
    return (
        f'<figure style="margin:0;width:{"100%" if fluid else f"{box}px"};max-width:{box}px">'
        f'<img src="{src}" alt="{alt}" title="{alt}" width="{width}" height="{height}" '
        'style="max-width:100%;height:auto;border-radius:4px;display:block"/>'
        f"<figcaption>{caption_html}</figcaption></figure>"
    )


def grid(figures: Sequence[str], *, css_class: str = "together-magic-grid") -> str:
    """Figures side by side in one row that scrolls sideways (columns never wrap on a projector)."""
    return f'<div class="{css_class}" style="{GRID_STYLE}">{"".join(figures)}</div>'


def caption_html(response: ImageResponse, position: int) -> str:
    """The caption under one image in a notebook: prompt (full on hover), facts, badges, saved path."""
    parts = caption_parts(response, position)
    badges = {p for p in parts if p in BADGE_STYLES}
    text = " · ".join(
        f'<span style="white-space:nowrap">{html.escape(p)}</span>' for p in parts if p not in badges
    )
    chips = "".join(f'<span style="{BADGE_STYLES[b]}">{b}</span>' for b in sorted(badges))
    request = (response.data or [])[position].provenance.request or response.request
    prompt = request.prompt if request is not None else ""
    saved = response.provenance.saved
    lines = [
        f'<div style="{PROMPT_STYLE}" title="{html.escape(prompt, quote=True)}">'
        f"{html.escape(shorten(prompt, PROMPT_CHARS))}</div>",
        f'<div style="{_FACTS_STYLE}">{chips}{text}</div>',
    ]
    if position < len(saved) and saved[position] is not None:
        full = str(saved[position])
        lines.append(
            f'<div style="{_CAPTION_STYLE}" title="{html.escape(full, quote=True)}">'
            f"saved {html.escape(short_path(full))}</div>"
        )
    return "".join(lines)


def response_html(response: ImageResponse, max_side: int) -> str:
    prompt = response.request.prompt if response.request is not None else ""
    return grid(
        [
            figure(choice, max_side, title=prompt, caption_html=caption_html(response, position))
            for position, choice in enumerate(response.data or [])
        ]
    )


def provenance_metadata(response: ImageResponse) -> dict[str, Any]:
    """What made these images, for the output's metadata (long values such as data URLs are elided)."""

    def trimmed(payload: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (v if not isinstance(v, str) or len(v) <= _LONG_FIELD else f"<{len(v)} chars>")
            for k, v in payload.items()
        }

    request = response.request
    return {
        "together_magic": {
            "id": response.id,
            "model": response.model,
            "seed": request.seed if request is not None else None,
            "seeds": [choice.seed for choice in response.data or []],
            "backend": response.provenance.backend,
            "request": trimmed(request.payload()) if request is not None else {},
        }
    }


def response_bundle(
    response: ImageResponse, include: Any = None, exclude: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    lines = captions(response)
    header = f"ImageResponse: {len(lines)} image{'s' if len(lines) != 1 else ''}"
    data: dict[str, Any] = {"text/plain": "\n".join([header, *[f"  {line}" for line in lines]])}
    wants_html = (include is None or "text/html" in include) and not (exclude and "text/html" in exclude)
    if wants_html and response.data:
        data["text/html"] = response_html(response, _config.current().preview_size)
    return data, provenance_metadata(response)


register_display(response_bundle)
