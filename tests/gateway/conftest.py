"""Real processes for the gateway's tests: an upstream ``together-magic serve`` and gateways in front of it.

The upstream key is a fresh random sentinel per session; it reaches the gateway only through its
environment (``TOGETHER_API_KEY``), as in a classroom, so any place it turns up is a leak.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from together_magic.gateway.roster import Roster

from ..conftest import ROOT, Server, free_port

SENTINEL = f"sk-sentinel-{secrets.token_hex(12)}"
"""The upstream key: the upstream requires it, the gateway holds it, and it must appear nowhere else."""


class _Process:
    """A server in its own process, its output kept in ``test-artifacts/<kind>-<port>.log``."""

    def __init__(self, kind: str, command: list[str], env: dict[str, str], url: str) -> None:
        self.log = ROOT / "test-artifacts" / f"{kind}-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=self._log_handle, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url, timeout=1, verify=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {kind} did not start: {self.log.read_text()}")
            time.sleep(0.05)

    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_handle.close()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}


class Gateway(_Process):
    """``together-magic serve --upstream ...`` in its own process, its output kept in a log file."""

    def __init__(self, data: Path, args: list[str], *, key: str | None = SENTINEL) -> None:
        self.data = data
        self.port = free_port()
        self.root = f"{'https' if '--ssl-certfile' in args else 'http'}://127.0.0.1:{self.port}"
        env = _clean_env()
        if key is not None:
            env["TOGETHER_API_KEY"] = key
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "together_magic", "serve", "--port", str(self.port)]
        super().__init__("gateway", [*command, "--data", str(data), *args], env, f"{self.root}/")
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
        super().stop()
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


def self_signed(folder: Path, *, name: str = "IP:127.0.0.1") -> tuple[Path, Path]:
    """A fresh self-signed certificate for ``name`` (a subjectAltName), as the README tells a teacher to
    make one: ``(key.pem, cert.pem)`` in ``folder``."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificate (Debian: apt-get install openssl)")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=together-magic class", "-addext", f"subjectAltName={name}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return key, cert


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


class Stub(_Process):
    """``tests/gateway/stub_upstream.py`` in its own process: an upstream that records every body."""

    def __init__(self, key: str = SENTINEL) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "tests.gateway.stub_upstream", str(self.port), key]
        super().__init__("stub", command, _clean_env(), f"{self.root}/")
        self.http = httpx.Client(base_url=self.root, timeout=10)

    def mode(self, **mode: object) -> None:
        """What the next attempts get: ``status=400``, ``drop=True``, ``images=8``, ``latency=0.5``."""
        self.http.post("/_stub/mode", json=mode).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_stub/reset").raise_for_status()

    def calls(self) -> list[dict[str, Any]]:
        """Every attempt it was sent since the last reset: ``body``, ``at``, ``keyed``."""
        return list(self.http.get("/_stub/calls").json()["calls"])

    def peak(self) -> int:
        """The most attempts it worked on at once since the last reset."""
        return int(self.http.get("/_stub/calls").json()["peak"])

    def stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
        super().stop()


@pytest.fixture(scope="session")
def stub_process() -> Iterator[Stub]:
    srv = Stub()
    yield srv
    srv.stop()


@pytest.fixture
def stub(stub_process: Stub) -> Stub:
    """The session's stub upstream, answering normally again and with no calls recorded."""
    stub_process.reset()
    return stub_process
