"""A save that fails midway (disk full at image 2 of 4): the response is bound and shown first, then one
line says which files were written and which were not; nothing half-written stays."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


def test_bound_first_then_the_failure_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "together_magic")
    ip.run_line_magic("config", f"Imagine.cache_dir = {str(tmp_path / 'cache')!r}")
    out = tmp_path / "out"
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data: bytes) -> int:  # the OS primitive: the disk fills at the second image
        if len(data) > 5000 and os.readlink(f"/proc/self/fd/{fd}").startswith(str(out)):
            calls["n"] += 1
            if calls["n"] >= 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    try:
        with capture_output() as captured:
            result = ip.run_cell(f"%%imagine -n 4 -s 10 --size 256x256 --save {out} -o r_partial\na fox")
    finally:
        monkeypatch.undo()
        ip.run_line_magic("unload_ext", "together_magic")
        ip.config.pop("Imagine", None)
    assert not result.success
    response = ip.user_ns.pop("r_partial")
    assert len(response.data) == 4  # every image is in the bound response, whatever the disk did
    line = captured.stderr.strip()
    assert line.startswith("UsageError: --save: 3 of 4 images could not be written") and "\n" not in line
    assert "written: a-fox-s10.jpg" in line and "No space left on device" in line
    assert [p.name for p in out.iterdir()] == ["a-fox-s10.jpg"]  # no partial file, no empty name
    assert any("ImageResponse: 4 images" in (o.data.get("text/plain") or "") for o in captured.outputs)
