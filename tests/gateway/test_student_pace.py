"""One student cannot spend the class's pace, CPU or meter: real two-worker gateways, a stub upstream.

Every request counts against its student's own minute (cache hits too) and a few lanes; requests the
upstream refuses count against their student, never the class's pace; retries take their own places in
the pace, since the upstream counts attempts; the offline fallback has a rate; and a student is charged
for the images they got, never handed more than they asked for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from together_magic.gateway import pace
from together_magic.models import MODELS

from .conftest import Gateway, Stub, bearer, body

GENERATIONS = "/v1/images/generations"
_HTTP = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=32))


@pytest.fixture(scope="module", autouse=True)
def _pool() -> Iterator[None]:
    """The module's one connection pool, closed when its tests are done."""
    yield
    _HTTP.close()


def _post(gw: Gateway, token: str, payload: Any) -> httpx.Response:
    return _HTTP.post(f"{gw.root}{GENERATIONS}", json=payload, headers=bearer(token))


def _codes(answers: list[httpx.Response]) -> list[Any]:
    return [a.json()["error"]["code"] if a.status_code != 200 else 200 for a in answers]


@pytest.fixture(scope="module")
def shared(stub_process: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for the tests whose limits are per student: each test has students of its own."""
    args = ["--upstream", stub_process.root, "--workers", "2", "--upstream-rate", "1000"]
    limits = ["--student-rate", "10", "--fallback", "offline", "--fallback-rate", "4"]
    gw = Gateway(tmp_path_factory.mktemp("shared"), [*args, *limits])
    yield gw
    gw.stop()


def test_requests_the_upstream_refuses_count_against_their_student_not_the_class(
    stub: Stub, start_gateway: Any
) -> None:
    """Three students whose requests the upstream refuses (400, 404, 422), the class's pace 12 a minute:
    each student's refusals stop at 3 (then 429 for them alone), so 3 places are left for the class."""
    statuses = (400, 404, 422)
    gw: Gateway = start_gateway("--upstream", stub.root, "--workers", "2", "--upstream-rate", "12")
    for k, status in enumerate(statuses):
        stub.mode(status=status)
        bad = gw.add(f"bad-{status}", images=1)
        answers = [_post(gw, bad, body(k * 100 + seed)) for seed in range(6)]
        assert [a.status_code for a in answers] == [status] * pace.REFUSALS + [429] * (6 - pace.REFUSALS)
        assert set(_codes(answers[pace.REFUSALS :])) == {"student_refusals"}
        assert "refused 3 of your requests in the last minute" in answers[-1].json()["error"]["message"]
    assert len(stub.calls()) == pace.REFUSALS * len(statuses)  # the rest never reached the upstream
    stub.mode()
    good = gw.add("good", images=5)
    assert [_post(gw, good, body(900 + seed)).status_code for seed in range(3)] == [200] * 3
    usage = {u.name: u.images_used for u in gw.roster.usage()}
    assert usage == {"bad-400": 0, "bad-404": 0, "bad-422": 0, "good": 3}


def test_retries_take_their_own_places_in_the_pace(stub: Stub, start_gateway: Any) -> None:
    """Three failure kinds, one request each: every attempt is one place in the pace (3 per request), so
    with ``--upstream-rate 9`` the upstream sees 9 attempts in the minute and a tenth request waits."""
    gw: Gateway = start_gateway("--upstream", stub.root, "--workers", "2", "--upstream-rate", "9")
    kinds = ["stub:status=500", "stub:status=503", "stub:drop"]
    tokens = {k: gw.add(f"unlucky-{i}", images=10) for i, k in enumerate(kinds)}
    with ThreadPoolExecutor(len(kinds)) as pool:
        answers = list(pool.map(lambda k: _post(gw, tokens[k], body(1, prompt=f"a fox {k}")), kinds))
    assert [a.status_code for a in answers] == [502] * 3, [a.text for a in answers]
    tries = {k: sum(k in c["body"]["prompt"] for c in stub.calls()) for k in kinds}
    assert tries == dict.fromkeys(kinds, 3)  # tried three times each (two retries), as the client does
    late = _post(gw, gw.add("late", images=1), body(50))
    assert late.status_code == 429 and late.json()["error"]["code"] == "class_rate_limit", late.text
    calls = stub.calls()
    assert len(calls) == 9 and calls[-1]["at"] - calls[0]["at"] < 60  # never more than the rate
    assert {u.images_used for u in gw.roster.usage()} == {0}


def test_a_student_is_charged_for_what_they_got_and_never_handed_more(stub: Stub, start_gateway: Any) -> None:
    gw: Gateway = start_gateway("--upstream", stub.root, "--upstream-rate", "1000")
    for n, given in [(2, 8), (1, 4), (4, 4), (3, 1), (4, 2)]:
        name = f"metered-{n}-{given}"
        token = gw.add(name, images=10)
        stub.mode(images=given)
        answer = _post(gw, token, body(n * 10 + given, n=n))
        assert answer.status_code == 200, answer.text
        handed = len(answer.json()["data"])
        assert handed == min(n, given)
        assert {u.name: u.images_used for u in gw.roster.usage()}[name] == handed
        again = _post(gw, token, body(n * 10 + given, n=n))  # the cache holds what was handed on
        assert again.headers["x-together-magic-cache"] == "hit" and len(again.json()["data"]) == handed
        if given != n:
            assert f"answered {given} images for n={n}" in gw.log.read_text()


def test_every_request_counts_against_its_students_minute_cache_hits_too(stub: Stub, shared: Gateway) -> None:
    gw = shared  # --student-rate 10
    eager, calm = gw.add("eager", images=50), gw.add("calm", images=5)
    kinds = [body(1), body(1), body(1, negative_prompt="x" * 20_000), body(1, junk=1)]  # hits and 400s
    answers = [_post(gw, eager, kinds[i % len(kinds)]) for i in range(14)]
    statuses = [a.status_code for a in answers]
    assert statuses[:10] == [200, 200, 400, 400] * 2 + [200, 200] and statuses[10:] == [429] * 4
    assert set(_codes(answers[10:])) == {"student_rate_limit"}
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert "10 a minute per student" in answers[-1].json()["error"]["message"]
    assert _post(gw, calm, body(1)).status_code == 200  # another student is not slowed
    assert len(stub.calls()) == 1
    # Once a worker knows the minute is spent, it answers from memory, a second later: a client that
    # resends at once (four connections here) gets about one answer a second per connection.
    with ThreadPoolExecutor(4) as pool:
        started = time.perf_counter()
        held = list(pool.map(lambda _: _post(gw, eager, body(1)), range(8)))
        took = time.perf_counter() - started
    assert {a.status_code for a in held} == {429} and took >= 1.5, took


def test_a_student_has_a_few_requests_in_flight_the_rest_wait_their_turn(stub: Stub, shared: Gateway) -> None:
    gw = shared
    greedy, other = gw.add("greedy", images=50), gw.add("other", images=5)
    stub.mode(latency=0.4)
    with ThreadPoolExecutor(12) as pool:
        flood = [pool.submit(_post, gw, greedy, body(600 + seed)) for seed in range(10)]
        time.sleep(0.2)
        started = time.perf_counter()
        mine = _post(gw, other, body(700))
        took = time.perf_counter() - started
        answers = [f.result() for f in flood]
    assert [a.status_code for a in answers] == [200] * 10  # all done, a few at a time
    assert mine.status_code == 200 and took < 1.5, took  # the other student went ahead at once
    assert stub.peak() <= pace.IN_FLIGHT * 2 + 1  # two lanes per worker for greedy, one for other


def test_the_offline_fallback_has_a_rate_per_student(stub: Stub, shared: Gateway) -> None:
    gw = shared  # --fallback offline --fallback-rate 4
    small, large = gw.add("small", images=0), gw.add("large", images=0)
    answers = [_post(gw, small, body(seed, width=1024, height=1024)) for seed in range(6)]
    assert _codes(answers) == [200] * 4 + ["fallback_rate_limit"] * 2
    assert all(a.headers["x-together-magic-backend"] == "offline" for a in answers[:4])
    assert "at most 4 megapixels" in answers[-1].json()["error"]["message"]
    spec, width, height = next(
        (spec, w, h) for spec in MODELS.values() for _, w, h in spec.limits.presets if w * h > 8 * 2**20
    )  # a 4K preset: 16 megapixels
    big = {"prompt": "a fox", "model": spec.id, "width": width, "height": height}
    first = _post(gw, large, {**big, "seed": 1, "response_format": "base64"})
    second = _post(gw, large, {**big, "seed": 2, "response_format": "base64"})
    assert _codes([first, second]) == [200, "fallback_rate_limit"]  # one 4K image is 16 megapixels
    assert not stub.calls()  # neither student had images left: nothing went upstream
