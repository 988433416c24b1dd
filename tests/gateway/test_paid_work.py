"""Work the gateway charged for is kept when another request of the same batch or cell is refused.

A class budget runs out in the middle of concurrent requests: the ones already granted are made and paid
for upstream while a later one is refused with 402. Those images must end up on disk (a batch) or in the
history (a cell), never be thrown away by cancelling the requests still in flight.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import together_magic as tm
from together_magic.batches.manifest import MANIFEST_NAME
from together_magic.config import Imagine
from together_magic.errors import PaymentRequiredError

from .conftest import SENTINEL, Gateway


@pytest.fixture
def slow_gateway(start_server: Any, start_gateway: Any, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    """A gateway whose upstream takes 0.6 s per image, so refusals come back while grants are in flight."""
    slow = start_server("--require-key", SENTINEL, "--latency", "0.6")
    gateway: Gateway = start_gateway("--upstream", slow.base_url.removesuffix("/v1"))
    monkeypatch.setenv("TOGETHER_BASE_URL", gateway.root)
    return gateway


def statuses(folder: Path) -> list[str]:
    with sqlite3.connect(folder / MANIFEST_NAME) as db:
        return sorted(row[0] for row in db.execute("SELECT status FROM items"))


def test_a_batch_keeps_the_images_it_paid_for_when_the_budget_runs_out(
    slow_gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", slow_gateway.add("saver", images=2))
    out, config = tmp_path / "set", Imagine(cache_dir=str(tmp_path / "store"))
    prompts = [f"a shell {i}" for i in range(6)]
    with pytest.raises(PaymentRequiredError, match="2 of 2 images"):
        tm.generate_many(prompts, out=out, size="256x256", concurrency=4, config=config)
    assert len(list(out.glob("*.jpg"))) == 2  # both images the student was charged for
    assert statuses(out) == ["done", "done", "pending", "pending", "pending", "pending"]
    monkeypatch.setenv("TOGETHER_API_KEY", slow_gateway.add("saver-more", images=4))
    again = tm.generate_many(prompts, out=out, size="256x256", concurrency=4, config=config)
    assert len(again.done) == 6 and again.summary.requests == 4 and len(list(out.glob("*.jpg"))) == 6


def test_a_cell_keeps_in_its_history_the_images_it_paid_for(
    slow_gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", slow_gateway.add("cell", images=2))
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "together_magic")
    shell.run_line_magic("config", f"Imagine.cache_dir = {str(tmp_path / 'store')!r}")
    try:
        result = shell.run_cell("%%imagine -n 4 --seed 30 --size 256x256\na paid fox")
        assert type(result.error_in_exec).__name__ == "PaymentRequiredError"
        kept = tm.history("paid fox")
        seeds = sorted(r.response.data[0].seed for r in kept)  # which two were granted first may vary
        assert len(seeds) == 2 and set(seeds) <= {30, 31, 32, 33}
        assert all(r.response.data[0].image_bytes()[:3] == b"\xff\xd8\xff" for r in kept)
    finally:
        shell.run_line_magic("unload_ext", "together_magic")
        shell.config.pop("Imagine", None)
