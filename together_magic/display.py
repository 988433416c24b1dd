"""How an ``ImageResponse`` looks: a grid of captioned previews in notebooks, one line per image elsewhere.

The notebook gets previews (longest side ``Imagine.preview_size``, JPEG) rather than the full images, so
saved notebooks stay small; the full images stay in the response. Previews are made once per choice and
size and reused on every later display.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import ImageChoicesData, ImageResponse

__all__ = ["Comparison", "captions", "compare", "grid_html", "mimebundle", "preview"]

_LONG_FIELD = 512


def preview(choice: ImageChoicesData, max_side: int) -> tuple[bytes, str, int, int]:
    """(bytes, mime type, width, height) of the notebook preview of one image."""
    cached = choice._previews.get(max_side)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    from PIL import Image

    data = choice.image_bytes()
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        if img.format == "JPEG" and (max_side <= 0 or max(width, height) <= max_side):
            result = (data, "image/jpeg", width, height)
        else:
            if img.format == "JPEG" and max_side > 0:
                img.draft("RGB", (max_side, max_side))  # decode at reduced scale: much faster
            img.load()
            small = img.convert("RGB") if img.mode not in ("RGB", "L") else img.copy()
            if max_side > 0:
                small.thumbnail((max_side, max_side))
            out = io.BytesIO()
            small.save(out, format="JPEG", quality=75)  # a preview: the full image stays in the response
            result = (out.getvalue(), "image/jpeg", small.width, small.height)
    choice._previews[max_side] = result
    return result


def _short_model(model: str | None) -> str:
    return (model or "?").rsplit("/", 1)[-1]


def image_size(choice: ImageChoicesData) -> tuple[int, int] | None:
    try:
        return choice.size
    except Exception:
        return None


def captions(response: ImageResponse) -> list[str]:
    """One line per image: index, seed, size, model, seconds, and where it was saved."""
    request = response.request
    seed = request.seed if request is not None else None
    lines = []
    saved = response.saved_paths
    for position, choice in enumerate(response.data or []):
        parts = [f"#{choice.index}"]
        if seed is not None:
            parts.append(f"seed {seed}")
        size = image_size(choice)
        if size:
            parts.append(f"{size[0]}x{size[1]}")
        parts.append(_short_model(response.model or (request.model if request else None)))
        if response.cached:
            parts.append("cached")
        elif response.elapsed is not None:
            parts.append(f"{response.elapsed:.2f} s")
        if position < len(saved):
            parts.append(f"saved {saved[position]}")
        lines.append(" · ".join(parts))
    return lines


_GRID_STYLE = "display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start"
_IMG_STYLE = "max-width:100%;height:auto;border-radius:4px"
_CAPTION_STYLE = "font:12px monospace;opacity:.7"


def _figure(choice: ImageChoicesData, max_side: int, alt: str, caption_html: str) -> str:
    data, mime, width, height = preview(choice, max_side)
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    alt = html.escape(alt, quote=True)
    return (
        f'<figure style="margin:0;max-width:{width}px">'
        f'<img src="{src}" alt="{alt}" title="{alt}" width="{width}" height="{height}" style="{_IMG_STYLE}"/>'
        f"<figcaption>{caption_html}</figcaption></figure>"
    )


def _grid(figures: list[str]) -> str:
    return f'<div class="together-magic-grid" style="{_GRID_STYLE}">{"".join(figures)}</div>'


def grid_html(response: ImageResponse, max_side: int) -> str:
    prompt = response.request.prompt if response.request is not None else ""
    return _grid(
        [
            _figure(
                choice,
                max_side,
                prompt,
                f'<span style="font:12px monospace;opacity:.7">{html.escape(c)}</span>',
            )
            for choice, c in zip(response.data or [], captions(response), strict=False)
        ]
    )


def provenance(response: ImageResponse) -> dict[str, Any]:
    """What made these images, for the output's metadata (long values such as data URLs are elided)."""
    request = response.request
    payload = request.payload() if request is not None else {}
    trimmed = {
        k: (v if not isinstance(v, str) or len(v) <= _LONG_FIELD else f"<{len(v)} chars>")
        for k, v in payload.items()
    }
    return {
        "together_magic": {
            "id": response.id,
            "model": response.model,
            "seed": payload.get("seed"),
            "request": trimmed,
        }
    }


def mimebundle(
    response: ImageResponse, *, include: Any = None, exclude: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    from .config import current

    lines = captions(response)
    header = f"ImageResponse: {len(lines)} image{'s' if len(lines) != 1 else ''}"
    data: dict[str, Any] = {"text/plain": "\n".join([header, *[f"  {line}" for line in lines]])}
    wants_html = (include is None or "text/html" in include) and not (exclude and "text/html" in exclude)
    if wants_html and response.data:
        data["text/html"] = grid_html(response, current().preview_size)
    return data, provenance(response)


class Comparison:
    """Several responses side by side, each under a label: the classroom's "what does this knob do"."""

    def __init__(self, labelled: dict[str, ImageResponse], *, max_side: int | None = None) -> None:
        self.labelled = dict(labelled)
        self.max_side = max_side

    def __repr__(self) -> str:
        return "\n".join(
            f"{label}: " + "; ".join(captions(response)) for label, response in self.labelled.items()
        )

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        from .config import current

        side = self.max_side or current().preview_size
        grid = _grid(
            [
                _figure(choice, side, label, f"<b>{html.escape(label)}</b>")
                for label, response in self.labelled.items()
                for choice in response.data or []
            ]
        )
        return {"text/plain": repr(self), "text/html": grid}, {}


def compare(labelled: dict[str, ImageResponse], *, max_side: int | None = None) -> Comparison:
    """Show responses side by side under their labels, e.g. ``compare({"4 steps": a, "28 steps": b})``."""
    return Comparison(labelled, max_side=max_side)
