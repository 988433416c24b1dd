"""The live status line and the offline notice: information on screen, nothing kept, never stderr."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from together_magic.display import live
from together_magic.display import status as progress

from ..gateway.conftest import Gateway


@pytest.fixture(autouse=True)
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


def test_status_line_starts_and_ends_empty_and_ticks_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "TICK_SECONDS", 0.02)

    async def wait() -> None:
        with progress.StatusLine("generating 2 images with FLUX.2-dev") as status:
            await asyncio.sleep(0.15)
            status.part_done(0, object())
            await asyncio.sleep(0.1)

    with capture_output() as shown:
        asyncio.run(wait())
    assert not shown.stderr and not shown.stdout
    data = [output.data for output in shown.outputs]
    assert data[0] == {} and data[-1] == {}  # a saved notebook keeps nothing of it
    texts = [d["text/plain"] for d in data[1:-1]]
    assert texts and all(t.startswith("generating 2 images with FLUX.2-dev … ") for t in texts)
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


def test_a_class_gateway_answering_offline_does_not_tell_the_student_to_set_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A student who set TOGETHER_BASE_URL and their class token gets offline pictures when the gateway has
    no upstream (or falls back): the notice says so, and never "no TOGETHER_API_KEY is set"."""
    gateway = Gateway(tmp_path / "class", ["--upstream", "offline"], key=None)
    ip = InteractiveShell.instance()
    try:
        monkeypatch.setenv("TOGETHER_BASE_URL", gateway.root)
        monkeypatch.setenv("TOGETHER_API_KEY", gateway.add("ada", images=3))
        monkeypatch.setattr(progress, "_noticed", False)
        ip.run_line_magic("load_ext", "together_magic")
        ip.run_line_magic("config", f"Imagine.cache_dir = {str(tmp_path / 'cache')!r}")
        with capture_output() as shown:
            result = ip.run_cell("%%imagine --seed 3 --size 256x256\na lighthouse at dusk")
        assert result.success and result.result.provenance.backend == "offline"
        notices = [o.data["text/plain"] for o in shown.outputs if "procedural renderer" in str(o.data)]
        assert notices == [progress.GATEWAY_OFFLINE_TEXT] and not shown.stderr
        assert "TOGETHER_API_KEY" not in notices[0]
    finally:
        ip.run_line_magic("unload_ext", "together_magic")
        ip.config.pop("Imagine", None)
        gateway.stop()
