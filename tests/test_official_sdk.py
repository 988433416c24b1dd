"""The official ``together`` SDK, pointed at ``together-magic serve``, gets what Together's cloud gives."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
import together  # the official SDK, from the test extra: a missing install must fail, not skip
from PIL import Image

from .conftest import MODEL, Server


def root(srv: Server) -> str:
    """SDK 2.x+ adds ``/v1`` itself, so it is given the bare host, as for Together's cloud."""
    return srv.base_url.removesuffix("/v1")


def test_sdk_generates_b64_and_url(server: Server, request: pytest.FixtureRequest) -> None:
    client = together.Together(api_key="any-key", base_url=root(server), max_retries=0)
    request.addfinalizer(client.close)
    response = client.images.generate(
        prompt="a red fox in a snowy forest",
        model=MODEL,
        seed=42,
        width=512,
        height=512,
        steps=4,
        response_format="base64",
    )
    assert response.model == MODEL and response.object == "list" and response.id
    item = response.data[0]
    raw = base64.b64decode(item.b64_json)
    with Image.open(io.BytesIO(raw)) as img:
        assert img.format == "JPEG" and img.size == (512, 512)
    by_url = client.images.generate(prompt="a lake", model=MODEL, seed=1, response_format="url")
    url = by_url.data[0].url
    assert url.startswith(server.base_url.removesuffix("/v1") + "/shrt/")


def test_sdk_same_seed_same_bytes_as_our_client(server: Server, request: pytest.FixtureRequest) -> None:
    import together_magic as tm

    sdk = together.Together(api_key="k", base_url=root(server), max_retries=0)
    request.addfinalizer(sdk.close)
    theirs = sdk.images.generate(
        prompt="sunset", model=MODEL, seed=3, width=256, height=256, response_format="base64"
    )
    with tm.Together(base_url=root(server)) as ours_client:  # our client accepts either form
        ours = ours_client.images.generate(prompt="sunset", model=MODEL, seed=3, width=256, height=256)
    assert theirs.data[0].b64_json == (ours.data or [])[0].b64_json


def test_sdk_sees_typed_errors(start_server: Callable[..., Server], request: pytest.FixtureRequest) -> None:
    srv = start_server("--require-key", "secret-for-the-sdk")
    good = together.Together(api_key="secret-for-the-sdk", base_url=root(srv), max_retries=0)
    request.addfinalizer(good.close)
    with pytest.raises(together.NotFoundError) as missing:
        good.images.generate(prompt="x", model="no/such-model")
    assert "model_not_available" in str(missing.value.body) or "Unable to access model" in str(missing.value)
    with pytest.raises(together.BadRequestError) as bad:
        good.images.generate(prompt="x", model=MODEL, n=7)
    assert bad.value.status_code == 400
    wrong = together.Together(api_key="wrong", base_url=root(srv), max_retries=0)
    request.addfinalizer(wrong.close)
    with pytest.raises(together.AuthenticationError):
        wrong.images.generate(prompt="x", model=MODEL)
