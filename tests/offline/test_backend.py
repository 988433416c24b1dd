"""The backend's own behaviour, through the real httpx stack with its in-process transport."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from together_magic.offline import BackendOptions, OfflineBackend
from together_magic.offline.transport import OfflineTransport

MODEL = "black-forest-labs/FLUX.1-schnell"
URL = "http://offline.test/v1/images/generations"


def client(**options: Any) -> httpx.Client:
    return httpx.Client(transport=OfflineTransport(OfflineBackend(BackendOptions(**options))))


def test_success_shape_and_headers() -> None:
    with client() as http:
        r = http.post(
            URL,
            json={
                "prompt": "a fox",
                "model": MODEL,
                "n": 2,
                "width": 256,
                "height": 256,
                "response_format": "base64",
            },
        )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "model", "object", "data"}
    assert body["object"] == "list" and body["model"] == MODEL and body["id"] == r.headers["x-request-id"]
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["b64_json"].startswith("/9j/") and "inference" in d["timings"] for d in body["data"])
    assert "not a diffusion model" in r.headers["x-offline-renderer"]


def test_url_images_are_served_and_unknown_ones_404() -> None:
    with client() as http:
        body = http.post(URL, json={"prompt": "lake", "model": MODEL, "width": 256, "height": 256}).json()
        url = body["data"][0]["url"]
        assert url.startswith("http://offline.test/shrt/")
        image = http.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content.startswith(b"\xff\xd8")
        missing = http.get("http://offline.test/shrt/nope")
        assert missing.status_code == 404 and "error" in missing.json()
        ref = http.post(
            URL, json={"prompt": "lake", "model": MODEL, "image_url": url, "width": 256, "height": 256}
        )
        assert ref.status_code == 200
        outside = http.post(
            URL, json={"prompt": "lake", "model": MODEL, "image_url": "https://example.com/a.png"}
        )
        assert outside.status_code == 400 and outside.json()["error"]["param"] == "image_url"


def test_models_list_and_unknown_routes() -> None:
    with client() as http:
        models = http.get("http://offline.test/v1/models").json()
        assert MODEL in {m["id"] for m in models} and all(m["type"] == "image" for m in models)
        r = http.post("http://offline.test/v1/chat/completions", json={})
        assert r.status_code == 404 and r.json()["error"]["message"]


def test_invalid_json_body_is_400() -> None:
    with client() as http:
        r = http.post(URL, content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        r = http.post(URL, content=b"\xff\xfe")
        assert r.status_code == 400


def test_required_key() -> None:
    with client(require_key="k-123") as http:
        body = {"prompt": "x", "model": MODEL, "width": 256, "height": 256}
        assert http.post(URL, json=body).status_code == 401
        wrong = http.post(URL, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        assert http.post(URL, json=body, headers={"Authorization": "Bearer k-123"}).status_code == 200


def test_rate_limit_window() -> None:
    with client(rate_limit=3) as http:
        body = {"prompt": "x", "model": MODEL, "width": 256, "height": 256}
        codes = [http.post(URL, json=body).status_code for _ in range(5)]
        limited = http.post(URL, json=body)
    assert codes == [200, 200, 200, 429, 429]
    assert limited.json()["error"]["type"] == "rate_limit"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-ratelimit-limit"] == "3" and limited.headers["x-ratelimit-remaining"] == "0"


def test_fail_rate_is_reproducible_with_a_seed() -> None:
    def run() -> list[int]:
        with client(fail_rate=0.5, fault_seed=3, faults=("500", "503", "429")) as http:
            body = {"prompt": "x", "model": MODEL, "width": 256, "height": 256}
            return [http.post(URL, json=body).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {200} < set(first) <= {200, 500, 503, 429}


def test_unknown_fault_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        OfflineBackend(BackendOptions(faults=("meltdown",)))


def test_image_base64_reference_data_url_form() -> None:
    base = {
        "prompt": "x",
        "model": MODEL,
        "width": 256,
        "height": 256,
        "seed": 1,
        "response_format": "base64",
    }
    with client() as http:
        ref = http.post(URL, json=base).json()["data"][0]["b64_json"]
        a = http.post(URL, json={**base, "image_base64": ref}).json()
        b = http.post(URL, json={**base, "image_base64": f"data:image/jpeg;base64,{ref}"}).json()
    assert a["data"][0]["b64_json"] == b["data"][0]["b64_json"]
    assert base64.b64decode(a["data"][0]["b64_json"]) != base64.b64decode(ref)
