"""The gateway answers both base URL forms, as the offline server does: ``BASE/images/generations`` (the
TypeScript SDK, SDK 1.x, curl) and ``BASE/v1/images/generations`` (the Python SDK 3), ``/models`` alike."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from together_magic.models import MODELS

from ..conftest import Server
from .conftest import Gateway, bearer, body


@pytest.fixture(scope="module")
def gateway(upstream: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("forms"), ["--upstream", upstream.base_url.removesuffix("/v1")])
    yield gw
    gw.stop()


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_both_forms_generate_and_list(gateway: Gateway, prefix: str) -> None:
    token = gateway.add(f"forms{prefix.replace('/', '-')}", images=2)
    made = httpx.post(
        f"{gateway.root}{prefix}/images/generations", json=body(7), headers=bearer(token), timeout=30
    )
    assert made.status_code == 200, made.text[:300]
    assert made.json()["data"][0]["type"] == "b64_json"
    listed = httpx.get(f"{gateway.root}{prefix}/models", timeout=10)
    assert listed.status_code == 200
    entries = listed.json()
    assert [m["id"] for m in entries] == [s.id for s in MODELS.values() if s.listed]  # as the cloud lists
    assert all(m["object"] == "model" and m["type"] == "image" and "pricing" in m for m in entries)
    doubled = httpx.post(  # the Python SDK 3 given .../v1: a 404, never a generation
        f"{gateway.root}/v1/v1/images/generations", json=body(7), headers=bearer(token), timeout=30
    )
    assert doubled.status_code == 404
