"""The live status line and the offline notice: information on screen, nothing kept, never stderr."""

from __future__ import annotations

import asyncio

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from together_magic import live, progress


@pytest.fixture(autouse=True)
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


def test_status_line_starts_and_ends_empty_and_ticks_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "TICK_SECONDS", 0.02)

    async def wait() -> None:
        with progress.StatusLine("generating 2 images with FLUX.1-schnell") as status:
            await asyncio.sleep(0.15)
            status.part_done(0, object())
            await asyncio.sleep(0.1)

    with capture_output() as shown:
        asyncio.run(wait())
    assert not shown.stderr and not shown.stdout
    data = [output.data for output in shown.outputs]
    assert data[0] == {} and data[-1] == {}  # a saved notebook keeps nothing of it
    texts = [d["text/plain"] for d in data[1:-1]]
    assert texts and all(t.startswith("generating 2 images with FLUX.1-schnell … ") for t in texts)
    assert texts[-1].endswith("(1 done)") and "(1 done)" not in texts[0]
    assert all("⏳" in d["text/html"] for d in data[1:-1])


def test_status_line_disabled_or_without_a_loop_shows_nothing() -> None:
    with capture_output() as shown:
        with progress.StatusLine("x", enabled=False):
            pass
        with progress.StatusLine("y"):  # no running loop: a nicety, never a failure
            pass
    assert all(o.data == {} for o in shown.outputs)


def test_offline_notice_once_per_kernel_and_not_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_noticed", False)
    with capture_output() as shown:
        progress.offline_notice()
        progress.offline_notice()
    assert not shown.stderr
    assert [o.data["text/plain"] for o in shown.outputs] == [progress.OFFLINE_NOTICE_TEXT]
    assert "TOGETHER_API_KEY" in shown.outputs[0].data["text/html"]
