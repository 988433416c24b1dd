"""Reference images: sizes read from headers alone, only safe formats, decoded straight to a thumbnail."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from together_magic.offline.apierror import OfflineAPIError
from together_magic.offline.images import (
    FORMATS,
    MAX_REFERENCE_PIXELS,
    MAX_REQUEST_PIXELS,
    THUMBNAIL,
    check_header,
    check_headers,
    decode,
)

from .sample_images import lying_png, noise_png, truncated


def encoded(fmt: str, size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_accepted_format_is_read_and_decoded_small(fmt: str) -> None:
    data = encoded(fmt, (1200, 800))
    assert check_header(data, "image_url") == (1200, 800)
    thumb = decode(data, "image_url")
    assert thumb.mode == "RGB" and max(thumb.size) <= max(THUMBNAIL)


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA"])
def test_other_formats_are_not_images_here(fmt: str) -> None:
    with pytest.raises(OfflineAPIError) as info:
        check_header(encoded(fmt, (64, 64)), "reference_images")
    assert info.value.status == 400 and info.value.param == "reference_images"


def test_a_bomb_is_refused_from_its_header_in_no_time() -> None:
    started = time.perf_counter()
    with pytest.raises(OfflineAPIError) as info:
        check_header(lying_png(30000, 30000), "image_base64")
    assert time.perf_counter() - started < 0.5  # decoding 900 megapixels would take many seconds
    assert "30000x30000" in info.value.message and info.value.param == "image_base64"
    side = int(MAX_REFERENCE_PIXELS**0.5)
    assert check_header(lying_png(side, side), "image_url") == (side, side)  # the limit itself is fine


def test_the_pixels_of_one_request_add_up() -> None:
    each = lying_png(8000, 5000)
    count = MAX_REQUEST_PIXELS // (8000 * 5000)
    check_headers(tuple(("reference_images", each) for _ in range(count)))
    with pytest.raises(OfflineAPIError) as info:
        check_headers((("image_url", each), *(("reference_images", each) for _ in range(count))))
    assert info.value.param == "reference_images" and "in all" in info.value.message


def test_truncated_data_is_refused_when_decoded() -> None:
    data = truncated(noise_png((300, 300)))
    assert check_header(data, "image_url") == (300, 300)  # the header is intact
    with pytest.raises(OfflineAPIError) as info:
        decode(data, "image_url")
    assert "truncated or corrupt" in info.value.message
