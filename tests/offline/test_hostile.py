"""Hostile request bodies against a real ``together-magic serve``: every one is a 2xx or Together's 4xx.

A table of bodies known to break naive servers (deep nesting, NaN, numbers past a double, lying image
headers, wrong types everywhere...), sent one by one and then all at once from several threads, and a
hypothesis search over the 2026 fields of every catalogued model. The counts by status are printed at the
end of the run; the suite fails on any status >= 500.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from together_magic.models import ASPECT_RATIOS, MODELS

from ..conftest import MODEL, Server
from ..strategies import json_leaf, json_value
from .sample_images import lying_png, noise_png, png_bytes, truncated

pytestmark = pytest.mark.server
KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"
FLUX2_DEV = "black-forest-labs/FLUX.2-dev"
OK = {"prompt": "a fox", "model": MODEL, "width": 256, "height": 256}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def j(**fields: Any) -> bytes:
    return json.dumps({**OK, **fields}).encode()


HOSTILE: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \n\t ",
    "nested arrays 200k deep": b"[" * 200_000,
    "nested objects 100k deep": b'{"a":' * 100_000,
    "nested inside a field": b'{"model": "%s", "prompt": "x", "extra": %s}' % (MODEL.encode(), b"[" * 50_000),
    "NaN": b'{"model": "%s", "prompt": "x", "guidance_scale": NaN}' % MODEL.encode(),
    "Infinity": b'{"model": "%s", "prompt": "x", "seed": Infinity}' % MODEL.encode(),
    "-Infinity in a lora": b'{"model": "%s", "prompt": "x", "image_loras": [{"path": "a", "scale": %s}]}'
    % (FLUX2_DEV.encode(), b"-Infinity"),
    "1e400": j(guidance_scale=1e308).replace(b"1e+308", b"1e400"),
    "10**400 as n": j().replace(b'"width": 256', b'"width": 256, "n": 1' + b"0" * 400),
    "5000-digit seed": j().replace(b'"width": 256', b'"width": 256, "seed": 1' + b"0" * 5000),
    "negative zero width": j(width=-0.0),
    "float n": j(n=1.0),
    "float width": j(width=256.0),
    "bool steps": j(steps=True),
    "duplicate model key": b'{"model": "nope", "model": "%s", "prompt": "x", "width": 256, "height": 256}'
    % MODEL.encode(),
    "latin-1 body": '{"model": "m", "prompt": "café"}'.encode("latin-1"),
    "utf-16 body": json.dumps(OK).encode("utf-16"),
    "BOM": b"\xef\xbb\xbf" + json.dumps(OK).encode(),
    "lone surrogate in prompt": j().replace(b'"a fox"', b'"\\ud800 fox"'),
    "lone surrogate in model": b'{"model": "\\udfff", "prompt": "x"}',
    "NUL in prompt": j(prompt="a\x00fox"),
    "prompt too long": j(prompt="x" * 10_001),
    "model id 1 MB": json.dumps({"model": "m" * 1_000_000, "prompt": "x"}).encode(),
    "prompt an object": j(prompt={"text": "fox"}),
    "top-level array": b"[1, 2]",
    "top-level string": b'"fox"',
    "top-level null": b"null",
    "model an object": j(model={"id": MODEL}),
    "response_format b64_json": j(response_format="b64_json"),
    "width a string": j(width="256"),
    "n zero": j(n=0),
    "n 2**63": j(n=2**63),
    "steps 10**400": j().replace(b'"width": 256', b'"width": 256, "steps": 1' + b"0" * 400),
    "guidance an object": j(guidance_scale={"value": 3}),
    "aspect 0:0": j(aspect_ratio="0:0", width=None, height=None),
    "aspect huge": j(aspect_ratio="99999999999999999999:1"),
    "aspect ratio with one side out of range": j(aspect_ratio="9:16", width=1920, height=None),
    "loras a string": json.dumps({**OK, "model": FLUX2_DEV, "image_loras": "nope"}).encode(),
    "loras nested lists": json.dumps({**OK, "model": FLUX2_DEV, "image_loras": [[]]}).encode(),
    "1000 loras": json.dumps(
        {**OK, "model": FLUX2_DEV, "image_loras": [{"path": "a", "scale": 1}] * 1000}
    ).encode(),
    "lora path an object": json.dumps(
        {**OK, "model": FLUX2_DEV, "image_loras": [{"path": {}, "scale": 1}]}
    ).encode(),
    "image_url on schnell": j(image_url="data:image/png;base64," + b64(png_bytes((8, 8), (1, 1, 1)))),
    "10000 empty references": json.dumps(
        {**OK, "model": FLUX2_DEV, "reference_images": [""] * 10_000}
    ).encode(),
    "bomb as image_base64": json.dumps(
        {**OK, "model": KONTEXT, "image_base64": b64(lying_png(30000, 30000))}
    ).encode(),
    "bomb as reference": json.dumps(
        {
            **OK,
            "model": FLUX2_DEV,
            "reference_images": ["data:image/png;base64," + b64(lying_png(30000, 30000))],
        }
    ).encode(),
    "truncated reference": json.dumps(
        {
            **OK,
            "model": KONTEXT,
            "image_url": "data:image/png;base64," + b64(truncated(noise_png((200, 200)))),
        }
    ).encode(),
    "data URL without base64": json.dumps(
        {**OK, "model": KONTEXT, "image_url": "data:image/png,abc"}
    ).encode(),
    "reference a number": json.dumps({**OK, "model": KONTEXT, "image_url": 7}).encode(),
    "reference file URL": json.dumps({**OK, "model": KONTEXT, "image_url": "file:///etc/passwd"}).encode(),
    "reference internal URL": json.dumps(
        {**OK, "model": KONTEXT, "image_url": "http://169.254.169.254/shrt/x"}
    ).encode(),
    "gemini non-preset": json.dumps({**OK, "model": "google/gemini-3-pro-image"}).encode(),
    "random bytes": bytes(range(256)) * 4,
}
_COUNTS: Counter[int] = Counter()


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[Callable[[bytes], httpx.Response]]:
    """A server of its own, and a function posting raw bytes to it (one connection pool, thread-safe)."""
    srv = Server(["--log-level", "error"])
    try:
        with httpx.Client(base_url=srv.base_url, timeout=30) as http:

            def send(content: bytes) -> httpx.Response:
                response = http.post(
                    "/images/generations", content=content, headers={"content-type": "application/json"}
                )
                _COUNTS[response.status_code] += 1
                return response

            yield send
            assert http.get("/models").status_code == 200  # still answering after all of it
    finally:
        srv.stop()


Send = Callable[[bytes], httpx.Response]


def check(response: httpx.Response, what: object) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500, (what, response.text[:300])
    assert response.headers["x-request-id"] and response.headers["x-ratelimit-limit"], what
    if response.status_code != 200:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], what
        assert len(error["message"]) < 1000, what


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body(hostile_server: Send, name: str) -> None:
    check(hostile_server(HOSTILE[name]), name)


def test_hostile_bodies_all_at_once(hostile_server: Send) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(hostile_server, HOSTILE.values()))
    for name, response in zip(HOSTILE, responses, strict=True):
        check(response, name)


SMALL_SIZES = st.sampled_from([256, 512, 1024, 255, 1000, 2048, 672, 1536, 0, -8])
FIELDS_2026: dict[str, st.SearchStrategy[Any]] = {
    "n": st.integers(-1, 6),
    "width": SMALL_SIZES,
    "height": SMALL_SIZES,
    "steps": st.integers(-1, 60),
    "seed": st.integers(-1, 2**33),
    "guidance_scale": st.floats(-5, 40),
    "guidance": st.floats(-5, 40),
    "negative_prompt": st.text(max_size=10),
    "response_format": st.sampled_from(["base64", "url", "b64_json", "URL"]),
    "output_format": st.sampled_from(["jpeg", "png", "webp"]),
    "prompt_upsampling": st.booleans(),
    "disable_safety_checker": st.booleans(),
    "aspect_ratio": st.sampled_from([*ASPECT_RATIOS, "21:9", "1:0"]),
    "image_url": st.sampled_from(["data:image/png;base64," + b64(png_bytes((16, 16), (9, 90, 9))), "nope"]),
    "image_base64": st.sampled_from([b64(png_bytes((16, 16), (90, 9, 9))), "%%%"]),
    "reference_images": st.lists(st.sampled_from([b64(png_bytes((8, 8), (0, 0, 0))), ""]), max_size=3),
    "image_loras": st.lists(
        st.fixed_dictionaries({"path": st.sampled_from(["a/b", ""]), "scale": st.floats(-1, 3)}), max_size=3
    ),
}
bodies_2026 = st.fixed_dictionaries(
    {"model": st.sampled_from(list(MODELS)), "prompt": st.text(min_size=0, max_size=20)},
    optional={k: v | json_leaf | json_value for k, v in FIELDS_2026.items()},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies_2026)
def test_any_2026_body_is_2xx_or_a_together_4xx(hostile_server: Send, body: dict[str, Any]) -> None:
    if "n" in body and body["n"] in (3, 4, 5, 6) and body.get("width") in (None, 1024, 1536, 2048):
        body["n"] = 2  # keep a run fast: large sizes four times over add time, not coverage
    content = json.dumps(body, allow_nan=True).encode()
    check(hostile_server(content), body)


def test_a_flood_of_tiny_references_is_refused_at_once(hostile_server: Send) -> None:
    """20,000 one-pixel references are a 1.5 MB body, each image a header parse and a decode: they held a
    worker for 22 s. The list is refused by its length before any image is looked at; a full list renders."""
    import time

    pixel = b64(png_bytes((1, 1), (0, 0, 0)))
    body = {**OK, "model": FLUX2_DEV, "width": 512, "height": 512, "response_format": "base64"}
    started = time.perf_counter()
    flood = hostile_server(json.dumps({**body, "reference_images": [pixel] * 20_000}).encode())
    assert time.perf_counter() - started < 2.0
    assert flood.status_code == 400 and flood.json()["error"]["param"] == "reference_images"
    from together_magic.offline.images import MAX_REFERENCES

    assert f"at most {MAX_REFERENCES} images" in flood.json()["error"]["message"]
    full = hostile_server(json.dumps({**body, "reference_images": [pixel] * MAX_REFERENCES}).encode())
    assert full.status_code == 200, full.text[:300]


def test_hostile_counts(offline_figures: Callable[[str], None]) -> None:
    """Runs after the tests above in this module: reports what was sent and how it was answered."""
    assert sum(_COUNTS.values()) >= 2 * len(HOSTILE) + 300
    assert all(code < 500 for code in _COUNTS)
    offline_figures(
        f"{len(HOSTILE)} hostile bodies (one by one, then 8 threads at once) and 300 hypothesis bodies over "
        f"the 2026 fields of {len(MODELS)} models, by status: {dict(sorted(_COUNTS.items()))}; 5xx: 0"
    )
