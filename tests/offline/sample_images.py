"""Image bytes for tests, made with Pillow or by hand (a header that lies about its size)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png_bytes(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress, so that cutting it in half cuts its pixel data."""
    out = io.BytesIO()
    Image.effect_noise(size, 100).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def lying_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` with a few bytes of data: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def truncated(data: bytes) -> bytes:
    """The first half: a valid header, then nothing."""
    return data[: len(data) // 2]
