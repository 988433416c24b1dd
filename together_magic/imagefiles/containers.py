"""Image containers (JPEG, PNG, GIF, WebP) read without decoding a pixel, and the errors about image files.

Knowing the format, the declared size and whether the container is complete only takes a walk over chunk
and segment headers, so a 30000x30000 "decompression bomb", a truncated download or a text file renamed
``.png`` is refused in microseconds with one line, before PIL ever sees it. ``metadata`` reuses the same
walks to splice and find its records.

A leaf module: the standard library only (PIL lazily, for its pixel limit).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

__all__ = [
    "DamagedImageError",
    "FileTooLargeError",
    "ImageFileError",
    "ImageInfo",
    "ImageNotFoundError",
    "NotAFileError",
    "NotAnImageError",
    "TooManyPixelsError",
    "TruncatedImageError",
    "UnreadableFileError",
    "describe_size",
    "display_name",
    "image_info",
    "jpeg_segments",
    "png_chunks",
    "sniff",
]


class ImageFileError(ValueError):
    """A one-line reason why a file cannot be used as an image; the caller prefixes the option name."""


class ImageNotFoundError(ImageFileError, FileNotFoundError):
    """No such file (also a FileNotFoundError, so ``except FileNotFoundError`` keeps working)."""


class NotAFileError(ImageFileError):
    """A folder, a device, a pipe or an impossible name."""


class UnreadableFileError(ImageFileError):
    """The operating system refused to read it (permissions, I/O error)."""


class FileTooLargeError(ImageFileError):
    """Bigger than the caller accepts; nothing was read."""


class NotAnImageError(ImageFileError):
    """Empty, or its first bytes are not JPEG, PNG, WebP or GIF."""


class TruncatedImageError(ImageFileError):
    """The container ends before it should (an interrupted download or copy)."""


class DamagedImageError(ImageFileError):
    """The container's structure is inconsistent."""


class TooManyPixelsError(ImageFileError):
    """The header declares more pixels than the caller accepts (a decompression bomb, or just too big)."""


class ImageInfo(NamedTuple):
    format: str
    """``JPEG``, ``PNG``, ``WebP`` or ``GIF``."""
    width: int
    height: int


KINDS = "a JPEG, PNG, WebP or GIF image"


def describe_size(n: int) -> str:
    """``2.1 GB``, ``20 MB``, ``512 kB``: decimal units, as file managers show them."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def display_name(path: object) -> str:
    """The path as the user typed it, on one line (a name holding control characters is escaped)."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    text = os.fsdecode(text) if isinstance(text, bytes) else text
    return text if text.isprintable() else ascii(text)


def sniff(head: bytes) -> str | None:
    """``JPEG``, ``PNG``, ``WebP`` or ``GIF`` from the first 16 bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return "GIF" if head[:6] in (b"GIF87a", b"GIF89a") else None


def png_chunks(data: bytes, start: int = 8) -> Iterator[tuple[bytes, int, int]]:
    """``(type, start, end)`` of each PNG chunk (``start`` at its length field), up to and with IEND.

    Raises TruncatedImageError when the data ends before IEND; CRCs are not checked (no pixel work).
    Messages are fragments ("is truncated") that ``image_info`` prefixes with the file's name.
    """
    pos = start
    while True:
        if pos + 12 > len(data):
            raise TruncatedImageError("is truncated")
        end = pos + 12 + int.from_bytes(data[pos : pos + 4], "big")
        if end > len(data):
            raise TruncatedImageError("is truncated")
        kind = bytes(data[pos + 4 : pos + 8])
        yield kind, pos, end
        if kind == b"IEND":
            return
        pos = end


_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of each JPEG segment from SOI's end up to and with SOS (whose ``end`` is the
    end of its header; the entropy-coded data follows). Raises TruncatedImageError or DamagedImageError."""
    pos = 2
    while True:
        if pos + 2 > len(data):
            raise TruncatedImageError("is truncated")
        if data[pos] != 0xFF:  # junk between segments: skipped, as libjpeg and Pillow do
            pos += 1
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0xD9:
            raise DamagedImageError("ends before its image data")
        if pos + 4 > len(data):
            raise TruncatedImageError("is truncated")
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > len(data):
            raise TruncatedImageError("is truncated")
        yield marker, pos, end
        if marker == 0xDA:
            return
        pos = end


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png_size(data: bytes) -> tuple[int, int]:
    chunks = png_chunks(data)
    if next(chunks)[0] != b"IHDR":
        raise DamagedImageError("is a damaged PNG image (no IHDR header)")
    for _ in chunks:  # walk to IEND: a cut-off file is found here
        pass
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    size: tuple[int, int] | None = None
    for marker, start, end in jpeg_segments(data):
        if marker in _SOF and end - start >= 11:
            size = (
                int.from_bytes(data[start + 7 : start + 9], "big"),
                int.from_bytes(data[start + 5 : start + 7], "big"),
            )
        elif marker == 0xDA and size is None:
            raise DamagedImageError("is a damaged JPEG image (no frame header)")
        elif marker == 0xDA and data.rfind(b"\xff\xd9", end) < 0:  # entropy-coded data never holds FFD9
            raise TruncatedImageError("is truncated")
    assert size is not None  # jpeg_segments ends with SOS or raises
    return size


def _gif_size(data: bytes) -> tuple[int, int]:
    def table(flags: int) -> int:
        return 3 << ((flags & 7) + 1) if flags & 0x80 else 0

    def sub_blocks(pos: int) -> int:
        while True:
            if pos >= len(data):
                raise TruncatedImageError("is truncated")
            if data[pos] == 0:
                return pos + 1
            pos += 1 + data[pos]

    if len(data) < 13:
        raise TruncatedImageError("is truncated")
    pos = 13 + table(data[10])
    while True:
        if pos >= len(data):
            raise TruncatedImageError("is truncated")
        block = data[pos]
        if block == 0x3B:  # the trailer: the file is complete
            return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        if block == 0x21:
            pos = sub_blocks(pos + 2)
        elif block == 0x2C:
            if pos + 10 > len(data):
                raise TruncatedImageError("is truncated")
            pos = sub_blocks(pos + 11 + table(data[pos + 9]))
        else:
            raise DamagedImageError("is a damaged GIF image")


def _webp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 30 or 8 + int.from_bytes(data[4:8], "little") > len(data):
        raise TruncatedImageError("is truncated")
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 ":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    raise DamagedImageError("is a damaged WebP image")


def image_info(data: bytes, name: str = "the image", *, max_pixels: int | None = None) -> ImageInfo:
    """Format and size of encoded image bytes, checked for truncation and damage without decoding pixels.

    ``max_pixels`` defaults to PIL's ``Image.MAX_IMAGE_PIXELS`` (the limit PIL itself would enforce).
    """
    fmt = sniff(data[:16])
    if fmt is None:
        raise NotAnImageError(f"{name} is empty" if not data else f"{name} is not {KINDS}")
    measure = {"PNG": _png_size, "JPEG": _jpeg_size, "GIF": _gif_size, "WebP": _webp_size}[fmt]
    try:
        width, height = measure(data)
    except ImageFileError as exc:
        raise type(exc)(f"{name} {exc}") from None
    if width <= 0 or height <= 0:
        raise DamagedImageError(f"{name} is a damaged {fmt} image (it declares {width}x{height} pixels)")
    if max_pixels is None:
        from PIL import Image

        max_pixels = Image.MAX_IMAGE_PIXELS
    if max_pixels is not None and width * height > max_pixels:
        raise TooManyPixelsError(
            f"{name} declares {width}x{height} pixels; at most {max_pixels:,} pixels are accepted"
        )
    return ImageInfo(fmt, width, height)
