"""A hostile student against a real two-worker gateway, by class, with the figures the suite prints.

Generated bodies (unknown fields with any JSON value, texts past every limit, junk lists and strings of
megabytes, the safety switch, values of the wrong type) go to a gateway in front of a stub upstream that
records every body; then the student floods with requests the upstream refuses, with failing upstream
attempts, with fallback renders and with cache hits; the class data is filled with texts at their limit;
a hidden image is asked for again; slow connections are opened. Each class is counted by outcome, and
the promises are asserted: no 5xx from our side but the honest 502s of a failing upstream, nothing off
the allow-list upstream, the pace and the disk bound kept, every slow connection dropped.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from together_magic.gateway import pace
from together_magic.gateway.intake import FORWARDED, SMALL_BODY, TEACHER_SWITCHES
from together_magic.models import PROMPT_MAX

from ..gateway.conftest import Gateway, Stub, bearer, body

GENERATIONS = "/v1/images/generations"
HTTP = httpx.Client(timeout=60)


@pytest.fixture(scope="module", autouse=True)
def _pool() -> Iterator[None]:
    """The module's one connection pool, closed when its tests are done."""
    yield
    HTTP.close()


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    srv = Stub()
    yield srv
    srv.stop()


def _junk(rng: random.Random) -> tuple[str, bytes]:
    """One hostile body and its class."""
    kind = rng.choice(["unknown field", "long text", "junk size", "switch", "wrong type", "deep"])
    seed = rng.randrange(10**6)
    if kind == "unknown field":
        name = rng.choice(["__class__", "model_config", "webhook", "extra", "x" * 300, "ñ", "1"])
        value: Any = rng.choice([1, "x", [1, 2], {"a": None}, True, -1e300])
        payload: Any = {**body(seed), name: value}
    elif kind == "long text":
        field = rng.choice(["prompt", "negative_prompt", "aspect_ratio", "model", "output_format"])
        payload = {**body(seed), field: rng.choice("a狐🦊") * rng.randrange(PROMPT_MAX + 1, 3 * PROMPT_MAX)}
    elif kind == "junk size":
        filler = rng.choice(
            [[0] * rng.randrange(SMALL_BODY, 2 * SMALL_BODY), "x" * rng.randrange(SMALL_BODY, 4 * SMALL_BODY)]
        )
        payload = {**body(seed), rng.choice(["junk", "image_url", "prompt"]): filler}
    elif kind == "switch":
        payload = {**body(seed), "disable_safety_checker": rng.choice([True, 1, "yes", [True]])}
    elif kind == "wrong type":
        field = rng.choice(["n", "width", "seed", "steps", "negative_prompt", "reference_images"])
        texts = field in ("negative_prompt", "reference_images")
        payload = {
            **body(seed),
            field: rng.choice([4, [4], {"v": 4}] if texts else ["4", [4], {"v": 4}, 4.5, -1]),
        }
    else:
        payload = {**body(seed), "image_loras": [{"path": "a/b", "scale": 1, "deep": [[[[1]]]]}]}
    return kind, json.dumps(payload).encode()


def _post(gw: Gateway, token: str, payload: Any) -> httpx.Response:
    return HTTP.post(f"{gw.root}{GENERATIONS}", json=payload, headers=bearer(token))


def test_a_hostile_student_by_class(stub: Stub, tmp_path: Path, figures: Callable[[str], None]) -> None:
    limits = ["--student-rate", "1000000", "--upstream-rate", "12", "--fallback-rate", "8"]
    limits += ["--read-timeout", "1"]
    gw = Gateway(
        tmp_path / "class",
        ["--upstream", stub.root, "--workers", "2", "--fallback", "offline", "--cache-mb", "4", *limits],
    )
    try:
        _run(gw, stub, figures)
    finally:
        gw.stop()
    log = gw.log.read_text()
    assert "Traceback" not in log and "internal error" not in log


def _run(gw: Gateway, stub: Stub, figures: Callable[[str], None]) -> None:
    rng = random.Random(23)
    student = gw.add("mallory", images=2)
    outcomes: Counter[str] = Counter()
    for _ in range(160):
        kind, content = _junk(rng)
        answer = HTTP.post(f"{gw.root}{GENERATIONS}", content=content, headers=bearer(student))
        outcomes[f"{kind}: {answer.status_code}"] += 1
        assert answer.status_code < 500, answer.text
        assert answer.status_code != 200, content[:300]
        assert "\n" not in answer.json()["error"]["message"]
    forwarded = [call["body"] for call in stub.calls()]
    off_list = [b for b in forwarded if not set(b) <= FORWARDED - TEACHER_SWITCHES]
    assert not forwarded and not off_list  # not one of them reached the upstream
    figures(
        f"hostile student bodies through 2 workers, by class and status: {dict(sorted(outcomes.items()))}; "
        f"reached the upstream: {len(forwarded)}; 5xx: 0"
    )

    stub.mode(status=400)  # the upstream refuses whatever mallory sends
    refused = Counter(_post(gw, student, body(1000 + i)).status_code for i in range(20))
    stub.mode()
    attempts = len(stub.calls())
    kinds = ["stub:status=500", "stub:drop"]
    unlucky = gw.add("unlucky", images=5)
    failing = Counter(
        _post(gw, unlucky, body(2000 + i, prompt=f"x {k}")).status_code for i, k in enumerate(kinds)
    )
    tries = len(stub.calls()) - attempts
    classmate = gw.add("classmate", images=5)
    others = Counter(_post(gw, classmate, body(3000 + i)).status_code for i in range(3))
    assert refused == {400: pace.REFUSALS, 429: 20 - pace.REFUSALS} and others[200] >= 1
    assert len(stub.calls()) <= 12  # --upstream-rate 12: attempts, refused or failed, never more
    figures(
        f"gateway pace: 20 requests the upstream refuses -> {dict(refused)}; 2 requests to a failing "
        f"upstream -> {tries} attempts (each a place in the pace), then the offline fallback: "
        f"{dict(failing)}; a classmate then -> {dict(others)}; the upstream saw {len(stub.calls())} "
        "attempts with --upstream-rate 12"
    )

    poor = gw.add("poor", images=0)
    renders = Counter(_post(gw, poor, body(5000 + i, width=1024, height=1024)).status_code for i in range(12))
    assert renders == {200: 8, 429: 4}
    text = "".join(chr(0x4E00 + i % 20000) for i in range(PROMPT_MAX))
    largest = 0
    filler = gw.add("filler", images=0)
    for i in range(8):
        _post(gw, filler, body(6000 + i, prompt=text, negative_prompt=text[::-1], n=4))
        largest = max(largest, sum(p.stat().st_size for p in gw.data.rglob("*") if p.is_file()))
    assert largest <= 4_000_000
    wall = HTTP.get(f"{gw.root}/class/api/wall", headers=bearer(gw.teacher_token()))
    figures(
        f"gateway fallback: 12 offline requests of 1 MP with --fallback-rate 8 -> {dict(renders)}; class "
        f"data at most {largest:,} bytes with --cache-mb 4 after requests at every text limit; wall answer "
        f"{len(wall.content):,} bytes"
    )

    shown = _post(gw, classmate, body(7000, response_format="url"))
    entry = next(e for e in wall_entries(gw) if e["params"]["seed"] == 7000)
    HTTP.post(f"{gw.root}/class/api/hide", json={"id": entry["id"]}, headers=bearer(gw.teacher_token()))
    link = HTTP.get(shown.json()["data"][0]["url"]).status_code
    again = _post(gw, student, body(7000, response_format="url")).status_code
    assert (link, again) == (410, 403)
    slow = _slow_connections(gw)
    figures(
        f"gateway hide: link after hiding {link}, the same request from another student {again}; "
        f"slow connections dropped: {slow}"
    )


def wall_entries(gw: Gateway) -> list[dict[str, Any]]:
    return list(HTTP.get(f"{gw.root}/class/api/wall", headers=bearer(gw.teacher_token())).json()["entries"])


def _slow_connections(gw: Gateway) -> str:
    """Connections that never finish their headers: every one is closed after --read-timeout (1 s here)."""
    socks = []
    for _ in range(30):
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(15)
        socks.append(sock)
    started = time.monotonic()
    closed = 0
    for sock in socks:
        try:
            closed += sock.recv(1) == b""
        except OSError:
            closed += 1
        sock.close()
    took = time.monotonic() - started
    assert closed == 30
    return f"{closed} of 30 with incomplete headers, all within {took:.1f} s"
