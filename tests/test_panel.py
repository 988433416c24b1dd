"""The widget panel, driven as its buttons are, on a running event loop, against the offline backend."""

from __future__ import annotations

import asyncio
import datetime
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

from together_magic import config as tm_config
from together_magic.offline import shared_backend
from together_magic.panel import BUSY_NOTE, ImaginePanel

pytestmark = pytest.mark.anyio


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    settings = tm_config.Imagine(cache_dir=str(tmp_path / "cache"), save_dir=str(tmp_path / "saved"))
    tm_config.set_current(settings)
    yield ip
    tm_config.set_current(None)
    for name in ("panel_reference", "latest"):
        ip.user_ns.pop(name, None)


def make(shell: InteractiveShell, **kwargs: Any) -> ImaginePanel:
    panel = ImaginePanel(shell=shell, **kwargs)
    panel.prompt.value = "a red fox in a snowy forest"
    panel.width.value, panel.height.value = 320, 256
    return panel


def item_parts(panel: ImaginePanel, position: int = 0) -> dict[str, Any]:
    image, caption, buttons, note, code = panel.gallery.children[position].children
    return {
        "image": image,
        "caption": caption.value,
        "note": note,
        "code": code,
        "buttons": {b.description: b for b in buttons.children},
    }


async def test_generate_fills_gallery_responses_and_binding(shell: InteractiveShell) -> None:
    panel = make(shell, bind="latest")
    panel.n.value = 2
    panel.negative.value = "rain"
    panel.generate.click()
    assert panel.generate.disabled and BUSY_NOTE in panel.status.value
    await panel.task
    assert re.fullmatch(r"done: 2 images \(\d+\.\d s\)", panel.status.value), panel.status.value
    assert len(panel.responses) == 1 and panel.last is panel.responses[-1]
    assert shell.user_ns["latest"] is panel.last
    request = panel.last.request
    assert (request.width, request.height, request.n, request.negative_prompt) == (320, 256, 2, "rain")
    assert request.seed == panel.seed.value
    assert len(panel.gallery.children) == 2
    part = item_parts(panel)
    assert f"seed {request.seed}" in part["caption"] and "320x256" in part["caption"]
    with Image.open(io.BytesIO(part["image"].value)) as img:
        assert img.size == (320, 256)
    assert not panel.generate.disabled and panel.cancel.disabled


async def test_newest_first_and_seed_handling(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.generate.click()
    await panel.task
    first_seed = panel.last.request.seed
    panel.generate.click()  # unlocked: a new seed is drawn
    await panel.task
    assert panel.last.request.seed != first_seed
    assert f"seed {panel.last.request.seed}" in item_parts(panel, 0)["caption"]
    assert f"seed {first_seed}" in item_parts(panel, 1)["caption"]
    item_parts(panel, 1)["buttons"]["reuse this seed"].click()
    assert panel.seed.value == first_seed and panel.lock.value
    panel.generate.click()
    await panel.task
    assert panel.last.request.seed == first_seed
    assert panel.last.image_bytes() == panel.responses[0].image_bytes()
    before_dice = panel.seed.value
    panel.dice.click()
    assert panel.seed.value != before_dice  # 1 in 2**32 to collide


async def test_copy_as_code_reproduces_the_request(shell: InteractiveShell) -> None:
    from together_magic.lineparse import parse_line
    from together_magic.plan import build_plan

    panel = make(shell)
    panel.steps.value = 3
    panel.guidance.value = 6.5
    panel.negative.value = 'no "quotes" here'
    panel.generate.click()
    await panel.task
    part = item_parts(panel)
    part["buttons"]["copy as code"].click()
    code = part["code"].value
    assert part["code"].layout.display == ""
    head, body = code.split("\n", 1)
    assert head.startswith("%%imagine --model black-forest-labs/FLUX.1-schnell --n 1 --seed ")
    options = parse_line(head.removeprefix("%%imagine "), body, shell.user_ns)
    plan = build_plan(options, config=panel.settings, namespace=shell.user_ns)
    assert plan.request == panel.last.request


async def test_save_and_use_as_reference(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # "copy as code" writes the reference image next to the notebook
    panel = make(shell)
    panel.generate.click()
    await panel.task
    part = item_parts(panel)
    part["buttons"]["save"].click()
    part["buttons"]["save"].click()
    saved = sorted((tmp_path / "saved").iterdir())
    # the second click finds the first copy instead of making "-0-1.jpg"
    assert [p.name for p in saved] == [f"a-red-fox-in-a-snowy-forest-s{panel.last.request.seed}.jpg"]
    assert "already saved as" in part["note"].value
    part["buttons"]["use as reference"].click()
    assert not panel.clear_reference.disabled
    panel.generate.click()
    await panel.task
    assert "takes no image input" in panel.status.value  # FLUX.1 schnell edits nothing
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    panel.generate.click()
    await panel.task
    assert panel.last.request.model_extra["image_url"].startswith("data:image/jpeg;base64,")
    item_parts(panel)["buttons"]["copy as code"].click()
    code = item_parts(panel)["code"].value
    reference = code.split("--image ", 1)[1].split()[0]
    assert reference.startswith("references/reference-") and (tmp_path / reference).is_file()
    assert "panel_reference" not in shell.user_ns
    panel.clear_reference.click()
    assert panel.clear_reference.disabled


async def test_bad_size_is_the_magics_one_line(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.width.value, panel.height.value = 1000, 1001
    panel.generate.click()
    assert panel.task is None
    assert "--height must be a multiple of 8 between 256 and 1920" in panel.status.value
    assert "try 1000 or 1008" in panel.status.value
    assert not panel.generate.disabled


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
        await panel.task
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
    await panel.task
    assert shared_backend().stats["requests"] == before + 1
    assert panel.sent == 1 and len(panel.responses) == 1


async def test_presets_set_the_size(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.preset.value = "portrait"
    assert (panel.width.value, panel.height.value) == (768, 1024)
    panel.width.value = 512
    assert panel.preset.value == "custom"
    panel.height.value, panel.width.value = 1024, 1024
    assert panel.preset.value == "square"


async def test_reference_upload(shell: InteractiveShell) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (0, 200, 0)).save(buffer, format="PNG")
    panel = make(shell)
    panel.upload.value = (
        {
            "name": "ref.png",
            "type": "image/png",
            "size": len(buffer.getvalue()),
            "last_modified": datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc),
            "content": memoryview(buffer.getvalue()),
        },
    )
    assert not panel.clear_reference.disabled and "panel_reference" not in shell.user_ns
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    panel.generate.click()
    await panel.task
    assert panel.last.request.model_extra["image_url"].startswith("data:image/png;base64,")


async def test_cache_setting_is_honoured(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.lock.value = True
    for _ in range(2):
        panel.generate.click()
        await panel.task
    assert panel.last.cached  # same seed, same form: the second answer came from the cache
    panel.settings.cache = False
    panel.generate.click()
    await panel.task
    assert not panel.last.cached
