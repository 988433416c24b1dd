"""Shared fixtures: a clean environment and real ``together-magic serve`` processes on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = "black-forest-labs/FLUX.2-dev"


@pytest.fixture(scope="session", autouse=True)
def artifacts_folder() -> Path:
    """Where tests leave logs and screenshots; made first, whichever test runs first on a fresh clone."""
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may see a developer's real key or base URL."""
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "TOGETHER_MAGIC_REQUIRE_KEY"):
        monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = ROOT / "test-artifacts" / f"server-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "together_magic", "serve", "--port", str(self.port), *args],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"together-magic serve did not start: {self.log.read_text()}"
                    ) from None
                time.sleep(0.05)

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(f"http://127.0.0.1:{self.port}/_offline/stats", timeout=5).json())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_handle.close()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One plain server for the whole session (no faults, no key)."""
    srv = Server([])
    yield srv
    srv.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """Start servers with particular options; each is stopped when the test ends."""
    started: list[Server] = []

    def start(*args: str) -> Server:
        srv = Server(list(args))
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def backend_latency() -> Iterator[Callable[[float], None]]:
    """Slow down the in-process offline backend for one test (to interrupt or cancel mid-request)."""
    from together_magic.offline import BackendOptions, shared_backend

    backend = shared_backend()
    saved = backend.options

    def set_latency(seconds: float) -> None:
        backend.options = BackendOptions(latency=seconds)

    yield set_latency
    backend.options = saved
