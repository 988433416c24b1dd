"""The panel's gallery: a responsive grid of thumbnail cards, newest first, a viewer, and a static copy.

Each card has the image's own actions (save, reuse this seed, use as reference, copy as code); clicking a
thumbnail opens it large in a viewer laid over the panel, with the same actions plus "insert as cell
below". "Copy as code" is computed when the card is made, so the browser copies inside the click itself
(``clipboard.CopyButton``); an uploaded reference image becomes a file next to the notebook, written when
the code is copied, so the cell is self-contained. ``snapshot_html`` is the gallery as plain HTML: the panel
keeps it in its output so a saved notebook, nbconvert's HTML or GitHub show the images without widgets.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .clipboard import CopyButton, CopyResult
from .config import Imagine
from .files import atomic_write_new
from .gallery import card_caption_html, figure, preview, short_path
from .options import from_request
from .outputs import save_images
from .types import ImageChoicesData, ImageResponse, sniff_format

__all__ = ["MAX_CARDS", "REFERENCE_FOLDER", "Card", "PanelGallery", "reference_path", "write_references"]

MAX_CARDS = 40
"""Cards kept live in the grid (older images stay in ``panel.responses``): a browser stays quick."""
SNAPSHOT_IMAGES = 24
THUMB, VIEW, SNAPSHOT_SIDE = 256, 768, 192
REFERENCE_FOLDER = "references"
_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif"}
COPY_TIP = "copy the %%imagine cell that makes this image alone"


@dataclass
class Card:
    response: ImageResponse
    choice: ImageChoicesData
    position: int
    widget: w.VBox
    note: w.HTML
    copy: CopyButton
    files: list[tuple[Path, bytes]]


def reference_path(data: bytes, folder: Path = Path(REFERENCE_FOLDER)) -> Path:
    """Where an uploaded reference goes: named by its content, so copying twice reuses one file.

    A name already taken by other bytes gets a number; an unreadable folder keeps the plain name, and
    writing it (when the code is copied) reports the problem then.
    """
    ext = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif"}.get(
        sniff_format(data) or "", ".bin"
    )
    stem = f"reference-{hashlib.sha256(data).hexdigest()[:12]}"
    for number in range(100):
        path = folder / (f"{stem}{ext}" if number == 0 else f"{stem}-{number}{ext}")
        try:
            if not path.exists() or (path.is_file() and path.read_bytes() == data):
                return path
        except OSError:
            break
    return folder / f"{stem}{ext}"


def write_references(files: list[tuple[Path, bytes]]) -> None:
    """Write the files a copied cell names (never over another file; an identical one is kept)."""
    for path, data in files:
        if path.is_file() and path.read_bytes() == data:
            continue
        written = atomic_write_new(path, data)
        if written != path:
            raise OSError(f"{path} appeared meanwhile; copy the code again")


def _close_tree(widget: w.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


class PanelGallery:
    """The gallery half of ``ImaginePanel`` (a mixin)."""

    settings: Imagine
    responses: list[ImageResponse]
    status: w.HTML
    seed: w.BoundedIntText
    lock: w.ToggleButton
    model_id: str

    if TYPE_CHECKING:  # provided by the form and the panel

        def set_reference(self, data: bytes | None, name: str = "") -> None: ...

        def _show_error(self, message: str) -> None: ...

    def _build_gallery(self) -> None:
        self.cards: list[Card] = []
        self._viewing: Card | None = None
        self.gallery = w.GridBox(
            layout={"grid_template_columns": "repeat(auto-fill, minmax(136px, 1fr))", "grid_gap": "8px"}
        )
        self.gallery.add_class("together-magic-gallery")
        self.code = w.Textarea(rows=3, layout={"width": "auto", "display": "none"})
        self.code.add_class("together-magic-code")
        self.viewer_image = w.Image(format="jpeg")
        self.viewer_image.add_class("together-magic-image")
        hit = w.Button(tooltip="close", layout={"width": "100%", "height": "100%"})
        hit.add_class("together-magic-hit")
        hit.on_click(lambda _: self.close_viewer())
        self.viewer_caption = w.HTML()
        self.viewer_note = w.HTML()
        self.viewer_copy = CopyButton(description="copy as code", icon="clipboard", tooltip=COPY_TIP)
        self.viewer_insert = CopyButton(
            description="insert as cell below", icon="plus", insert=True, tooltip="add the code as a new cell"
        )
        for button in (self.viewer_copy, self.viewer_insert):
            button.on_copied(lambda result: self._copied(self._viewing, result))
        close = w.Button(description="close", icon="times", layout={"width": "auto"})
        close.on_click(lambda _: self.close_viewer())
        actions = [
            self._button(label, icon, lambda act=act: self._on_viewing(act))
            for label, icon, act in self._actions()
        ]
        thumb = w.Box([self.viewer_image, hit])
        thumb.add_class("together-magic-thumb")
        side = w.VBox(
            [self.viewer_caption, *actions, self.viewer_copy, self.viewer_insert, close, self.viewer_note]
        )
        side.add_class("together-magic-side")
        view = w.Box([thumb, side])
        view.add_class("together-magic-view")
        self.viewer = w.VBox([view], layout={"display": "none"})
        self.viewer.add_class("together-magic-viewer")

    @staticmethod
    def _button(label: str, icon: str, action: Any) -> w.Button:
        button = w.Button(description=label, icon=icon, tooltip=label, layout={"width": "auto"})
        button.add_class("together-magic-act")
        button.on_click(lambda _: action())
        return button

    def _actions(self) -> list[tuple[str, str, str]]:
        return [
            ("save", "save", "save"),
            ("reuse this seed", "repeat", "seed"),
            ("use as reference", "image", "ref"),
        ]

    # ------------------------------------------------------------------------------ cards
    def _add_to_gallery(self, response: ImageResponse) -> None:
        new = [self._card(response, choice, pos) for pos, choice in enumerate(response.data or [])]
        self.cards = new + self.cards
        for card in self.cards[MAX_CARDS:]:
            _close_tree(card.widget)
        self.cards = self.cards[:MAX_CARDS]
        self.gallery.children = tuple(card.widget for card in self.cards)

    def _card(self, response: ImageResponse, choice: ImageChoicesData, position: int) -> Card:
        image = w.Image(value=preview(choice, THUMB)[0], format="jpeg", layout={"width": "100%"})
        image.add_class("together-magic-image")
        hit = w.Button(tooltip="enlarge", layout={"width": "100%", "height": "100%"})
        hit.add_class("together-magic-hit")
        thumb = w.Box([image, hit])
        thumb.add_class("together-magic-thumb")
        note = w.HTML()
        text, files = self.cell_for(choice)
        copy = CopyButton(description="copy as code", icon="clipboard", tooltip=COPY_TIP, text=text)
        copy.anchor = self.model_id
        widget = w.VBox()
        card = Card(response, choice, position, widget, note, copy, files)
        buttons = [
            self._button(label, icon, lambda a=a: self._act(card, a)) for label, icon, a in self._actions()
        ]
        copy.on_copied(lambda result: self._copied(card, result))
        hit.on_click(lambda _: self.open_viewer(card))
        actions = w.HBox([*buttons, copy])
        actions.add_class("together-magic-actions")
        widget.children = (thumb, w.HTML(card_caption_html(response, position)), actions, note)
        widget.add_class("together-magic-card")
        return card

    def _act(self, card: Card | None, action: str) -> None:
        if card is None:
            return
        if action == "save":
            self._save(card)
        elif action == "seed" and card.choice.seed is not None:
            self.seed.value, self.lock.value = card.choice.seed, True
            self.status.value = f"seed {card.choice.seed} set and locked: Generate makes this image again"
        elif action == "ref":
            self.set_reference(card.choice.image_bytes(), f"gallery image, seed {card.choice.seed}")
            self.status.value = f"the image with seed {card.choice.seed} is the reference now"

    def _on_viewing(self, action: str) -> None:
        self._act(self._viewing, action)

    def _save(self, card: Card) -> None:
        folder = Path(self.settings.save_dir or "images")
        report = save_images([card.choice], folder, card.response.request)
        if not report.ok:
            self._show_error(report.summary(folder))
            return
        path = report.paths[0]
        full = str(path.resolve()) if path is not None else ""
        verb = "already saved as" if report.existing and report.existing[0] else "saved"
        note = (
            f'<span style="font-size:11px" title="{html.escape(full, quote=True)}">{verb} '
            f"{html.escape(short_path(full, 32))}</span>"
        )
        card.note.value = note
        if self._viewing is card:
            self.viewer_note.value = note

    # ------------------------------------------------------------------------------ copy as code
    def cell_for(self, choice: ImageChoicesData) -> tuple[str, list[tuple[Path, bytes]]]:
        """The ``%%imagine`` cell that makes this one image, and the reference files it names."""
        request = choice.provenance.request
        if request is None:
            return "", []
        options = from_request(request.payload(), default_format=self.settings.response_format)
        files: list[tuple[Path, bytes]] = []

        def as_file(data: bytes) -> str:
            path = reference_path(data)
            files.append((path, data))
            return path.as_posix()

        if isinstance(options.image, bytes):
            options = options.replace(image=as_file(options.image))
        references = tuple(as_file(r) if isinstance(r, bytes) else r for r in options.references)
        return options.replace(references=references).to_cell(), files

    def code_for(self, choice: ImageChoicesData) -> str:
        """The cell for this image, with its reference files written (``copy as code`` without a browser)."""
        text, files = self.cell_for(choice)
        write_references(files)
        return text

    def _copied(self, card: Card | None, result: CopyResult) -> None:
        if card is None:
            return
        try:
            write_references(card.files)
        except OSError as exc:
            self._show_error(f"copy as code: could not write the reference image: {exc.strerror or exc}")
            return
        seed = card.choice.seed
        if result.inserted:
            self.status.value = (
                f"the cell for seed {seed} is a new cell below the panel (and on the clipboard)"
            )
        elif result.copied:
            self.status.value = f"copied the cell for seed {seed}: paste it into a new cell and run it"
        else:
            why = f" ({html.escape(result.reason)})" if result.reason else ""
            self.status.value = (
                f"the browser did not allow the clipboard{why}: copy the cell from the box below"
            )
        self.code.value = card.copy.text
        self.code.layout.display = "" if not result.copied else "none"

    # ------------------------------------------------------------------------------ the viewer
    def open_viewer(self, card: Card) -> None:
        self._viewing = card
        self.viewer_image.value = preview(card.choice, VIEW)[0]
        self.viewer_caption.value = card_caption_html(card.response, card.position)
        self.viewer_note.value = card.note.value
        self.viewer_copy.text = self.viewer_insert.text = card.copy.text
        self.viewer_copy.anchor = self.viewer_insert.anchor = self.model_id
        self.viewer.layout.display = ""

    def close_viewer(self) -> None:
        self._viewing = None
        self.viewer.layout.display = "none"

    # ------------------------------------------------------------------------------ the static copy
    def snapshot_html(self) -> str:
        """The gallery as plain HTML (newest first), for saved notebooks and nbconvert."""
        total = sum(len(r.data or []) for r in self.responses)
        shown = self.cards[:SNAPSHOT_IMAGES]
        figures = []
        for card in shown:
            request = card.choice.provenance.request or card.response.request
            figures.append(
                figure(
                    card.choice,
                    SNAPSHOT_SIDE,
                    title=request.prompt if request is not None else "",
                    caption_html=card_caption_html(card.response, card.position),
                )
            )
        count = f"{total} image{'s' if total != 1 else ''}" + (
            f", the {len(shown)} newest" if total > len(shown) else ""
        )
        head = f"together-magic panel: {count} (a static copy of its gallery, kept for saved notebooks)"
        grid = (
            "display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:8px;align-items:start"
        )
        return (
            f'<div class="together-magic-snapshot"><div style="font:12px/1.6 sans-serif;opacity:.75">'
            f'{html.escape(head)}</div><div style="{grid}">{"".join(figures)}</div></div>'
        )
