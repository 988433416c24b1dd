"""The ``together-magic`` command, run as users run it: a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from .conftest import ROOT


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "together_magic", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_demo_makes_images_without_a_key(tmp_path: Path) -> None:
    result = run("demo", "--out", str(tmp_path / "demo"), "--size", "256")
    assert result.returncode == 0, result.stderr
    images = sorted((tmp_path / "demo").glob("*.jpg"))
    assert len(images) == 4
    for path in images:
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.size == (256, 256)
    assert str((tmp_path / "demo").resolve()) in result.stdout
    assert "offline backend" in result.stderr and "not a diffusion model" in result.stderr
    again = run("demo", "--out", str(tmp_path / "demo"), "--size", "256")
    assert again.returncode == 0
    assert len(list((tmp_path / "demo").glob("*.jpg"))) == 8  # a re-run never overwrites


def test_info_never_prints_the_key() -> None:
    key = "sentinel-cli-key-4242424242"
    result = run("info", env={"TOGETHER_API_KEY": key})
    assert result.returncode == 0
    assert key not in result.stdout + result.stderr
    assert "api key: set" in result.stdout and "api.together.xyz" in result.stdout
    offline = run("info")
    assert "offline" in offline.stdout and "api key: not set" in offline.stdout


def test_bad_arguments_are_one_line_errors() -> None:
    for args in (
        ["serve", "--fail-rate", "2"],
        ["serve", "--faults", "meltdown"],
        ["serve", "--latency", "-1"],
        ["bogus"],
    ):
        result = run(*args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("together-magic"), result.stderr
