"""A CLI batch of 300 items SIGKILLed at three random moments and resumed each time, on a counting server.

What must hold after every kill and resume: no image that was on disk when the process died is asked for
again, no image file is half-written, and at the end the folder holds exactly 300 images, each the one its
manifest entry names (SHA-256, embedded request).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from together_magic.batches.manifest import MANIFEST_NAME
from together_magic.imagefiles import metadata

from ..conftest import ROOT, free_port

ITEMS = 300
KILLS = 3


@pytest.fixture
def counting_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, log = free_port(), tmp_path / "requests.jsonl"
    log.touch()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.batch_counting_server", str(port), str(log), "0.02"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, "counting server did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1", log
    process.terminate()
    process.wait(10)


def _log(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _images_on_disk(folder: Path) -> dict[str, Path]:
    """prompt -> file, for every image in the folder; each must be a whole, readable image."""
    found = {}
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix not in (".jpg", ".png"):
            continue
        with Image.open(path) as img:
            img.verify()  # a truncated file fails here
        record = metadata.read_recipe(path)
        prompt = str(record["request"]["prompt"])
        assert prompt not in found, f"two images for {prompt!r}"
        found[prompt] = path
    return found


def _count(folder: Path) -> int:
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(".jpg"))
    except FileNotFoundError:
        return 0


def _wait_quiet(log: Path) -> int:
    """Let answers already in flight at the kill land in the log, then say where the next run starts."""
    size = -1
    while size != log.stat().st_size:
        size = log.stat().st_size
        time.sleep(0.3)
    return len(_log(log))


def test_sigkill_three_times_then_finish(
    tmp_path: Path, counting_server: tuple[str, Path], figures: Callable[[str], None]
) -> None:
    base_url, log = counting_server
    rng = random.Random(16)
    items = tmp_path / "items.txt"
    items.write_text("".join(f"a lighthouse number {i}\n" for i in range(ITEMS)))
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "together_magic", "batch", str(items), "--out", str(out),
        "--size", "256x256", "--concurrency", "8",
    ]  # fmt: skip
    env = {**os.environ, "TOGETHER_BASE_URL": base_url}
    env.pop("TOGETHER_API_KEY", None)
    started = time.perf_counter()
    offset = 0
    thirds = [(20 + k * (ITEMS - 40) // KILLS, 20 + (k + 1) * (ITEMS - 40) // KILLS) for k in range(KILLS)]
    kill_points = [rng.randrange(low, high) for low, high in thirds]
    arrived: set[str] = set()
    for kill_at in kill_points:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while process.poll() is None and _count(out) < kill_at:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.03))  # a random moment between writes, answers and commits
        process.send_signal(signal.SIGKILL)
        process.wait()
        new_requests = _log(log)[offset:]
        # Nothing that was on disk when the previous process died was asked for again by this one.
        repeated = [r["prompt"] for r in new_requests if r["prompt"] in arrived]
        assert not repeated, repeated[:5]
        offset = _wait_quiet(log)
        arrived = set(_images_on_disk(out))  # also proves no half-written image is visible
        assert len(arrived) >= kill_at - 8
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert final.stderr == ""  # a successful run in a pipe writes nothing to stderr
    last = _log(log)[offset:]
    assert not [r["prompt"] for r in last if r["prompt"] in arrived]
    elapsed = time.perf_counter() - started

    images = _images_on_disk(out)
    assert len(images) == ITEMS
    with sqlite3.connect(out / MANIFEST_NAME) as db:
        rows = db.execute("SELECT idx, status, request, files FROM items ORDER BY idx").fetchall()
    assert len(rows) == ITEMS and {r[1] for r in rows} == {"done"}
    for _, _, request, files in rows:
        request, (entry,) = json.loads(request), json.loads(files)
        path = out / entry["name"]
        assert images[request["prompt"]] == path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert metadata.read_recipe(path)["request"] == request
    answered = Counter(r["prompt"] for r in _log(log) if r["status"] == 200)
    assert set(answered) == {f"a lighthouse number {i}" for i in range(ITEMS)}
    twice = sum(1 for count in answered.values() if count > 1)
    # Only answers in flight (8 at most) or being written (a few) when a process died were asked for again.
    assert twice <= KILLS * (8 + 4)
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers
    figures(
        f"{ITEMS} items, SIGKILL after {kill_points} images: {sum(answered.values())} answers for "
        f"{ITEMS} images ({twice} asked twice, all in flight at a kill), {elapsed:.1f} s in all"
    )
