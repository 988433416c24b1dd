"""Request checking: Together's order, statuses and wording; nothing untrusted gets through."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_magic.offline.validate import OfflineAPIError, parse_job

from ..strategies import REQUEST_FIELDS, json_value

MODEL = "black-forest-labs/FLUX.1-schnell"


def job(**overrides: Any) -> Any:
    return parse_job({"prompt": "a fox", "model": MODEL, **overrides})


def test_defaults_follow_the_model() -> None:
    j = job()
    assert (j.n, j.width, j.height, j.steps, j.guidance) == (1, 1024, 1024, 4, 3.5)
    assert (j.response_format, j.output_format) == ("url", "jpeg")  # the raw API answers URLs by default
    assert parse_job({"prompt": "x", "model": "black-forest-labs/FLUX.1-dev"}).steps == 28
    assert 0 <= j.seed < 2**31


def test_unknown_model_comes_first() -> None:
    with pytest.raises(OfflineAPIError) as info:
        parse_job({"prompt": "", "model": "nope", "n": 99})
    assert info.value.status == 404 and info.value.code == "model_not_available"


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"n": True}, "n"),
        ({"n": 1.0}, "n"),
        ({"n": "2"}, "n"),
        ({"width": 255}, "width"),
        ({"width": 1800}, "width"),
        ({"height": 1023}, "height"),
        ({"steps": 0}, "steps"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"guidance_scale": "high"}, "guidance_scale"),
        ({"negative_prompt": 3}, "negative_prompt"),
        ({"image_base64": "%%%"}, "image_base64"),
        ({"reference_images": "x"}, "reference_images"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x" * 10001}, "prompt"),
    ],
)
def test_bad_values_name_the_parameter(overrides: dict[str, Any], param: str) -> None:
    with pytest.raises(OfflineAPIError) as info:
        job(**overrides)
    err = info.value
    assert err.status == 400 and err.param == param and err.type == "invalid_request_error"
    assert err.message.startswith(f"Invalid value for '{param}' parameter.")


def test_body_must_be_an_object() -> None:
    for body in (None, [], "x", 3):
        with pytest.raises(OfflineAPIError) as info:
            parse_job(body)
        assert info.value.status == 400


def test_legacy_guidance_field_is_accepted() -> None:
    assert job(guidance=7).guidance == 7.0
    assert job(guidance_scale=1.5).guidance == 1.5


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(REQUEST_FIELDS), json_value, max_size=8))
def test_any_json_gives_a_job_or_a_4xx(body: dict[str, Any]) -> None:
    try:
        parse_job({"model": MODEL, "prompt": "x", **body})
    except OfflineAPIError as err:
        assert 400 <= err.status < 500 and err.message
