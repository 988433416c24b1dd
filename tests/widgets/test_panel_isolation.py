"""Two panels in one kernel never share anything: each sends its own reference, binds only its own name."""

from __future__ import annotations

import io

import pytest
from IPython.core.interactiveshell import InteractiveShell
from PIL import Image

from ..panel_helpers import make, shell, upload

pytestmark = pytest.mark.anyio
__all__ = ["shell"]  # the fixture, used by name


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(out, format="PNG")
    return out.getvalue()


async def test_each_panel_sends_its_own_reference(shell: InteractiveShell) -> None:
    before = set(shell.user_ns)
    red, blue = png((220, 20, 20)), png((20, 20, 220))
    first, second = make(shell, bind="from_a"), make(shell, bind="from_b")
    for panel, data, name in ((first, red, "red.png"), (second, blue, "blue.png")):
        panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
        upload(panel.upload, data, name)
    shell.user_ns["panel_reference"] = "the user's own variable"
    first.generate.click()
    await first.task
    second.generate.click()
    await second.task
    sent_a = first.last.request.model_extra["image_url"]  # type: ignore[union-attr]
    sent_b = second.last.request.model_extra["image_url"]  # type: ignore[union-attr]
    assert sent_a != sent_b and sent_a.startswith("data:image/png") and sent_b.startswith("data:image/png")
    assert shell.user_ns["panel_reference"] == "the user's own variable"  # untouched
    assert set(shell.user_ns) - before == {"panel_reference", "from_a", "from_b"}  # only what was named
    assert shell.user_ns["from_a"] is first.last and shell.user_ns["from_b"] is second.last
