"""Saving responses (names from each image's own seed, no overwrite, partial failures) and reading back."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from together_magic import Together
from together_magic.generation.saving import file_stem, read_parameters, recipe_for, save_response
from together_magic.imagefiles.metadata import DamagedRecipeError, embed
from together_magic.types import ImageProvenance, ImageRequest, ImageResponse, Provenance, attach_provenance

MODEL = "black-forest-labs/FLUX.2-dev"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def response() -> ImageResponse:
    with Together(base_url="offline", announce_offline=False) as client:
        made = client.images.generate(prompt="A fox / ../x", model=MODEL, seed=7, n=3, width=256, height=256)
    return made


def split(response: ImageResponse) -> ImageResponse:
    """The same images as if each had its own request (seed 7, 8, 9), as the service attaches them."""
    request = response.request
    assert request is not None
    parts = [ImageProvenance(request.model_copy(update={"n": 1, "seed": 7 + k}), 0) for k in range(3)]
    copy = ImageResponse.model_validate(response.model_dump())
    return attach_provenance(copy, Provenance(request=request), parts)


def test_names_and_records_follow_each_images_own_request(response: ImageResponse, tmp_path: Path) -> None:
    raw = ImageResponse.model_validate(response.model_dump())
    attach_provenance(raw, Provenance(request=response.request))
    assert [file_stem(c) for c in raw.data or []] == ["a-fox-x-s7-0", "a-fox-x-s7-1", "a-fox-x-s7-2"]
    assert recipe_for((raw.data or [])[2])["index"] == 2  # "#2 of 3, seed 7": reproduced by n=3, image 2
    own = split(response)
    assert [file_stem(c) for c in own.data or []] == ["a-fox-x-s7", "a-fox-x-s8", "a-fox-x-s9"]
    report = save_response(own, tmp_path)
    assert report.ok and [p.name for p in report.paths if p] == [
        "a-fox-x-s7.jpg",
        "a-fox-x-s8.jpg",
        "a-fox-x-s9.jpg",
    ]
    stored = read_parameters(tmp_path / "a-fox-x-s8.jpg")
    assert (stored.seed, stored.n, stored.prompt) == (8, 1, "A fox / ../x")


def test_saving_again_finds_the_copy_and_different_bytes_never_overwrite(
    response: ImageResponse, tmp_path: Path
) -> None:
    own = split(response)
    first = save_response(own, tmp_path)
    again = save_response(own, tmp_path)
    assert again.paths == first.paths and all(again.existing)
    other = ImageRequest(prompt="A fox / ../x", model=MODEL, seed=7, n=1, negative_prompt="rain")
    changed = ImageResponse.model_validate(response.model_dump())
    changed.data = (changed.data or [])[1:2]
    attach_provenance(changed, Provenance(request=other), [ImageProvenance(other, 0)])
    report = save_response(changed, tmp_path)
    assert [p.name for p in report.paths if p] == ["a-fox-x-s7-1.jpg"]
    assert (tmp_path / "a-fox-x-s7.jpg").read_bytes() != (tmp_path / "a-fox-x-s7-1.jpg").read_bytes()


def test_a_save_failing_midway_reports_what_was_written(
    response: ImageResponse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full at image 2 of 3: image 1 stays, image 2 leaves nothing, image 3 is still attempted."""
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data: bytes) -> int:  # the OS primitive, not our code: image 2 hits a full disk
        if len(data) > 1000:
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    report = save_response(split(response), tmp_path)
    assert not report.ok
    assert report.paths[0] is not None and report.paths[0].is_file()
    assert report.paths[1] is None and report.errors[1] == "No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in report.paths if p
    )
    assert not [p for p in tmp_path.iterdir() if p.stat().st_size == 0]
    line = report.summary(tmp_path)
    assert "1 of 3 images could not be written" in line and report.paths[0].name in line and "\n" not in line


def test_read_parameters_refuses_an_invalid_request_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(embed(png(), {"request": {"prompt": "x", "steps": "many", "n": {"a": 1}}}))
    with pytest.raises(DamagedRecipeError) as caught:
        read_parameters(path)
    assert str(caught.value) == f"{path} holds generation parameters that are not a valid request"
    no_request = tmp_path / "no-request.png"
    no_request.write_bytes(embed(png(), {"elapsed": 1.0}))
    with pytest.raises(DamagedRecipeError, match="no request"):
        read_parameters(no_request)
