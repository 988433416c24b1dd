"""The panel's gallery: thumbnail cards and compare grids, newest first, and its static copy.

Each Generate adds one card per image (``cards``: save, reuse this seed, use as reference, copy as
code, click to enlarge); each Compare adds a grid entry spanning the gallery's width (``compare``).
Both keep their order in one list, ``entries`` (newest first). The grid widget gets new entries appended
and shows them first through CSS ``order``: the front end re-renders a box's children from the first one
that changed, so prepending would rebuild every card and grid on every click. Old entries are closed in
batches for the same reason. ``snapshot_html`` is the gallery as plain HTML: the panel keeps it in its
output so a saved notebook, nbconvert's HTML or GitHub show the images without widgets.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..display.gallery import card_caption_html
from ..types import ImageChoicesData, ImageResponse
from ..types.view import figure
from .cards import (
    REFERENCE_FOLDER,
    Card,
    CardHost,
    choice_code,
    close_tree,
    make_card,
    reference_path,
    write_references,
)

if TYPE_CHECKING:
    from .compare import SweepEntry

__all__ = [
    "KEEP_CARDS",
    "MAX_CARDS",
    "MAX_GRIDS",
    "MAX_GRID_CELLS",
    "REFERENCE_FOLDER",
    "Card",
    "PanelGallery",
    "reference_path",
]

MAX_CARDS = 40
"""Cards kept live in the grid (older images stay in ``panel.responses``): a browser stays quick."""
KEEP_CARDS = MAX_CARDS * 3 // 4
"""Above ``MAX_CARDS`` the oldest cards go down to this many, so closing (and the front end's re-render
it causes) happens once every few clicks, not on every one."""
MAX_GRIDS = 3
"""Compare grids kept live (older sweeps stay in ``panel.sweeps``)."""
MAX_GRID_CELLS = 96
"""Cells of compare grids kept live together (the newest grid always stays, whatever its size)."""
SNAPSHOT_IMAGES = 24
SNAPSHOT_GRIDS = 2
SNAPSHOT_SIDE = 192
SNAPSHOT_CELL = 128


class PanelGallery(CardHost):
    """The gallery half of ``ImaginePanel`` (a mixin)."""

    responses: list[ImageResponse]
    seed: w.BoundedIntText
    lock: w.ToggleButton

    if TYPE_CHECKING:  # provided by the form

        def set_reference(self, data: bytes | None, name: str = "") -> None: ...

    def _build_gallery(self) -> None:
        self._made = 0
        self.entries: list[Card | SweepEntry] = []
        """What the gallery shows, newest first: image cards and compare grids."""
        self.gallery = w.GridBox(
            layout={"grid_template_columns": "repeat(auto-fill, minmax(136px, 1fr))", "grid_gap": "8px"}
        )
        self.gallery.add_class("together-magic-gallery")
        self._build_viewer()

    @property
    def cards(self) -> list[Card]:
        """The image cards on show, newest first (compare grids are in ``entries``)."""
        return [entry for entry in self.entries if isinstance(entry, Card)]

    # ------------------------------------------------------------------------------ entries
    def _add_to_gallery(self, response: ImageResponse) -> None:
        new = [self._card(response, choice, pos) for pos, choice in enumerate(response.data or [])]
        self._add_entries(new)

    def _add_entries(self, new: list[Any]) -> None:
        """Show ``new`` (newest first) before the others, and close what falls beyond the bounds."""
        top = self._made + len(new)
        for k, entry in enumerate(new):
            entry.widget.layout.order = str(k - top)  # the newest has the lowest order: shown first
        self._made = top
        entries: list[Card | SweepEntry] = [*new, *self.entries]
        dropped = _beyond_bounds(entries)
        for entry in dropped:
            if self._viewing is not None and self._viewing.widget in _widgets(entry):
                self.close_viewer()
            close_tree(entry.widget)
        self.entries = [entry for entry in entries if all(entry is not gone for gone in dropped)]
        # oldest first: the children shown so far stay a prefix, so the front end only adds the new ones
        self.gallery.children = tuple(entry.widget for entry in reversed(self.entries))

    def _card(self, response: ImageResponse, choice: ImageChoicesData, position: int) -> Card:
        return make_card(
            self,
            response,
            choice,
            position,
            caption=card_caption_html(response, position),
            code=self.cell_for(choice),
        )

    # ------------------------------------------------------------------------------ actions
    def _act(self, card: Card | None, action: str) -> None:
        if card is None:
            return
        if action == "seed" and card.choice.seed is not None:
            self.seed.value, self.lock.value = card.choice.seed, True
            self.status.value = f"seed {card.choice.seed} set and locked: Generate makes this image again"
        elif action == "ref":
            self.set_reference(card.choice.image_bytes(), f"gallery image, seed {card.choice.seed}")
            self.status.value = f"the image with seed {card.choice.seed} is the reference now"
        else:
            super()._act(card, action)

    def cell_for(self, choice: ImageChoicesData) -> tuple[str, list[tuple[Path, bytes]]]:
        """The ``%%imagine`` cell that makes this one image, and the reference files it names."""
        return choice_code(choice, self.settings.response_format)

    def code_for(self, choice: ImageChoicesData) -> str:
        """The cell for this image, with its reference files written (``copy as code`` without a browser)."""
        text, files = self.cell_for(choice)
        write_references(files)
        return text

    # ------------------------------------------------------------------------------ the static copy
    def snapshot_html(self) -> str:
        """The gallery as plain HTML (newest first), for saved notebooks and nbconvert."""
        total = sum(len(r.data or []) for r in self.responses)
        parts: list[str] = []
        shown = grids = 0
        for entry in self.entries:
            if isinstance(entry, Card):
                if shown >= SNAPSHOT_IMAGES:
                    continue
                shown += 1
                request = entry.choice.provenance.request or entry.response.request
                parts.append(
                    figure(
                        entry.choice,
                        SNAPSHOT_SIDE,
                        title=request.prompt if request is not None else "",
                        caption_html=entry.caption,
                    )
                )
            elif grids < SNAPSHOT_GRIDS:
                grids += 1
                parts.append(f'<div style="grid-column:1/-1">{entry.sweep.html(SNAPSHOT_CELL)}</div>')
        count = f"{total} image{'s' if total != 1 else ''}" + (
            f", the {shown} newest" if total > shown else ""
        )
        if grids:
            count += f" and {grids} compare grid{'s' if grids != 1 else ''}"
        head = f"together-magic panel: {count} (a static copy of its gallery, kept for saved notebooks)"
        grid = (
            "display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:8px;align-items:start"
        )
        return (
            f'<div class="together-magic-snapshot" data-owner="{self.model_id}">'
            '<div style="font:12px/1.6 sans-serif;opacity:.75">'
            f'{html.escape(head)}</div><div style="{grid}">{"".join(parts)}</div></div>'
        )


def _beyond_bounds(entries: list[Any]) -> list[Any]:
    """The entries (newest first) to close: cards past ``MAX_CARDS`` (down to ``KEEP_CARDS``), and grids
    past ``MAX_GRIDS`` or ``MAX_GRID_CELLS`` (never the newest grid)."""
    cards = [entry for entry in entries if isinstance(entry, Card)]
    dropped = cards[KEEP_CARDS:] if len(cards) > MAX_CARDS else []
    cells = 0
    for count, grid in enumerate(entry for entry in entries if not isinstance(entry, Card)):
        cells += len(grid.views)
        if count and (count >= MAX_GRIDS or cells > MAX_GRID_CELLS):
            dropped.append(grid)
    return dropped


def _widgets(entry: Any) -> list[w.Widget]:
    """The card widgets inside an entry (a card is its own; a compare grid has one per finished cell)."""
    if isinstance(entry, Card):
        return [entry.widget]
    return [view.card.widget for view in entry.views if view.card is not None]
