"""Classroom gateway cost: what it adds to a request, what a shared-cache hit costs, what a class burst gets.

Real processes on 127.0.0.1: an offline ``together-magic serve`` upstream (256x256 FLUX.2 dev, about
12 ms to render) and ``together-magic serve --upstream ... --workers 2`` in front of it. The gateway's
work per request is a token read, a reservation, the pace, recording the image (a fsynced file) and the
settlement: the targets say it must stay small next to a real image service (seconds per image), and that a
class of 30 sending at once is served at the upstream's pace, not the gateway's.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from together_magic.gateway.roster import Roster

KEY = "bench-upstream-key"
BODY = {"prompt": "a red fox", "model": "black-forest-labs/FLUX.2-dev", "width": 256, "height": 256,
        "response_format": "base64"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(args: list[str], env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "together_magic", "serve", "--port", str(port), *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{root}/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"together-magic serve {' '.join(args)} did not start") from None
                time.sleep(0.05)
        yield root
    finally:
        proc.terminate()
        proc.wait(15)


def _median_ms(client: httpx.Client, url: str, token: str, seeds: range) -> float:
    samples = []
    for seed in seeds:
        started = time.perf_counter()
        client.post(url, json={**BODY, "seed": seed}, headers={"Authorization": f"Bearer {token}"})
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


async def _burst(root: str, tokens: list[str], each: int, first_seed: int) -> float:
    """Requests per second for ``each`` requests from every token, all sent at once, distinct seeds."""
    limits = httpx.Limits(max_connections=len(tokens) * each, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=root, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                client.post("/v1/images/generations", json={**BODY, "seed": first_seed + i * 100 + j},
                            headers={"Authorization": f"Bearer {token}"})
                for i, token in enumerate(tokens)
                for j in range(each)
            )
        )  # fmt: skip
        took = time.perf_counter() - started
    assert all(a.status_code == 200 for a in answers), {a.status_code for a in answers}
    return len(answers) / took


def run(add: Callable[..., Any], quick: bool) -> None:
    reps = 15 if quick else 40
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    with tempfile.TemporaryDirectory() as folder, _process(["--require-key", KEY], env) as upstream:
        gateway_env = {**env, "TOGETHER_API_KEY": KEY}
        args = ["--upstream", upstream, "--workers", "2", "--upstream-rate", "1000000", "--data", folder]
        with _process(args, gateway_env) as gateway:
            roster = Roster(Path(folder))
            token = roster.add("bench", images=None, budget=None, expires=None)
            class_tokens = [roster.add(f"s{i}", images=None, budget=None, expires=None) for i in range(30)]
            roster.close()
            # TCP_NODELAY: httpx writes a POST's headers and body separately, and Nagle's algorithm with the
            # server's delayed ACK would add ~40 ms to every request of both columns alike.
            nodelay = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            with httpx.Client(timeout=60, transport=nodelay) as client:
                gen = "/v1/images/generations"
                _median_ms(client, f"{gateway}{gen}", token, range(5))  # warm-up: pools, first transactions
                _median_ms(client, f"{upstream}/v1/images/generations", KEY, range(5))
                direct = _median_ms(client, f"{upstream}{gen}", KEY, range(100, 100 + reps))
                through = _median_ms(client, f"{gateway}{gen}", token, range(200, 200 + reps))
                hit = _median_ms(client, f"{gateway}{gen}", token, range(200, 200 + reps))  # same seeds again
            overhead = through - direct
            ratio = f"{through / direct:.2f}x"
            add("gateway: added per request (cache miss, 256x256)", f"{overhead:.1f} ms",
                f"{direct:.1f} ms direct", ratio, "<= 25 ms", overhead <= 25)  # fmt: skip
            add("gateway: shared-cache hit (256x256, free)", f"{hit:.1f} ms", f"{direct:.1f} ms direct",
                f"{hit / direct:.2f}x", "<= 15 ms", hit <= 15)  # fmt: skip
            each = 6 if quick else 10
            direct_rate = asyncio.run(_burst(upstream, [KEY] * 30, each, 100_000))
            rate = asyncio.run(_burst(gateway, class_tokens, each, 200_000))
            add(
                f"gateway: class burst, 30 students x {each} at once (2 workers)",
                f"{rate:.0f} requests/s",
                f"{direct_rate:.0f}/s direct",
                f"{rate / direct_rate:.2f}x",
                ">= 0.5x",
                rate >= 0.5 * direct_rate,
            )


if __name__ == "__main__":

    def show(name: str, ours: str, baseline: str, ratio: str, target: str, ok: bool | None) -> None:
        print(f"{name}: {ours} ({baseline}, {ratio}; target {target}) {'met' if ok else 'MISSED'}")

    run(show, quick="--quick" in sys.argv)
