"""SDK-2+ per-call options and rate-limit headers, seen from the server side of a real HTTP exchange.

The server is the offline backend's own ASGI app, served by uvicorn on 127.0.0.1, with a recording layer
in front of it that keeps what actually arrived (headers, query, JSON body), so nothing of ours is mocked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from together_magic import AsyncTogether, Together
from together_magic.errors import APITimeoutError
from together_magic.offline import BackendOptions, OfflineBackend
from together_magic.offline.app import create_app

from ..conftest import MODEL, free_port


class Recorder:
    """ASGI middleware: remembers each generation request as the server received it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/images/generations":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append(
            {
                "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
                "query": scope["query_string"].decode(),
                "body": json.loads(body),
            }
        )
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(create_app(OfflineBackend(BackendOptions(latency=0.0))))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(recorder, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", recorder
    server.should_exit = True
    thread.join(5)


def test_per_call_options_are_options_not_body_fields(recorded: tuple[str, Recorder]) -> None:
    base, recorder = recorded
    with Together(base_url=base, api_key="k-test") as client:
        client.images.generate(
            prompt="a fox",
            model=MODEL,
            width=256,
            height=256,
            seed=1,
            extra_headers={"X-Class": "room 4"},
            extra_query={"trace": "yes"},
            extra_body={"steps": 2, "guidance_scale": 2.5},
            timeout=30,
            disable_safety_checker=True,
        )
    seen = recorder.seen[-1]
    assert seen["headers"]["x-class"] == "room 4"
    assert seen["query"] == "trace=yes"
    body = seen["body"]
    assert body["steps"] == 2 and body["guidance_scale"] == 2.5 and body["disable_safety_checker"] is True
    for option in ("extra_headers", "extra_query", "extra_body", "timeout"):
        assert option not in body
    assert seen["headers"]["authorization"] == "Bearer k-test"


def test_extra_body_wins_over_keywords_as_in_the_sdk(recorded: tuple[str, Recorder]) -> None:
    base, recorder = recorded
    with Together(base_url=base) as client:
        response = client.images.generate(
            prompt="a fox", model=MODEL, width=256, height=256, steps=4, extra_body={"steps": 3}
        )
    assert recorder.seen[-1]["body"]["steps"] == 3
    assert response.request is not None and response.request.model_extra["steps"] == 3


def test_per_call_timeout_is_the_one_that_fires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_BASE_URL", "offline")
    from together_magic.offline import shared_backend

    backend = shared_backend()
    saved = backend.options
    backend.options = BackendOptions(latency=0.6)
    try:
        with Together(max_retries=0, timeout=30, announce_offline=False) as client:
            started = time.perf_counter()
            with pytest.raises(APITimeoutError) as caught:
                client.images.generate(prompt="x", model=MODEL, width=256, height=256, timeout=0.2)
            assert time.perf_counter() - started < 0.55
            assert "0.2 s read timeout" in str(caught.value)
    finally:
        backend.options = saved


@pytest.mark.anyio
async def test_rate_limit_headers_are_exposed(recorded: tuple[str, Recorder]) -> None:
    base, _ = recorded
    async with AsyncTogether(base_url=base) as client:
        response = await client.images.generate(prompt="a fox", model=MODEL, width=256, height=256)
    limit = response.rate_limit
    assert limit is not None and limit.limit is not None and limit.remaining is not None
    assert 0 <= limit.remaining < limit.limit and limit.reset is not None and limit.reset >= 0
    raw = httpx.post(
        f"{base}/v1/images/generations", json={"prompt": "x", "model": MODEL, "width": 256, "height": 256}
    )
    assert raw.json()["data"][0]["type"] == "url"  # every item says what it carries


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_per_call_timeout_none_lifts_the_limit_as_in_the_sdk(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SDK 2+: ``timeout=None`` on a call means no limit for that call (not the client's own timeout)."""
    monkeypatch.setenv("TOGETHER_BASE_URL", "offline")
    from together_magic.offline import shared_backend

    backend = shared_backend()
    saved = backend.options
    backend.options = BackendOptions(latency=0.5)
    call = {"prompt": "x", "model": MODEL, "width": 256, "height": 256}
    try:
        if kind == "sync":
            with Together(max_retries=0, timeout=0.2, announce_offline=False) as client:
                with pytest.raises(APITimeoutError):
                    client.images.generate(**call)  # the client's 0.2 s fires...
                response = client.images.generate(**call, timeout=None)  # ...and None lifts it
        else:
            async with AsyncTogether(max_retries=0, timeout=0.2, announce_offline=False) as aclient:
                with pytest.raises(APITimeoutError):
                    await aclient.images.generate(**call)
                response = await aclient.images.generate(**call, timeout=None)
    finally:
        backend.options = saved
    assert len(response) == 1 and response.data is not None and response.data[0].type == "b64_json"


def test_reference_images_as_one_string_reaches_the_server_as_sent(recorded: tuple[str, Recorder]) -> None:
    """A sequence of references is sent as a list, but a lone string is not split into characters: the
    server sees the string and answers that it wants a list."""
    from together_magic.errors import BadRequestError

    base, recorder = recorded
    one = "data:image/png;base64,AAAA"
    with Together(base_url=base, max_retries=0) as client, pytest.raises(BadRequestError) as caught:
        client.images.generate(prompt="x", model="black-forest-labs/FLUX.2-dev", reference_images=one)
    assert recorder.seen[-1]["body"]["reference_images"] == one
    assert "must be a list" in caught.value.message
