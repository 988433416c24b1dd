"""Fault soak and load against real ``together-magic serve`` processes: every call ends well or in one typed,
one-line error; retries stay within budget; nothing leaks (tasks, sockets, file descriptors, memory)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

import together_magic as tm
from together_magic.offline.backend import FAULTS

from ..conftest import MODEL, Server

CALLS = 500
MAX_RETRIES = 2
TIMEOUT = 0.5
ALL_FAULTS = ",".join(FAULTS)
WAIT_CAP = 8.0  # the backoff ceiling; the soak's Retry-After hints are 1 s or less


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def outcome(result: tm.ImageResponse | None, error: BaseException | None) -> str:
    """Classify one call; anything but a usable response or one typed one-line error fails the test."""
    if error is None:
        assert result is not None and result.data
        for choice in result.data:
            try:
                assert choice.image_bytes()[:2] in (b"\xff\xd8", b"\x89P")
            except tm.ImageDataError as exc:  # corrupt base64 surfaces when the bytes are read
                assert "\n" not in str(exc)
                return "ImageDataError"
        return "ok"
    assert isinstance(error, tm.TogetherError), f"untyped error: {error!r}"
    assert "\n" not in str(error) and len(str(error)) < 500
    return type(error).__name__


def soak_server(start_server: Callable[..., Server]) -> Server:
    return start_server(
        "--fail-rate",
        "0.3",
        "--faults",
        ALL_FAULTS,
        "--fault-seed",
        "7",
        "--slow-seconds",
        "1.0",
        "--log-level",
        "error",
    )


def check_retry_budget(caplog: pytest.LogCaptureFixture, server: Server, calls: int) -> tuple[int, float]:
    waits = [float(w) for w in re.findall(r"retrying in ([0-9.]+) s", caplog.text)]
    attempts = server.stats()["requests"]
    assert attempts <= calls * (MAX_RETRIES + 1)
    assert len(waits) == attempts - calls  # every attempt beyond the first of a call was a logged retry
    assert all(0 <= w <= WAIT_CAP for w in waits)
    return attempts, sum(waits)


def test_sync_fault_soak(
    start_server: Callable[..., Server], caplog: pytest.LogCaptureFixture, figures: Callable[[str], None]
) -> None:
    caplog.set_level(logging.INFO, logger="together_magic")
    server = soak_server(start_server)
    fds, threads = open_fds(), threading.active_count()
    started = time.perf_counter()
    with tm.Together(base_url=server.base_url, timeout=TIMEOUT, max_retries=MAX_RETRIES) as client:

        def call(i: int) -> str:
            try:
                result = client.images.generate(prompt=f"fox {i}", model=MODEL, seed=i, width=256, height=256)
            except BaseException as exc:
                return outcome(None, exc)
            return outcome(result, None)

        with ThreadPoolExecutor(16) as pool:
            results = Counter(pool.map(call, range(CALLS)))
    elapsed = time.perf_counter() - started
    gc.collect()
    attempts, waited = check_retry_budget(caplog, server, CALLS)
    assert sum(results.values()) == CALLS and results["ok"] > CALLS * 0.7
    assert open_fds() <= fds + 2 and threading.active_count() <= threads
    figures(
        f"{CALLS} sync calls in {elapsed:.1f} s over 16 threads: {dict(results)}; {attempts} attempts, "
        f"{attempts - CALLS} retries waiting {waited:.1f} s in all; fds {fds}->{open_fds()}"
    )


def test_async_fault_soak(
    start_server: Callable[..., Server], caplog: pytest.LogCaptureFixture, figures: Callable[[str], None]
) -> None:
    caplog.set_level(logging.INFO, logger="together_magic")
    server = soak_server(start_server)
    fds = open_fds()

    async def main() -> tuple[Counter[str], int]:
        limit = asyncio.Semaphore(32)
        async with tm.AsyncTogether(
            base_url=server.base_url, timeout=TIMEOUT, max_retries=MAX_RETRIES
        ) as client:

            async def call(i: int) -> str:
                async with limit:
                    try:
                        result = await client.images.generate(
                            prompt=f"owl {i}", model=MODEL, seed=i, width=256, height=256
                        )
                    except BaseException as exc:
                        return outcome(None, exc)
                    return outcome(result, None)

            results = Counter(await asyncio.gather(*(call(i) for i in range(CALLS))))
        await asyncio.sleep(0)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return results, len(pending)

    started = time.perf_counter()
    results, pending = asyncio.run(main())
    elapsed = time.perf_counter() - started
    gc.collect()
    attempts, waited = check_retry_budget(caplog, server, CALLS)
    assert sum(results.values()) == CALLS and results["ok"] > CALLS * 0.7
    assert pending == 0
    assert open_fds() <= fds + 2
    figures(
        f"{CALLS} async calls in {elapsed:.1f} s (32 at a time): {dict(results)}; {attempts} attempts, "
        f"{attempts - CALLS} retries waiting {waited:.1f} s in all; pending tasks {pending}; "
        f"fds {fds}->{open_fds()}"
    )


def test_load_200_concurrent(start_server: Callable[..., Server], figures: Callable[[str], None]) -> None:
    server = start_server("--log-level", "error")

    async def main() -> list[tm.ImageResponse]:
        async with tm.AsyncTogether(base_url=server.base_url, max_retries=0) as client:
            return await asyncio.gather(
                *(
                    client.images.generate(prompt=f"city {i}", model=MODEL, seed=i, width=512, height=512)
                    for i in range(200)
                )
            )

    asyncio.run(main())  # warm-up: imports, pools, allocator arenas
    levels = []
    payload = 0
    started = time.perf_counter()
    for _ in range(3):
        responses = asyncio.run(main())
        assert len(responses) == 200 and all(r.data for r in responses)
        payload = sum(len((r.data or [])[0].b64_json or "") for r in responses)
        del responses
        gc.collect()
        levels.append(rss())
    elapsed = (time.perf_counter() - started) / 3
    # Bounded: after the first round the allocator has what it needs; later rounds must not keep growing
    # (keeping the responses would add a round's payload, 15 MB, each time).
    assert levels[-1] - levels[0] < payload
    figures(
        f"200 concurrent 512x512 generations, 3 rounds, {elapsed:.1f} s each, all ok; {payload / 1e6:.1f} "
        f"MB of base64 per round; RSS after rounds {[round(x / 1e6) for x in levels]} MB"
    )


@pytest.mark.parametrize("kind", ["drop", "truncated", "html502", "badjson", "nodata", "slow"])
def test_each_fault_alone_is_typed_and_bounded(kind: str, start_server: Callable[..., Server]) -> None:
    server = start_server(
        "--fail-rate", "1", "--faults", kind, "--slow-seconds", "1.0", "--log-level", "error"
    )
    started = time.perf_counter()
    with (
        tm.Together(base_url=server.base_url, timeout=TIMEOUT, max_retries=1) as client,
        pytest.raises(tm.APIError) as info,
    ):
        client.images.generate(prompt="x", model=MODEL, width=256, height=256)
    assert time.perf_counter() - started < 5
    assert "\n" not in str(info.value)
    retried = kind in ("drop", "truncated", "html502", "slow")
    assert server.stats()["requests"] == (2 if retried else 1)
