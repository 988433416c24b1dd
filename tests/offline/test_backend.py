"""The backend's own behaviour, through the real httpx stack with its in-process transport."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from together_magic.models import MODELS
from together_magic.offline import BackendOptions, OfflineBackend
from together_magic.offline.backend import DEFAULT_RATE_LIMIT, MAX_BODY_BYTES, FlagError
from together_magic.offline.images import MAX_REFERENCE_PIXELS
from together_magic.offline.transport import AsyncOfflineTransport, OfflineTransport

from .sample_images import lying_png, noise_png, png_bytes, truncated

MODEL = "black-forest-labs/FLUX.2-dev"
KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"
FLUX2 = "black-forest-labs/FLUX.2-pro"
URL = "http://offline.test/v1/images/generations"
SMALL = {"width": 256, "height": 256}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-request-id")


def client(**options: Any) -> httpx.Client:
    return httpx.Client(transport=OfflineTransport(OfflineBackend(BackendOptions(**options))))


def body(model: str = MODEL, **fields: Any) -> dict[str, Any]:
    size = {"width": 512, "height": 512} if model.startswith("black-forest-labs/FLUX.2") else SMALL
    return {"prompt": "a fox", "model": model, **size, **fields}


def data_url(data: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(data).decode()}"


def test_success_shape_and_headers() -> None:
    with client() as http:
        r = http.post(URL, json=body(n=2, response_format="base64"))
        by_url = http.post(URL, json=body()).json()["data"][0]
    assert r.status_code == 200
    payload = r.json()
    assert set(payload) == {"id", "model", "object", "data"}
    assert (
        payload["object"] == "list"
        and payload["model"] == MODEL
        and payload["id"] == r.headers["x-request-id"]
    )
    assert [d["index"] for d in payload["data"]] == [0, 1]
    assert all(d["type"] == "b64_json" and d["b64_json"].startswith("/9j/") for d in payload["data"])
    assert all("inference" in d["timings"] for d in payload["data"])
    assert by_url["type"] == "url" and "b64_json" not in by_url
    assert "not a diffusion model" in r.headers["x-offline-renderer"]
    assert r.headers["x-ratelimit-limit"] == str(DEFAULT_RATE_LIMIT)


def test_every_generation_answer_carries_the_rate_limit_headers() -> None:
    with client(require_key="k", rate_limit=5) as http:
        key = {"Authorization": "Bearer k"}
        answers = {
            "200": http.post(URL, json=body(), headers=key),
            "401": http.post(URL, json=body()),
            "400": http.post(URL, json=body(n=9), headers=key),
            "404": http.post(URL, json=body(model="no/such"), headers=key),
            "405": http.get(URL, headers=key),
            "503": http.post(URL, json=body(), headers={**key, "x-together-magic-fault": "503"}),
            "413": http.post(URL, content=b" " * (MAX_BODY_BYTES + 1), headers=key),
        }
        answers["429"] = next(
            r for r in (http.post(URL, json=body(), headers=key) for _ in range(6)) if r.status_code == 429
        )
    for status, response in answers.items():
        assert str(response.status_code) == status, response.text
        assert all(response.headers.get(name) for name in RATE_HEADERS), (status, response.headers)
        assert response.headers["x-ratelimit-limit"] == "5"
        if status != "200":
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert answers["413"].json()["error"]["code"] == "request_too_large"
    assert answers["200"].headers["x-ratelimit-remaining"] == "4"
    assert answers["401"].headers["x-ratelimit-remaining"] == "4"  # refused before it counted


def test_rate_limit_window_and_its_headers() -> None:
    with client(rate_limit=3) as http:
        replies = [http.post(URL, json=body()) for _ in range(5)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in replies] == ["2", "1", "0", "0", "0"]
    # whole seconds until the first request leaves the window
    resets = [int(r.headers["x-ratelimit-reset"]) for r in replies]
    assert all(58 <= reset <= 60 for reset in resets)
    limited = replies[-1]
    assert limited.json()["error"]["type"] == "dynamic_request_limited"
    assert limited.headers["retry-after"] == limited.headers["x-ratelimit-reset"]


def test_the_required_key_never_shows() -> None:
    options = BackendOptions(require_key="sentinel-key-123")
    assert "sentinel-key-123" not in repr(options) and "sentinel-key-123" not in str(options)
    with client(require_key="sentinel-key-123") as http:
        r = http.post(URL, json=body(), headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "sentinel-key-123" not in r.text + str(r.headers)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"rate_limit": -1}, "--rate-limit"),
        ({"rate_limit": 0}, "--rate-limit"),
        ({"rate_limit": 1.5}, "--rate-limit"),
        ({"rate_limit": True}, "--rate-limit"),
        ({"rate_limit": None}, "--rate-limit"),
        ({"latency": -1}, "--latency"),
        ({"latency": float("nan")}, "--latency"),
        ({"latency": float("inf")}, "--latency"),
        ({"slow_seconds": -0.5}, "--slow-seconds"),
        ({"fail_rate": 1.5}, "--fail-rate"),
        ({"fail_rate": float("nan")}, "--fail-rate"),
        ({"faults": ("meltdown",)}, "--faults"),
        ({"faults": ()}, "--faults"),
        ({"require_key": ""}, "--require-key"),
        ({"require_key": " k"}, "--require-key"),
        ({"require_key": "a\nb"}, "--require-key"),
        ({"require_key": "ключ"}, "--require-key"),
        ({"fault_seed": 1.5}, "--fault-seed"),
    ],
)
def test_options_that_cannot_work_are_refused_when_made(options: dict[str, Any], option: str) -> None:
    with pytest.raises(FlagError) as info:
        BackendOptions(**options)
    assert info.value.option == option and str(info.value).startswith(f"{option}: ")


def test_url_images_are_served_and_can_be_references() -> None:
    with client() as http:
        url = http.post(URL, json=body()).json()["data"][0]["url"]
        assert url.startswith("http://offline.test/shrt/")
        image = http.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content.startswith(b"\xff\xd8")
        missing = http.get("http://offline.test/shrt/nope")
        assert missing.status_code == 404 and "error" in missing.json()
        assert http.post(URL, json=body(KONTEXT, image_url=url)).status_code == 200
        assert http.post(URL, json=body(FLUX2, reference_images=[url, url])).status_code == 200
        gone = http.post(URL, json=body(KONTEXT, image_url="http://offline.test/shrt/expired"))
        outside = http.post(URL, json=body(FLUX2, reference_images=["https://example.com/a.png"]))
    assert gone.status_code == 400 and "expired" in gone.json()["error"]["message"]
    assert outside.status_code == 400 and outside.json()["error"]["param"] == "reference_images"


def test_image_base64_and_data_url_forms_give_the_same_picture() -> None:
    ref = base64.b64encode(png_bytes((64, 64), (0, 200, 0))).decode()
    base = body(KONTEXT, seed=1, response_format="base64")
    with client() as http:
        a = http.post(URL, json={**base, "image_base64": ref}).json()
        b = http.post(URL, json={**base, "image_base64": f"data:image/png;base64,{ref}"}).json()
        c = http.post(URL, json={**base, "image_url": f"data:image/png;base64,{ref}"}).json()
        plain = http.post(URL, json=base).json()
    assert a["data"][0]["b64_json"] == b["data"][0]["b64_json"] == c["data"][0]["b64_json"]
    assert a["data"][0]["b64_json"] != plain["data"][0]["b64_json"]


def test_unsupported_image_input_is_togethers_400() -> None:
    with client() as http:
        r = http.post(URL, json=body(MODEL, image_url=data_url(png_bytes((8, 8), (1, 2, 3)))))
    assert r.status_code == 400
    assert r.json()["error"] == {
        "message": "Unsupported use of 'image_url'",
        "type": "invalid_request_error",
        "param": "image_url",
        "code": None,
    }


@pytest.mark.parametrize(
    ("field", "model"), [("image_url", KONTEXT), ("image_base64", KONTEXT), ("reference_images", FLUX2)]
)
def test_hostile_reference_images_are_400_without_decoding(field: str, model: str) -> None:
    def send(data: bytes) -> httpx.Response:
        value: Any = data_url(data) if field != "image_base64" else base64.b64encode(data).decode()
        return http.post(URL, json=body(model, **{field: [value] if field == "reference_images" else value}))

    with client() as http:
        started = time.perf_counter()
        bomb = send(lying_png(30000, 30000))
        elapsed = time.perf_counter() - started
        cases = {
            "bomb just over": send(lying_png(MAX_REFERENCE_PIXELS // 1000 + 1, 1000)),
            "truncated": send(truncated(noise_png((300, 300)))),
            "not an image": send(b"hello, this is text"),
            "eps": send(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"),
            "zero size": send(lying_png(0, 10)),
        }
        fine = send(lying_png(10, 10))  # a readable header; its pixel data is garbage: 400 at decode time
    assert bomb.status_code == 400 and bomb.json()["error"]["param"] == field, bomb.text
    assert "30000x30000" in bomb.json()["error"]["message"] and elapsed < 1
    for name, response in {**cases, "garbage pixels": fine}.items():
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"]["param"] == field, name


def test_many_cheap_big_references_are_refused_together() -> None:
    big = data_url(lying_png(8000, 5000))  # 40 MP each by its header: the most one reference may have
    with client() as http:
        started = time.perf_counter()
        r = http.post(URL, json=body(FLUX2, reference_images=[big] * 4))
        elapsed = time.perf_counter() - started
    assert r.status_code == 400 and r.json()["error"]["param"] == "reference_images"
    assert "megapixels in all" in r.json()["error"]["message"] and elapsed < 1


def test_a_real_reference_of_any_mode_renders() -> None:
    images = []
    for mode in ("RGB", "RGBA", "L", "P", "I;16", "1", "CMYK"):
        out = io.BytesIO()
        fmt = "JPEG" if mode == "CMYK" else "PNG"
        Image.new(mode, (120, 80)).save(out, format=fmt)
        images.append(f"data:image/{fmt.lower()};base64,{base64.b64encode(out.getvalue()).decode()}")
    with client() as http:
        r = http.post(URL, json=body(FLUX2, reference_images=images))
    assert r.status_code == 200, r.text


def test_faults_count_attempts_by_either_retry_header() -> None:
    backend = OfflineBackend()
    with httpx.Client(transport=OfflineTransport(backend)) as http:
        statuses = []
        for header in ("x-stainless-retry-count", "x-together-magic-retry-count"):
            for attempt in range(3):
                headers = {"x-together-magic-fault": "503;times=2", header: str(attempt)}
                statuses.append(http.post(URL, json=body(), headers=headers).status_code)
        odd = http.post(
            URL,
            json=body(),
            headers={"x-together-magic-fault": "503;times=1", "x-stainless-retry-count": "x" * 50},
        )
    assert statuses == [503, 503, 200, 503, 503, 200]
    assert odd.status_code == 503  # an unreadable count is a first attempt
    assert backend.stats["retries"] == 4 and backend.stats["status_503"] == 5


def test_auth_and_size_are_judged_before_the_body() -> None:
    with client(require_key="k") as http:
        no_key = http.post(URL, content=b"{not json")
        big = http.post(URL, content=b"x" * (MAX_BODY_BYTES + 1), headers={"Authorization": "Bearer k"})
        at_limit = http.post(URL, content=b" " * MAX_BODY_BYTES, headers={"Authorization": "Bearer k"})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "invalid_api_key"
    assert big.status_code == 413
    assert at_limit.status_code == 400  # at the limit the body is read (and is not JSON)


def test_a_20_mb_reference_fits_in_the_body_limit() -> None:
    raw = png_bytes((16, 16), (200, 10, 10))
    reference = raw + b"\0" * (20_000_000 - len(raw))  # trailing bytes after IEND: still a PNG
    with client() as http:
        r = http.post(URL, json=body(KONTEXT, image_url=data_url(reference)))
    assert r.status_code == 200, r.text[:300]


def test_models_list_routes_and_methods() -> None:
    with client() as http:
        listed = http.get("http://offline.test/v1/models").json()
        assert [m["id"] for m in listed] == list(MODELS)
        assert all(
            m["object"] == "model" and m["type"] == "image" and m["display_name"] and m["organization"]
            for m in listed
        )
        assert http.post("http://offline.test/v1/chat/completions", json={}).status_code == 404
        assert http.post("http://offline.test/v1/models", json={}).status_code == 405
        assert http.get(URL).headers["allow"] == "POST"
        assert http.request("BREW", URL).status_code == 405
        assert http.get("http://offline.test/v1/images/generations/").status_code == 405
        long = http.post("http://offline.test/" + "x" * 20_000, json={})
        assert long.status_code == 404 and len(long.json()["error"]["message"]) < 300


def test_fail_rate_is_reproducible_with_a_seed() -> None:
    def run() -> list[int]:
        with client(fail_rate=0.5, fault_seed=3, faults=("500", "503", "429")) as http:
            return [http.post(URL, json=body()).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {200} < set(first) <= {200, 500, 503, 429}


@pytest.mark.anyio
async def test_async_transport_answers_alike() -> None:
    backend = OfflineBackend(BackendOptions(rate_limit=2))
    async with httpx.AsyncClient(transport=AsyncOfflineTransport(backend)) as http:
        ok = await http.post(URL, json=body(FLUX2, output_format="png", response_format="base64"))
        bad = await http.post(URL, json=body("openai/gpt-image-2", reference_images=[]))
        limited = await http.post(URL, json=body())
    assert ok.status_code == 200 and base64.b64decode(ok.json()["data"][0]["b64_json"]).startswith(b"\x89PNG")
    assert (
        bad.status_code == 400 and bad.json()["error"]["message"] == "Unsupported use of 'reference_images'"
    )
    assert limited.status_code == 429 and limited.headers["x-ratelimit-remaining"] == "0"
