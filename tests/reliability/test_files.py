"""Saving never overwrites, never leaves the target folder, and never leaves a partial image behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import together_magic as tm
from together_magic.files import atomic_write_new
from together_magic.outputs import save_response
from together_magic.types import Provenance, attach_provenance
from together_magic.panel import ImaginePanel

from ..conftest import MODEL

nasty_prompts = st.one_of(
    st.sampled_from(
        [
            "../../x",
            "/etc/passwd",
            "..",
            ".",
            "a\x00b",
            "C:\\Windows\\x",
            "~/x",
            "x" * 5000,
            "🦊/../🦊",
            "con",
            "a/b/c",
            " ",
            "\u202e\u2066evil",
            "name.png",
            "-rf /",
        ]
    ),
    st.text(min_size=1, max_size=200),
)
_response_cache: dict[str, tm.ImageResponse] = {}


def response_for(prompt: str) -> tm.ImageResponse:
    base = _response_cache.get("base")
    if base is None:
        with tm.Together(base_url="offline") as client:
            base = client.images.generate(prompt="fox", model=MODEL, seed=1, n=2, width=256, height=256)
        _response_cache["base"] = base
    clone = tm.ImageResponse.model_validate(base.model_dump())
    request = tm.ImageRequest(prompt=prompt or " ", model=MODEL, seed=1, n=2, width=256, height=256)
    return attach_provenance(clone, Provenance(request=request))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=nasty_prompts)
def test_save_stays_inside_and_never_overwrites(tmp_path: Path, prompt: str) -> None:
    folder = tmp_path / "out"
    folder.mkdir(exist_ok=True)
    before = {p: p.read_bytes() for p in folder.iterdir()}
    response = response_for(prompt)
    first = save_response(response, folder)
    second = save_response(response, folder)
    assert first.ok and second.ok
    paths = [p for p in first.paths + second.paths if p is not None]
    for path in paths:
        assert path.resolve().parent == folder.resolve()
        assert not path.name.startswith(".")
        assert path.read_bytes().startswith(b"\xff\xd8")
    assert second.paths == first.paths and all(second.existing)  # the same images: found, not copied
    assert len(set(paths)) == 2
    for path, data in before.items():
        assert path.read_bytes() == data  # nothing that was there changed
    assert not list(folder.glob(".together-magic-*"))
    assert sorted(os.listdir(tmp_path)) == ["out"]  # nothing escaped next to (or above) the folder


@pytest.mark.anyio
async def test_panel_save_never_overwrites(tmp_path: Path) -> None:
    from together_magic import config

    config.set_current(config.Imagine(save_dir=str(tmp_path / "saved"), cache=False))
    try:
        panel = ImaginePanel(shell=None)
        panel.prompt.value = "../../../../tmp/escape attempt"
        panel.width.value = panel.height.value = 256
        panel.generate.click()
        await panel.task
        save = next(b for b in panel.gallery.children[0].children[2].children if b.description == "save")
        for _ in range(3):
            save.click()
    finally:
        config.set_current(None)
    saved = sorted(p.name for p in (tmp_path / "saved").iterdir())
    seed = panel.last.request.seed  # type: ignore[union-attr]
    assert saved == [f"tmp-escape-attempt-s{seed}.jpg"]  # three clicks, one file, nothing overwritten


WRITER = """
import sys
from pathlib import Path
from together_magic.files import atomic_write_new
folder = Path(sys.argv[1])
data = b"\\xff\\xd8" + b"x" * (200 * 1024 * 1024)  # 200 MB: the kill lands mid-write
print("writing", flush=True)
atomic_write_new(folder / "big.jpg", data)
print("done", flush=True)
"""


def test_kill_during_a_write_leaves_no_partial_file(tmp_path: Path, figures: Callable[[str], None]) -> None:
    outcomes = []
    for attempt in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        time.sleep(0.02 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        visible = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
        for path in visible:  # whatever has an image's name is whole
            assert path.stat().st_size == 2 + 200 * 1024 * 1024
        outcomes.append("complete" if visible else "absent")
        for path in visible:
            path.unlink()
    leftovers = list(tmp_path.glob(".together-magic-*.tmp"))
    atomic_write_new(tmp_path / "next.jpg", b"\xff\xd8next")  # the next write clears orphans of dead writers
    assert not list(tmp_path.glob(".together-magic-*.tmp"))
    assert (tmp_path / "next.jpg").read_bytes() == b"\xff\xd8next"
    figures(
        f"5 writers killed mid-write: images {outcomes}; {len(leftovers)} hidden temp files, removed by the "
        "next write"
    )
