"""Batches against a real ``together-magic serve``: failing subsets, --retry-failed, 429s absorbed, pacing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

import together_magic as tm
from together_magic.config import Imagine

from ..conftest import Server

pytestmark = pytest.mark.server
FAULT = "x-together-magic-fault"


@pytest.fixture
def on_server(monkeypatch: pytest.MonkeyPatch) -> Callable[[Server], None]:
    def use(server: Server) -> None:
        monkeypatch.setenv("TOGETHER_BASE_URL", server.base_url.removesuffix("/v1"))

    return use


def items(faults: dict[int, str], count: int = 8) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(count):
        row: dict[str, object] = {"prompt": f"a paper boat {i}", "seed": i}
        if i in faults:
            row["extra_headers"] = {FAULT: faults[i]}
        rows.append(row)
    return rows


def test_a_failing_subset_ends_failed_then_retry_failed_completes_it(
    tmp_path: Path, server: Server, on_server: Callable[[Server], None]
) -> None:
    on_server(server)
    config = Imagine(max_retries=1)
    faults = {2: "500", 5: "503", 6: "422"}
    first = tm.generate_many(items(faults), out=tmp_path, config=config, size="256x256")
    assert len(first.done) == 5 and [it.index for it in first.failed] == [2, 5, 6]
    errors = {it.index: it.error or "" for it in first.failed}
    assert errors[2].startswith("500 server_error: Internal server error")
    assert errors[5].startswith("503 service_unavailable")  # an overload, as Together answers it
    assert errors[6].startswith("422") and "safety checker" in errors[6]
    assert all("\n" not in e for e in errors.values())
    assert [it.attempts for it in first.failed] == [2, 2, 1]  # 5xx retried once; 422 is not retried
    kinds = first.summary.failures  # counted by error, request ids left out
    assert sorted(k[:4] for k in kinds) == ["422 ", "500 ", "503 "] and set(kinds.values()) == {1}
    assert not any("request id" in k for k in kinds)
    assert "3 failed" in repr(first)

    before = server.stats()["requests"]
    healthy = items({})  # the same requests, now without the fault: the server is healthy again
    again = tm.generate_many(healthy, out=tmp_path, config=config, size="256x256")
    assert server.stats()["requests"] == before and len(again.failed) == 3  # failures are not retried...
    fixed = tm.generate_many(healthy, out=tmp_path, config=config, size="256x256", retry_failed=True)
    assert server.stats()["requests"] - before == 3  # ...until asked, and then only they are
    assert len(fixed.done) == 8 and not fixed.failed
    assert {it.index: it.attempts for it in fixed.done if it.index in faults} == {2: 3, 5: 3, 6: 2}


def test_a_fault_that_heals_within_the_retries_is_no_failure(
    tmp_path: Path, server: Server, on_server: Callable[[Server], None]
) -> None:
    on_server(server)
    batch = tm.generate_many(
        items({1: "502;times=1", 3: "drop;times=1"}, 4), out=tmp_path, config=Imagine(), size="256x256"
    )
    assert len(batch.done) == 4 and batch.summary.retries == 2


def test_429s_are_absorbed_and_counted(
    tmp_path: Path, server: Server, on_server: Callable[[Server], None]
) -> None:
    on_server(server)
    started = time.perf_counter()
    batch = tm.generate_many(
        items({0: "429;times=2", 2: "429;times=1"}, 4),
        out=tmp_path,
        config=Imagine(max_retries=0),
        size="256x256",
    )
    assert len(batch.done) == 4 and not batch.failed  # a 429 is not a failure, even with no retries left
    assert batch.summary.throttled == 3
    assert "3 rate-limit answers absorbed" in batch.summary.line()
    assert time.perf_counter() - started >= 2.0  # each 429 said Retry-After: 1, and the gate held everyone


def test_rpm_spaces_the_requests(tmp_path: Path, server: Server, on_server: Callable[[Server], None]) -> None:
    on_server(server)
    started = time.perf_counter()
    batch = tm.generate_many(
        [f"a cloud {i}" for i in range(5)], out=tmp_path, config=Imagine(), size="256x256", rpm=240
    )
    took = time.perf_counter() - started
    assert len(batch.done) == 5 and batch.summary.limit == 240
    assert 1.0 <= took < 3.0  # five starts 0.25 s apart, never faster, and not much slower
    assert batch.summary.rate is not None and batch.summary.rate <= 240  # as paced: never read above it


def test_an_invalid_key_stops_the_batch_with_one_line(
    tmp_path: Path, start_server: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = start_server("--require-key", "right-key")
    monkeypatch.setenv("TOGETHER_BASE_URL", srv.base_url)
    monkeypatch.setenv("TOGETHER_API_KEY", "wrong-key")
    with pytest.raises(tm.AuthenticationError) as info:
        tm.generate_many([f"x {i}" for i in range(30)], out=tmp_path, config=Imagine(), size="256x256")
    assert "wrong-key" not in str(info.value)
    assert srv.stats()["requests"] <= 4  # stopped at the first answer: not 30 items x retries
    again = tm.generate_many  # the items are still pending: fixing the key continues the batch
    monkeypatch.setenv("TOGETHER_API_KEY", "right-key")
    done = again([f"x {i}" for i in range(30)], out=tmp_path, config=Imagine(), size="256x256")
    assert len(done.done) == 30
