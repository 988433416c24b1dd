"""The widget panel, driven as its buttons are, on a running event loop, against the offline backend."""

from __future__ import annotations

import asyncio
import html
import io
import re
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from PIL import Image

from together_magic import models
from together_magic.generation.line import parse_line
from together_magic.generation.plan import build_plan
from together_magic.offline import shared_backend
from together_magic.widgets.clipboard import CopyButton
from together_magic.widgets.form import READABLE_SEEDS
from together_magic.widgets.gallery import KEEP_CARDS, MAX_CARDS
from together_magic.widgets.panel import BUSY_NOTE

from ..panel_helpers import card_parts, generate, make, shell, shown

__all__ = ["shell"]

pytestmark = pytest.mark.anyio


async def test_generate_fills_gallery_responses_and_binding(shell: InteractiveShell) -> None:
    panel = make(shell, bind="latest")
    panel.n.value = 2
    panel.negative.value = "rain"  # typed, but FLUX.2 [dev] takes none: hidden, and not sent
    assert panel.negative.layout.display == "none"
    panel.generate.click()
    assert panel.generate.disabled and BUSY_NOTE in panel.status.value
    await panel.task
    assert re.fullmatch(r"done: 2 images \(\d+\.\d s\)", panel.status.value), panel.status.value
    assert len(panel.responses) == 1 and panel.last is panel.responses[-1]
    assert shell.user_ns["latest"] is panel.last
    request = panel.last.request
    assert (request.width, request.height, request.n, request.negative_prompt) == (320, 256, 2, None)
    assert request.seed == panel.seed.value
    assert len(panel.gallery.children) == 2
    for position in range(2):  # each image has its own seed, on its card
        part = card_parts(panel, position)
        assert f"seed {request.seed + position}" in part["caption"] and "320x256" in part["caption"]
        assert "$0.0" in part["caption"] and "offline" in part["caption"]  # the estimate and the badge
    with Image.open(io.BytesIO(card_parts(panel)["image"].value)) as img:
        assert img.size == (256, 205)  # a thumbnail, not the full image
    assert not panel.generate.disabled and panel.cancel.disabled


async def test_newest_first_and_seed_handling(shell: InteractiveShell) -> None:
    panel = make(shell)
    await generate(panel)
    first_seed = panel.last.request.seed
    assert READABLE_SEEDS[0] <= first_seed <= READABLE_SEEDS[1]  # five digits, read aloud in a class
    await generate(panel)  # unlocked: a new seed is drawn
    assert panel.last.request.seed != first_seed
    assert f"seed {panel.last.request.seed}" in card_parts(panel, 0)["caption"]
    assert f"seed {first_seed}" in card_parts(panel, 1)["caption"]
    card_parts(panel, 1)["buttons"]["Reuse seed"].click()
    assert panel.seed.value == first_seed and panel.lock.value
    await generate(panel)
    assert panel.last.request.seed == first_seed
    assert panel.last.image_bytes() == panel.responses[0].image_bytes()
    before_dice = panel.seed.value
    panel.dice.click()
    assert panel.seed.value != before_dice or panel.seed.value != panel.seed.value + 1


async def test_reuse_seed_of_image_k_of_a_split_request(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.n.value = 4
    await generate(panel)
    seed = panel.last.request.seed
    card_parts(panel, 2)["buttons"]["Reuse seed"].click()
    assert panel.seed.value == seed + 2
    panel.n.value = 1
    await generate(panel)
    assert panel.last.data[0].image_bytes() == panel.responses[0].data[2].image_bytes()


async def test_copy_as_code_reproduces_the_request(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.steps.value = 3
    panel.guidance.value = 6.5
    panel.negative.value = 'no "quotes" here'
    await generate(panel)
    copy = card_parts(panel)["buttons"]["Copy as code"]
    assert isinstance(copy, CopyButton) and copy.anchor == panel.model_id
    code = copy.text  # ready before the click, so the browser copies inside the click itself
    head, body = code.split("\n", 1)
    assert head.startswith("%%imagine --model black-forest-labs/FLUX.2-dev --n 1 --seed ")
    options = parse_line(head.removeprefix("%%imagine "), body, shell.user_ns)
    plan = build_plan(options, config=panel.settings, namespace=shell.user_ns)
    assert plan.request == panel.last.request
    copy.click()  # no browser here: the code is shown to copy by hand
    assert panel.code.value == code and panel.code.layout.display == ""
    assert "copy the cell from the box below" in panel.status.value


async def test_viewer_enlarges_and_acts_on_its_image(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.n.value = 2
    await generate(panel)
    card_parts(panel, 1)["enlarge"].click()
    assert panel.viewer.layout.display == ""
    with Image.open(io.BytesIO(panel.viewer_image.value)) as img:
        assert img.size == (320, 256)  # the full preview, larger than the thumbnail
    second = panel.last.data[1]
    assert f"seed {second.seed}" in panel.viewer_caption.value
    assert panel.viewer_copy.text == panel.viewer_insert.text == panel.cards[1].copy.text
    assert panel.viewer_insert.insert and panel.viewer_insert.anchor == panel.model_id
    side = panel.viewer.children[0].children[1]
    viewer_buttons = {b.description: b for b in side.children if getattr(b, "description", "")}
    viewer_buttons["Reuse seed"].click()
    assert panel.seed.value == second.seed
    viewer_buttons["Close"].click()
    assert panel.viewer.layout.display == "none"


async def test_save_and_use_as_reference(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # "Copy as code" writes the reference image next to the notebook
    panel = make(shell)
    panel.model.value = "openai/gpt-image-2"  # a model that takes no image input
    await generate(panel)
    part = card_parts(panel)
    part["buttons"]["Save"].click()
    part["buttons"]["Save"].click()
    saved = sorted((tmp_path / "saved").iterdir())
    # the second click finds the first copy instead of making "-0-1.jpg"
    assert [p.name for p in saved] == [f"a-red-fox-in-a-snowy-forest-s{panel.last.request.seed}.jpg"]
    assert "already saved as" in part["note"].value and str(saved[0].resolve()) in part["note"].value
    assert panel.reference_row.layout.display == "none"  # GPT Image 2 takes no image: no control
    part["buttons"]["Use as reference"].click()
    seed = panel.last.request.seed
    assert f"gallery image, seed {seed}" in panel.reference_label.value
    assert "takes no image" in panel.reference_label.value  # shown, with the reason it cannot be sent
    assert not panel.clear_reference.disabled
    sent = len(panel.responses)
    for button in (panel.generate, panel.compare):  # the panel's own words: no "--image", no 28 model ids
        button.click()
        status = html.unescape(re.sub(r"<[^>]+>", "", panel.status.value))
        assert "GPT Image 2 takes no image: remove the reference image, or choose" in status, status
        assert "--image" not in status and "FLUX.2 [dev]" in status and "/" not in status
    assert len(panel.responses) == sent and not panel.busy  # nothing was sent
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    assert "takes no image" not in panel.reference_label.value
    await generate(panel)
    assert panel.last.request.model_extra["image_url"].startswith("data:image/jpeg;base64,")
    copy = card_parts(panel)["buttons"]["Copy as code"]
    reference = copy.text.split("--image ", 1)[1].split()[0]
    assert reference.startswith("references/reference-") and not (tmp_path / reference).exists()
    copy.click()  # the file is written when the code is copied
    assert (tmp_path / reference).is_file()
    assert "panel_reference" not in shell.user_ns
    panel.clear_reference.click()
    assert panel.clear_reference.disabled and not panel.reference_label.value


async def test_bad_size_is_the_magics_one_line(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.width.value, panel.height.value = 1000, 1001
    panel.generate.click()
    assert panel.task is None
    assert "--height must be a multiple of 8 between 256 and 1920" in panel.status.value
    assert "try 1000 or 1008" in panel.status.value
    assert not panel.generate.disabled


async def test_cost_estimate_and_budget(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.width.value = panel.height.value = 1024
    panel.n.value = 4
    expected = models.estimate_cost(models.DEFAULT_MODEL, 1024, 1024, n=4)
    assert f"≈ ${expected:.4f}" in panel.cost.value
    panel.settings.budget = 0.001
    before = shared_backend().stats["requests"]
    panel.generate.click()
    if panel.task is not None:
        await panel.task
    assert "would cost about" in panel.status.value and "budget" in panel.status.value
    assert panel.status.value.count("\n") == 0 and panel.responses == []
    assert shared_backend().stats["requests"] == before  # refused before anything was sent


async def test_cancel_stops_within_a_fraction_of_a_second(
    shell: InteractiveShell, backend_latency: Any
) -> None:
    backend_latency(5.0)
    panel = make(shell)
    panel.generate.click()
    await asyncio.sleep(0.3)
    started = asyncio.get_running_loop().time()
    panel.cancel.click()
    with pytest.raises(asyncio.CancelledError):
        await panel.task  # type: ignore[misc]
    assert asyncio.get_running_loop().time() - started < 0.3
    assert panel.status.value.startswith("cancelled after")
    assert panel.responses == [] and panel.gallery.children == ()
    assert not panel.generate.disabled and panel.cancel.disabled


async def test_double_click_sends_one_request(shell: InteractiveShell, backend_latency: Any) -> None:
    backend_latency(0.3)
    panel = make(shell)
    before = shared_backend().stats["requests"]
    panel.generate.click()
    panel.generate.click()
    panel.generate.click()
    await panel.task  # type: ignore[misc]
    assert shared_backend().stats["requests"] == before + 1
    assert panel.sent == 1 and len(panel.responses) == 1


async def test_cache_setting_is_honoured(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.lock.value = True
    for _ in range(2):
        await generate(panel)
    assert panel.last.cached  # same seed, same form: the second answer came from the cache
    panel.settings.cache = False
    await generate(panel)
    assert not panel.last.cached


async def test_static_copy_of_the_gallery(shell: InteractiveShell) -> None:
    panel = make(shell)
    with capture_output() as shown:
        panel._ipython_display_()
    kinds = [sorted(output.data) for output in shown.outputs]
    assert kinds == [
        ["application/vnd.jupyter.widget-view+json", "text/plain"],
        ["text/html", "text/plain"],
    ]
    assert panel._snapshot is not None and "0 images" in shown.outputs[1].data["text/plain"]
    await generate(panel)
    panel.n.value = 2
    await generate(panel)
    snapshot = panel.snapshot_html()
    assert snapshot.count("<img ") == 3 and "3 images" in snapshot
    seeds = [choice.seed for response in reversed(panel.responses) for choice in response.data]
    positions = [snapshot.index(f"seed {seed}") for seed in seeds]
    assert positions == sorted(positions)  # newest first, as in the live grid


async def test_the_widgets_saved_text_never_goes_stale(shell: InteractiveShell) -> None:
    """A saved notebook, nbconvert or GitHub (no widget state) show the widget output's text/plain: it was
    "ImaginePanel(0 responses)", the count when the cell ran, above a gallery copy of many images."""
    panel = make(shell)
    with capture_output() as shown:
        panel._ipython_display_()
    saved = shown.outputs[0].data["text/plain"]
    await generate(panel)
    await generate(panel)
    with capture_output() as again:
        panel._ipython_display_()
    assert again.outputs[0].data["text/plain"] == saved  # nothing in it depends on what was made
    assert "run this cell" in saved and "gallery" in saved


async def test_gallery_keeps_a_bounded_number_of_cards(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.width.value = panel.height.value = 256
    panel.n.value = 4
    rounds = MAX_CARDS // 4 + 1
    for _ in range(rounds):
        await generate(panel)
    # past MAX_CARDS the oldest go in one batch (the front end re-renders once, not on every click)
    assert len(panel.cards) == len(panel.gallery.children) == KEEP_CARDS
    assert panel.cards[0].choice is panel.last.data[0]  # type: ignore[union-attr,index]
    assert len(panel.responses) == rounds  # every response is still kept
    before = panel.gallery.children
    await generate(panel)
    assert panel.gallery.children[: len(before)] == before  # new cards are added, none rebuilt
    assert shown(panel)[:4] == [card.widget for card in panel.cards[:4]]
