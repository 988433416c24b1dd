"""Sweeps: a 16-cell ``--vary`` sweep against ``together-magic serve --latency 0.5``, and the notebook bytes
its grid adds.

    .venv/bin/python -m benchmarks.bench_sweep [--quick]

The sweep runs the way the magic runs it (plan, then one request per cell through the service, at most
``Imagine.max_concurrency`` = 8 at a time, cache off) and is compared with one request of the same size
through the same client against the same server: 16 cells at concurrency 8 are two waves, so about 2x one
request is the floor and 2.5x the target. The same 16 requests sent straight through the client, 8 at a
time, show what the sweep machinery itself adds. (At 1024x1024 the offline server's rendering, serial in
one process, is what costs: plain concurrent requests show it too, so the row uses 512x512.)
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

LATENCY = 0.5
CELLS = {"steps": [1, 2, 3, 4], "guidance": [1.0, 3.0, 5.0, 7.0]}
SIZE = "512x512"
PROMPT = "a lighthouse on a cliff by the sea at sunset"


@contextmanager
def served(latency: float) -> Iterator[str]:
    """``together-magic serve --latency`` on a free port of 127.0.0.1, stopped afterwards."""
    import httpx

    from benchmarks.run import clean_env, free_port

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "together_magic",
        "serve",
        "--port",
        str(port),
        "--latency",
        str(latency),
    ]
    process = subprocess.Popen(command, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("together-magic serve did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _config(base_url: str, cache_dir: str) -> Any:
    from together_magic.config import Imagine

    return Imagine(base_url=base_url, cache=False, cache_dir=cache_dir, max_concurrency=8)


async def _measure(base_url: str, reps: int) -> tuple[float, float, float, Any]:
    from together_magic.generation.loop import client_for_running_loop, close_loop_client
    from together_magic.generation.options import ImagineOptions
    from together_magic.sweeps.run import plan_sweep, run_sweep

    with tempfile.TemporaryDirectory(prefix="tm-bench-sweep-") as cache_dir:
        config = _config(base_url, cache_dir)
        client = await client_for_running_loop(config)
        options = ImagineOptions(prompt=PROMPT, seed=7, size=SIZE)
        width, height = (int(v) for v in SIZE.split("x"))
        singles, sweeps, raws = [], [], []
        limit = asyncio.Semaphore(8)

        async def raw(seed: int) -> None:
            async with limit:
                await client.images.generate(
                    prompt=PROMPT, model=config.model, seed=seed, width=width, height=height, steps=4
                )

        done = None
        try:
            await client.images.generate(
                prompt=PROMPT, model=config.model, seed=1, width=width, height=height
            )
            for rep in range(reps):  # interleaved, so both see the same machine
                started = time.perf_counter()
                await client.images.generate(
                    prompt=PROMPT, model=config.model, seed=rep, width=width, height=height, steps=4
                )
                singles.append(time.perf_counter() - started)
                planned = plan_sweep(options, config=config, vary=CELLS, where="python")
                started = time.perf_counter()
                done = await run_sweep(planned, config, source="python", client=client)
                sweeps.append(time.perf_counter() - started)
                assert not done.failed and len(done.responses) == 16, done.failed
                started = time.perf_counter()
                await asyncio.gather(*(raw(1000 * (rep + 1) + k) for k in range(16)))
                raws.append(time.perf_counter() - started)
        finally:
            await close_loop_client()
        return statistics.median(singles), statistics.median(sweeps), statistics.median(raws), done


def notebook_bytes(sweep: Any) -> int:
    """What the saved notebook keeps of the grid: its output's data and metadata as JSON."""
    from together_magic import config

    config.set_current(config.Imagine())  # the default preview size, as a notebook has it
    try:
        data, meta = sweep._repr_mimebundle_()
    finally:
        config.set_current(None)
    return len(json.dumps({"output_type": "execute_result", "data": data, "metadata": meta}))


def run(add: Callable[..., None], quick: bool) -> None:
    reps = 1 if quick else 5
    with served(LATENCY) as base_url:
        single, whole, raw, done = asyncio.run(_measure(base_url, reps))
    ratio = whole / single
    add(
        f"sweep: 16 cells ({SIZE}) at concurrency 8 vs one request, serve --latency {LATENCY}",
        f"{whole * 1000:.0f} ms",
        f"one request {single * 1000:.0f} ms; the 16 requests straight, 8 at a time: {raw * 1000:.0f} ms",
        f"{ratio:.2f}x",
        "<= 2.5x one request",
        ratio <= 2.5,
    )
    size = notebook_bytes(done)
    add(
        f"sweep: notebook bytes of that 4x4 grid ({SIZE} images, default Imagine.preview_size)",
        f"{size / 1000:.0f} kB",
        "-",
        f"{size / 16 / 1000:.1f} kB per cell",
        "< 1 MB",
        size < 1_000_000,
    )


if __name__ == "__main__":
    os.environ.pop("TOGETHER_API_KEY", None)

    def show(name: str, ours: str, baseline: str, ratio: str, target: str, ok: bool | None) -> None:
        print(f"{name}: {ours} | {baseline} | {ratio} | {target} | {'met' if ok else 'MISSED'}")

    run(show, "--quick" in sys.argv)
