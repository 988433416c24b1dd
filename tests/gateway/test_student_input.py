"""What a hostile student can send through a real two-worker gateway, checked where it lands: at a stub
upstream that records every body, and in the class's data folder.

Only the image API's fields go upstream (anything else is one 400 naming it, whatever its value); the
safety checker is the teacher's switch; every text field is bounded; a body's cost is bounded before it is
parsed; and the class data on disk (images, database, log) stays inside ``--cache-mb``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from together_magic.gateway.intake import FORWARDED, MAX_COMMAS, SMALL_BODY, TEACHER_SWITCHES
from together_magic.models import PROMPT_MAX, models_taking

from ..strategies import json_value
from .conftest import Gateway, Stub, bearer, body

GENERATIONS = "/v1/images/generations"
FAST = ["--upstream-rate", "1000000", "--student-rate", "1000000"]


@pytest.fixture(scope="module")
def front(stub_process: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    args = ["--upstream", stub_process.root, "--workers", "2", *FAST]
    gw = Gateway(tmp_path_factory.mktemp("input"), args)
    yield gw
    gw.stop()


_HTTP = httpx.Client(timeout=30)  # one pool: a new client per request costs ~40 ms of TLS setup alone


@pytest.fixture(scope="module", autouse=True)
def _pool() -> Iterator[None]:
    """The module's one connection pool, closed when its tests are done."""
    yield
    _HTTP.close()


def _post(gw: Gateway, token: str, payload: Any = None, **kwargs: Any) -> httpx.Response:
    return _HTTP.post(f"{gw.root}{GENERATIONS}", json=payload, headers=bearer(token), **kwargs)


def _one_line(response: httpx.Response) -> str:
    message = str(response.json()["error"]["message"])
    assert "\n" not in message and "Traceback" not in message, message
    return message


names = st.text(min_size=1, max_size=30).filter(lambda name: name not in FORWARDED)


@pytest.fixture(scope="module")
def prober(front: Gateway) -> str:
    return front.add("prober", images=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, value=json_value.filter(lambda v: v is not None))
def test_a_field_the_api_does_not_have_is_refused_and_never_sent(
    front: Gateway, stub: Stub, prober: str, name: str, value: Any
) -> None:
    before = len(stub.calls())
    answer = _post(front, prober, content=json.dumps({**body(5), name: value}).encode())
    assert answer.status_code == 400, answer.text
    message = _one_line(answer)
    expected = ("Unknown field", "Request body cannot be used", "Invalid value", "Request body is not valid")
    assert message.startswith(expected), message
    assert len(stub.calls()) == before  # nothing reached the upstream with the teacher's key
    assert {u.name: u.images_used for u in front.roster.usage()}["prober"] == 0


def test_what_reaches_the_upstream_is_only_the_apis_fields(front: Gateway, stub: Stub) -> None:
    token = front.add("allowed", images=20)
    stub.reset()
    sent = [
        body(1, negative_prompt="blurry", steps=4, n=2),
        body(2, guidance_scale=3.0, output_format="png", response_format="url"),
        body(3, aspect_ratio="16:9", disable_safety_checker=False),  # false: the default, not sent
        body(None, prompt_upsampling=False, steps=None, junk=None),  # null: "not given", as the SDKs send
    ]
    for payload in sent:
        answer = _post(front, token, payload)
        assert answer.status_code == 200, answer.text
    bodies = [call["body"] for call in stub.calls()]
    assert len(bodies) == len(sent)
    assert all(set(b) <= FORWARDED - TEACHER_SWITCHES for b in bodies), bodies
    assert all(call["keyed"] for call in stub.calls())
    assert bodies[0]["negative_prompt"] == "blurry" and bodies[1]["output_format"] == "png"


@pytest.mark.parametrize("switch", sorted(TEACHER_SWITCHES))
def test_the_safety_checker_is_the_teachers_switch(
    front: Gateway, stub: Stub, start_gateway: Any, switch: str
) -> None:
    token = front.add(f"unsafe-{switch}", images=5)
    before = len(stub.calls())
    for value in (True, 1, "true"):
        answer = _post(front, token, {**body(7), switch: value})
        assert answer.status_code in (400, 403), answer.text  # true: 403; not a boolean: 400
        assert switch in _one_line(answer)
    assert len(stub.calls()) == before
    assert "--allow-unsafe" in _post(front, token, {**body(7), switch: True}).json()["error"]["message"]
    # The teacher allows it: then it is forwarded as the student sent it.
    allowing: Gateway = start_gateway("--upstream", stub.root, "--allow-unsafe", *FAST)
    assert "safety checker: off when a student asks (--allow-unsafe)" in allowing.log.read_text()
    student = allowing.add("allowed-unsafe", images=5)
    assert _post(allowing, student, {**body(8), switch: True}).status_code == 200
    assert stub.calls()[-1]["body"][switch] is True


LONG = "狐" * (PROMPT_MAX + 1)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"negative_prompt": "x" * (PROMPT_MAX + 1)}, "negative_prompt"),
        ({"negative_prompt": LONG}, "negative_prompt"),
        ({"prompt": LONG}, "prompt"),
        ({"aspect_ratio": "1:1" * 6}, "aspect_ratio"),
        ({"model": "m" * 300}, "model"),
        ({"output_format": "jpeg" * 5}, "output_format"),
        ({"response_format": "base64" * 3}, "response_format"),
        ({"image_loras": [{"path": "p" * 3000, "scale": 1}]}, "image_loras"),
        ({"image_loras": [{"path": "a/b", "scale": 1, "note": "x"}]}, "image_loras"),
    ],
)
def test_every_text_field_is_bounded(front: Gateway, stub: Stub, extra: dict[str, Any], param: str) -> None:
    token = front.add(f"long-{param}-{time.monotonic_ns()}", images=2)
    before = len(stub.calls())
    answer = _post(front, token, {**body(11), **extra})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param and param in _one_line(answer)
    assert len(stub.calls()) == before
    at_limit = _post(front, token, body(12, negative_prompt="狐" * PROMPT_MAX))  # the limit itself is fine
    assert at_limit.status_code == 200, at_limit.text


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (json.dumps({**body(20), "junk": [0] * 3_000_000}).encode(), 413, "without reference images"),
        (json.dumps({**body(21), "junk": "x" * 6_000_000}).encode(), 413, "without reference images"),
        (json.dumps({**body(22), "prompt": "a" * (SMALL_BODY + 10)}).encode(), 413, "without reference"),
        (json.dumps({**body(23), "image_url": "x", "junk": [1] * 300_000}).encode(), 413, "JSON items"),
        (json.dumps({**body(24), "reference_images": [""] * (MAX_COMMAS + 5)}).encode(), 413, "JSON items"),
        (b"[" + b"0," * (MAX_COMMAS + 1) + b"0]", 413, "JSON items"),
    ],
    ids=["6 MB list", "6 MB string", "long prompt", "list beside image_url", "many images", "bare list"],
)
def test_a_body_is_priced_before_it_is_parsed(
    front: Gateway, stub: Stub, content: bytes, status: int, fragment: str
) -> None:
    token = front.add(f"junk-{time.monotonic_ns()}", images=2)
    before = len(stub.calls())
    with httpx.Client(timeout=30) as http:
        started = time.perf_counter()
        answer = http.post(f"{front.root}{GENERATIONS}", content=content, headers=bearer(token))
        took = time.perf_counter() - started
    assert answer.status_code == status, answer.text
    assert fragment in _one_line(answer)
    assert took < 2.0, took
    assert len(stub.calls()) == before


def test_a_large_reference_image_still_goes_through(front: Gateway, stub: Stub) -> None:
    """The bound is for bodies without images: a real 1 MB reference (a PNG, base64, last field) is fine."""
    import io

    from PIL import Image

    model = next(iter(models_taking("image_url")))
    picture = io.BytesIO()
    Image.effect_noise((700, 700), 80).convert("RGB").save(picture, "PNG")
    assert picture.tell() > SMALL_BODY
    import base64

    data = "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode()
    token = front.add("reference", images=2)
    payload = {"prompt": "a fox", "model": model, "seed": 3, "response_format": "base64", "image_url": data}
    answer = _post(front, token, payload)
    assert answer.status_code == 200, answer.text
    assert stub.calls()[-1]["body"]["image_url"] == data


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_class_data_stays_inside_cache_mb_and_the_wall_answer_is_bounded(
    stub: Stub, start_gateway: Any
) -> None:
    """A student with no images left and ``--fallback offline`` sends requests at every text limit: the
    data folder (images, database, log) stays inside ``--cache-mb``, the wall's answer stays small."""
    gw: Gateway = start_gateway(
        "--upstream", stub.root, "--workers", "2", "--fallback", "offline", "--cache-mb", "3",
        "--fallback-rate", "1000000", *FAST,
    )  # fmt: skip
    token = gw.add("filler", images=0)
    largest = 0
    for seed in range(36):
        text = "".join(chr(0x4E00 + (seed * 7919 + i) % 20000) for i in range(PROMPT_MAX))
        payload = body(seed, prompt=text, negative_prompt=text[::-1], n=1 + seed % 4)
        answer = _post(gw, token, payload)
        assert answer.status_code == 200 and answer.headers["x-together-magic-backend"] == "offline"
        largest = max(largest, _folder_bytes(gw.data))
    assert largest <= 3_000_000, f"class data reached {largest:,} bytes with --cache-mb 3"
    wall = httpx.get(f"{gw.root}/class/api/wall", headers=bearer(gw.teacher_token()), timeout=30)
    assert wall.status_code == 200 and len(wall.json()["entries"]) > 0
    assert len(wall.content) <= 1_000_000, len(wall.content)
    entry = wall.json()["entries"][0]
    assert len(entry["prompt"]) <= 400 and len(entry["params"]["negative_prompt"]) <= 200
