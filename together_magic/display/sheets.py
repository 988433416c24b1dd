"""Labelled grids of images: the HTML a notebook shows for a sweep, and the contact sheet saved as one PNG.

Both draw the same ``Sheet``: column headers (axis name and value) along the top, row headers down the
left, one grid per value of a third axis, AUTOMATIC1111's X/Y/Z plot legend. A cell whose request failed or
was cancelled is an empty box of the image's shape with its one-line reason, so a failure is seen where it
happened and never hides the others. This module knows nothing about sweeps: it draws what it is given.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..types import ImageChoicesData
from ..types.view import figure

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

__all__ = ["Sheet", "SheetCell", "preview_side", "sheet_html", "sheet_image"]

PREVIEW_PIXELS = 1024
"""A grid's previews together are about this many pixels wide (and as many tall for a square grid), so a
4x4 grid stores sixteen 256 px previews: well under 1 MB in the notebook."""
MIN_PREVIEW = 96
SHEET_PIXELS = 64_000_000
"""Contact sheets shrink their cells to stay under this many pixels (a 1000-cell sweep stays drawable)."""
_GAP = 6
_EMPTY_STYLE = {
    "failed": "background:#f8e6e6;color:#7a1f1f",
    "cancelled": "background:#eee;color:#555",
    "pending": "background:#f4f4f4;color:#888",
}
_EMPTY_FILL = {"failed": (248, 230, 230), "cancelled": (238, 238, 238), "pending": (244, 244, 244)}
_HEAD = "font:12px/1.3 sans-serif;padding:2px 4px"
_AXIS = "font-size:11px;opacity:.65"
_STICKY = "position:sticky;left:0;z-index:1;background:var(--jp-layout-color0,#fff)"
"""A row label stays at the left edge while a wide grid scrolls sideways."""
_CAPTION = "font:11px/1.3 ui-monospace,monospace;opacity:.8;white-space:nowrap;overflow:hidden"


@dataclass(frozen=True)
class SheetCell:
    """One place of the grid: an image with a caption, or an empty box with its reason (``state``)."""

    choice: ImageChoicesData | None
    caption: str
    state: str = "done"
    """``done``, ``failed``, ``cancelled`` or ``pending``."""
    title: str = ""
    """Hover text: what reproduces this cell alone."""
    size: tuple[int, int] | None = None
    """The size asked for, so an empty box has the image's shape."""


@dataclass(frozen=True)
class Sheet:
    heading: str
    column_title: str
    columns: tuple[str, ...]
    row_title: str | None
    rows: tuple[str, ...]
    grids: tuple[tuple[str | None, tuple[tuple[SheetCell, ...], ...]], ...]
    """(title, rows of cells) per value of the third axis (one untitled grid without a third axis)."""


def preview_side(columns: int, cells: int, preview_size: int) -> int:
    """The longest side of each preview: ``Imagine.preview_size`` at most, smaller for bigger grids."""
    fit = min(PREVIEW_PIXELS // max(columns, 1), int(PREVIEW_PIXELS / math.sqrt(max(cells, 1))))
    return max(MIN_PREVIEW, min(preview_size if preview_size > 0 else PREVIEW_PIXELS, fit))


def _box(size: tuple[int, int] | None, side: int) -> tuple[int, int]:
    width, height = size or (side, side)
    scale = side / max(width, height, 1)
    return max(1, round(width * scale)), max(1, round(height * scale))


# ------------------------------------------------------------------------------------------------ HTML
def _header(axis: str | None, label: str) -> str:
    top = f'<div style="{_AXIS}">{html.escape(axis)}</div>' if axis else ""
    return f'<div style="{_HEAD}">{top}<b>{html.escape(label)}</b></div>'


def _cell_html(cell: SheetCell, side: int) -> str:
    caption = f'<div style="{_CAPTION}" title="{html.escape(cell.caption, quote=True)}">'
    caption += f"{html.escape(cell.caption)}</div>"
    if cell.choice is not None and cell.state == "done":
        try:
            return figure(cell.choice, side, title=cell.title, caption_html=caption, fluid=True)
        except Exception as exc:  # an image that cannot be decoded shows as a failed cell, not a crash
            cell = SheetCell(None, f"{type(exc).__name__}: {exc}", "failed", cell.title, cell.size)
    width, height = _box(cell.size, min(side, max(cell.size or (side, side))))  # as big as its preview
    style = _EMPTY_STYLE.get(cell.state, _EMPTY_STYLE["pending"])
    title = html.escape(cell.title or cell.caption, quote=True)
    return (
        f'<figure style="margin:0;width:100%;max-width:{width}px"><div title="{title}" style="{style};'
        f"width:100%;aspect-ratio:{width}/{height};border-radius:4px;box-sizing:border-box;padding:6px;"
        "overflow:hidden;"
        f'font:12px/1.35 sans-serif;overflow-wrap:anywhere">{html.escape(cell.caption)}</div></figure>'
    )


def sheet_html(sheet: Sheet, side: int) -> str:
    """The grid as HTML (CSS grid, inline styles: no table styling of the front end gets in the way)."""
    heading = f'<div style="margin-bottom:4px">{html.escape(sheet.heading)}</div>' if sheet.heading else ""
    parts = [f'<div class="together-magic-sweep" style="font:13px/1.4 sans-serif">{heading}']
    has_rows = sheet.row_title is not None
    # Columns shrink to fit the output (a 3x3 grid at 1024x768 with JupyterLab's file browser open shows all
    # three), down to MIN_PREVIEW px; beyond that the grid scrolls sideways with its row labels kept in view.
    template = ("max-content " if has_rows else "") + (
        f"repeat({len(sheet.columns)}, minmax({MIN_PREVIEW}px, {side}px))"
    )
    for title, rows in sheet.grids:
        if title is not None:
            parts.append(f'<div style="font-weight:600;margin:10px 0 2px">{html.escape(title)}</div>')
        cells = []
        if has_rows:
            corner = f"{sheet.row_title} ↓ · {sheet.column_title} →"
            cells.append(f'<div style="{_HEAD};{_AXIS};{_STICKY};align-self:end">{html.escape(corner)}</div>')
        cells += [_header(sheet.column_title, label) for label in sheet.columns]
        for label, row in zip(sheet.rows, rows, strict=True):
            if has_rows:
                cells.append(
                    f'<div style="align-self:stretch;display:flex;align-items:center;{_STICKY}">'
                    f"{_header(sheet.row_title, label)}</div>"
                )
            cells += [_cell_html(cell, side) for cell in row]
        parts.append(
            f'<div style="display:grid;grid-template-columns:{template};gap:{_GAP}px;align-items:start;'
            f'overflow-x:auto;padding-bottom:4px">{"".join(cells)}</div>'
        )
    parts.append("</div>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------- contact sheet
def _font(size: int) -> Font:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, OSError):  # older Pillow or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int, lines: int) -> list[str]:
    """Up to ``lines`` lines of at most ``width`` px; text that does not fit ends in an ellipsis."""
    out: list[str] = []
    line, cut = "", False
    for word in text.split():
        trial = f"{line} {word}".strip()
        if not line or draw.textlength(trial, font=font) <= width:
            line = trial
            continue
        out.append(line)
        line = word
        if len(out) == lines:
            line, cut = "", True
            break
    if line:
        out.append(line)
    fitted = []
    for position, item in enumerate(out):
        if (cut and position == len(out) - 1) or draw.textlength(item, font=font) > width:
            while item and draw.textlength(item + "…", font=font) > width:
                item = item[:-1]
            item = item.rstrip() + "…"
        fitted.append(item)
    return fitted or [""]


def _thumbnail(choice: ImageChoicesData, box: tuple[int, int]) -> Image.Image:
    from PIL import Image

    with Image.open(io.BytesIO(choice.image_bytes())) as img:
        if img.format == "JPEG":
            img.draft("RGB", box)  # decode at reduced scale: a sheet of 1024 px images stays quick
        img.load()
        small: Image.Image = img.convert("RGB")
    small.thumbnail(box)
    return small


def sheet_image(sheet: Sheet, cell: int = 512) -> Image.Image:
    """The contact sheet: every cell at most ``cell`` px, headers drawn with PIL's own font (no download)."""
    from PIL import Image, ImageDraw

    count = sum(len(row) for _, rows in sheet.grids for row in rows) or 1
    cell = max(32, min(cell, int(math.sqrt(SHEET_PIXELS / count))))
    hints = {c.size for _, rows in sheet.grids for row in rows for c in row if c.size}
    if hints:  # never larger than the images themselves
        cell = min(cell, max(max(w, h) for w, h in hints))
    ratios = {round(w / h, 3) for w, h in hints}
    box = _box(next(iter(hints)), cell) if len(ratios) == 1 else (cell, cell)
    font, small = _font(max(12, cell // 18)), _font(max(10, cell // 26))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = int(font.size if hasattr(font, "size") else 12) + 6
    head_h = line + 8
    has_rows = sheet.row_title is not None
    row_w = 0
    if has_rows:
        texts = [f"{sheet.row_title}: {label}" for label in sheet.rows]
        row_w = min(cell, int(max(probe.textlength(t, font=font) for t in texts)) + 2 * _GAP)
    title_h = line + 6 if any(title for title, _ in sheet.grids) else 0
    grid_h = title_h + head_h + len(sheet.rows) * (box[1] + _GAP)
    width = row_w + len(sheet.columns) * (box[0] + _GAP) + _GAP
    top = line + 10 if sheet.heading else 0
    canvas = Image.new("RGB", (width, top + len(sheet.grids) * grid_h + _GAP), "white")
    draw = ImageDraw.Draw(canvas)
    ink, grey = (30, 30, 30), (90, 90, 90)
    if sheet.heading:
        draw.text((_GAP, 6), _wrap(draw, sheet.heading, font, width - 2 * _GAP, 1)[0], fill=ink, font=font)
    y = top
    for title, rows in sheet.grids:
        if title:
            draw.text((_GAP, y + 3), title, fill=ink, font=font)
        y += title_h
        for k, label in enumerate(sheet.columns):
            x = row_w + _GAP + k * (box[0] + _GAP)
            text = _wrap(draw, f"{sheet.column_title}: {label}", font, box[0], 1)[0]
            draw.text((x + (box[0] - draw.textlength(text, font=font)) / 2, y + 4), text, fill=ink, font=font)
        y += head_h
        for label, row in zip(sheet.rows, rows, strict=True):
            if has_rows:
                text = _wrap(draw, f"{sheet.row_title}: {label}", font, row_w - _GAP, 1)[0]
                draw.text((_GAP, y + box[1] / 2 - line / 2), text, fill=ink, font=font)
            for k, item in enumerate(row):
                x = row_w + _GAP + k * (box[0] + _GAP)
                _draw_cell(canvas, draw, item, (x, y), box, small, grey)
            y += box[1] + _GAP
    return canvas


def _draw_cell(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    cell: SheetCell,
    at: tuple[int, int],
    box: tuple[int, int],
    font: Font,
    ink: tuple[int, int, int],
) -> None:
    x, y = at
    reason, state = cell.caption, cell.state
    if cell.choice is not None and state == "done":
        try:
            thumb = _thumbnail(cell.choice, box)
        except Exception as exc:  # a broken image: drawn as a failed cell with its reason
            reason, state = f"{type(exc).__name__}: {exc}", "failed"
        else:
            canvas.paste(thumb, (x + (box[0] - thumb.width) // 2, y + (box[1] - thumb.height) // 2))
            return
    draw.rectangle((x, y, x + box[0] - 1, y + box[1] - 1), fill=_EMPTY_FILL.get(state, (244, 244, 244)))
    size = int(getattr(font, "size", 10))
    for k, text in enumerate(_wrap(draw, reason, font, box[0] - 12, max(1, (box[1] - 12) // (size + 4)))):
        draw.text((x + 6, y + 6 + k * (size + 4)), text, fill=ink, font=font)


def rows_of(cells: Sequence[SheetCell], columns: int) -> tuple[tuple[SheetCell, ...], ...]:
    """Cells in reading order -> rows of ``columns`` cells."""
    return tuple(tuple(cells[k : k + columns]) for k in range(0, len(cells), columns))
