"""The gateway over real HTTP: the official SDK and our own clients with class tokens, revocation at once,
URLs it serves itself, fallback to the offline renderer, the global pace, the class budget, hostile input.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import together  # the official SDK, from the test extra: a missing install must fail, not skip

from together_magic import AsyncTogether, Together
from together_magic.errors import PaymentRequiredError
from together_magic.offline.backend import MAX_BODY_BYTES

from ..conftest import MODEL, Server, free_port
from ..kernel import Kernel
from ..offline.test_hostile import HOSTILE
from .conftest import SENTINEL, Gateway, bearer, body, self_signed

GENERATIONS = "/v1/images/generations"


@pytest.fixture(scope="module")
def gateway(upstream: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Two workers: a revocation or a spent budget must hold whichever worker takes the next request."""
    root = upstream.base_url.removesuffix("/v1")
    gw = Gateway(tmp_path_factory.mktemp("class"), ["--upstream", root, "--workers", "2"])
    yield gw
    gw.stop()


def post(gw: Gateway, token: str | None, payload: Any, **kwargs: Any) -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.post(f"{gw.root}{GENERATIONS}", json=payload, headers=headers, timeout=30, **kwargs)


def test_official_sdk_with_a_class_token_then_revoked_gets_401_at_once(gateway: Gateway) -> None:
    token = gateway.add("sdk-student", images=3)
    sdk = together.Together(
        api_key=token, base_url=gateway.root, max_retries=0, _strict_response_validation=True
    )
    try:
        made = sdk.images.generate(prompt="a lighthouse", model=MODEL, width=256, height=256, seed=5, n=2)
        assert [item.type for item in made.data] == ["url", "url"]  # the SDK's default format
        for item in made.data:
            assert item.url.startswith(f"{gateway.root}/shrt/")
            assert httpx.get(item.url, timeout=10).content[:3] == b"\xff\xd8\xff"
        b64 = sdk.images.generate(
            prompt="a lighthouse", model=MODEL, width=256, height=256, seed=9, response_format="base64"
        )
        assert base64.b64decode(b64.data[0].b64_json)[:3] == b"\xff\xd8\xff"
        with pytest.raises(together.APIStatusError) as spent:  # 2 + 1 images made: the quota of 3 is gone
            sdk.images.generate(prompt="one more", model=MODEL, width=256, height=256, seed=10)
        assert spent.value.status_code == 402
        assert "Your class budget is spent: 3 of 3 images" in str(spent.value)
        assert gateway.roster.revoke("sdk-student")
        started = time.perf_counter()
        with pytest.raises(together.AuthenticationError) as denied:
            sdk.images.generate(prompt="after revoke", model=MODEL, width=256, height=256, seed=11)
        assert time.perf_counter() - started < 5
        assert "revoked by the teacher" in str(denied.value)
    finally:
        sdk.close()


def test_our_clients_and_the_cli_work_unchanged_through_the_gateway(gateway: Gateway, tmp_path: Path) -> None:
    token = gateway.add("cli-student", images=5)
    with Together(api_key=token, base_url=gateway.root) as client:
        response = client.images.generate(prompt="a kite", model=MODEL, seed=1, width=256, height=256)
    assert response.data and response.data[0].format == "jpeg"
    assert response.provenance.backend == "gateway"  # the badge follows x-together-magic-backend

    async def cached() -> Any:
        async with AsyncTogether(api_key=token, base_url=gateway.root) as client:
            return await client.images.generate(prompt="a kite", model=MODEL, seed=1, width=256, height=256)

    import asyncio

    again = asyncio.run(cached())
    assert again.data and again.data[0].image_bytes() == response.data[0].image_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env.update(TOGETHER_BASE_URL=gateway.root, TOGETHER_API_KEY=token)
    run = subprocess.run(
        [sys.executable, "-m", "together_magic", "generate", "--seed", "7", "--width", "256",
         "--height", "256", "--save", str(tmp_path / "out"), "a", "paper", "boat"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert len(list((tmp_path / "out").iterdir())) == 1
    usage = {u.name: u for u in gateway.roster.usage()}["cli-student"]
    assert (usage.images_used, usage.cached) == (2, 1)


def test_bad_tokens_are_refused_before_the_body_is_read(gateway: Gateway) -> None:
    cases = {
        None: "No API key provided",
        "class-not-a-real-token": "Invalid API key provided",
        gateway.teacher_token(): "This is the teacher's token",
    }
    for token, message in cases.items():
        response = post(gateway, token, body(1))
        assert response.status_code == 401 and message in response.json()["error"]["message"], response.text
        assert response.headers["x-should-retry"] == "false"
    # A huge upload without a valid key is answered at once and the connection closed, body unread.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            f"POST {GENERATIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_BODY_BYTES * 4}\r\n\r\n".encode()
        )
        answer = sock.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 401") and "connection: close" in answer.lower()


def test_expired_token(gateway: Gateway) -> None:
    token = gateway.roster.add("brief", images=5, budget=None, expires=time.time() + 0.3)
    time.sleep(0.4)
    response = post(gateway, token, body(2))
    assert response.status_code == 401 and "expired on" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"prompt": "x"}, 400, "'model'"),
        (body(1, model="nobody/no-model"), 404, "Unable to access model"),
        (body(1, n=9), 400, "'n'"),
        (body(1, width=250), 400, "'width'"),
        (body(1, prompt=""), 400, "'prompt'"),
        ([1, 2], 400, "JSON object"),
        (body(-1), 400, "'seed'"),
    ],
)
def test_bad_requests_are_together_shaped_and_free(
    gateway: Gateway, payload: Any, status: int, fragment: str
) -> None:
    token = gateway.add(f"typo-{status}-{fragment.strip(chr(39))[:12]}-{time.monotonic_ns()}", images=1)
    response = post(gateway, token, payload)
    assert response.status_code == status and fragment in response.json()["error"]["message"], response.text
    assert set(response.json()) == {"id", "error"}
    assert post(gateway, token, body(None)).status_code == 200  # nothing was charged for the mistake


def test_hostile_requests(gateway: Gateway) -> None:
    token = gateway.add("hostile", images=3)
    raw = httpx.post(f"{gateway.root}{GENERATIONS}", content=b"{not json", headers=bearer(token), timeout=10)
    assert raw.status_code == 400 and "not valid JSON" in raw.json()["error"]["message"]
    nan = httpx.post(
        f"{gateway.root}{GENERATIONS}", content=b'{"seed": NaN}', headers=bearer(token), timeout=10
    )
    assert nan.status_code == 400
    nulls = body(None, n=None, width=None, height=None, negative_prompt=None, steps=None)
    assert post(gateway, token, nulls).status_code == 200  # null is the default, as the SDKs send it
    odd = post(gateway, token, body(3, __class__=1, model_config={"x": 1}, extra="kept"))
    assert odd.status_code == 400  # only the API's fields go upstream with the teacher's key
    assert odd.json()["error"]["message"].startswith("Unknown field '__class__': this class gateway")
    assert httpx.get(f"{gateway.root}{GENERATIONS}", timeout=10).status_code == 405
    assert httpx.get(f"{gateway.root}/nowhere", timeout=10).status_code == 404
    assert httpx.delete(f"{gateway.root}/v1/models", timeout=10).status_code == 405
    for method, path in [("POST", "/v1/chat/completions"), ("OPTIONS", "/v1/embeddings"), ("PUT", "/x")]:
        other = httpx.request(method, f"{gateway.root}{path}", headers=bearer(token), timeout=10)
        message = other.json()["error"]["message"]  # not "use GET": there is nothing to GET there
        assert other.status_code == 404 and f"{method} {path}" in message and "images only" in message
    for path in ("/shrt/nothing-0", "/shrt/-0", "/shrt/x-99999", "/shrt/", "/class/image/abc/0"):
        assert httpx.get(f"{gateway.root}{path}", timeout=10).status_code in (401, 404), path
    models = httpx.get(f"{gateway.root}/v1/models", timeout=10).json()
    assert MODEL in {m["id"] for m in models}


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'"prompt": "a \\ud800 fox"', "prompt"),
        (b'"prompt": "a fox", "negative_prompt": "\\udfff"', "negative_prompt"),
        (b'"prompt": "a fox", "note": {"deep": ["ok", "\\udbff"]}', "note"),
        (b'"prompt": "a fox", "\\ud800": 1', None),
        (b'"prompt": "a fox", "strength": 1e999', "strength"),
        (b'"prompt": "a fox", "extra": [1, -1e400]', "extra"),
    ],
)
def test_bodies_the_gateway_cannot_forward_are_400_and_free(
    gateway: Gateway, raw: bytes, param: str | None
) -> None:
    """JSON the gateway can parse but not send upstream as JSON (lone surrogates, numbers that overflow
    to infinity) is the student's 400 naming the field, never a 500, and costs nothing."""
    token = gateway.add(f"unsendable-{time.monotonic_ns()}", images=1)
    content = b'{"model": "%s", "width": 256, "height": 256, "seed": 3, %s}' % (MODEL.encode(), raw)
    response = httpx.post(f"{gateway.root}{GENERATIONS}", content=content, headers=bearer(token), timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert post(gateway, token, body(None)).status_code == 200  # the one image allowed is still there


def test_every_hostile_body_of_the_offline_suite_is_a_4xx_or_2xx_at_the_gateway(gateway: Gateway) -> None:
    """The offline server's table of hostile bodies, sent to the gateway with a valid token: the gateway
    parses, validates and forwards, so anything it lets through must also be sendable upstream."""
    token = gateway.add(f"hostile-table-{time.monotonic_ns()}", images=None)
    statuses = {}
    with httpx.Client(base_url=gateway.root, headers=bearer(token), timeout=60) as http:
        for name, content in HOSTILE.items():
            statuses[name] = http.post(GENERATIONS, content=content).status_code
    assert {name: code for name, code in statuses.items() if code >= 500} == {}
    assert statuses["lone surrogate in prompt"] == 400 and statuses["1e400"] == 400


def test_budget_in_dollars_and_for_the_whole_class(upstream: Server, start_gateway: Any) -> None:
    # FLUX.2 dev is estimated at $0.0154 an image (whatever its size); the class may spend $0.04: two images.
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--class-budget", "0.04")
    rich, poor = gw.add("rich", images=None), gw.add("poor", images=None, budget=0.02)
    assert post(gw, poor, body(1)).status_code == 200
    spent = post(gw, poor, body(2))
    assert spent.status_code == 402
    assert spent.json()["error"]["message"] == (
        "This request would cost about $0.0154 but your class budget has $0.0046 of $0.02 left: ask "
        "for fewer or smaller images. Ask your teacher for more (together-magic class grant poor --budget "
        "DOLLARS)."
    )
    assert post(gw, rich, body(3)).status_code == 200
    whole = post(gw, rich, body(4))
    assert whole.status_code == 402 and "whole class's budget is spent" in whole.json()["error"]["message"]
    with Together(api_key=poor, base_url=gw.root) as client, pytest.raises(PaymentRequiredError) as caught:
        client.images.generate(prompt="x", model=MODEL, seed=5, width=256, height=256)
    assert "your class budget has $0.0046 of $0.02 left" in str(caught.value)


def test_fallback_offline_when_the_budget_is_spent_or_the_upstream_is_down(
    upstream: Server, start_gateway: Any
) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--fallback", "offline")
    token = gw.add("falling", images=1)
    first = post(gw, token, body(1))
    assert (first.status_code, first.headers["x-together-magic-backend"]) == (200, "gateway")
    second = post(gw, token, body(2))  # budget spent: the offline renderer answers, free, and says so
    assert (second.status_code, second.headers["x-together-magic-backend"]) == (200, "offline")
    assert second.headers["x-together-magic-cache"] == "bypass"
    with Together(api_key=token, base_url=gw.root) as client:
        badge = client.images.generate(prompt="x", model=MODEL, seed=3, width=256, height=256)
    assert badge.provenance.backend == "offline"

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    down: Gateway = start_gateway("--upstream", dead, "--fallback", "offline")
    student = down.add("stranded", images=3)
    started = time.perf_counter()
    rescued = post(down, student, body(4))
    first = time.perf_counter() - started
    assert (rescued.status_code, rescued.headers["x-together-magic-backend"]) == (200, "offline")
    assert first > 1.0  # the upstream was tried three times (two retries with backoff) before falling back
    started = time.perf_counter()
    assert post(down, student, body(5)).headers["x-together-magic-backend"] == "offline"
    assert time.perf_counter() - started < 0.5  # then the class goes straight to the fallback for a while
    usage = {u.name: u for u in down.roster.usage()}["stranded"]
    assert (usage.images_used, usage.offline) == (0, 2)  # the failed upstream calls were not charged

    plain: Gateway = start_gateway("--upstream", dead)
    lost = post(plain, plain.add("waiting", images=3), body(5))
    assert lost.status_code == 502 and "did not answer" in lost.json()["error"]["message"]
    assert "the upstream failed" in plain.log.read_text()


def test_pace_keeps_the_upstream_under_its_rate(upstream: Server, start_gateway: Any) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--upstream-rate", "2", "--workers", "2")
    tokens = [gw.add("fast", images=10), gw.add("furious", images=10)]
    with ThreadPoolExecutor(4) as pool:  # two students, four requests at once, two workers: one window
        answers = list(pool.map(lambda i: post(gw, tokens[i % 2], body(i)), range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 429, 429]
    for paced in (a for a in answers if a.status_code == 429):
        assert paced.json()["error"]["code"] == "class_rate_limit"
        assert 30 <= int(paced.headers["retry-after"]) <= 61
    done = next(i for i, a in enumerate(answers) if a.status_code == 200)
    assert post(gw, tokens[done % 2], body(done)).status_code == 200  # the cache needs no slot
    assert sum(u.images_used for u in gw.roster.usage()) == 2


def test_wrong_upstream_key_is_the_teachers_problem_never_shown(upstream: Server, start_gateway: Any) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url, key="sk-not-the-right-key")
    student = gw.add("unlucky")
    answer = post(gw, student, body(1))
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream_key_refused"
    assert answer.headers["x-should-retry"] == "false"
    assert "sk-not-the-right-key" not in answer.text
    assert {u.name: u for u in gw.roster.usage()}["unlucky"].images_used == 0


def test_serve_output_names_the_wall_and_not_the_key(gateway: Gateway) -> None:
    text = gateway.log.read_text()
    assert "serving on http://127.0.0.1:" in text and "/class?token=teacher-" in text
    assert "TOGETHER_API_KEY" in text  # it names the variable...
    assert SENTINEL not in text  # ...never its value


def test_debug_access_logs_never_hold_a_token(upstream: Server, start_gateway: Any) -> None:
    """``--log-level debug`` turns uvicorn's access log on; the wall's ``?token=`` (and anything a client
    puts in a query) must not land in it, in any worker."""
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--workers", "2", "--log-level", "debug")
    teacher = gw.teacher_token()
    student = gw.add("logged", images=2)
    with httpx.Client(base_url=gw.root, timeout=30) as http:
        for _ in range(4):  # several connections, so both workers answer some
            assert http.get(f"/class?token={teacher}").status_code == 303
            assert http.post(f"{GENERATIONS}?api_key={student}", json=body(None)).status_code in (200, 401)
            with httpx.Client(base_url=gw.root, timeout=30) as other:
                other.get(f"/class/api/wall?token={teacher}")
    deadline = time.monotonic() + 5
    while gw.log.read_text().count("GET /class") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    text = gw.log.read_text()
    assert text.count("GET /class") >= 4  # the access log is on...
    startup, _, access = text.partition("GET ")
    assert teacher in startup  # the teacher token is printed once at the first start, as documented
    assert teacher not in access and student not in text  # ...and holds no token


def test_practice_mode_upstream_offline_needs_no_key(start_gateway: Any) -> None:
    gw: Gateway = start_gateway("--upstream", "offline", key=None)
    token = gw.add("practice", images=1)
    made = post(gw, token, body(1))
    assert (made.status_code, made.headers["x-together-magic-backend"]) == (200, "offline")
    assert post(gw, token, body(1)).headers["x-together-magic-cache"] == "hit"
    assert post(gw, token, body(2)).status_code == 402  # the quota holds in practice too
    assert "without a key" in gw.log.read_text()


def test_the_magic_in_a_real_kernel_with_a_class_token(gateway: Gateway, tmp_path: Path) -> None:
    token = gateway.add("kernel-student", images=2)
    kernel = Kernel(tmp_path)
    try:
        kernel.ok(
            f"import os\nos.environ.update(TOGETHER_BASE_URL={gateway.root!r}, TOGETHER_API_KEY={token!r})"
        )
        kernel.ok("%load_ext together_magic")
        reply = kernel.ok("%%imagine --seed 3 --width 256 --height 256 -n 2\na fox in a notebook")
        shown = [o for o in reply.outputs if o["msg_type"] in ("display_data", "execute_result")]
        assert shown, reply.outputs
        assert token not in str(reply.outputs)
        spent = kernel.run("%%imagine --seed 9 --width 256 --height 256\none too many")
        assert spent.status == "error"
        assert "Your class budget is spent: 2 of 2 images" in str(spent.outputs)
    finally:
        kernel.stop()
    usage = {u.name: u for u in gateway.roster.usage()}["kernel-student"]
    assert (usage.images_used, usage.refused) == (2, 1)  # -n 2 sent as two single-image requests


def test_tls_passes_through_to_uvicorn(upstream: Server, start_gateway: Any, tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path)
    tls = ["--ssl-keyfile", str(key), "--ssl-certfile", str(cert)]
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--host", "0.0.0.0", *tls)
    trust = ssl.create_default_context(cafile=str(cert))
    assert gw.root.startswith("https://") and "warning" not in gw.log.read_text()  # TLS: no warning
    assert f"serving on https://127.0.0.1:{gw.port}" in gw.log.read_text()
    token = gw.add("secure")
    made = httpx.post(f"{gw.root}{GENERATIONS}", json=body(1, response_format="url"), headers=bearer(token),
                      verify=trust, timeout=30)  # fmt: skip
    assert made.status_code == 200 and made.json()["data"][0]["url"].startswith(f"{gw.root}/shrt/")
    login = httpx.get(f"{gw.root}/class?token={gw.teacher_token()}", verify=trust, timeout=10)
    assert "Secure" in login.headers["set-cookie"] and "HttpOnly" in login.headers["set-cookie"]
    with pytest.raises(httpx.TransportError):  # plain HTTP is not served on the TLS port
        httpx.get(f"http://127.0.0.1:{gw.port}/", timeout=5)
