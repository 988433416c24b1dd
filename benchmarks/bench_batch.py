"""Batches against ``together-magic serve --rate-limit 600 --latency 0.3`` (10 requests a second).

    .venv/bin/python -m benchmarks.bench_batch [--quick]

A fresh process runs ``generate_many`` over 1,000 prompts (150 with ``--quick``) into a temporary folder
and reports its wall time, what the server answered, its CPU time and its resident memory before and after.
Rows: the achieved rate against the limit (target >= 95 %), failures (target 0), the 429s the pacer met and
absorbed, RSS growth over the run (flat: images stream to disk), and the client's CPU per request, which is
what says how many requests a minute one process could pace (the README's "one process is enough").
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx

LIMIT = 600
LATENCY = 0.3

CHILD = """
import json, os, sys, time
import together_magic as tm
from together_magic.config import Imagine

def rss_kb(field="VmRSS:"):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))

count, out = int(sys.argv[1]), sys.argv[2]
tm.Batch  # load everything first, so RSS growth is the run's own
import together_magic.batches.api, together_magic.batches.run
start_rss, cpu0 = rss_kb(), os.times()
started = time.perf_counter()
batch = tm.generate_many([f"a lighthouse at dusk, study {i}" for i in range(count)], out=out, size="256x256",
                         config=Imagine(), progress=False)
wall = time.perf_counter() - started
cpu1 = os.times()
print(json.dumps({
    "wall": wall, "done": len(batch.done), "failed": len(batch.failed), "throttled": batch.summary.throttled,
    "requests": batch.summary.requests, "limit": batch.summary.limit,
    "cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
    "rss_start": start_rss, "rss_end": rss_kb(),
    "rss_peak": rss_kb("VmHWM:"),  # this process's own peak (ru_maxrss carries the parent's across exec)
}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(base_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    if base_url:
        env["TOGETHER_BASE_URL"] = base_url
    return env


def measure(count: int) -> dict[str, Any]:
    """One batch of ``count`` items in a fresh process against a fresh rate-limited server."""
    port = _free_port()
    serve = ["serve", "--port", str(port), "--rate-limit", str(LIMIT), "--latency", str(LATENCY)]
    server = subprocess.Popen(
        [sys.executable, "-m", "together_magic", *serve],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("together-magic serve did not start") from None
                time.sleep(0.1)
        with (
            tempfile.TemporaryDirectory(prefix="tm-bench-batch-") as out,
            tempfile.TemporaryDirectory(prefix="tm-bench-store-") as store,
        ):
            run = subprocess.run(
                [sys.executable, "-c", CHILD, str(count), out],
                capture_output=True,
                text=True,
                env={**_env(base), "XDG_CACHE_HOME": store},  # batches are recorded in the history too
                check=True,
                timeout=count / (LIMIT / 60) * 3 + 120,
            )
        result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
        result["stderr"] = run.stderr
        result["server"] = httpx.get(f"{base}/_offline/stats", timeout=5).json()
        return result
    finally:
        server.terminate()
        server.wait(10)


def run(add: Callable[..., None], quick: bool) -> None:
    count = 150 if quick else 1000
    r = measure(count)
    rate = r["requests"] / r["wall"] * 60
    server_429 = int(r["server"].get("status_429", 0))
    growth_mb = (r["rss_end"] - r["rss_start"]) / 1024
    cpu_ms = r["cpu"] / max(r["requests"], 1) * 1000
    where = f"{count} items, serve --rate-limit {LIMIT} --latency {LATENCY}"
    add(
        f"batch: achieved rate vs the limit ({where})",
        f"{rate:.0f}/min in {r['wall']:.1f} s",
        f"limit {LIMIT}/min",
        f"{rate / LIMIT:.1%}",
        ">= 95 % of the limit" if count > LIMIT else "n/a: fewer items than one minute's limit",
        rate >= 0.95 * LIMIT if count > LIMIT else None,
    )
    add(
        f"batch: failures ({where})",
        f"{r['failed']} failed, {r['done']} done",
        "-",
        "-",
        "0 failed",
        r["failed"] == 0 and r["done"] == count,
    )
    add(
        "batch: 429s seen and absorbed",
        f"{r['throttled']} met by the pacer (server sent {server_429})",
        "-",
        "-",
        "reported; none became a failure",
        r["failed"] == 0,
    )
    add(
        f"batch: RSS growth over the run ({count} images streamed to disk)",
        f"{growth_mb:+.1f} MB (peak {r['rss_peak'] / 1024:.0f} MB)",
        f"{r['rss_start'] / 1024:.0f} MB at the start",
        "-",
        "< 30 MB: flat, nothing held per image",
        growth_mb < 30,
    )
    per_minute = 60_000 / cpu_ms if cpu_ms else float("inf")
    add(
        "batch: client CPU per request (plan, send, check, write, record)",
        f"{cpu_ms:.1f} ms",
        "-",
        f"one core paces ~{per_minute:,.0f} requests/min",
        "< 20 ms (>= 3,000/min per core)",
        cpu_ms < 20,
    )
    if r["stderr"].strip():
        add("batch: stderr of a successful run", "not empty", "-", "-", "empty", False)


def _print_row(name: str, ours: str, baseline: str, ratio: str, target: str, ok: bool | None) -> None:
    verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
    print(f"{name}: {ours} | {baseline} | {ratio} | {target} | {verdict}", flush=True)


if __name__ == "__main__":
    run(_print_row, "--quick" in sys.argv)
