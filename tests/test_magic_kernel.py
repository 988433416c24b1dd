"""``%%imagine`` in a real ipykernel, driven over the Jupyter protocol as a notebook front end drives it."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

jupyter_client = pytest.importorskip(
    "jupyter_client", reason="ipykernel and jupyter_client come with the test extra"
)


@dataclass
class Reply:
    elapsed: float
    status: str
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.outputs if o["msg_type"] == kind]

    @property
    def text(self) -> str:
        return "".join(o["content"]["text"] for o in self.of_type("stream"))


class Kernel:
    def __init__(self, cache_dir: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
        env["XDG_CACHE_HOME"] = str(cache_dir)
        self.manager, self.client = start_new_kernel(kernel_name="python3", env=env)

    def run(self, code: str, *, interrupt_after: float | None = None, timeout: float = 60) -> Reply:
        msg_id = self.client.execute(code)
        started = time.perf_counter()
        reply = Reply(0.0, "")
        interrupted = False
        while True:
            now = time.perf_counter() - started
            if now > timeout:
                raise TimeoutError(f"cell did not finish in {timeout} s: {code!r}")
            if interrupt_after is not None and not interrupted and now > interrupt_after:
                self.manager.interrupt_kernel()
                interrupted = True
            try:
                msg = self.client.get_iopub_msg(timeout=0.02)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind in (
                "stream",
                "display_data",
                "execute_result",
                "error",
                "update_display_data",
                "clear_output",
            ):
                reply.outputs.append({"msg_type": kind, "content": msg["content"]})
        reply.elapsed = time.perf_counter() - started
        shell = self.client.get_shell_msg(timeout=10)
        reply.status = shell["content"]["status"]
        return reply

    def ok(self, code: str) -> Reply:
        reply = self.run(code)
        assert reply.status == "ok", reply.outputs
        return reply

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel(tmp_path_factory.mktemp("kernel-cache"))
    k.ok(
        "%load_ext together_magic\nimport together_magic.offline as _o, together_magic.offline.backend as _b"
    )
    yield k
    k.stop()


def latency(kernel: Kernel, seconds: float) -> None:
    kernel.ok(f"_o.shared_backend().options = _b.BackendOptions(latency={seconds})")


def test_cell_runs_on_the_kernel_loop_and_blocks_until_the_images(kernel: Kernel) -> None:
    latency(kernel, 0.5)
    reply = kernel.ok("%%imagine -n 2 -s 3 --size 256x256 -o r_k\na red fox in the snow")
    assert reply.elapsed >= 0.5
    results = reply.of_type("execute_result")
    assert len(results) == 1 and not reply.of_type("display_data")
    assert not reply.of_type("update_display_data") and not reply.of_type("clear_output")
    data = results[0]["content"]["data"]
    assert data["text/plain"].startswith("ImageResponse: 2 images")
    assert data["text/html"].count("<img ") == 2
    assert results[0]["content"]["metadata"]["together_magic"]["seed"] == 3
    check = kernel.ok("print(type(r_k).__name__, len(r_k.data), _ is r_k, 'run_cell_async' in In[-2])")
    assert check.text.strip() == "ImageResponse 2 True True"  # it ran as a rewritten top-level await
    latency(kernel, 0.0)


def test_interrupt_cancels_promptly_and_the_kernel_recovers(kernel: Kernel) -> None:
    latency(kernel, 10.0)
    reply = kernel.run("%%imagine --size 256x256 -o r_interrupted\nslow fox", interrupt_after=0.5)
    latency(kernel, 0.0)
    assert reply.status == "error"
    assert reply.elapsed < 2.5, reply.elapsed
    (error,) = reply.of_type("error")
    assert error["content"]["ename"] == "ImagineCancelled"
    assert error["content"]["traceback"] == [
        "generation cancelled (nothing was bound; the next cell will work)"
    ]
    assert kernel.ok("print('r_interrupted' in dir())").text.strip() == "False"
    assert kernel.ok("%%imagine --size 256x256 -s 1\nfox").of_type("execute_result")


def test_nesting_under_capture_and_time(kernel: Kernel) -> None:
    captured = kernel.ok("%%capture cap\n%%imagine --size 256x256 -s 1 -o r_cap\nfox")
    assert not captured.of_type("execute_result") and not captured.of_type("display_data")
    assert kernel.ok("print(len(cap.outputs), r_cap.request.seed)").text.strip() == "1 1"
    timed = kernel.ok("%%time\n%%imagine --size 256x256 -s 2 -o r_time\nfox")
    assert "Wall time" in timed.text and len(timed.of_type("execute_result")) == 1
    after = kernel.ok("%%imagine --size 256x256 -s 3\nfox")  # back to the top-level await form
    assert after.of_type("execute_result")
    assert kernel.ok("print('run_cell_async' in In[-2])").text.strip() == "True"


def test_usage_errors_are_one_line_in_the_kernel(kernel: Kernel) -> None:
    reply = kernel.run("%%imagine --seeed 3\nfox")
    assert reply.status == "error"
    shown = reply.text + "".join("".join(e["content"]["traceback"]) for e in reply.of_type("error"))
    assert "unknown option --seeed; did you mean --seed?" in shown
    assert "Traceback" not in shown


def test_is_complete_waits_for_the_body(kernel: Kernel) -> None:
    kernel.client.is_complete("%%imagine -n 2\n")
    reply = kernel.client.get_shell_msg(timeout=10)
    assert reply["content"]["status"] == "incomplete"
