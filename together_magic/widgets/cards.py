"""The card component: a thumbnail with its image's own actions, an enlarged viewer, and "copy as code".

The panel's gallery, the cells of its compare grids and ``%imagine_history`` all show images this way, so a
class learns one set of buttons: *save*, a seed action, *use as reference* and **copy as code**; clicking a
thumbnail opens it large in a viewer laid over its host, with the same actions plus "insert as cell below".
"Copy as code" is computed when the card is made, so the browser copies inside the click itself
(``clipboard.CopyButton``); an uploaded reference image becomes a file next to the notebook, written when
the code is copied, so the cell is self-contained. A compare grid's cell copies ``cell.to_cell()`` and
"copy the sweep" ``sweep.to_cell()``, with uploads named as files the same way.

``CardHost`` is the half a widget needs to host cards (a mixin): the viewer, the code box shown when the
browser refuses the clipboard, saving, and what a copy reports. The host decides what the seed and
reference actions do (``_act``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import html
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import ipywidgets as w

from ..config import Imagine
from ..generation.options import ImagineOptions, from_request
from ..generation.saving import save_images
from ..imagefiles.files import atomic_write_new
from ..sweeps.result import Cell, Sweep
from ..types import ImageChoicesData, ImageResponse, sniff_format
from ..types.view import preview, short_path
from .bridges import DownloadButton, download_button
from .clipboard import CopyButton, CopyResult

__all__ = [
    "CARD_ACTIONS",
    "COPY_TIP",
    "CSS",
    "REFERENCE_FOLDER",
    "Card",
    "CardHost",
    "cell_code",
    "cell_code_of",
    "choice_code",
    "close_tree",
    "last_panel",
    "make_card",
    "reference_path",
    "remember_panel",
    "style_html",
    "sweep_code",
    "write_references",
]

THUMB, VIEW = 256, 768
CSS = (Path(__file__).parent / "static" / "panel.css").read_text(encoding="utf-8")
"""The style sheet of the panel and the history view (cards, viewer, compare grids)."""
REFERENCE_FOLDER = "references"
COPY_TIP = "copy the %%imagine cell that makes this image alone"
Files = list[tuple[Path, bytes]]
Action = tuple[str, str, str]
"""(label, icon, key): a card button; the host's ``_act(card, key)`` does it."""
CARD_ACTIONS: tuple[Action, ...] = (
    ("Save", "save", "save"),
    ("Reuse seed", "repeat", "seed"),
    ("Use as reference", "image", "ref"),
)
SAVE_TIP = "save the image on the kernel's machine (Imagine.save_dir, or images/)"


@dataclass
class Card:
    """One image on screen: what it shows, its widget, its note line and its copy button."""

    response: ImageResponse
    choice: ImageChoicesData
    position: int
    widget: w.VBox
    note: w.HTML
    copy: CopyButton
    files: Files
    caption: str = ""
    download: DownloadButton | None = None
    """The caption's HTML (the viewer shows it too)."""


def style_html(owner: str) -> str:
    """The style sheet, and the one rule that hides *this* widget's own static copy while it is live (a
    rule for every copy would hide the saved galleries of other notebooks and of stale outputs too)."""
    mine = f'.together-magic-snapshot[data-owner="{owner}"]'
    return f"<style>{CSS}\n.jp-OutputArea-child:has({mine}), {mine} {{ display: none !important; }}</style>"


class PanelTarget(Protocol):
    """What the history's cards need of a panel: its status line, its form, its reference image."""

    status: w.HTML

    def apply_request(self, payload: dict[str, Any]) -> list[str]: ...

    def set_reference(self, data: bytes | None, name: str = "") -> None: ...


_last_panel: weakref.ref[Any] | None = None


def remember_panel(panel: PanelTarget) -> None:
    """Called by each new panel: the history's cards send images to the panel made last."""
    global _last_panel
    _last_panel = weakref.ref(panel)


def last_panel() -> PanelTarget | None:
    """The panel made last in this kernel, if it is still open (not closed)."""
    found = _last_panel() if _last_panel is not None else None
    return found if found is not None and getattr(found, "comm", None) is not None else None


# ------------------------------------------------------------------------------------------ copy as code
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


def write_references(files: Files) -> None:
    """Write the files a copied cell names (never over another file; an identical one is kept)."""
    for path, data in files:
        if path.is_file() and path.read_bytes() == data:
            continue
        written = atomic_write_new(path, data)
        if written != path:
            raise OSError(f"{path} appeared meanwhile; copy the code again")


def with_files(options: ImagineOptions) -> tuple[ImagineOptions, Files]:
    """The options with uploaded images (bytes) named as files next to the notebook, and those files.

    ``interpolate`` is reset: the panel sends text literally, and ``to_line`` writes ``--no-interpolate``
    exactly when the text holds ``{{``, so the cell reads back as the same request either way.
    """
    files: Files = []

    def as_file(data: bytes) -> str:
        path = reference_path(data)
        files.append((path, data))
        return path.as_posix()

    if isinstance(options.image, bytes):
        options = options.replace(image=as_file(options.image))
    references = tuple(as_file(r) if isinstance(r, bytes) else r for r in options.references)
    return options.replace(references=references, interpolate=True), files


def cell_code(options: ImagineOptions) -> tuple[str, Files]:
    """The ``%%imagine`` cell of these options, and the reference files it names."""
    made, files = with_files(options)
    return made.to_cell(), files


def choice_code(choice: ImageChoicesData, default_format: str) -> tuple[str, Files]:
    """The ``%%imagine`` cell that makes this one image (from the request that made it alone)."""
    request = choice.provenance.request
    if request is None:
        return "", []
    return cell_code(from_request(request.payload(), default_format=default_format))


def cell_code_of(cell: Cell) -> tuple[str, list[tuple[Path, bytes]]]:
    """``cell.to_cell()`` with an uploaded image named as a file (and that file), so it runs anywhere."""
    options, files = with_files(cell.options)
    return dataclasses.replace(cell, options=options).to_cell(), files


def sweep_code(sweep: Sweep) -> tuple[str, list[tuple[Path, bytes]]]:
    """``sweep.to_cell()``: the ``%%imagine --vary`` cell of the whole grid, with its reference files."""
    options, files = with_files(sweep.options)
    named = copy.copy(sweep)
    named.options = options
    return named.to_cell(), files


# ------------------------------------------------------------------------------------------ widgets
def close_tree(widget: w.Widget) -> None:
    """Close a widget and everything inside it (the front end forgets their models)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()


def action_button(label: str, icon: str, action: Callable[[], None], tooltip: str = "") -> w.Button:
    button = w.Button(description=label, icon=icon, tooltip=tooltip or label, layout={"width": "auto"})
    button.add_class("together-magic-act")
    button.on_click(lambda _: action())
    return button


def thumbnail(choice: ImageChoicesData, on_click: Callable[[], None], side: int = THUMB) -> w.Box:
    """The image with a transparent button over it (a click enlarges it)."""
    image = w.Image(value=preview(choice, side)[0], format="jpeg", layout={"width": "100%"})
    image.add_class("together-magic-image")
    hit = w.Button(tooltip="enlarge", layout={"width": "100%", "height": "100%"})
    hit.add_class("together-magic-hit")
    hit.on_click(lambda _: on_click())
    thumb = w.Box([image, hit])
    thumb.add_class("together-magic-thumb")
    return thumb


class Host(Protocol):
    """What a card calls back: the widget showing it (a ``CardHost``, or the panel with its compare grids)."""

    @property
    def model_id(self) -> str: ...

    def _card_actions(self) -> list[tuple[str, str, str, str]]: ...

    def _act(self, card: Card | None, action: str) -> None: ...

    def _copied(self, card: Card | None, result: CopyResult) -> None: ...

    def open_viewer(self, card: Card) -> None: ...


def make_card(
    host: Host,
    response: ImageResponse,
    choice: ImageChoicesData,
    position: int,
    *,
    caption: str,
    code: tuple[str, Files],
    head: Sequence[w.Widget] = (),
) -> Card:
    """A card whose buttons call ``host._act`` / ``host._copied`` and whose thumbnail opens the viewer."""
    note = w.HTML()
    text, files = code
    copy = CopyButton(description="Copy as code", icon="clipboard", tooltip=COPY_TIP, text=text)
    copy.anchor = host.model_id
    widget = w.VBox()
    download = download_button(choice, response)
    card = Card(response, choice, position, widget, note, copy, files, caption, download)
    buttons = [
        action_button(label, icon, functools.partial(host._act, card, key), tip)
        for label, icon, key, tip in host._card_actions()
    ]
    copy.on_copied(lambda result: host._copied(card, result))
    actions = w.HBox([*buttons[:1], download, *buttons[1:], copy])  # Save and Download share a row
    actions.add_class("together-magic-actions")
    thumb = thumbnail(choice, lambda: host.open_viewer(card))
    widget.children = (*head, thumb, w.HTML(caption), actions, note)
    widget.add_class("together-magic-card")
    return card


class CardHost:
    """What a widget needs to show cards (a mixin of a ``w.Box``): viewer, code box, save, copy reports."""

    settings: Imagine
    status: w.HTML
    model_id: str

    def _card_actions(self) -> list[tuple[str, str, str, str]]:
        """(label, icon, key, tooltip) of the buttons on each card and in the viewer."""
        tips = {"save": SAVE_TIP}
        return [(label, icon, key, tips.get(key, label)) for label, icon, key in CARD_ACTIONS]

    def _act(self, card: Card | None, action: str) -> None:
        """A card's button: ``save`` here; the host does the others."""
        if card is not None and action == "save":
            self._save(card)

    def _show_error(self, message: str) -> None:
        self.status.value = (
            f'<span style="color:var(--jp-error-color1,#c62828)">⚠ {html.escape(message)}</span>'
        )

    def _build_viewer(self) -> None:
        self._viewing: Card | None = None
        self.code = w.Textarea(rows=3, layout={"width": "auto", "display": "none"})
        self.code.add_class("together-magic-code")
        self.viewer_image = w.Image(format="jpeg")
        self.viewer_image.add_class("together-magic-image")
        hit = w.Button(tooltip="close", layout={"width": "100%", "height": "100%"})
        hit.add_class("together-magic-hit")
        hit.on_click(lambda _: self.close_viewer())
        self.viewer_caption = w.HTML()
        self.viewer_note = w.HTML()
        self.viewer_copy = CopyButton(description="Copy as code", icon="clipboard", tooltip=COPY_TIP)
        self.viewer_insert = CopyButton(
            description="Insert as cell below", icon="plus", insert=True, tooltip="add the code as a new cell"
        )
        for button in (self.viewer_copy, self.viewer_insert):
            button.on_copied(lambda result: self._copied(self._viewing, result))
        close = w.Button(description="Close", icon="times", layout={"width": "auto"})
        close.on_click(lambda _: self.close_viewer())
        actions = [
            action_button(label, icon, functools.partial(self._on_viewing, key), tip)
            for label, icon, key, tip in self._card_actions()
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

    # ------------------------------------------------------------------------------ actions
    def _save(self, card: Card) -> None:
        folder = Path(self.settings.save_dir or "images")
        report = save_images([card.choice], folder, card.choice.provenance.request or card.response.request)
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
        self.status.value = f"{verb} {html.escape(short_path(full, 60))}"

    def _copied(self, card: Card | None, result: CopyResult) -> None:
        if card is None:
            return
        try:
            write_references(card.files)
        except OSError as exc:
            self._show_error(f"copy as code: could not write the reference image: {exc.strerror or exc}")
            return
        self._report_copy(f"the cell for seed {card.choice.seed}", card.copy.text, result)

    def _report_copy(self, what: str, text: str, result: CopyResult) -> None:
        """The status after a copy; the code box shows the text when the browser refused the clipboard."""
        if result.inserted:
            self.status.value = f"{what} is a new cell below (and on the clipboard)"
        elif result.copied:
            self.status.value = f"copied {what}: paste it into a new cell and run it"
        else:
            why = f" ({html.escape(result.reason)})" if result.reason else ""
            self.status.value = (
                f"the browser did not allow the clipboard{why}: copy the cell from the box below"
            )
        self.code.value = text
        self.code.layout.display = "" if not result.copied else "none"

    # ------------------------------------------------------------------------------ the viewer
    def open_viewer(self, card: Card) -> None:
        self._viewing = card
        self.viewer_image.value = preview(card.choice, VIEW)[0]
        self.viewer_caption.value = card.caption
        self.viewer_note.value = card.note.value
        self.viewer_copy.text = self.viewer_insert.text = card.copy.text
        self.viewer_copy.anchor = self.viewer_insert.anchor = self.model_id
        self.viewer.layout.display = ""

    def close_viewer(self) -> None:
        self._viewing = None
        self.viewer.layout.display = "none"

    def _on_viewing(self, action: str) -> None:
        """A button in the enlarged view: it covers the form and its status line, so what the button did is
        said here too (the seed set and locked, the reference taken, the file saved)."""
        self._act(self._viewing, action)
        if action != "save":  # saving writes its own note (the full path on hover)
            self.viewer_note.value = f'<div class="together-magic-feedback">{self.status.value}</div>'
