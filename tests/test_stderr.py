"""Successful work writes nothing to stderr (a notebook paints stderr pink): magic, panel, CLI.

Every iopub message of a real kernel is read, whatever request it answers (a panel's task answers the
click, not a cell), and the CLI runs as a process. The cost side is here too: the estimate is shown, and
``Imagine.budget`` refuses with one line before anything is sent.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .kernel import Kernel, loaded_kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = loaded_kernel(tmp_path_factory.mktemp("quiet-kernel"))
    yield k
    k.stop()


def everything(kernel: Kernel, code: str, timeout: float = 60) -> tuple[str, list[dict[str, Any]]]:
    """Run ``code`` and return its reply status and every iopub message meanwhile (any parent)."""
    msg_id = kernel.client.execute(code)
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.client.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            continue
        seen.append(msg)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            break
    else:
        raise TimeoutError(code)
    while True:
        reply = kernel.client.get_shell_msg(timeout=10)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]["status"], seen


def stderr_of(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m["content"]["text"]
        for m in messages
        if m["msg_type"] == "stream" and m["content"].get("name") == "stderr"
    ]


def test_magic_and_panel_write_nothing_to_stderr(kernel: Kernel) -> None:
    status, seen = everything(
        kernel,
        "%%imagine -n 2 --seed 3 --size 256x256 -o quiet\na red fox in a snowy forest",
    )
    assert status == "ok" and stderr_of(seen) == []
    assert any(m["msg_type"] == "execute_result" for m in seen)
    status, seen = everything(
        kernel,
        "p = %imagine_panel\np.prompt.value = 'an owl'\np.width.value = p.height.value = 256\n"
        "p.generate.click()\nawait p.task\nprint(p.status.value)",
    )
    printed = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
    assert status == "ok" and stderr_of(seen) == [] and printed.startswith("done: 1 image")


def test_caption_shows_the_estimate_and_the_budget_refuses_in_one_line(kernel: Kernel) -> None:
    shown = kernel.ok(
        "from together_magic.types.view import captions\nprint(quiet.provenance.cost, captions(quiet)[0])"
    ).text
    cost, caption = shown.split(" ", 1)
    assert float(cost) > 0 and f"${float(cost) / 2:.4f}" in caption  # each image shows its share
    before = kernel.ok("print(_o.shared_backend().stats['requests'])").text.strip()
    kernel.ok("%config Imagine.budget = 0.001")
    try:
        reply = kernel.run("%%imagine -n 4 --size 1024x1024 --no-cache\na red fox in a snowy forest")
        errors = reply.of_type("error")
        assert reply.status == "error" and len(errors) == 1
        lines = errors[0]["content"]["traceback"]
        assert len(lines) == 1 and "would cost about $0.0616" in lines[0] and "Imagine.budget" in lines[0]
        assert stderr_of([{"msg_type": o["msg_type"], "content": o["content"]} for o in reply.outputs]) == []
        panel = kernel.ok(
            "p.n.value = 4\np.width.value = p.height.value = 1024\np.generate.click()\n"
            "if p.task is not None and not p.task.done(): await p.task\nprint(p.status.value)"
        ).text
        assert "would cost about" in panel
    finally:
        kernel.ok("%config Imagine.budget = None")
    after = kernel.ok("print(_o.shared_backend().stats['requests'])").text.strip()
    assert after == before  # refused before anything was sent


ARGS = ["-n", "2", "--size", "256x256", "--save"]


def test_cli_generate_writes_nothing_to_stderr(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, "-m", "together_magic", "generate", "a quiet lake", *ARGS, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(list((tmp_path / "out").iterdir())) == 2
