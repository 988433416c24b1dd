"""The client against the offline backend, in-process and through a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageStat

import together_magic as tm
from together_magic.imagefiles.bytes import looks_like_base64
from together_magic.offline import shared_backend

from ..conftest import MODEL, Server

SENTINEL = "tm-sentinel-key-7f3a9c1e5b"


@dataclass
class Target:
    name: str
    base_url: str
    stats: Callable[[], dict[str, int]]


@pytest.fixture(params=["inprocess", "server"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "inprocess":
        return Target("inprocess", "offline", lambda: dict(shared_backend().stats))
    srv: Server = request.getfixturevalue("server")
    return Target("server", srv.base_url, srv.stats)


def delta(before: dict[str, int], after: dict[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def fault(kind: str) -> dict[str, str]:
    return {"x-together-magic-fault": kind}


# --------------------------------------------------------------------------- success paths


def test_same_seed_gives_identical_b64(target: Target) -> None:
    with tm.Together(base_url=target.base_url) as client:
        first = client.images.generate(prompt="a red fox in a snowy forest", model=MODEL, seed=42)
        second = client.images.generate(prompt="a red fox in a snowy forest", model=MODEL, seed=42)
    assert first.data and second.data
    assert first.data[0].b64_json is not None
    assert first.data[0].b64_json == second.data[0].b64_json
    assert first.id != second.id
    assert first.model == MODEL and first.object == "list" and first.data[0].index == 0


def test_same_bytes_in_process_and_over_http(server: Server) -> None:
    kwargs = {"prompt": "sunset over a lake", "model": MODEL, "seed": 7, "width": 512, "height": 384}
    with tm.Together(base_url="offline") as local, tm.Together(base_url=server.base_url) as remote:
        a = local.images.generate(**kwargs)
        b = remote.images.generate(**kwargs)
    assert a.image_bytes() == b.image_bytes()


def test_default_constructor_is_offline_without_key() -> None:
    with tm.Together() as client, tm.Together() as other:
        assert client.offline
        response = client.images.generate(prompt="a red fox in a snowy forest", model=MODEL, seed=42)
        again = other.images.generate(prompt="a red fox in a snowy forest", model=MODEL, seed=42)
    assert response.data and again.data
    assert response.data[0].b64_json == again.data[0].b64_json


def test_seeds_and_n_give_different_pictures(target: Target) -> None:
    with tm.Together(base_url=target.base_url) as client:
        four = client.images.generate(
            prompt="a city at night", model=MODEL, seed=1, n=4, width=256, height=256
        )
        other = client.images.generate(prompt="a city at night", model=MODEL, seed=2, width=256, height=256)
        unseeded = [
            client.images.generate(prompt="a city at night", model=MODEL, width=256, height=256)
            for _ in range(2)
        ]
    pictures = four.image_bytes()
    assert [c.index for c in four.data or []] == [0, 1, 2, 3]
    assert len(set(pictures)) == 4
    assert other.image_bytes()[0] not in pictures[:1]
    # seed 2 is image 1 of the n=4 request with seed 1 (seed + index)
    assert other.image_bytes()[0] == pictures[1]
    assert unseeded[0].image_bytes() != unseeded[1].image_bytes()


@pytest.mark.parametrize(
    ("fmt", "magic", "pil"), [("jpeg", b"\xff\xd8\xff", "JPEG"), ("png", b"\x89PNG", "PNG")]
)
def test_real_image_bytes_of_requested_size(target: Target, fmt: str, magic: bytes, pil: str) -> None:
    with tm.Together(base_url=target.base_url) as client:
        response = client.images.generate(
            prompt="mountains", model=MODEL, seed=3, width=640, height=384, output_format=fmt
        )
    choice = (response.data or [])[0]
    raw = choice.image_bytes()
    assert raw.startswith(magic)
    assert choice.format == fmt
    with Image.open(io.BytesIO(raw)) as img:
        assert img.format == pil
        assert img.size == (640, 384)
    assert choice.image().size == (640, 384)


def test_jpeg_is_the_default_as_in_the_api(target: Target) -> None:
    with tm.Together(base_url=target.base_url) as client:
        response = client.images.generate(prompt="sea", model=MODEL, seed=1, width=256, height=256)
    assert (response.data or [])[0].b64_json.startswith("/9j/")  # type: ignore[union-attr]


def test_url_response_format_downloads_from_the_backend(target: Target) -> None:
    with tm.Together(base_url=target.base_url) as client:
        by_url = client.images.generate(
            prompt="forest", model=MODEL, seed=5, n=2, width=256, height=256, response_format="url"
        )
        by_b64 = client.images.generate(prompt="forest", model=MODEL, seed=5, n=2, width=256, height=256)
        assert all(c.url and c.b64_json is None for c in by_url.data or [])
        assert by_url.image_bytes() == by_b64.image_bytes()


def test_timings_and_request_kept(target: Target) -> None:
    with tm.Together(base_url=target.base_url) as client:
        response = client.images.generate(prompt="snow", model=MODEL, seed=1, width=256, height=256, steps=2)
    choice = (response.data or [])[0]
    assert choice.model_extra and "inference" in choice.model_extra["timings"]
    assert response.request is not None and response.request.model_extra == {
        "steps": 2,
        "response_format": "base64",
    }


def test_reference_image_changes_the_picture(target: Target) -> None:
    red = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(red, format="PNG")
    ref = base64.b64encode(red.getvalue()).decode()
    with tm.Together(base_url=target.base_url) as client:
        kontext = "black-forest-labs/FLUX.1-kontext-pro"  # a model that edits (schnell refuses image inputs)
        plain = client.images.generate(prompt="a blue sea", model=kontext, seed=9, width=256, height=256)
        blended = client.images.generate(
            prompt="a blue sea", model=kontext, seed=9, width=256, height=256, image_base64=ref
        )
        via_url = client.images.generate(
            prompt="a blue sea",
            model=kontext,
            seed=9,
            width=256,
            height=256,
            image_url=f"data:image/png;base64,{ref}",
        )

    def mean_red(resp: tm.ImageResponse) -> float:
        return float(ImageStat.Stat(resp.images()[0]).mean[0])

    assert mean_red(blended) > mean_red(plain) + 40
    assert via_url.image_bytes() == blended.image_bytes()


@pytest.mark.anyio
async def test_async_client_generates_concurrently(target: Target) -> None:
    async with tm.AsyncTogether(base_url=target.base_url) as client:
        results = await asyncio.gather(
            *[
                client.images.generate(prompt="lake", model=MODEL, seed=i, width=256, height=256)
                for i in range(6)
            ]
        )
        url = await client.images.generate(
            prompt="lake", model=MODEL, seed=1, width=256, height=256, response_format="url"
        )
        downloaded = await (url.data or [])[0].aimage_bytes()
    assert len({r.image_bytes()[0] for r in results}) == 6
    assert downloaded == results[1].image_bytes()[0]


def test_async_response_bytes_outside_a_coroutine(target: Target) -> None:
    async def make() -> tm.ImageResponse:
        async with tm.AsyncTogether(base_url=target.base_url) as client:
            return await client.images.generate(
                prompt="moon", model=MODEL, seed=4, width=256, height=256, response_format="url"
            )

    response = asyncio.run(make())
    assert (response.data or [])[0].image_bytes().startswith(b"\xff\xd8")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "param", "fragment"),
    [
        ({"n": 5}, "n", "between 1 and 4"),
        ({"n": 0}, "n", "between 1 and 4"),
        ({"width": 100}, "width", "between 256 and 1920, in multiples of '8'"),
        ({"height": 1001}, "height", "multiples of '8'"),
        ({"steps": 51}, "steps", "between 1 and 50"),
        ({"prompt": "   "}, "prompt", "non-empty"),
        ({"output_format": "gif"}, "output_format", "'jpeg', 'png'"),
        ({"response_format": "b64_json"}, "response_format", "'base64', 'url'"),
        ({"guidance_scale": 99}, "guidance_scale", "between 0 and 30"),
    ],
)
def test_bad_request_names_the_parameter(
    target: Target, kwargs: dict[str, object], param: str, fragment: str
) -> None:
    args: dict[str, object] = {"prompt": "a fox", "model": MODEL, **kwargs}
    with (
        tm.Together(base_url=target.base_url, max_retries=0) as client,
        pytest.raises(tm.BadRequestError) as info,
    ):
        client.images.generate(**args)  # type: ignore[arg-type]
    err = info.value
    assert err.status_code == 400 and err.type == "invalid_request_error" and err.param == param
    assert fragment in err.message
    assert f"Invalid value for '{param}' parameter" in err.message
    assert str(err).startswith("400 invalid_request_error: Invalid value")
    assert err.request_id and str(err).endswith(f"(request id {err.request_id})")
    assert "\n" not in str(err)


def test_flux2_sizes_are_the_common_range(target: Target) -> None:
    """256-1920 in multiples of 8 (Together, 2026-10-07); the 512-2048/16 once here was never Together's."""
    with tm.Together(base_url=target.base_url) as client, pytest.raises(tm.BadRequestError) as info:
        client.images.generate(prompt="x", model="black-forest-labs/FLUX.2-dev", width=1004)
    assert "between 256 and 1920, in multiples of '8'" in str(info.value)


def test_unknown_model_is_404_model_not_available(target: Target) -> None:
    with tm.Together(base_url=target.base_url) as client, pytest.raises(tm.NotFoundError) as info:
        client.images.generate(prompt="x", model="bad model")
    assert info.value.code == "model_not_available" and info.value.status_code == 404
    assert "Unable to access model bad model" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "cls", "status"),
    [
        ("402", tm.PaymentRequiredError, 402),
        ("403", tm.PermissionDeniedError, 403),
        ("422", tm.UnprocessableEntityError, 422),
        ("500", tm.InternalServerError, 500),
        ("502", tm.InternalServerError, 502),
        ("503", tm.InternalServerError, 503),
        ("429", tm.RateLimitError, 429),
        ("html502", tm.InternalServerError, 502),
    ],
)
def test_every_status_maps_to_its_error(
    target: Target, kind: str, cls: type[tm.APIStatusError], status: int
) -> None:
    with tm.Together(base_url=target.base_url, max_retries=0) as client:
        client._http.headers.update(fault(kind))
        with pytest.raises(cls) as info:
            client.images.generate(prompt="x", model=MODEL, width=256, height=256)
    assert info.value.status_code == status
    assert isinstance(info.value, tm.APIError) and isinstance(info.value, tm.TogetherError)
    if kind == "html502":
        assert "HTML error page" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "cls", "fragment"),
    [
        ("badjson", tm.APIResponseValidationError, "not JSON"),
        ("nodata", tm.APIResponseValidationError, "no images"),
        ("drop", tm.APIConnectionError, "could not talk to"),
        ("truncated", tm.APIConnectionError, "could not talk to"),
    ],
)
def test_broken_answers_become_typed_errors(
    target: Target, kind: str, cls: type[tm.APIError], fragment: str
) -> None:
    with tm.Together(base_url=target.base_url, max_retries=0) as client:
        client._http.headers.update(fault(kind))
        with pytest.raises(cls) as info:
            client.images.generate(prompt="x", model=MODEL, width=256, height=256)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_corrupt_base64_is_a_typed_error_when_the_bytes_are_read(target: Target) -> None:
    with tm.Together(base_url=target.base_url, max_retries=0) as client:
        client._http.headers.update(fault("badbase64"))
        response = client.images.generate(prompt="x", model=MODEL, width=256, height=256)
    with pytest.raises(tm.ImageDataError, match="image 0: b64_json is not valid base64"):
        (response.data or [])[0].image_bytes()
    with tm.Together(base_url=target.base_url, max_retries=0) as client:
        raw = client._http.post(
            "/images/generations", json={"prompt": "x", "model": MODEL, "response_format": "base64"}
        )
    truncated = raw.json()["data"][0]["b64_json"][:-3]  # a length no decoder accepts: caught at once
    assert not looks_like_base64(truncated)


def test_authentication_and_key_never_leaks(
    start_server: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    srv = start_server("--require-key", "right-key-123456")
    with tm.Together(base_url=srv.base_url, api_key=SENTINEL, max_retries=1) as client:
        assert SENTINEL not in repr(client)
        with pytest.raises(tm.AuthenticationError) as info:
            client.images.generate(prompt="x", model=MODEL)
    err = info.value
    assert err.code == "invalid_api_key" and err.status_code == 401
    for text in (str(err), repr(err), str(err.body), caplog.text, err.message):
        assert SENTINEL not in text
    with tm.Together(base_url=srv.base_url, api_key="right-key-123456") as client:
        assert client.images.generate(prompt="x", model=MODEL, width=256, height=256).data


def test_rate_limit_answers_429_with_retry_after(start_server: Callable[..., Server]) -> None:
    srv = start_server("--rate-limit", "2")
    with tm.Together(base_url=srv.base_url, max_retries=0) as client:
        for _ in range(2):
            client.images.generate(prompt="x", model=MODEL, width=256, height=256)
        started = time.perf_counter()
        with pytest.raises(tm.RateLimitError) as info:
            client.images.generate(prompt="x", model=MODEL, width=256, height=256)
    assert time.perf_counter() - started < 1
    assert str(info.value).startswith(
        "429 dynamic_request_limited: Request was rejected due to request rate limiting."
    )
    raw = httpx.post(f"{srv.base_url}/images/generations", json={"prompt": "x", "model": MODEL})
    assert raw.status_code == 429 and 1 <= int(raw.headers["retry-after"]) <= 60


# --------------------------------------------------------------------------- retries


def _retry_waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(m) for m in re.findall(r"retrying in ([0-9.]+) s", caplog.text)]


@pytest.mark.parametrize("kind", ["503", "429", "500", "504", "408", "409", "html502", "drop", "truncated"])
def test_sync_retries_until_success(target: Target, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    caplog.set_level(logging.INFO, logger="together_magic")
    before = target.stats()
    with tm.Together(base_url=target.base_url, max_retries=3) as client:
        client._http.headers.update(fault(f"{kind};times=2;retry-after-ms=30"))
        started = time.perf_counter()
        response = client.images.generate(prompt="x", model=MODEL, width=256, height=256)
        elapsed = time.perf_counter() - started
    assert response.data
    after = target.stats()
    assert delta(before, after, "requests") == 3  # two faults, then the answer
    assert delta(before, after, "status_200") >= 1
    waits = _retry_waits(caplog)
    assert len(waits) == 2
    if kind in ("drop", "truncated"):  # no headers to honour: exponential backoff with jitter
        assert 0.75 <= waits[0] <= 1.0 and 1.5 <= waits[1] <= 2.0  # SDK 3.1.1: 1 s, then 2 s, with jitter
        assert elapsed >= sum(waits)
    else:
        assert waits == [0.03, 0.03]
        assert elapsed >= 0.06


@pytest.mark.anyio
async def test_async_retries_until_success(target: Target, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="together_magic")
    before = target.stats()
    async with tm.AsyncTogether(base_url=target.base_url, max_retries=2) as client:
        client._http.headers.update(fault("503;times=2;retry-after-ms=40"))
        started = time.perf_counter()
        response = await client.images.generate(prompt="x", model=MODEL, width=256, height=256)
        elapsed = time.perf_counter() - started
    assert response.data
    assert delta(before, target.stats(), "requests") == 3
    assert _retry_waits(caplog) == [0.04, 0.04]
    assert elapsed >= 0.08


@pytest.mark.parametrize("use_async", [False, True])
def test_retries_stop_at_the_budget(
    target: Target, caplog: pytest.LogCaptureFixture, use_async: bool
) -> None:
    caplog.set_level(logging.INFO, logger="together_magic")
    before = target.stats()
    header = fault("500;retry-after-ms=10")

    async def run_async() -> None:
        async with tm.AsyncTogether(base_url=target.base_url, max_retries=2) as client:
            client._http.headers.update(header)
            await client.images.generate(prompt="x", model=MODEL)

    with pytest.raises(tm.InternalServerError):
        if use_async:
            asyncio.run(run_async())
        else:
            with tm.Together(base_url=target.base_url, max_retries=2) as client:
                client._http.headers.update(header)
                client.images.generate(prompt="x", model=MODEL)
    assert delta(before, target.stats(), "requests") == 3
    assert _retry_waits(caplog) == [0.01, 0.01]


def test_no_retry_on_client_errors_or_when_server_says_no(target: Target) -> None:
    before = target.stats()
    with tm.Together(base_url=target.base_url, max_retries=3) as client:
        with pytest.raises(tm.BadRequestError):
            client.images.generate(prompt="x", model=MODEL, n=9)
        client._http.headers.update(fault("503;should-retry=false"))
        with pytest.raises(tm.InternalServerError):
            client.images.generate(prompt="x", model=MODEL)
    assert delta(before, target.stats(), "requests") == 2


def test_server_can_ask_for_a_retry(target: Target) -> None:
    before = target.stats()
    with tm.Together(base_url=target.base_url, max_retries=2) as client:
        client._http.headers.update(fault("403;times=1;should-retry=true;retry-after-ms=5"))
        assert client.images.generate(prompt="x", model=MODEL, width=256, height=256).data
    assert delta(before, target.stats(), "requests") == 2


# --------------------------------------------------------------------------- timeouts and connections


@pytest.mark.parametrize("use_async", [False, True])
def test_timeout_names_the_timeout(target: Target, use_async: bool) -> None:
    header = fault("slow")

    async def run_async() -> None:
        async with tm.AsyncTogether(base_url=target.base_url, timeout=0.3, max_retries=0) as client:
            client._http.headers.update(header)
            await client.images.generate(prompt="x", model=MODEL, width=256, height=256)

    started = time.perf_counter()
    with pytest.raises(tm.APITimeoutError) as info:
        if use_async:
            asyncio.run(run_async())
        else:
            with tm.Together(base_url=target.base_url, timeout=0.3, max_retries=0) as client:
                client._http.headers.update(header)
                client.images.generate(prompt="x", model=MODEL, width=256, height=256)
    elapsed = time.perf_counter() - started
    assert 0.25 <= elapsed < 5
    assert "0.3 s read timeout" in str(info.value)
    assert isinstance(info.value, tm.APIConnectionError)


def test_latency_option_is_honoured(start_server: Callable[..., Server]) -> None:
    srv = start_server("--latency", "0.4")
    with tm.Together(base_url=srv.base_url) as client:
        started = time.perf_counter()
        client.images.generate(prompt="x", model=MODEL, width=256, height=256)
        assert time.perf_counter() - started >= 0.4
    with (
        tm.Together(base_url=srv.base_url, timeout=0.2, max_retries=0) as client,
        pytest.raises(tm.APITimeoutError),
    ):
        client.images.generate(prompt="x", model=MODEL, width=256, height=256)


def test_connection_refused_is_a_connection_error(caplog: pytest.LogCaptureFixture) -> None:
    from ..conftest import free_port

    caplog.set_level(logging.INFO, logger="together_magic")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with (
        tm.Together(base_url=url, api_key=SENTINEL, max_retries=1) as client,
        pytest.raises(tm.APIConnectionError) as info,
    ):
        client.images.generate(prompt="x", model=MODEL)
    assert not isinstance(info.value, tm.APITimeoutError)
    assert url in str(info.value)
    assert len(_retry_waits(caplog)) == 1
    assert SENTINEL not in str(info.value) + caplog.text


@pytest.mark.parametrize(
    "template",
    [
        "http://ada:{secret}@{host}",
        "http://{secret}@{host}",
        "http://ada:{secret}@{host}/v1",
        "https://:{secret}@{host}",
        "http://ada:{secret}%40x@{host}",
        "http://ada:{secret}@[::1]:9",
    ],
)
def test_credentials_in_the_base_url_are_refused_in_one_line_and_never_shown(
    server: Server, caplog: pytest.LogCaptureFixture, tmp_path: Path, template: str
) -> None:
    """A base URL carrying ``user:password@`` is refused before anything is sent, as a query is: httpx
    would log the URL with it at INFO and send it as Basic auth. The message shows the URL without it."""
    secret = "pw-sentinel-31c9"
    caplog.set_level(logging.DEBUG)  # httpx's and httpcore's own loggers too
    host_port = server.base_url.removeprefix("http://").removesuffix("/v1")
    url = template.format(secret=secret, host=host_port)
    with pytest.raises(tm.APIConnectionError) as info:
        tm.Together(base_url=url, max_retries=0)  # refused when made: before any request or log line
    message = str(info.value)
    assert message.startswith("TOGETHER_BASE_URL cannot hold user:password@") and "\n" not in message
    assert secret not in message + caplog.text and "ada@" not in message
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env.update(XDG_CACHE_HOME=str(tmp_path), TOGETHER_BASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "together_magic", "generate", "a fox", "--save", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "cannot hold user:password@" in done.stderr and secret not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize("tail", ["?token=zq9secret", "/#zq9secret", "/v1?x=zq9secret"])
def test_a_base_url_with_a_query_or_fragment_is_refused_in_one_line(tail: str) -> None:
    with pytest.raises(tm.APIConnectionError) as info:
        tm.Together(base_url=f"http://127.0.0.1:9{tail}")
    message = str(info.value)
    assert message.startswith("TOGETHER_BASE_URL") and "query" in message and "\n" not in message
    assert "zq9secret" not in message


@pytest.mark.parametrize("blank", ["", " ", "\t/", "  //  "])
def test_a_blank_base_url_is_unset_whatever_its_whitespace(
    blank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_BASE_URL", blank)
    assert tm.Together().offline  # no key: the offline backend, as with no TOGETHER_BASE_URL at all
    monkeypatch.setenv("TOGETHER_API_KEY", SENTINEL)
    assert tm.Together().base_url == "https://api.together.ai/v1"


def test_fail_rate_server_with_retries_mostly_succeeds(start_server: Callable[..., Server]) -> None:
    srv = start_server("--fail-rate", "0.3", "--fault-seed", "1", "--faults", "500,503")
    outcomes: list[str] = []
    with tm.Together(base_url=srv.base_url, max_retries=0) as client:
        for _ in range(20):
            try:
                client.images.generate(prompt="x", model=MODEL, width=256, height=256)
                outcomes.append("ok")
            except tm.InternalServerError as exc:
                outcomes.append(str(exc.status_code))
    stats = srv.stats()
    assert outcomes.count("ok") == stats["status_200"]
    assert 0 < outcomes.count("ok") < 20
    assert set(outcomes) <= {"ok", "500", "503"}


def test_user_agent_and_auth_header_only_on_api_calls() -> None:
    seen: list[httpx.Request] = []
    client = tm.Together(base_url="offline", api_key=SENTINEL)
    # watch what the pool sends without changing how it sends it
    client._http.event_hooks["request"].append(seen.append)
    response = client.images.generate(prompt="x", model=MODEL, width=256, height=256, response_format="url")
    (response.data or [])[0].image_bytes()
    client.close()
    api_call, download = seen
    assert api_call.headers["authorization"] == f"Bearer {SENTINEL}"
    assert "authorization" not in download.headers
    assert api_call.headers["user-agent"].startswith(f"together-magic/{tm.__version__}")
    assert download.headers["user-agent"].startswith("together-magic/")
