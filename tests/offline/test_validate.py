"""Request checking: Together's order, statuses and wording, per model from the one catalogue."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_magic import models
from together_magic.models import ASPECT_RATIOS, IMAGE_INPUTS, LORAS_DEPRECATED, MODELS, ModelSpec
from together_magic.offline.validate import OfflineAPIError, parse_body, parse_job

from ..strategies import REQUEST_FIELDS, json_value
from .sample_images import png_bytes

MODEL = models.DEFAULT_MODEL  # FLUX.2 [dev]: steps 1-50 (default 20), guidance_scale (default 3)
KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"
GEMINI = "google/gemini-3-pro-image"
PNG_1PX = base64.b64encode(png_bytes((1, 1), (0, 128, 0))).decode()
# One valid value for each image input, for models that take it.
IMAGE_VALUES: dict[str, Any] = {
    "image_url": f"data:image/png;base64,{PNG_1PX}",
    "reference_images": [f"data:image/png;base64,{PNG_1PX}", PNG_1PX],
    "image_loras": [{"path": "https://huggingface.co/some/lora", "scale": 0.8}],
}


def job(model: str = MODEL, **overrides: Any) -> Any:
    return parse_job({"prompt": "a fox", "model": model, **overrides})


def error(model: str = MODEL, **overrides: Any) -> OfflineAPIError:
    with pytest.raises(OfflineAPIError) as info:
        job(model, **overrides)
    return info.value


def smallest(spec: ModelSpec) -> tuple[int, int]:
    if spec.limits.presets:
        _, w, h = min(spec.limits.presets, key=lambda p: p[1] * p[2])
        return w, h
    low, step = spec.limits.size[0], spec.limits.multiple
    side = -(-low // step) * step
    return side, side


def test_defaults_follow_the_model() -> None:
    j = job()
    # 20 steps is our choice (Together's scripts); guidance_scale 3 is Together's (2026-10-07)
    assert (j.n, j.width, j.height, j.steps, j.guidance) == (1, *models.DEFAULT_SIZE, 20, 3.0)
    assert (j.response_format, j.output_format) == ("url", "jpeg")  # the raw API answers URLs by default
    assert job(KONTEXT).steps == 28
    assert job("openai/gpt-image-2").steps is None
    assert job("black-forest-labs/FLUX.2-pro").upsample and not job("black-forest-labs/FLUX.2-flex").upsample
    assert models.SEED_RANGE[0] <= j.seed <= models.SEED_RANGE[1]
    assert (j.edits, j.references, j.loras, j.upsample) == ((), (), (), False)


@pytest.mark.parametrize("model_id", list(MODELS))
def test_every_model_takes_a_bare_request_and_its_limits(model_id: str) -> None:
    spec = MODELS[model_id]
    bare = job(model_id)
    assert bare.steps == spec.limits.default_steps
    low_n, high_n = spec.limits.n
    assert job(model_id, n=high_n).n == high_n
    assert error(model_id, n=high_n + 1).param == "n"
    assert error(model_id, n=low_n - 1).param == "n"
    w, h = smallest(spec)
    assert (job(model_id, width=w, height=h).width, job(model_id, width=w, height=h).height) == (w, h)
    if spec.limits.steps:
        low, high = spec.limits.steps
        assert job(model_id, steps=high).steps == high
        err = error(model_id, steps=high + 1)
        assert err.param == "steps" and f"between {low} and {high}" in err.message


def test_unknown_model_comes_first_and_is_not_echoed_whole() -> None:
    with pytest.raises(OfflineAPIError) as info:
        parse_job({"prompt": "", "model": "nope", "n": 99, "image_url": 3})
    assert info.value.status == 404 and info.value.code == "model_not_available"
    assert info.value.message.startswith("Unable to access model nope. Please visit https://api.together.ai/")
    with pytest.raises(OfflineAPIError) as info:
        parse_job({"prompt": "x", "model": "m" * 100_000})
    assert info.value.status == 404 and len(info.value.message) < 400


def test_size_message_is_togethers() -> None:
    err = error("black-forest-labs/FLUX.2-dev", width=2048)
    assert err.param == "width" and err.message == (
        "Invalid value for 'width' parameter. Image width must be an integer value between 256 and 1920, "
        "in multiples of '8'."
    )
    assert error(height=1921).message.endswith("between 256 and 1920, in multiples of '8'.")
    assert job(width=1920, height=1920).width == 1920  # the 2026 maximum, not 1792
    for bad in (1000.0, "1024", True, 1028, 10**400, -0.0, 0, -1024):
        assert error(width=bad).param == "width"


def test_presets_only_and_listed_compactly() -> None:
    spec = MODELS[GEMINI]
    for _, w, h in spec.limits.presets:
        assert (job(GEMINI, width=w, height=h).width, job(GEMINI, width=w, height=h).height) == (w, h)
    assert job(GEMINI, width=6144, height=2688).width == 6144
    err = error(GEMINI, width=1024, height=768)
    assert err.param == "height"  # 1024 is a preset width; 768 does not go with it
    assert (
        "1K 1024x1024, 1248x832, 832x1248" in err.message
        and "2K and 4K the same times 2 and 4" in err.message
    )
    assert len(err.message) < 300
    assert error(GEMINI, width=1000, height=1000).param == "width"
    assert error(GEMINI, width=2048).param == "height"  # height defaults to 1024: not a preset pair


@pytest.mark.parametrize("ratio", list(ASPECT_RATIOS))
def test_aspect_ratio_decides_the_size_when_width_and_height_are_absent(ratio: str) -> None:
    takers = models.models_taking("aspect_ratio")
    assert takers == [KONTEXT, "black-forest-labs/FLUX.1-kontext-max"]
    for model_id in takers:
        if ratio not in ("1:1", "16:9", "9:16", "4:3", "3:2"):  # Kontext's five, as Together lists them
            err = error(model_id, aspect_ratio=ratio)
            assert err.param == "aspect_ratio" and "'1:1', '16:9', '9:16', '4:3', '3:2'." in err.message
            continue
        assert (job(model_id, aspect_ratio=ratio).width, job(model_id, aspect_ratio=ratio).height) == (
            ASPECT_RATIOS[ratio]
        )
        explicit = job(model_id, aspect_ratio=ratio, width=512, height=256)
        assert (explicit.width, explicit.height) == (512, 256)


def test_aspect_ratio_with_one_side_derives_the_other() -> None:
    assert job(KONTEXT, aspect_ratio="16:9", width=1024).height == 576
    assert job(KONTEXT, aspect_ratio="16:9", height=600).width == 1064  # 1066.7 rounded to the multiple of 8
    assert job(KONTEXT, aspect_ratio="3:2", width=1000).height == 664  # 666.7 -> 664
    err = error(KONTEXT, aspect_ratio="9:16", width=1920)
    assert err.param == "height" and "follows from width 1920 and aspect_ratio '9:16'" in err.message
    for bad in ("7:5", "2:3", "3:4", "16x9", "", 1.77, ["16:9"]):
        assert error(KONTEXT, aspect_ratio=bad).param == "aspect_ratio"


def test_aspect_ratio_is_ignored_by_models_that_do_not_take_it() -> None:
    j = job("black-forest-labs/FLUX.2-dev", aspect_ratio="16:9")
    assert (j.width, j.height) == models.DEFAULT_SIZE
    assert error("black-forest-labs/FLUX.2-dev", aspect_ratio=16).param == "aspect_ratio"


@pytest.mark.parametrize("model_id", list(MODELS))
def test_image_inputs_are_taken_or_refused_in_togethers_words(model_id: str) -> None:
    spec = MODELS[model_id]
    for field in IMAGE_INPUTS:
        if spec.takes(field):
            job(model_id, **{field: IMAGE_VALUES[field]})
        else:
            err = error(model_id, **{field: IMAGE_VALUES[field]})
            assert (err.status, err.param) == (400, field)
            why = f". {LORAS_DEPRECATED}." if field == "image_loras" else ""  # LoRAs: say they are gone
            assert err.message == f"Unsupported use of '{field}'{why}"
    legacy = {"image_base64": PNG_1PX}
    if spec.takes("image_url"):
        assert job(model_id, **legacy).edits[0].data == base64.b64decode(PNG_1PX)
    else:
        assert error(model_id, **legacy).message == "Unsupported use of 'image_base64'"


def test_reference_images_are_each_read() -> None:
    model = "black-forest-labs/FLUX.2-pro"
    url = "http://127.0.0.1:9/shrt/abc"
    j = job(model, reference_images=[f"data:image/png;base64,{PNG_1PX}", PNG_1PX, url])
    assert [r.data is not None for r in j.references] == [True, True, False] and j.references[2].url == url
    assert all(r.param == "reference_images" for r in j.references)
    for bad in ("x", [1], [None], {"a": "b"}, ["%%%"], ["data:image/png,abc"], [""]):
        err = error(model, reference_images=bad)
        assert err.param == "reference_images" and err.message.startswith(
            "Invalid value for 'reference_images'"
        )


def test_an_oversized_reference_is_refused_before_it_is_decoded() -> None:
    huge = "A" * 30_000_000
    started = time.perf_counter()
    err = error("black-forest-labs/FLUX.1-kontext-pro", image_url=f"data:image/png;base64,{huge}")
    assert err.param == "image_url" and "at most 20 MB" in err.message
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "loras",
    [
        "nope",
        {},
        [{}],
        ["a"],
        [{"path": "a"}],
        [{"scale": 1}],
        [{"path": "a", "scale": "1"}],
        [{"path": "", "scale": 1}],
        [{"path": 3, "scale": 1}],
        [{"path": "a", "scale": True}],
        [{"path": "a", "scale": 2.5}],
        [{"path": "a", "scale": -0.1}],
        [{"path": "a", "scale": 10**400}],
        [{"path": "a", "scale": float("inf")}],
        [{"path": "a", "scale": 1}] * 3,
    ],
)
def test_bad_loras_name_image_loras_and_what_it_takes(loras: Any) -> None:
    err = error("black-forest-labs/FLUX.1-dev-lora", image_loras=loras)  # retired: LoRAs only there
    low, high = models.LORA_SCALE_RANGE
    assert err.param == "image_loras"
    assert "at most 2 objects" in err.message and f"between {low:g} and {high:g}" in err.message


def test_good_loras() -> None:
    loras = [{"path": "a/b", "scale": 0}, {"path": "c", "scale": 2, "extra": "ignored"}]
    j = job("black-forest-labs/FLUX.1-dev-lora", image_loras=loras)
    assert [(lo.path, lo.scale) for lo in j.loras] == [("a/b", 0.0), ("c", 2.0)]


def test_loras_are_refused_on_flux2_naming_the_deprecation() -> None:
    for model_id in (
        "black-forest-labs/FLUX.2-dev",
        "black-forest-labs/FLUX.2-flex",
        "black-forest-labs/FLUX.2-pro",
    ):
        err = error(model_id, image_loras=IMAGE_VALUES["image_loras"])
        assert (err.status, err.param) == (
            400,
            "image_loras",
        ) and "LoRA models were deprecated" in err.message
    assert not models.models_taking("image_loras")  # no listed model takes them


def test_steps_are_ignored_by_models_without_steps_but_type_checked() -> None:
    assert job("openai/gpt-image-2", steps=999).steps is None
    assert error("openai/gpt-image-2", steps="many").param == "steps"
    assert error(steps=0).message == (
        f"Invalid value for 'steps' parameter. steps for {MODEL} must be an integer between 1 and 50."
    )
    assert "between 1 and 12" in error("black-forest-labs/FLUX.1-schnell", steps=13).message  # its old range


def test_guidance_scale_is_the_field_and_the_old_spelling_does_nothing() -> None:
    # FLUX.2 dev/flex: guidance_scale (2026-10-07); the older "guidance" is checked, then ignored
    assert job(guidance=7).guidance == 3.0
    assert job(guidance_scale=1.5, guidance=9).guidance == 1.5
    assert job("black-forest-labs/FLUX.2-flex", guidance=0).guidance == 3.0
    assert job("black-forest-labs/FLUX.2-flex", guidance_scale=0).guidance == 0.0
    assert job("openai/gpt-image-2", guidance_scale=20).guidance == models.DEFAULT_GUIDANCE
    for bad in (30.5, -1, "high", True, 10**400):
        assert error(guidance_scale=bad).param == "guidance_scale"
    assert error("openai/gpt-image-2", guidance="x").param == "guidance"


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"n": True}, "n"),
        ({"n": 1.0}, "n"),
        ({"n": "2"}, "n"),
        ({"seed": -1}, "seed"),
        ({"seed": models.SEED_RANGE[1] + 1}, "seed"),
        ({"seed": 10**400}, "seed"),
        ({"seed": 1.0}, "seed"),
        ({"negative_prompt": 3}, "negative_prompt"),
        ({"prompt_upsampling": "yes"}, "prompt_upsampling"),
        ({"disable_safety_checker": 1}, "disable_safety_checker"),
        ({"response_format": "b64_json"}, "response_format"),
        ({"output_format": "gif"}, "output_format"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * (models.PROMPT_MAX + 1)}, "prompt"),
        ({"model": ["x"]}, "model"),
    ],
)
def test_bad_values_name_the_parameter(overrides: dict[str, Any], param: str) -> None:
    err = error(**overrides)
    assert err.status == 400 and err.param == param and err.type == "invalid_request_error"
    assert err.message.startswith(f"Invalid value for '{param}' parameter.")


def test_inputs_a_model_does_not_take_are_ignored() -> None:
    j = job("openai/gpt-image-2", negative_prompt="x", output_format="png", prompt_upsampling=True)
    assert (j.negative_prompt, j.output_format, j.upsample) == ("", "jpeg", False)
    j = job("black-forest-labs/FLUX.2-dev", negative_prompt="x", prompt_upsampling=True)
    assert (j.negative_prompt, j.upsample) == ("", False)  # negative_prompt: FLUX1.1 [pro]; upsampling: pro
    assert job("black-forest-labs/FLUX.1.1-pro", negative_prompt="x").negative_prompt == "x"
    j = job("black-forest-labs/FLUX.2-pro", prompt_upsampling=True, output_format="PNG")
    assert (j.upsample, j.output_format) == (True, "png")
    assert job(prompt="x" * models.PROMPT_MAX, frobnicate=[1, {"a": None}]).prompt


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "must be a JSON object"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"seed": NaN}', "NaN is not a JSON number"),
        (b'{"seed": Infinity}', "Infinity is not a JSON number"),
        (b'{"seed": -Infinity}', "-Infinity is not a JSON number"),
        (b"[" * 200_000, "nested too deeply"),
        (b'{"seed": 1' + b"0" * 5000 + b"}", "too many digits"),
        ("\ufeff{}".encode(), "not valid JSON"),
    ],
)
def test_bodies_that_are_not_json_are_400(raw: bytes, words: str) -> None:
    with pytest.raises(OfflineAPIError) as info:
        parse_body(raw)
    assert info.value.status == 400 and words in info.value.message


def test_json_edge_cases_that_parse() -> None:
    assert parse_body(b'{"n": 1, "n": 2}') == {"n": 2}  # duplicate keys: the last wins
    body = parse_body(b'{"model": "black-forest-labs/FLUX.2-dev", "prompt": "x", "guidance_scale": 1e400}')
    with pytest.raises(OfflineAPIError) as info:
        parse_job(body)  # 1e400 is valid JSON that decodes to infinity: refused by the field's check
    assert info.value.param == "guidance_scale"
    assert job(guidance_scale=-0.0).guidance == 0.0


def test_body_must_be_an_object() -> None:
    for body in (None, [], "x", 3):
        with pytest.raises(OfflineAPIError) as info:
            parse_job(body)
        assert info.value.status == 400


FIELDS_2026 = (*REQUEST_FIELDS, "aspect_ratio", "image_loras", "prompt_upsampling", "guidance")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(list(MODELS)),
    st.dictionaries(st.sampled_from(FIELDS_2026), json_value | st.floats(), max_size=8),
)
def test_any_json_gives_a_job_or_a_4xx(model_id: str, body: dict[str, Any]) -> None:
    try:
        parse_job(json.loads(json.dumps({"model": model_id, "prompt": "x", **body})))
    except OfflineAPIError as err:
        assert 400 <= err.status < 500 and err.message


@pytest.mark.parametrize("model_id", [spec.id for spec in MODELS.values() if spec.retired])
def test_a_retired_model_answers_unless_strict(model_id: str) -> None:
    spec = MODELS[model_id]
    assert job(model_id).model is spec  # old notebooks run (the answer says it is retired: test_server)
    with pytest.raises(OfflineAPIError) as info:
        parse_job({"prompt": "", "model": model_id, "n": 99}, strict=True)  # the model is judged first
    err = info.value
    assert (err.status, err.code, err.type) == (404, "model_not_available", "invalid_request_error")
    assert err.message.startswith(f"Unable to access model {model_id}. Please visit https://api.together.ai/")
    assert f"use {spec.replacement}." in err.message and MODELS[str(spec.replacement)].listed
