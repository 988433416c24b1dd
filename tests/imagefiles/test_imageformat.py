"""Container walks agree with PIL on real images, find every cut-off file, and never crash on garbage."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from together_magic.imagefiles.containers import (
    DamagedImageError,
    ImageFileError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    describe_size,
    image_info,
    sniff,
)

FORMATS: dict[str, dict[str, Any]] = {
    "PNG": {},
    "JPEG": {"quality": 80},
    "progressive JPEG": {"progressive": True},
    "GIF": {},
    "lossy WebP": {"lossless": False},
    "lossless WebP": {"lossless": True},
}


def encode(kind: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    fmt = {"progressive JPEG": "JPEG", "lossy WebP": "WEBP", "lossless WebP": "WEBP"}.get(kind, kind)
    image = Image.new(mode, size)
    image.putdata(
        [((x * 7) % 256, (x * 13) % 256, (x * 3) % 256)[: len(mode)] for x in range(size[0] * size[1])]
    )
    out = io.BytesIO()
    image.save(out, format=fmt, **FORMATS[kind])
    return out.getvalue()


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(sorted(FORMATS)), width=st.integers(1, 300), height=st.integers(1, 300))
def test_declared_size_matches_pil(kind: str, width: int, height: int) -> None:
    data = encode(kind, (width, height))
    info = image_info(data)
    assert (info.width, info.height) == Image.open(io.BytesIO(data)).size == (width, height)
    assert info.format == sniff(data)


def test_webp_with_alpha_uses_the_extended_header() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (321, 123), (1, 2, 3, 4)).save(out, format="WEBP", exif=b"Exif\x00\x00MM\x00*")
    assert out.getvalue()[12:16] == b"VP8X"
    assert image_info(out.getvalue())[1:] == (321, 123)


_SAMPLES = {kind: encode(kind, (33, 17)) for kind in FORMATS}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(FORMATS)), cut=st.floats(0, 1, exclude_max=True))
def test_every_cut_off_image_is_found(kind: str, cut: float) -> None:
    data = _SAMPLES[kind]
    prefix = data[: int(len(data) * cut)]
    with pytest.raises((TruncatedImageError, NotAnImageError)) as caught:
        image_info(prefix, "x")
    assert str(caught.value) in ("x is truncated", "x is empty", "x is not a JPEG, PNG, WebP or GIF image")


@settings(max_examples=500, deadline=None)
@given(
    kind=st.sampled_from(sorted(FORMATS)),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_damaged_bytes_never_crash(kind: str, edits: list[tuple[float, int]]) -> None:
    data = bytearray(_SAMPLES[kind])
    for where, value in edits:
        data[int(where * len(data))] = value
    try:
        info = image_info(bytes(data), "x", max_pixels=10**7)
    except ImageFileError as exc:
        assert str(exc).startswith("x ") and "\n" not in str(exc)
    else:
        assert info.width > 0 and info.height > 0


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=200),
    head=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a"]),
)
def test_random_bytes_never_crash(data: bytes, head: bytes) -> None:
    try:
        image_info(head + data, "x", max_pixels=10**7)
    except ImageFileError as exc:
        assert "\n" not in str(exc)


def test_junk_between_jpeg_segments_is_skipped_as_libjpeg_does() -> None:
    data = _SAMPLES["JPEG"]
    app0_end = 4 + int.from_bytes(data[4:6], "big")  # SOI, then the JFIF APP0 segment
    padded = data[:app0_end] + b"\x00\x00junk" + data[app0_end:]
    assert Image.open(io.BytesIO(padded)).size == (33, 17)
    assert image_info(padded)[1:] == (33, 17)


def test_jpeg_that_ends_before_its_image_data_is_damaged() -> None:
    with pytest.raises(DamagedImageError, match=r"^x ends before its image data$"):
        image_info(b"\xff\xd8\xff\xd9", "x")


def test_pixel_limit_defaults_to_pils() -> None:
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    side = int(limit**0.5) + 1
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(TooManyPixelsError, match=f"declares {side}x{side} pixels"):
        image_info(bomb)
    assert image_info(bomb, max_pixels=side * side)[1:] == (side, side)


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 bytes"), (999, "999 bytes"), (20 * 10**6, "20 MB"), (2 * 1024**3, "2.1 GB"), (1500, "1.5 kB")],
)
def test_sizes_read_as_people_say_them(n: int, text: str) -> None:
    assert describe_size(n) == text
