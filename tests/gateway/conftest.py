"""Real processes for the gateway's tests: an upstream ``together-magic serve`` and gateways in front of it.

The upstream key is a fresh random sentinel per session; it reaches the gateway only through its
environment (``TOGETHER_API_KEY``), as in a classroom, so any place it turns up is a leak.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from together_magic.gateway.roster import Roster

from ..conftest import ROOT, Server, free_port

SENTINEL = f"sk-sentinel-{secrets.token_hex(12)}"
"""The upstream key: the upstream requires it, the gateway holds it, and it must appear nowhere else."""


class Gateway:
    """``together-magic serve --upstream ...`` in its own process, its output kept in a log file."""

    def __init__(self, data: Path, args: list[str], *, key: str | None = SENTINEL) -> None:
        self.data = data
        self.port = free_port()
        self.root = f"{'https' if '--ssl-certfile' in args else 'http'}://127.0.0.1:{self.port}"
        self.log = ROOT / "test-artifacts" / f"gateway-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self._log_handle = self.log.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
        if key is not None:
            env["TOGETHER_API_KEY"] = key
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "together_magic", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--data", str(data), *args],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.root}/", timeout=1, verify=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not start: {self.log.read_text()}")
            time.sleep(0.05)
        self.roster = Roster(data)

    def add(self, name: str, *, images: int | None = 7, budget: float | None = None) -> str:
        return self.roster.add(name, images=images, budget=budget, expires=None)

    def teacher_token(self) -> str:
        """The teacher token printed at first start (the log holds the startup lines)."""
        for word in self.log.read_text().split():
            if "/class?token=" in word:
                return word.split("token=", 1)[1]
        raise AssertionError(f"no teacher token in {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_handle.close()
        if hasattr(self, "roster"):
            self.roster.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Server]:
    """The upstream: an offline ``together-magic serve`` that answers only the sentinel key."""
    srv = Server(["--require-key", SENTINEL])
    yield srv
    srv.stop()


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start(*args: str, key: str | None = SENTINEL, data: Path | None = None) -> Gateway:
        folder = data or tmp_path / f"class-{len(started)}"
        gateway = Gateway(folder, list(args), key=key)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def body(seed: int | None, prompt: str = "a red fox in the snow", **extra: object) -> dict[str, object]:
    """A small, fast request: 256x256 FLUX.2 dev, base64 unless said otherwise."""
    payload: dict[str, object] = {
        "prompt": prompt,
        "model": "black-forest-labs/FLUX.2-dev",
        "width": 256,
        "height": 256,
        "response_format": "base64",
        **extra,
    }
    if seed is not None:
        payload["seed"] = seed
    return payload


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
