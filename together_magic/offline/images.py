"""Reference images from clients: judge the header before any pixel is decoded, then decode small.

A PNG of a few hundred bytes can claim 30000x30000 pixels (2.7 GB once decoded). So the size is read from
the header first, by the format's own parser and without ``Image.open``: that one applies Pillow's
process-wide decompression-bomb limit, which warns (or, under ``-W error``, raises) before we could say no.
Only images within :data:`MAX_REFERENCE_PIXELS` are ever decoded, and then straight to a thumbnail (JPEG
decodes at a reduced scale), since the renderer only blends them at its working resolution.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..models import IMAGE_INPUTS, LORAS_DEPRECATED, MAX_REFERENCE_BYTES, ModelSpec
from .apierror import OfflineAPIError, invalid

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "FORMATS",
    "MAX_REFERENCES",
    "MAX_REFERENCE_BYTES",
    "MAX_REFERENCE_PIXELS",
    "MAX_REQUEST_PIXELS",
    "THUMBNAIL",
    "Reference",
    "check_header",
    "check_headers",
    "decode",
    "image_inputs",
]

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
"""What a reference may be; never EPS and friends, which Pillow hands to external programs."""
MAX_REFERENCE_PIXELS = 40_000_000
"""40 megapixels (e.g. 8000x5000), well under Pillow's own bomb warning at about 89."""
MAX_REQUEST_PIXELS = 3 * MAX_REFERENCE_PIXELS
"""All the images of one request together: a solid 40 MP PNG is 40 kB, so without this a 32 MiB body could
ask for hundreds of full decodes."""
MAX_REFERENCES = 16
"""Images in one ``reference_images`` list. Each costs a header parse and a decode (about 1 ms even for a
1-pixel PNG), so without a count a 1.5 MB body of 20,000 tiny images held a worker for 22 s. Together
documents no count; the models that take the list are documented with fewer (FLUX.2, Gemini)."""
THUMBNAIL = (512, 512)
"""References are blended at the renderer's working resolution (at most 448 px): nothing larger is kept."""


@dataclass(frozen=True)
class Reference:
    """An image the client sent: its bytes (data URL or base64) or a URL this backend is said to have made."""

    param: str
    """The field it came in, named by errors about it."""
    data: bytes | None = None
    url: str | None = None


def _reference(text: str, param: str) -> Reference:
    """A data URL, bare base64, or an http(s) URL (which only this backend can have made: checked later)."""
    if text.startswith(("http://", "https://")):
        return Reference(param, url=text)
    payload = text
    if text.startswith("data:"):
        header, comma, payload = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise invalid(param, f"{param} must be a base64 data: URL (data:image/png;base64,...).")
    if len(payload) * 3 // 4 > MAX_REFERENCE_BYTES + 3:  # judged before decoding anything
        raise invalid(param, f"A reference image must be at most {MAX_REFERENCE_BYTES // 1_000_000} MB.")
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(
            param, f"{param} must be a data: URL, base64-encoded image data or a URL this backend returned."
        ) from None
    if not data:
        raise invalid(param, f"{param} is empty.")
    return Reference(param, data=data)


def image_inputs(body: dict[str, Any], spec: ModelSpec) -> tuple[References, References]:
    """(edits, references): ``image_url``/``image_base64`` and ``reference_images``, as the model allows."""
    for name in (*IMAGE_INPUTS, "image_base64"):
        field = "image_url" if name == "image_base64" else name
        if body.get(name) is not None and not spec.takes(field):
            why = f". {LORAS_DEPRECATED}." if name == "image_loras" else ""
            raise OfflineAPIError(400, f"Unsupported use of '{name}'{why}", param=name)
    edits = []
    for name in ("image_url", "image_base64"):
        text = body.get(name)
        if text is not None and not isinstance(text, str):
            raise invalid(name, f"{name} must be a string: a data: URL, base64 image data or a URL.")
        if text is not None:
            edits.append(_reference(text, name))
    refs = body.get("reference_images")
    references: list[Reference] = []
    if refs is not None:
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise invalid(
                "reference_images",
                "reference_images must be a list of strings: data: URLs, base64 image data or URLs this "
                "backend returned.",
            )
        if len(refs) > MAX_REFERENCES:
            raise invalid(
                "reference_images",
                f"reference_images may hold at most {MAX_REFERENCES} images, got {len(refs)}.",
            )
        references = [_reference(r, "reference_images") for r in refs]
    return tuple(edits), tuple(references)


References = tuple[Reference, ...]


def _not_an_image(param: str) -> OfflineAPIError:
    listed = ", ".join(FORMATS)
    return OfflineAPIError(
        400,
        f"Invalid value for '{param}' parameter. The data is not an image Together can read ({listed}).",
        param=param,
    )


def check_headers(images: tuple[tuple[str, bytes], ...]) -> None:
    """Each image's header, then their pixels together, against the limits; a 400 naming the field."""
    total = 0
    for param, data in images:
        width, height = check_header(data, param)
        total += width * height
        if total > MAX_REQUEST_PIXELS:
            raise OfflineAPIError(
                400,
                f"Invalid value for '{param}' parameter. The images of one request may have at most "
                f"{MAX_REQUEST_PIXELS // 1_000_000} megapixels in all.",
                param=param,
            )


def check_header(data: bytes, param: str) -> tuple[int, int]:
    """The image's size from its header, or a 400 naming ``param``; decodes no pixel."""
    from PIL import Image, WebPImagePlugin  # noqa: F401 (registers WEBP)

    Image.preinit()
    prefix = data[:16]
    for fmt in FORMATS:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(prefix):
            continue
        try:
            with factory(io.BytesIO(data), "") as img:  # the plugin parses the header only
                width, height = img.size
        except Exception:  # any parser failure on untrusted bytes means "not an image", never a 500
            raise _not_an_image(param) from None
        break
    else:
        raise _not_an_image(param)
    if width < 1 or height < 1:
        raise _not_an_image(param)
    if width * height > MAX_REFERENCE_PIXELS:
        raise OfflineAPIError(
            400,
            f"Invalid value for '{param}' parameter. The image is {width}x{height} pixels; reference images "
            f"may have at most {MAX_REFERENCE_PIXELS // 1_000_000} megapixels.",
            param=param,
        )
    return width, height


def decode(data: bytes, param: str) -> PILImage:
    """An RGB thumbnail of the image, or a 400 naming ``param`` (checks the header first)."""
    from PIL import Image

    check_header(data, param)
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            img.draft("RGB", THUMBNAIL)
            img.thumbnail(THUMBNAIL)
            rgb: PILImage = img.convert("RGB")
            return rgb
    except Exception:  # truncated or corrupt data past a valid header
        raise OfflineAPIError(
            400,
            f"Invalid value for '{param}' parameter. The image data is truncated or corrupt.",
            param=param,
        ) from None
