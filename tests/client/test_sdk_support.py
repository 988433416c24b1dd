"""The check every official-SDK test relies on (``sdk_support.problems``) refuses each kind of bad answer, so
an SDK run that gets one cannot pass."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image

from together_magic.models import MODELS, listed_ids

from .sdk_support import first_size, listed_calls, problems

CALL = {"model": "m/x", "prompt": "p", "width": 64, "height": 48, "response_format": "base64"}


def jpeg(size: tuple[int, int]) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, format="JPEG")
    return base64.b64encode(out.getvalue()).decode()


def answer(**changes: Any) -> dict[str, Any]:
    item = {"index": 0, "type": "b64_json", "b64_json": jpeg((64, 48)), **changes.pop("item", {})}
    return {"response": {"id": "r1", "model": "m/x", "object": "list", "data": [item], **changes}}


def test_a_good_answer_has_no_problem() -> None:
    with httpx.Client() as fetch:
        assert problems([CALL], [answer()], fetch) == []


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"error": "NotFoundError 404"}, "NotFoundError"),
        (answer(model="m/other"), "model/object/id"),
        (answer(id=""), "model/object/id"),
        (answer(object="image"), "model/object/id"),
        (answer(item={"type": "url", "url": "http://127.0.0.1:9/x"}), "data"),
        (answer(item={"index": 1}), "data"),
        (answer(data=[]), "data"),
        (answer(item={"b64_json": jpeg((48, 64))}), "(48, 64)"),
    ],
)
def test_every_kind_of_bad_answer_is_a_problem(bad: dict[str, Any], says: str) -> None:
    with httpx.Client() as fetch:
        found = problems([CALL], [bad], fetch)
    assert len(found) == 1 and found[0].startswith("m/x: ") and says in found[0]


def test_bytes_that_are_not_an_image_fail() -> None:
    fake = base64.b64encode(b"\xff\xd8\xff" + b"0" * 100).decode()  # a JPEG's magic, then nothing
    with httpx.Client() as fetch, pytest.raises(OSError):
        problems([CALL], [answer(item={"b64_json": fake})], fetch)


def test_one_call_per_listed_model_with_only_what_it_takes() -> None:
    calls = listed_calls()
    assert [call["model"] for call in calls] == listed_ids()
    assert {call["response_format"] for call in calls} == {"url", "base64"}
    for call in calls:
        spec = MODELS[call["model"]]
        assert ("steps" in call) == spec.takes("steps")
        assert (call["width"], call["height"]) == first_size(spec)
