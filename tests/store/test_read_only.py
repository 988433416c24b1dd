"""A read-only store (a shared cache folder mounted read-only): the history and the cache read as usual,
nothing is written, the first write says so in one line, and generation still works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _read_only_runner(folder: Path) -> list[str]:
    """A command prefix that runs its command with ``folder`` read-only: a read-only bind mount in a mount
    namespace of its own (as root, where permissions would not stop anything), else plain permissions."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    if shutil.which("unshare") is None:
        pytest.skip("LOUD SKIP: running as root without unshare(1): no way to make a folder read-only here")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"LOUD SKIP: running as root and unshare -m is refused: {probe.stderr.decode().strip()}")
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, str(folder)]


@pytest.fixture
def shared(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A store with two generations in it (a teacher's cache), and the environment that points at it."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    for seed in ("3", "4"):
        made = subprocess.run(
            [
                *CLI,
                "generate",
                "a fox in the snow",
                "-s",
                seed,
                "--size",
                "256x256",
                "--save",
                str(tmp_path / "o"),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, made.stderr
    return tmp_path / "xdg" / "together-magic", env


CLI = [sys.executable, "-m", "together_magic"]
READER = """
import asyncio, sys
from together_magic.config import Imagine
from together_magic.generation.generate import generate
from together_magic.generation.line import parse_line
from together_magic.generation.plan import build_plan
from together_magic.histories.search import history
from together_magic.store import Store

folder = sys.argv[1]
store = Store(folder)
print("entries", len(store.history(last=10)), store.read_only)
print("history", len(history("fox", last=10)))
config = Imagine(cache_dir=folder)

async def make(line):
    return await generate(build_plan(parse_line(line, "a fox in the snow", {}), config=config), config)

print("cached", asyncio.run(make("-s 3 --size 256x256")).response.cached)
for seed in (11, 12):
    fresh = asyncio.run(make(f"-s {seed} --size 256x256")).response
    print("made", len(fresh.data or []), fresh.cached)
"""


def test_the_history_of_a_read_only_store_reads(shared: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, env = shared
    before = sorted(p.name for p in folder.rglob("*"))
    listed = subprocess.run(
        [*_read_only_runner(folder), *CLI, "history", "fox"], env=env, capture_output=True, text=True
    )
    assert (listed.returncode, listed.stderr) == (0, "")
    assert listed.stdout.count("fox in the snow") == 2, listed.stdout
    assert sorted(p.name for p in folder.rglob("*")) == before  # not a file added, not one removed


def test_generation_works_and_says_once_that_nothing_is_recorded(
    shared: tuple[Path, dict[str, str]],
) -> None:
    folder, env = shared
    out = subprocess.run(
        [*_read_only_runner(folder), sys.executable, "-c", READER, str(folder)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "entries 2 True",
        "history 2",
        "cached True",  # the cache still answers, free
        "made 1 False",
        "made 1 False",
    ]
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and "read-only" in lines[0] and "Traceback" not in out.stderr, out.stderr
