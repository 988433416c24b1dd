"""``together-magic generate --vary``: a real process, as users run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from ..conftest import ROOT, Server
from .test_main import run


def test_generate_vary_saves_cells_and_a_sheet_that_from_runs_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = [
        "generate",
        "a red fox",
        "-s",
        "3",
        "--size",
        "256x256",
        "--vary",
        "steps=1,4,8",
        "--save",
        str(out),
    ]
    first = run(*args, env=env)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    head, *cells, sheet = first.stdout.strip().splitlines()
    assert head.startswith("sweep: 3 images (steps), one request each to FLUX.2-dev, 4 at a time, about $")
    assert [line.split(":")[0] for line in cells] == ["steps=1", "steps=4", "steps=8"]
    assert all(" s · saved " in line for line in cells)
    assert sheet == f"contact sheet: {out / 'a-red-fox-s3-sweep-steps.png'}"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "a-red-fox-s3-1.jpg",
        "a-red-fox-s3-2.jpg",
        "a-red-fox-s3-sweep-steps.png",
        "a-red-fox-s3.jpg",
    ]
    with Image.open(out / "a-red-fox-s3-sweep-steps.png") as img:
        assert img.format == "PNG"
    again = run("generate", "--from", str(out / "a-red-fox-s3-sweep-steps.png"), "--save", str(out), env=env)
    assert again.returncode == 0 and again.stderr == ""
    assert [line.split(" · ")[0] for line in again.stdout.splitlines()[1:4]] == [
        "steps=1: cached",
        "steps=4: cached",
        "steps=8: cached",
    ]
    assert sorted(p.name for p in out.iterdir()) == names  # the same files: nothing copied, nothing replaced


def test_generate_vary_errors_and_exit_codes(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    save = ["--save", str(tmp_path / "x")]
    cases = [
        (["generate", "fox", "--vary", "stepz=1"], 2, "--vary: unknown axis 'stepz'; did you mean steps?"),
        (["generate", "fox", "--vary", "seed=1..70"], 2, "raise it with --max-images 70"),
        (["generate", "fox", "--vary", "seed=1..2", "--max-images", "0"], 2, "--max-images must be a whole"),
        (["generate", "fox", "--vary", "seed=1..2", "--max-images", "-3"], 2, "--max-images must be a whole"),
        (["generate", "fox", "--vary", "seed={{ s }}"], 2, "{{ }} needs a notebook namespace"),
        (
            ["generate", "fox", "--size", "256x256", "--vary", "model=FLUX.2-dev,acme/gone", *save],
            1,
            "1 of 2 cells failed (the first: 404",
        ),
    ]
    for args, code, fragment in cases:
        result = run(*args, env=env)
        assert result.returncode == code, (args, result.stderr)
        errors = result.stderr.strip().splitlines()
        assert len(errors) == 1 and fragment in errors[0], result.stderr
    raised = run(
        "generate", "fox", "--size", "256x256", "--vary", "seed=1..3", "--max-images", "3", *save, env=env
    )
    assert raised.returncode == 0, raised.stderr


def test_ctrl_c_saves_what_finished_and_the_sheet_resumes_the_rest(
    tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    srv = start_server("--latency", "1.0")
    out = tmp_path / "out"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TOGETHER_BASE_URL": srv.base_url}
    args = ["generate", "fox", "-s", "1", "--size", "256x256", "--vary", "seed=1..8", "--save", str(out)]
    command = [sys.executable, "-m", "together_magic", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    deadline = time.monotonic() + 20
    while srv.stats().get("status_200", 0) < 4 and time.monotonic() < deadline:  # the first four are done
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert (
        stderr.strip()
        == "together-magic: error: sweep interrupted: 4 of 8 cells finished (saved in "
        + str(out)
        + "), 4 cancelled"
    )
    assert stdout.count(": cancelled") == 4
    sheet = out / "fox-sweep-seed.png"
    assert sorted(p.name for p in out.iterdir()) == [*(f"fox-s{k}.jpg" for k in range(1, 5)), sheet.name]
    before = srv.stats()["requests"]
    resumed = run("generate", "--from", str(sheet), "--save", str(out), env=env)
    assert resumed.returncode == 0 and srv.stats()["requests"] - before == 4  # the finished four: cached
