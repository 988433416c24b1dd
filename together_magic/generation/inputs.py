"""Turning what a user names as an image (a file, a URL, a variable, uploaded bytes) into what the API takes.

The API takes URLs or ``data:`` URLs. A file is checked before it is read whole (size, signature, declared
pixel count), so a 2 GB file or a decompression bomb is one line, not minutes of memory. Every failure is
an ``OptionError`` naming the option.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..imagefiles.files import ImageFileError, read_image_file
from ..models import MAX_REFERENCE_BYTES
from ..types import ImageChoicesData, ImageResponse, sniff_format

__all__ = ["MAX_REFERENCE_BYTES", "data_url", "resolve"]


def data_url(data: bytes, option: str) -> str:
    fmt = sniff_format(data)
    if fmt is None:
        raise OptionError(f"{option}: that is not a JPEG, PNG, WebP or GIF image")
    if len(data) > MAX_REFERENCE_BYTES:
        most = MAX_REFERENCE_BYTES / 1e6
        raise OptionError(f"{option}: the image is {len(data) / 1e6:.1f} MB; at most {most:g} MB is accepted")
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"


def resolve(value: str | bytes, namespace: Mapping[str, Any], option: str = "--image") -> str:
    """A file path, URL, variable name or raw bytes -> a URL or ``data:`` URL for the request."""
    if isinstance(value, bytes):
        return data_url(value, option)
    text = value.strip()
    if text.startswith(("http://", "https://")):
        return text
    if text.startswith("data:"):
        return text
    if text.isidentifier() and text in namespace:
        return _from_object(namespace[text], text, option)
    return _from_file(Path(text).expanduser(), option)


def _from_file(path: Path, option: str) -> str:
    try:
        return data_url(read_image_file(path, max_bytes=MAX_REFERENCE_BYTES), option)
    except FileNotFoundError:
        raise OptionError(f"{option}: no file, URL or variable named {str(path)[:80]!r}") from None
    except ImageFileError as exc:
        raise OptionError(f"{option}: {exc}") from None


def _from_object(obj: Any, name: str, option: str) -> str:
    if isinstance(obj, ImageResponse):
        if not obj.data:
            raise OptionError(f"{option}: {name} holds no images")
        obj = obj.data[0]
    if isinstance(obj, ImageChoicesData):
        return data_url(obj.image_bytes(), option)
    if isinstance(obj, bytes | bytearray | memoryview):
        return data_url(bytes(obj), option)
    if isinstance(obj, str | Path):
        return resolve(str(obj), {}, option)
    if hasattr(obj, "save") and hasattr(obj, "mode"):  # a PIL image
        out = io.BytesIO()
        obj.convert("RGB").save(out, format="PNG")
        return data_url(out.getvalue(), option)
    raise OptionError(f"{option}: {name} is a {type(obj).__name__}, not an image, path or URL")
