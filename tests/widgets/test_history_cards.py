"""``%imagine_history`` as the panel's cards: pages, actions and the static copy, on the offline backend."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from PIL import Image

from together_magic import config as tm_config
from together_magic.generation.line import parse_line
from together_magic.generation.plan import build_plan
from together_magic.histories.search import History, history
from together_magic.widgets.history import HistoryView
from together_magic.widgets.panel import ImaginePanel

from ..shells import magic_shell


@pytest.fixture
def ip(tmp_path: Path) -> Iterator[InteractiveShell]:
    with magic_shell(tmp_path / "store", save=tmp_path / "saved") as shell:
        yield shell


def made(ip: InteractiveShell, cells: int, n: int = 1) -> History:
    for k in range(cells):
        result = ip.run_cell(f"%%imagine -n {n} --seed {100 + 10 * k} --size 256x256 --no-display\nfox {k}")
        assert result.success, result.error_in_exec
    return history(config=tm_config.current())


def buttons(view: HistoryView, position: int) -> dict[str, object]:
    actions = view.grid.children[position].children[2]
    return {b.description: b for b in actions.children}


def test_pages_hold_a_bounded_number_of_cards(ip: InteractiveShell) -> None:
    records = made(ip, 5, n=2)  # ten images (one generation each: -n 2 is two requests), newest first
    view = HistoryView(records, page_size=4)
    seeds = [{card.choice.seed for card in view.cards}]
    assert view.pages == 3 and view.newer.disabled and not view.older.disabled
    assert "10 generations · images 1-4 of 10, page 1 of 3" in view.header.value
    first_page = list(view.grid.children)
    view.older.click()
    seeds.append({card.choice.seed for card in view.cards})
    assert all(widget.comm is None for widget in first_page)  # the page turned away is closed, not kept
    view.older.click()
    seeds.append({card.choice.seed for card in view.cards})
    assert view.older.disabled and not view.newer.disabled and len(view.grid.children) == 2
    assert seeds == [{140, 141, 130, 131}, {120, 121, 110, 111}, {100, 101}]
    view.older.click()  # past the end: stays on the last page
    assert view.page == 2
    view.newer.click()
    assert view.page == 1 and "images 5-8 of 10, page 2 of 3" in view.header.value
    when = f"{records[4].created:%Y-%m-%d %H:%M} · magic"
    assert "fox 2" in view.cards[0].caption and when in view.cards[0].caption


def test_card_actions_reach_the_last_panel(ip: InteractiveShell, tmp_path: Path) -> None:
    records = made(ip, 2)
    view = HistoryView(records)
    ImaginePanel(shell=ip).close()  # the last panel made (here or by an earlier test) is closed: none left
    buttons(view, 1)["Reuse in the panel"].click()  # type: ignore[attr-defined]
    assert "no panel in this kernel yet: run %imagine_panel" in view.status.value
    panel = ImaginePanel(shell=ip)
    panel.prompt.value = "something else"
    buttons(view, 1)["Reuse in the panel"].click()  # type: ignore[attr-defined]
    old = records[1].response.data[0]  # type: ignore[index]
    assert (panel.prompt.value, panel.seed.value, panel.lock.value) == ("fox 0", 100, True)
    assert (panel.width.value, panel.height.value) == (256, 256)
    assert "settings from the history: seed 100 (locked)" in panel.status.value
    assert "seed 100" in view.status.value
    panel.generate.click()  # no loop running here: the panel generates at once
    assert panel.last is not None and panel.last.request.seed == 100, panel.status.value
    assert panel.last.data[0].image_bytes() == old.image_bytes()  # type: ignore[index]  # the same image
    buttons(view, 0)["Use as reference"].click()  # type: ignore[attr-defined]
    assert panel._reference == records[0].response.data[0].image_bytes()  # type: ignore[index]
    assert "history image, seed 110" in panel.reference_label.value
    buttons(view, 0)["Save"].click()  # type: ignore[attr-defined]
    note = view.cards[0].note.value  # Imagine.save_dir saved it when it was made: found, not copied again
    assert "already saved as" in note and "fox-1-s110.jpg" in note and "saved" in view.status.value
    copy = buttons(view, 0)["Copy as code"]
    head, body = copy.text.split("\n", 1)  # type: ignore[attr-defined]
    options = parse_line(head.removeprefix("%%imagine "), body, {})
    assert build_plan(options, config=panel.settings).request == records[0].request
    copy.click()  # type: ignore[attr-defined]
    assert view.code.value == copy.text and view.code.layout.display == ""  # type: ignore[attr-defined]
    view.grid.children[1].children[0].children[1].click()  # enlarge
    assert view.viewer.layout.display == "" and "fox 0" in view.viewer_caption.value
    with Image.open(io.BytesIO(view.viewer_image.value)) as img:
        assert img.size == (256, 256)
    panel.close()
    buttons(view, 0)["Use as reference"].click()  # type: ignore[attr-defined]
    assert "no panel in this kernel yet" in view.status.value  # a closed panel is no target


def test_static_copy_follows_the_page(ip: InteractiveShell) -> None:
    records = made(ip, 3)
    view = HistoryView(records, page_size=2)
    with capture_output() as shown:
        view._ipython_display_()
    kinds = [sorted(output.data) for output in shown.outputs]
    assert kinds == [["application/vnd.jupyter.widget-view+json", "text/plain"], ["text/html", "text/plain"]]
    assert shown.outputs[0].data["text/plain"] == repr(records)  # the text repr stays the history's
    first = view._snapshot_bundle()["text/html"]
    assert 'class="together-magic-snapshot"' in first and first.count("<img ") == 2
    assert "fox 2" in first and "fox 0" not in first and "%%imagine --model" in first
    view.older.click()
    second = view._snapshot_bundle()
    assert second["text/html"].count("<img ") == 1 and "fox 0" in second["text/html"]
    assert second["text/plain"] == "history page 2 of 2 (static copy)"


def test_an_empty_history_says_what_to_do(ip: InteractiveShell) -> None:
    view = HistoryView(history(config=tm_config.current()))
    assert view.grid.children == () and view.newer.disabled and view.older.disabled
    assert view.newer.layout.display == view.older.layout.display == "none"
    assert "0 generations (generate something" in view.header.value


def test_the_static_page_is_bounded(ip: InteractiveShell) -> None:
    records = made(ip, 7, n=4)
    page = records.html()
    assert page.count("<img ") == 24 and "images 1-24 of 28, page 1 of 2" in page
    assert records.html(1).count("<img ") == 4
