"""The panel as a class meets it: the seed in the box is the seed sent, settings from an image ask for the
reference image the file left out, the enlarged view says what its buttons did, Enter generates, and each
card can download its image (issues 24 and 26). Driven as the buttons are, against the offline backend."""

from __future__ import annotations

import html
import io
import random
import re
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

from together_magic.widgets.bridges import DownloadButton
from together_magic.widgets.form import MISSING

from ..panel_helpers import card_parts, generate, make, png, shell, upload

__all__ = ["shell"]

pytestmark = pytest.mark.anyio


def noise_png(side: int = 256) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(7).randbytes(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value))


async def test_the_seed_in_the_box_is_the_seed_sent(shell: InteractiveShell) -> None:
    panel = make(shell)
    shown = panel.seed.value
    await generate(panel)  # a fresh panel: its pre-filled seed is the one used
    assert panel.last.request.seed == shown and panel.seed.value == shown and not panel.lock.value
    panel.seed.value = 777  # typed, no lock pressed
    await generate(panel)
    assert panel.last.request.seed == 777 and panel.seed.value == 777
    await generate(panel)  # unlocked and unchanged since: a new image, its seed shown in the box
    assert panel.last.request.seed not in (777, shown) and panel.seed.value == panel.last.request.seed
    panel.lock.value = True
    kept = panel.seed.value
    await generate(panel)
    assert panel.last.request.seed == kept
    panel.lock.value = False
    panel.seed.value = 4242
    panel.axis.value, panel.values.value = "steps", "1,2"
    panel.compare.click()  # Compare sends the typed seed too
    assert panel.task is not None
    sweep = await panel.task
    assert {cell.request.seed for cell in sweep.cells} == {4242}


async def test_settings_from_an_image_made_with_a_reference_ask_for_it(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    reference = noise_png()  # too large to be kept inline in the saved file's recipe
    upload(panel.upload, reference, "ref.png")
    await generate(panel)
    made = panel.last
    card_parts(panel)["buttons"]["Save"].click()  # the file keeps the recipe, not the reference's bytes
    saved = next((Path(panel.settings.save_dir or "")).iterdir())
    fresh = make(shell)
    upload(fresh.load_settings, saved.read_bytes(), saved.name)
    assert (
        fresh.model.value == "black-forest-labs/FLUX.1-kontext-pro" and fresh.seed.value == made.request.seed
    )
    assert MISSING in text(fresh.status.value)
    assert "reference image missing: upload it again" in text(fresh.reference_label.value)
    assert fresh.reference_row.layout.display == "" and fresh.clear_reference.layout.display == ""
    fresh.generate.click()  # asked, not silently sent without it
    assert fresh.task is None and not fresh.responses and MISSING in text(fresh.status.value)
    upload(fresh.upload, reference, "ref.png")  # given again: the same image as before
    assert "missing" not in fresh.reference_label.value
    await generate(fresh)
    assert fresh.last.data[0].image_bytes() == made.data[0].image_bytes()
    # or go on without it, on purpose
    upload(fresh.load_settings, saved.read_bytes(), saved.name)
    fresh.clear_reference.click()
    await generate(fresh)
    assert "image_url" not in (fresh.last.request.model_extra or {})


async def test_history_reuse_brings_the_reference_along(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    upload(panel.upload, png((200, 0, 0)), "ref.png")
    await generate(panel)
    request = panel.last.request
    other = make(shell)
    other.apply_request(request.payload())  # what "Reuse in the panel" does with a stored request
    await generate(other)
    assert other.last.request.model_extra["image_url"] == request.model_extra["image_url"]


async def test_the_enlarged_view_says_what_its_buttons_did(shell: InteractiveShell) -> None:
    panel = make(shell)
    await generate(panel)
    seed = panel.last.request.seed
    panel.seed.value = 5
    card_parts(panel)["enlarge"].click()
    side = panel.viewer.children[0].children[1]
    buttons = {b.description: b for b in side.children if getattr(b, "description", "")}
    buttons["Reuse seed"].click()
    assert panel.seed.value == seed and panel.lock.value
    assert f"seed {seed} set and locked" in text(panel.viewer_note.value)  # in view, over the form
    buttons["Use as reference"].click()
    assert "is the reference now" in text(panel.viewer_note.value)


async def test_enter_in_the_prompt_generates(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.prompt_keys._handle_custom_msg({"event": "submit"}, [])  # as the browser's message arrives
    assert panel.task is not None
    await panel.task
    assert len(panel.responses) == 1
    panel.generate.disabled = True  # busy: Enter does not queue a second request
    panel.prompt_keys._handle_custom_msg({"event": "submit"}, [])
    assert len(panel.responses) == 1 and not panel.busy


async def test_each_card_downloads_its_own_image(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.n.value = 2
    await generate(panel)
    for position in range(2):
        button = card_parts(panel, position)["buttons"]["Download"]
        assert isinstance(button, DownloadButton)
        choice = panel.cards[position].choice
        assert button.payload() == choice.image_bytes()
        assert button.filename == f"a-red-fox-in-a-snowy-forest-s{choice.seed}.jpg"  # as Save names it
        assert button.mime == "image/jpeg"


async def test_a_panel_hides_only_its_own_static_copy(shell: InteractiveShell) -> None:
    panel = make(shell)
    await generate(panel)
    style = panel.children[0].value
    assert f'data-owner="{panel.model_id}"' in panel.snapshot_html()
    assert f'.together-magic-snapshot[data-owner="{panel.model_id}"]' in style
    assert "{ display: none" not in style.split(panel.model_id)[0].split(".together-magic-snapshot")[-1]
    assert not re.search(r"(^|[,}\s])\.together-magic-snapshot\s*[,{]", style)  # no rule for every copy
