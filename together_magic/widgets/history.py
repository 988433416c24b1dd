"""``%imagine_history`` in a notebook: past images as the panel's cards, a page at a time.

Each card is the panel's (``cards``): click to enlarge, *save*, *reuse in the panel* (the image's
settings, seed locked, go to the panel made last in this kernel, so Generate makes it again), *use as
reference* (in that panel) and **copy as code**. A page holds ``history.PAGE_SIZE`` images; *older* and
*newer* page through the rest, so a long history never floods the notebook (only the page shown has
widgets and thumbnails).

Like the panel, the view makes two outputs: the widget, and a static HTML copy of the page on show (updated
through its display id as pages turn). Live, the panel's style sheet hides the copy; in a saved notebook,
nbconvert's HTML or on GitHub, where widgets have no state, the copy shows the images and their code.
Importing this module registers the view with ``history`` (which sits below the front ends).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .. import config as _config
from ..histories.search import PAGE_SIZE, History, HistoryRecord, set_viewer
from ..types.view import BADGE_STYLES, caption_parts, shorten
from .cards import Card, CardHost, choice_code, close_tree, last_panel, make_card, style_html

__all__ = ["HistoryView", "show"]

_NO_PANEL = "no panel in this kernel yet: run %imagine_panel, then click again (or copy as code)"


class HistoryView(CardHost, w.VBox):
    """Pages of cards over a ``History``; ``page`` is the page shown (0: the newest images)."""

    def __init__(self, records: History, *, page_size: int = PAGE_SIZE, **kwargs: Any) -> None:
        self.settings = _config.current()
        self.history = records
        self.page_size = max(1, page_size)
        self.items = records.images()
        self.page = 0
        self.cards: list[Card] = []
        self._snapshot: Any = None
        self.status = w.HTML(layout={"margin": "0 0 0 8px"})
        self.status.add_class("together-magic-status")
        self.header = w.HTML()
        self.newer = w.Button(description="newer", icon="chevron-left", layout={"width": "auto"})
        self.older = w.Button(description="older", icon="chevron-right", layout={"width": "auto"})
        self.newer.on_click(lambda _: self.show_page(self.page - 1))
        self.older.on_click(lambda _: self.show_page(self.page + 1))
        self.grid = w.GridBox(
            layout={"grid_template_columns": "repeat(auto-fill, minmax(136px, 1fr))", "grid_gap": "8px"}
        )
        self.grid.add_class("together-magic-gallery")
        self._build_viewer()
        style = w.HTML(layout={"display": "none"})
        nav = w.HBox([self.newer, self.older, self.status], layout={"align_items": "center"})
        super().__init__(children=[style, self.header, nav, self.code, self.grid, self.viewer], **kwargs)
        self.add_class("together-magic-history")
        style.value = style_html(self.model_id)
        self.show_page(0)

    def __repr__(self) -> str:
        return f"HistoryView({len(self.items)} images, page {self.page + 1} of {self.pages})"

    @property
    def pages(self) -> int:
        return self.history.pages(self.page_size)

    # ------------------------------------------------------------------------------ pages
    def show_page(self, page: int) -> None:
        """Show one page (clamped to those there are); the previous page's widgets are closed."""
        self.page = min(max(page, 0), self.pages - 1)
        self.close_viewer()
        for card in self.cards:
            close_tree(card.widget)
        chosen = self.items[self.page * self.page_size : (self.page + 1) * self.page_size]
        self.cards = []
        broken: list[str] = []
        for record, position in chosen:
            try:
                self.cards.append(self._card(record, position))
            except Exception as exc:  # a damaged image file: the others still show
                broken.append(f"seed {record.generation.images[position].seed}: {type(exc).__name__}")
        self.grid.children = tuple(card.widget for card in self.cards)
        if broken:
            self._show_error(f"{len(broken)} image(s) could not be shown ({'; '.join(broken)[:200]})")
        self.newer.disabled = self.page == 0
        self.older.disabled = self.page >= self.pages - 1
        for button in (self.newer, self.older):  # one page: nothing to turn
            button.layout.display = "none" if self.pages == 1 else ""
        note = self.history.page_note(self.page, self.page_size)
        line = repr(self.history).splitlines()[0]
        if not self.items:
            line += " (generate something, or check %config Imagine.history)"
        self.header.value = (
            f'<div style="font:12px/1.6 sans-serif;opacity:.85">{html.escape(line)}'
            f"{' · ' + html.escape(note) if note else ''}</div>"
        )
        if self._snapshot is not None:
            self._snapshot.update(self._snapshot_bundle(), raw=True)

    def _card(self, record: HistoryRecord, position: int) -> Card:
        response = record.response
        choice = (response.data or [])[position]
        return make_card(
            self,
            response,
            choice,
            position,
            caption=_caption(record, position),
            code=choice_code(choice, self.settings.response_format),
        )

    # ------------------------------------------------------------------------------ actions
    def _card_actions(self) -> list[tuple[str, str, str, str]]:
        return [
            ("Save", "save", "save", "save the image on the kernel's machine"),
            (
                "Reuse in the panel",
                "repeat",
                "panel",
                "the last panel gets this image's settings, seed locked: Generate makes it again",
            ),
            ("Use as reference", "image", "ref", "the image goes to the last panel as its reference"),
        ]

    def _act(self, card: Card | None, action: str) -> None:
        if card is None or action == "save":
            super()._act(card, action)
            return
        panel = last_panel()
        if panel is None:
            self._show_error(_NO_PANEL)
            return
        seed = card.choice.seed
        request = card.choice.provenance.request
        if action == "panel" and request is None:
            self._show_error(f"the image with seed {seed} has no stored request to reuse")
        elif action == "panel" and request is not None:
            notes = panel.apply_request(request.payload())
            told = f"settings from the history: seed {seed} (locked)"
            panel.status.value = "; ".join([told, *(html.escape(n) for n in notes)])
            self.status.value = f"the last panel has the settings of seed {seed}: Generate makes it again"
        elif action == "ref":
            panel.set_reference(card.choice.image_bytes(), f"history image, seed {seed}")
            self.status.value = f"the image with seed {seed} is the last panel's reference now"

    # ------------------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        """The widget, then the static copy of the page on show (one display id, updated per page)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]
        bundle = self._snapshot_bundle()
        self._snapshot = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = repr(self.history)
        return data

    def _snapshot_bundle(self) -> dict[str, str]:
        return {
            "text/html": (
                f'<div class="together-magic-snapshot" data-owner="{self.model_id}">'
                f"{self.history.html(self.page, self.page_size)}</div>"
            ),
            "text/plain": f"history page {self.page + 1} of {self.pages} (static copy)",
        }


def _caption(record: HistoryRecord, position: int) -> str:
    """Prompt, then when and where from, then the image's facts (no timing: it was made back then)."""
    g = record.generation
    parts = [p for p in caption_parts(record.response, position)[1:] if p != "cached"]
    chips = "".join(f'<span style="{BADGE_STYLES[p]}">{p}</span>' for p in parts if p in BADGE_STYLES)
    facts = " · ".join(
        f'<span style="white-space:nowrap">{html.escape(p)}</span>' for p in parts if p not in BADGE_STYLES
    )
    when = f"{record.created:%Y-%m-%d %H:%M} · {g.source}"
    full = html.escape(f"{g.prompt}\n{when} · {' · '.join(parts)}", quote=True)
    return (
        f'<div class="together-magic-caption" title="{full}">'
        f'<div style="font:12px/1.35 sans-serif;white-space:nowrap;overflow:hidden;text-overflow:ellipsis">'
        f"{html.escape(shorten(g.prompt, 60))}</div>"
        f'<div style="font:11px/1.35 sans-serif;opacity:.8">{html.escape(when)}</div>'
        f'<div style="font:11px/1.35 sans-serif;opacity:.8">{facts} {chips}</div></div>'
    )


def show(records: History) -> bool:
    """Display ``records`` as a ``HistoryView`` when a kernel shows widgets (False: it cannot here)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False  # a terminal or a plain shell: the text and static page are the right output
    try:
        view = HistoryView(records)
    except Exception:  # the cards could not be made: the static page still shows every image's code
        return False
    view._ipython_display_()
    return True


set_viewer(show)
