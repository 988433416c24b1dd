"""The panel against a real gateway whose student has two images left (issue 26 item 4, in the panel).

The panel sends ``n`` = 4 as four one-image requests, as the magic does: the two the gateway made and
charged are added to the gallery and kept in ``panel.responses``, then the 402 is the status line.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ..conftest import Server
from ..panel_helpers import make, shell
from .conftest import Gateway

__all__ = ["shell"]

pytestmark = pytest.mark.anyio


async def test_the_panel_keeps_the_images_paid_for_then_says_the_402(
    shell: InteractiveShell, upstream: Server, start_gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url)
    monkeypatch.setenv("TOGETHER_BASE_URL", gw.root)
    monkeypatch.setenv("TOGETHER_API_KEY", gw.add("two-left", images=2))
    panel = make(shell, bind="latest")
    panel.n.value = 4
    panel.generate.click()
    await panel.task
    assert "402 budget_exceeded" in panel.status.value, panel.status.value
    assert "class grant two-left" in panel.status.value
    assert len(panel.gallery.children) == 2  # the two images made and charged, shown
    (response,) = panel.responses
    assert len(response.data) == 2 and all(d.provenance.backend == "gateway" for d in response.data)
    assert shell.user_ns["latest"] is response
    usage = {u.name: u for u in gw.roster.usage()}["two-left"]
    assert (usage.images_used, usage.refused) == (2, 2)
