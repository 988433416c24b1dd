"""Issue 17's acceptance: 30 students x 10 concurrent requests against 2 gateway workers, quotas of 7.

The upstream is a real ``together-magic serve --require-key SENTINEL``; everything goes over HTTP on
127.0.0.1. The limits must hold exactly although the two workers judge requests in parallel, and the
upstream must see exactly the requests the gateway could not answer from its shared cache.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import httpx

from ..conftest import Server
from .conftest import Gateway, bearer, body

STUDENTS = 30
REQUESTS = 10
QUOTA = 7
SPENT = (
    f"Your class budget is spent: {QUOTA} of {QUOTA} images. Ask your teacher for more "
    "(together-magic class grant {name} --images N)."
)


async def _burst(root: str, calls: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=root, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post("/v1/images/generations", json=payload, headers=bearer(token))
                for token, payload in calls
            )
        )


def _misses(responses: list[httpx.Response]) -> int:
    return sum(r.headers.get("x-together-magic-cache") == "miss" for r in responses)


def test_thirty_students_ten_requests_each_quota_seven(upstream: Server, start_gateway: Any) -> None:
    gateway: Gateway = start_gateway(
        "--upstream", upstream.base_url, "--workers", "2", "--upstream-rate", "100000"
    )
    tokens = {f"student-{i:02d}": gateway.add(f"student-{i:02d}", images=QUOTA) for i in range(STUDENTS)}
    names = {token: name for name, token in tokens.items()}
    before = upstream.stats().get("requests", 0)

    # Every request distinct (its own seed): 300 at once, each student's 10 racing on two workers.
    calls = [
        (token, body(seed=i * 1000 + j)) for i, token in enumerate(tokens.values()) for j in range(REQUESTS)
    ]
    started = time.perf_counter()
    responses = asyncio.run(_burst(gateway.root, calls))
    took = time.perf_counter() - started
    by_student: dict[str, collections.Counter[int]] = {}
    for (token, _), response in zip(calls, responses, strict=True):
        by_student.setdefault(token, collections.Counter())[response.status_code] += 1
        if response.status_code == 402:
            error = response.json()["error"]
            assert (
                error["message"] == SPENT.format(name=names[token]) and error["code"] == "class_budget_spent"
            ), error
        else:
            assert response.status_code == 200, response.text
            assert response.json()["data"][0]["b64_json"].startswith("/9j/")
    assert all(counts == {200: QUOTA, 402: REQUESTS - QUOTA} for counts in by_student.values()), by_student
    assert upstream.stats()["requests"] - before == _misses(responses) == STUDENTS * QUOTA
    assert took < 30, f"300 requests took {took:.1f} s"

    # The ledger agrees: exactly 7 charged each, and what was refused is counted.
    usage = {u.name: u for u in gateway.roster.usage()}
    assert {u.images_used for u in usage.values()} == {QUOTA}
    assert {u.refused for u in usage.values()} == {REQUESTS - QUOTA}

    # Every budget is spent, yet a request another student already made is answered from the cache: free.
    succeeded = [payload for (_, payload), r in zip(calls, responses, strict=True) if r.status_code == 200]
    students = list(tokens)
    again = [(tokens[students[i]], succeeded[(i + 1) * QUOTA % len(succeeded)]) for i in range(STUDENTS)]
    hits = asyncio.run(_burst(gateway.root, again))
    assert [r.status_code for r in hits] == [200] * STUDENTS, [r.text for r in hits if r.status_code != 200]
    assert {r.headers["x-together-magic-cache"] for r in hits} == {"hit"}
    assert upstream.stats()["requests"] - before == STUDENTS * QUOTA  # not one more upstream request

    # Ten fresh students ask for the identical new image at the same moment: one goes upstream, and only
    # that student pays; the other nine wait for it and get it free.
    fresh = [gateway.add(f"late-{i}", images=1) for i in range(10)]
    same = asyncio.run(
        _burst(gateway.root, [(token, body(seed=424242, prompt="one shared fox")) for token in fresh])
    )
    assert [r.status_code for r in same] == [200] * 10
    assert sorted(r.headers["x-together-magic-cache"] for r in same) == ["hit"] * 9 + ["miss"]
    assert len({r.json()["data"][0]["b64_json"] for r in same}) == 1
    assert upstream.stats()["requests"] - before == STUDENTS * QUOTA + 1
    late = [u for u in gateway.roster.usage() if u.name.startswith("late-")]
    assert sorted(u.images_used for u in late) == [0] * 9 + [1]
    assert sorted(u.cached for u in late) == [0] + [1] * 9
