"""The SDK-shaped models and the helpers users reach for right after generating."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from together_magic import ImageChoicesData, ImageDataError, ImageRequest, ImageResponse
from together_magic.types import sniff_format


def encoded(
    fmt: str, size: tuple[int, int] = (40, 30), colour: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def choice_of(data: bytes, index: int = 0) -> ImageChoicesData:
    return ImageChoicesData(index=index, b64_json=base64.b64encode(data).decode())


def test_request_defaults_and_payload_match_the_sdk() -> None:
    request = ImageRequest(prompt="a fox", model="m")
    # width and height are sent only when given (an aspect_ratio alone must travel without them)
    assert request.payload() == {"prompt": "a fox", "model": "m", "n": 1}
    full = ImageRequest(
        prompt="a fox",
        model="m",
        seed=3,
        negative_prompt="blur",
        steps=4,
        guidance_scale=2.5,
        response_format="base64",
        image_url=None,
    )
    assert full.payload() == {
        "prompt": "a fox",
        "model": "m",
        "seed": 3,
        "n": 1,
        "negative_prompt": "blur",
        "steps": 4,
        "guidance_scale": 2.5,
        "response_format": "base64",
    }


def test_response_keeps_extra_fields() -> None:
    response = ImageResponse.model_validate(
        {
            "id": "x",
            "model": "m",
            "object": "list",
            "extra_top": 1,
            "data": [{"index": 0, "b64_json": "AAAA", "timings": {"inference": 0.1}}],
        }
    )
    assert response.model_extra == {"extra_top": 1}
    assert (response.data or [])[0].model_extra == {"timings": {"inference": 0.1}}
    assert ImageResponse().data is None  # every field is optional, as in the SDK


def test_repr_never_prints_the_base64() -> None:
    big = base64.b64encode(os.urandom(1_500_000)).decode()
    response = ImageResponse(id="r", data=[ImageChoicesData(index=0, b64_json=big)])
    text = repr(response)
    assert big[:100] not in text and "2.0 MB base64" in text
    assert len(text) < 300
    assert len(str(response)) < 300


@pytest.mark.parametrize(
    ("fmt", "name"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")]
)
def test_format_is_read_from_the_bytes(fmt: str, name: str) -> None:
    assert sniff_format(encoded(fmt)) == name
    assert choice_of(encoded(fmt)).format == name
    assert sniff_format(b"not an image") is None


def test_bytes_image_and_size() -> None:
    choice = choice_of(encoded("PNG", (40, 30)))
    assert choice.image_bytes().startswith(b"\x89PNG")
    assert choice.size == (40, 30)
    image = choice.image()
    assert image.size == (40, 30) and image.getpixel((0, 0)) == (200, 30, 30)
    assert choice.image() is not image  # callers may draw on what they get


def test_invalid_base64_and_empty_choices_are_clear_errors() -> None:
    with pytest.raises(ImageDataError, match="not valid base64"):
        ImageChoicesData(index=2, b64_json="!!!").image_bytes()
    with pytest.raises(ImageDataError, match="neither b64_json nor url"):
        ImageChoicesData(index=0).image_bytes()


def test_save_adds_the_real_extension_and_never_overwrites(tmp_path: Path) -> None:
    choice = choice_of(encoded("JPEG"))
    first = choice.save(tmp_path / "fox")
    second = choice.save(tmp_path / "fox")
    assert first.name == "fox.jpg" and second.name == "fox-1.jpg"
    assert first.read_bytes() == second.read_bytes() == choice.image_bytes()
    (tmp_path / "keep.jpg").write_bytes(b"precious")
    saved = choice.save(tmp_path / "keep.jpg")
    assert (tmp_path / "keep.jpg").read_bytes() == b"precious" and saved.name == "keep-1.jpg"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_save_converts_when_the_suffix_names_another_format(tmp_path: Path) -> None:
    choice = choice_of(encoded("JPEG"))
    path = choice.save(tmp_path / "fox.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (40, 30)


def test_save_overwrite_is_explicit(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    choice_of(encoded("PNG")).save(target, overwrite=True)
    assert target.read_bytes().startswith(b"\x89PNG")


def test_response_save_writes_every_image(tmp_path: Path) -> None:
    response = ImageResponse(data=[choice_of(encoded("JPEG"), 0), choice_of(encoded("PNG"), 1)])
    paths = response.save(tmp_path / "out", stem="fox")
    assert [p.name for p in paths] == ["fox-0.jpg", "fox-1.png"]
    again = response.save(tmp_path / "out", stem="fox")
    assert [p.name for p in again] == ["fox-0-1.jpg", "fox-1-1.png"]
    assert len(response) == 2 and len(response.images()) == 2
