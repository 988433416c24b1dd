"""Classroom gateway cost: what it adds to a request, what a shared-cache hit costs, what a class burst gets,
and what one hostile student costs the rest of the class.

Real processes on 127.0.0.1: an offline ``together-magic serve`` upstream (256x256 FLUX.2 dev, about
12 ms to render) and ``together-magic serve --upstream ... --workers 2`` in front of it. The gateway's
work per request is a token read, the student's pace, a reservation, the class's pace, recording the image
(a fsynced file) and the settlement: the targets say it must stay small next to a real image service
(seconds per image), and that a class of 30 sending at once is served at the upstream's pace, not the
gateway's.

The hostile rows put the gateway (default limits) in front of the tests' stub upstream
(``tests/gateway/stub_upstream.py``: it refuses the requests whose prompt says ``stub:status=400``): one
student floods from four connections with requests the upstream refuses, with offline fallback renders
(4096x4096, 16 megapixels each), or with a seeded request carrying a 6 MB junk field, while another
student's median latency is measured against the same student's idle median (target: within 2x). And the
class data's growth per request at every text limit (a 10,000-character prompt and negative prompt, n=4),
which ``--cache-mb`` bounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from together_magic.gateway.roster import Roster
from together_magic.models import MODELS

KEY = "bench-upstream-key"
BODY = {"prompt": "a red fox", "model": "black-forest-labs/FLUX.2-dev", "width": 256, "height": 256,
        "response_format": "base64"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(args: list[str], env: dict[str, str], module: str = "together_magic") -> Iterator[str]:
    port = _free_port()
    command = ["serve", "--port", str(port), *args] if module == "together_magic" else [str(port), *args]
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *command],
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
    run_hostile(add, quick)


def _flood(root: str, token: str, payload: bytes, stop: threading.Event, counts: dict[int, int]) -> None:
    """One of the hostile student's connections: the same body again and again until told to stop."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            try:
                status = client.post(
                    f"{root}/v1/images/generations", content=payload, headers=headers
                ).status_code
            except httpx.TransportError:
                status = 0  # closed on purpose (a refused upload): connect again
            counts[status] = counts.get(status, 0) + 1


def _latency_under(
    root: str, other: str, flood: tuple[str, bytes] | None, reps: int, first_seed: int
) -> tuple[float, str]:
    """``other``'s median latency (distinct seeds: each a trip upstream) while four connections send the
    flood's body with its token (None: idle); and what the flood got, by status."""
    stop, counts = threading.Event(), dict[int, int]()
    flooders = [] if flood is None else [
        threading.Thread(target=_flood, args=(root, *flood, stop, counts)) for _ in range(4)
    ]  # fmt: skip
    for thread in flooders:
        thread.start()
    try:
        time.sleep(0.5 if flooders else 0)
        with httpx.Client(timeout=60) as client:
            median = _median_ms(
                client, f"{root}/v1/images/generations", other, range(first_seed, first_seed + reps)
            )
    finally:
        stop.set()
        for thread in flooders:
            thread.join(60)
    return median, ", ".join(f"{count} x {status or 'closed'}" for status, count in sorted(counts.items()))


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def run_hostile(add: Callable[..., Any], quick: bool) -> None:
    reps = 20 if quick else 40
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    stub_args = [KEY]
    with (
        tempfile.TemporaryDirectory() as folder,
        _process(stub_args, env, "tests.gateway.stub_upstream") as stub,
    ):
        data = Path(folder) / "class"
        args = ["--upstream", stub, "--workers", "2", "--fallback", "offline", "--data", str(data)]
        with _process([*args, "--upstream-rate", "1000000"], {**env, "TOGETHER_API_KEY": KEY}) as gateway:
            roster = Roster(data)
            # A fresh "other" student per row: each stays inside its own --student-rate (120 a minute).
            others = [roster.add(f"other-{k}", images=None, budget=None, expires=None) for k in range(4)]
            refused = roster.add("refused", images=None, budget=None, expires=None)
            renders = roster.add("renders", images=0, budget=None, expires=None)
            junk = roster.add("junk", images=None, budget=None, expires=None)
            roster.close()
            with httpx.Client(timeout=60) as client:
                _median_ms(client, f"{gateway}/v1/images/generations", others[0], range(5))  # warm-up
                _median_ms(client, f"{gateway}/v1/images/generations", junk, range(1, 2))  # seed 1: cached
            idle, _ = _latency_under(gateway, others[0], None, reps, 10_000)
            model, width, height = next(
                (spec.id, w, h)
                for spec in MODELS.values()
                for _, w, h in spec.limits.presets
                if w * h > 2**24 - 1
            )  # a 4K preset: 16 megapixels per image
            floods = {
                "requests the upstream refuses": (refused, {**BODY, "prompt": "x stub:status=400"}),
                f"fallback renders ({width}x{height})": (
                    renders,
                    {**BODY, "model": model, "width": width, "height": height, "seed": 2},
                ),
                "cache-hit junk bodies (6 MB field)": (junk, {**BODY, "seed": 1, "junk": [0] * 3_000_000}),
            }
            for k, (name, (token, payload)) in enumerate(floods.items()):
                flood = (token, json.dumps(payload).encode())
                busy, got = _latency_under(gateway, others[k + 1], flood, reps, 20_000 + 1000 * k)
                add(f"gateway: another student's median latency while one floods with {name}",
                    f"{busy:.1f} ms", f"{idle:.1f} ms idle; flood got {got}", f"{busy / idle:.2f}x",
                    "<= 2x", busy <= 2 * idle)  # fmt: skip
        growth(add, env, stub, Path(folder) / "growth", quick)


def growth(add: Callable[..., Any], env: dict[str, str], stub: str, data: Path, quick: bool) -> None:
    """Class data per request at every text limit (n=4, fallback renders), once the write-ahead log holds
    its share, and the most the folder ever holds."""
    bound = 5
    args = ["--upstream", stub, "--fallback", "offline", "--cache-mb", str(bound), "--data", str(data)]
    limits = ["--fallback-rate", "1000000", "--student-rate", "1000000"]
    with _process([*args, *limits], {**env, "TOGETHER_API_KEY": KEY}) as gateway:
        roster = Roster(data)
        token = roster.add("filler", images=0, budget=None, expires=None)
        roster.close()
        text = "".join(chr(0x4E00 + i % 20000) for i in range(10_000))
        sizes = []
        with httpx.Client(timeout=60) as client:
            for seed in range(40 if quick else 120):
                payload = {**BODY, "seed": seed, "prompt": text, "negative_prompt": text[::-1], "n": 4}
                client.post(f"{gateway}/v1/images/generations", json=payload,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                sizes.append(_folder_bytes(data))
    per = (sizes[15] - sizes[5]) / 10
    most = max(sizes)
    add("gateway: class data growth per hostile request (10,000-char texts, n=4, fallback)",
        f"{per / 1000:.0f} kB", f"at most {most / 1e6:.1f} MB over {len(sizes)} with --cache-mb {bound}",
        f"{most / (bound * 1e6):.0%} of the bound", "bounded, reported", most <= bound * 1e6)  # fmt: skip


if __name__ == "__main__":

    def show(name: str, ours: str, baseline: str, ratio: str, target: str, ok: bool | None) -> None:
        print(f"{name}: {ours} ({baseline}, {ratio}; target {target}) {'met' if ok else 'MISSED'}")

    run(show, quick="--quick" in sys.argv)
