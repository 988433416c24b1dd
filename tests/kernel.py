"""A real ipykernel driven over the Jupyter protocol, as a notebook front end drives it."""

from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
        return self.wait(self.client.execute(code), interrupt_after=interrupt_after, timeout=timeout)

    def wait(self, msg_id: str, *, interrupt_after: float | None = None, timeout: float = 60) -> Reply:
        """Collect the outputs of an execution already sent, until the kernel is idle again."""
        code = msg_id
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
        while True:  # the reply to this request (a stale one to an earlier request is skipped)
            try:
                shell = self.client.get_shell_msg(timeout=10)
            except queue.Empty:
                if not interrupted:
                    raise
                # An interrupt that lands while the kernel is sending its reply can swallow the reply
                # (the kernel still goes idle and stays usable); callers check the kernel's state instead.
                reply.status = "no-reply"
                return reply
            if shell["parent_header"].get("msg_id") == msg_id:
                reply.status = shell["content"]["status"]
                return reply

    def ok(self, code: str) -> Reply:
        reply = self.run(code)
        assert reply.status == "ok", reply.outputs
        return reply

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def click(self, model_id: str) -> None:
        """What a browser sends when a Button is clicked: a comm message to its model."""
        msg = self.client.session.msg(
            "comm_msg", {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}}
        )
        self.client.shell_channel.send(msg)


PRELUDE = (
    "%load_ext together_magic\n"
    "import asyncio, together_magic.offline as _o, together_magic.offline.backend as _b"
)


def loaded_kernel(folder: Path, setup: str = "") -> Kernel:
    """A fresh kernel with the extension loaded and the in-process backend at hand as ``_o`` / ``_b``."""
    kernel = Kernel(folder)
    kernel.ok(PRELUDE + (f"\n{setup}" if setup else ""))
    return kernel


def set_latency(kernel: Kernel, seconds: float) -> None:
    """Slow the kernel's in-process offline backend down (0 restores it)."""
    kernel.ok(f"_o.shared_backend().options = _b.BackendOptions(latency={seconds})")
