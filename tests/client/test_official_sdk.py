"""The official ``together`` SDK, pointed at ``together-magic serve``, gets what Together's cloud gives.

Every client here validates responses strictly (``_strict_response_validation=True``): a missing ``type``
on an item, a wrong ``object`` or a missing ``id`` fails the test, as it would fail for a user of SDK 3.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import together  # the official SDK, from the test extra: a missing install must fail, not skip
from PIL import Image

from together_magic.models import ASPECT_RATIOS, IMAGE_INPUTS, LORAS_DEPRECATED, MODELS, ModelSpec

from ..conftest import MODEL, Server


def root(srv: Server) -> str:
    """SDK 2.x+ adds ``/v1`` itself, so it is given the bare host, as for Together's cloud."""
    return srv.base_url.removesuffix("/v1")


def sdk(srv: Server, request: pytest.FixtureRequest, **options: Any) -> together.Together:
    client = together.Together(
        api_key=options.pop("api_key", "any-key"),
        base_url=root(srv),
        max_retries=options.pop("max_retries", 0),
        _strict_response_validation=True,
        **options,
    )
    request.addfinalizer(client.close)
    return client


@pytest.fixture(scope="module")
def shared_sdk(server: Server) -> Iterator[together.Together]:
    client = together.Together(
        api_key="k", base_url=root(server), max_retries=0, _strict_response_validation=True
    )
    yield client
    client.close()


def smallest(spec: ModelSpec) -> tuple[int, int]:
    """The model's smallest size: its minimum (rounded up to its multiple), or its smallest preset."""
    if spec.limits.presets:
        _, w, h = min(spec.limits.presets, key=lambda p: p[1] * p[2])
        return w, h
    low, step = spec.limits.size[0], spec.limits.multiple
    side = -(-low // step) * step
    return side, side


@pytest.fixture(scope="module")
def fetch() -> Iterator[httpx.Client]:
    """One connection pool for the images served by URL."""
    with httpx.Client(timeout=10) as client:
        yield client


def image_of(item: Any, server: Server, fetch: httpx.Client) -> Image.Image:
    if item.type == "b64_json":
        raw = base64.b64decode(item.b64_json)
    else:
        assert item.type == "url" and item.url.startswith(root(server) + "/shrt/")
        raw = fetch.get(item.url).content
    img = Image.open(io.BytesIO(raw))
    img.load()
    return img


def png_data_url(colour: tuple[int, int, int]) -> str:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(out.getvalue()).decode()}"


def input_call(spec: ModelSpec, field: str, earlier_url: str) -> dict[str, Any]:
    """SDK keywords exercising one input the model takes (inputs the SDK does not name go in extra_body)."""
    steps = spec.limits.steps
    values: dict[str, dict[str, Any]] = {
        "steps": {"steps": steps[0] if steps else 1},
        "negative_prompt": {"negative_prompt": "blurry"},
        "guidance_scale": {"guidance_scale": 7.5},
        "guidance": {"extra_body": {"guidance": 7.5}},
        "output_format": {"output_format": "png"},
        "prompt_upsampling": {"extra_body": {"prompt_upsampling": True}},
        "image_url": {"image_url": png_data_url((0, 160, 0))},
        "reference_images": {"reference_images": [png_data_url((200, 0, 0)), earlier_url]},
        "image_loras": {"image_loras": [{"path": "https://huggingface.co/a/lora", "scale": 0.8}]},
    }
    return values[field]


@pytest.mark.parametrize("model_id", list(MODELS))
def test_every_model_through_the_strict_sdk(
    model_id: str, server: Server, shared_sdk: together.Together, fetch: httpx.Client
) -> None:
    spec = MODELS[model_id]
    width, height = smallest(spec)
    urls = []
    low, high = spec.limits.n
    for n in range(low, high + 1):
        for response_format in ("base64", "url") if n in (low, high) else ("base64" if n % 2 else "url",):
            response = shared_sdk.images.generate(
                prompt="a lake", model=model_id, n=n, width=width, height=height, seed=n,
                response_format=response_format,  # type: ignore[arg-type]
            )  # fmt: skip
            assert response.model == model_id and response.object == "list" and response.id
            assert [item.index for item in response.data] == list(range(n))
            for item in response.data:
                assert item.type == ("b64_json" if response_format == "base64" else "url")
                img = image_of(item, server, fetch)
                assert (img.format, img.size) == ("JPEG", (width, height))
                if item.type == "url":
                    urls.append(item.url)

    for field in sorted(spec.inputs):
        if field == "aspect_ratio":
            ratio = "16:9"
            shaped = shared_sdk.images.generate(
                prompt="a lake", model=model_id, extra_body={"aspect_ratio": ratio}, response_format="base64"
            )
            assert image_of(shaped.data[0], server, fetch).size == ASPECT_RATIOS[ratio]
            continue
        call = input_call(spec, field, urls[0])
        result = shared_sdk.images.generate(
            prompt="a lake", model=model_id, width=width, height=height, response_format="base64", **call
        )
        img = image_of(result.data[0], server, fetch)
        assert img.size == (width, height)
        assert img.format == ("PNG" if field == "output_format" else "JPEG")

    refused = next(field for field in IMAGE_INPUTS if not spec.takes(field))
    call = input_call(spec, refused, urls[0])
    with pytest.raises(together.BadRequestError) as info:
        shared_sdk.images.generate(prompt="x", model=model_id, width=width, height=height, **call)
    assert info.value.status_code == 400
    why = f". {LORAS_DEPRECATED}." if refused == "image_loras" else ""  # LoRAs: say they are gone
    assert info.value.body["error"] == {  # type: ignore[index]
        "message": f"Unsupported use of '{refused}'{why}",
        "type": "invalid_request_error",
        "param": refused,
        "code": None,
    }


def test_sdk_retries_an_injected_503_and_succeeds_on_its_second_attempt(
    start_server: Callable[..., Server], request: pytest.FixtureRequest
) -> None:
    srv = start_server()
    client = sdk(srv, request, max_retries=2)
    before = srv.stats()
    response = client.images.generate(
        prompt="x",
        model=MODEL,
        width=256,
        height=256,
        extra_headers={"x-together-magic-fault": "503;times=1"},
    )
    after = srv.stats()
    assert response.data[0].type == "url"
    delta = {
        key: after.get(key, 0) - before.get(key, 0)
        for key in ("requests", "status_503", "status_200", "retries")
    }
    assert delta == {"requests": 2, "status_503": 1, "status_200": 1, "retries": 1}


def test_sdk_same_seed_same_bytes_as_our_client(server: Server, shared_sdk: together.Together) -> None:
    import together_magic as tm

    theirs = shared_sdk.images.generate(
        prompt="sunset", model=MODEL, seed=3, width=256, height=256, response_format="base64"
    )
    with tm.Together(base_url=root(server)) as ours_client:  # our client accepts either form
        ours = ours_client.images.generate(prompt="sunset", model=MODEL, seed=3, width=256, height=256)
    assert theirs.data[0].type == "b64_json"
    assert theirs.data[0].b64_json == (ours.data or [])[0].b64_json


def test_sdk_sees_typed_errors(start_server: Callable[..., Server], request: pytest.FixtureRequest) -> None:
    srv = start_server("--require-key", "secret-for-the-sdk")
    good = sdk(srv, request, api_key="secret-for-the-sdk")
    with pytest.raises(together.NotFoundError) as missing:
        good.images.generate(prompt="x", model="no/such-model")
    assert "Unable to access model no/such-model" in str(missing.value)
    with pytest.raises(together.BadRequestError) as bad:
        good.images.generate(prompt="x", model=MODEL, n=7)
    assert bad.value.status_code == 400 and "'n'" in str(bad.value)
    with pytest.raises(together.BadRequestError) as size:
        good.images.generate(prompt="x", model="black-forest-labs/FLUX.2-dev", width=500)
    assert "between 256 and 1920, in multiples of '8'" in str(size.value)
    wrong = sdk(srv, request, api_key="wrong")
    with pytest.raises(together.AuthenticationError):
        wrong.images.generate(prompt="x", model=MODEL)


@pytest.mark.parametrize(
    ("model_id", "takes_it"),
    [
        # Together, 2026-10-07: prompt_upsampling "(FLUX.2 pro only)", default true; elsewhere it does nothing
        ("black-forest-labs/FLUX.2-pro", True),
        ("black-forest-labs/FLUX.2-dev", False),
        ("black-forest-labs/FLUX.2-flex", False),
        ("black-forest-labs/FLUX.1.1-pro", False),
        ("black-forest-labs/FLUX.1-kontext-pro", False),
    ],
)
def test_prompt_upsampling_left_out_is_the_models_documented_default(
    model_id: str, takes_it: bool, shared_sdk: together.Together
) -> None:
    def picture(**upsampling: bool) -> str:
        response = shared_sdk.images.generate(
            prompt="a lake at dawn", model=model_id, seed=11, width=512, height=512,
            response_format="base64", extra_body=upsampling,
        )  # fmt: skip
        return response.data[0].b64_json  # type: ignore[union-attr]

    left_out, on, off = picture(), picture(prompt_upsampling=True), picture(prompt_upsampling=False)
    assert (on != off) is takes_it
    assert left_out == on  # on by default where it is taken; ignored elsewhere


def test_every_exception_users_catch_from_the_sdk_exists_here_alike() -> None:
    """Code moving from ``together`` to ``together_magic`` keeps its ``except`` clauses: same names, same
    statuses, same family tree (``APITimeoutError`` is an ``APIConnectionError``, and so on)."""
    import together_magic as tm

    theirs = {
        name: cls
        for name in together.__all__
        if isinstance(cls := getattr(together, name), type) and issubclass(cls, together.APIError)
    }
    assert len(theirs) >= 13
    missing = sorted(name for name in theirs if not hasattr(tm, name))
    assert not missing, f"the SDK's {missing} cannot be caught from together_magic"
    for name, cls in theirs.items():
        ours = getattr(tm, name)
        assert issubclass(ours, tm.APIError), name
        status = cls.__dict__.get("status_code")
        if isinstance(status, int):
            assert ours.status_code == status, name
        for other_name, other in theirs.items():
            assert issubclass(ours, getattr(tm, other_name)) == issubclass(cls, other), (name, other_name)


def test_a_base_url_with_v1_gets_a_404_that_says_to_use_the_bare_host(
    server: Server, request: pytest.FixtureRequest
) -> None:
    """SDK 2.x+ adds /v1 itself, so ``TOGETHER_BASE_URL=.../v1`` (SDK 1.x's form) calls /v1/v1/...: the answer
    must say what to change, for POSTs and GETs alike."""
    doubled = together.Together(api_key="k", base_url=server.base_url, max_retries=0)  # ends in /v1
    request.addfinalizer(doubled.close)
    with pytest.raises(together.NotFoundError) as info:
        doubled.images.generate(prompt="x", model=MODEL)
    assert "set TOGETHER_BASE_URL to the bare host" in str(info.value)
    answer = httpx.get(server.base_url + "/v1/models", timeout=10)
    assert answer.status_code == 404 and "bare host" in answer.json()["error"]["message"]
    elsewhere = httpx.post(root(server) + "/v2/images/generations", json={}, timeout=10)
    assert elsewhere.status_code == 404 and "bare host" not in elsewhere.text


@pytest.mark.parametrize("ours_name", ["Images", "AsyncImages"])
def test_generate_takes_every_keyword_of_the_sdk_by_name(ours_name: str) -> None:
    """Each keyword of the SDK's ``images.generate`` is a keyword-only parameter of ours too (so editors and
    type checkers see them), not given means not sent, and the answer has every field of the SDK's."""
    import inspect

    from together_magic.client import clients as ours_module
    from together_magic.types import ImageChoicesData, ImageResponse

    sdk_cls = together.resources.images.ImagesResource
    if ours_name == "AsyncImages":
        sdk_cls = together.resources.images.AsyncImagesResource
    theirs = inspect.signature(sdk_cls.generate).parameters
    ours = inspect.signature(getattr(ours_module, ours_name).generate).parameters
    for name, parameter in theirs.items():
        if name == "self":
            continue
        assert name in ours and ours[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        required = parameter.default is inspect.Parameter.empty
        assert (ours[name].default is inspect.Parameter.empty) == required, name
        if not required and name != "n":  # n=1 is sent, as the API's default: the same request
            assert ours[name].default in (None, ours_module.NOT_GIVEN), name
    data = together.types.ImageFile.model_fields
    assert set(data) <= set(ImageResponse.model_fields)
    for item in (together.types.ImageDataB64, together.types.ImageDataURL):
        assert set(item.model_fields) <= set(ImageChoicesData.model_fields)


def test_generate_sends_the_sdk_keywords_it_is_given_and_nothing_else(
    server: Server, shared_sdk: together.Together
) -> None:
    """The same call through the SDK and through our client makes the same picture (what reaches the
    server is the same request); an iterable of LoRAs (a generator, as the SDK allows) is sent as a list
    (to the retired FLUX.1 [dev] LoRA: no listed model takes LoRAs)."""
    import together_magic as tm

    call: dict[str, Any] = {
        "prompt": "a lake",
        "model": "black-forest-labs/FLUX.2-dev",
        "width": 512,
        "height": 512,
        "seed": 4,
        "steps": 20,
        "guidance_scale": 4.5,
        "output_format": "png",
        "response_format": "base64",
        "reference_images": (png_data_url((0, 0, 200)),),
        "disable_safety_checker": True,
    }
    lora = {**call, "model": "black-forest-labs/FLUX.1-dev-lora"}
    del lora["reference_images"]
    with tm.Together(base_url=root(server), max_retries=0, announce_offline=False) as ours_client:
        for sent in (call, lora):
            loras = {"image_loras": ({"path": "a/b", "scale": 0.5} for _ in range(1))} if sent is lora else {}
            theirs = shared_sdk.images.generate(**sent, **loras)
            loras = {"image_loras": ({"path": "a/b", "scale": 0.5} for _ in range(1))} if sent is lora else {}
            ours = ours_client.images.generate(**sent, **loras)
            assert ours.data is not None and ours.data[0].b64_json == theirs.data[0].b64_json  # type: ignore[union-attr]
