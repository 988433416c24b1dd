"""Generation parameters inside image files: a codec between a JSON-able recipe and encoded image bytes.

A saved image carries what made it, so ``--from PATH`` can reproduce it and the image browsers people
already use can show it. ``embed`` splices metadata into the encoded bytes (pixels are never re-encoded):

- PNG: a ``parameters`` iTXt chunk in AUTOMATIC1111's "infotext" layout and a ``together_magic`` iTXt chunk
  holding the recipe as JSON, both right after IHDR.
- JPEG: the JSON in COM segments (``together_magic:`` then ``together_magic+`` continuations), and the
  infotext in an EXIF APP1 segment's UserComment the way A1111 writes it (see ``a1111``). An EXIF segment
  the image already has (orientation, camera data) is kept, with the UserComment set in it.
- Other formats (WebP, GIF) are returned unchanged.

Size limits degrade, never fail: a JPEG segment holds at most 64 kB, so the JSON is split over up to
``JPEG_RECIPE_SEGMENTS`` segments; a recipe larger than that loses its biggest fields first (a reference
image's data URL long before the prompt), and their paths are listed under ``"dropped"``. An infotext whose
EXIF segment would exceed 64 kB is left out of the JPEG (the JSON still has everything).

``extract`` reads our JSON first, else an A1111 infotext (PNG text chunk, or EXIF UserComment in JPEG and
WebP) parsed into ``{"request": {...}}``. It walks chunks and segments only; no pixel is decoded.

A leaf module: the standard library and its sibling leaves ``a1111``, ``containers`` and ``files``.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .a1111 import (
    EXIF_HEADER,
    a1111_parameters,
    exif_segment,
    merge_exif,
    parse_a1111,
    read_user_comment,
    segment,
    user_comment,
)
from .containers import DamagedImageError, ImageFileError, display_name, jpeg_segments, png_chunks
from .files import read_image_file

__all__ = [
    "JSON_KEY",
    "RECORD_MAX_BYTES",
    "DamagedRecipeError",
    "NoRecipeError",
    "a1111_parameters",
    "embed",
    "extract",
    "parse_a1111",
    "read_recipe",
]

JSON_KEY = "together_magic"
RECORD_MAX_BYTES = 200 * 10**6
"""``read_recipe`` reads files up to this size: generous, since it reads metadata, not pixels."""
JPEG_RECIPE_SEGMENTS = 4
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COM_FIRST, _COM_MORE = f"{JSON_KEY}:".encode(), f"{JSON_KEY}+".encode()
_COM_ROOM = 0xFFFF - 2 - len(_COM_FIRST)
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_TEXT_MAX = 16 << 20  # a compressed text chunk may inflate to at most this (no zip bombs)
_KEYS = (JSON_KEY, "parameters")


class DamagedRecipeError(ImageFileError):
    """The image has a together_magic recipe that is not a JSON object."""


class NoRecipeError(ImageFileError):
    """The image carries no generation parameters at all."""


# --- Writing ----------------------------------------------------------------------------------------------


def _dumps(recipe: dict[str, Any]) -> bytes:
    text = json.dumps(recipe, ensure_ascii=False, sort_keys=True)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: escaped JSON still round-trips exactly
        return json.dumps(recipe, sort_keys=True).encode("ascii")


def _fit(recipe: dict[str, Any], limit: int) -> bytes:
    """The recipe's JSON in at most ``limit`` bytes: the biggest non-dict fields go first (named in
    "dropped")."""
    data = _dumps(recipe)
    if len(data) <= limit:
        return data
    copy: dict[str, Any] = json.loads(data)
    dropped: list[str] = []
    while len(data) > limit:
        fields = [(len(_dumps({"v": v})), path, parent, key) for path, parent, key, v in _fields(copy, "")]
        if not fields:
            return b""
        _, path, parent, key = max(fields, key=lambda f: f[0])
        del parent[key]
        dropped.append(path)
        copy["dropped"] = dropped
        data = _dumps(copy)
    return data


def _fields(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any], str, Any]]:
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _fields(value, f"{prefix}{key}.")
        elif not (prefix == "" and key == "dropped"):
            yield f"{prefix}{key}", node, key, value


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _itxt(keyword: str, text: bytes) -> bytes:
    # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword, UTF-8 text.
    return _png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text)


def _is_ours_png(image: bytes, kind: bytes, start: int) -> bool:
    return (
        kind in _TEXT_CHUNKS
        and image[start + 8 : start + 8 + 16].split(b"\x00", 1)[0].decode("latin-1") in _KEYS
    )


def _embed_png(image: bytes, recipe: dict[str, Any], infotext: str | None) -> bytes:
    chunks = list(png_chunks(image))
    if chunks[0][0] != b"IHDR":
        raise DamagedImageError("is a damaged PNG image (no IHDR header)")
    kept = b"".join(image[s:e] for kind, s, e in chunks[1:] if not _is_ours_png(image, kind, s))
    ours = _itxt(JSON_KEY, _dumps(recipe))
    if infotext is not None:
        ours = _itxt("parameters", infotext.encode("utf-8", "replace")) + ours
    ihdr_end, iend_end = chunks[0][2], chunks[-1][2]
    return image[:ihdr_end] + ours + kept + image[iend_end:]


def _embed_jpeg(image: bytes, recipe: dict[str, Any], infotext: str | None) -> bytes:
    segments = list(jpeg_segments(image))
    comment = user_comment(infotext) if infotext is not None else None
    json_bytes = _fit(recipe, JPEG_RECIPE_SEGMENTS * _COM_ROOM)
    pieces = [json_bytes[i : i + _COM_ROOM] for i in range(0, len(json_bytes), _COM_ROOM)]
    ours = b"".join(segment(0xFE, (_COM_MORE if i else _COM_FIRST) + p) for i, p in enumerate(pieces))
    kept: list[bytes] = []
    insert_at, has_exif = 0, False
    for marker, start, end in segments[:-1]:
        part = image[start:end]
        if marker == 0xFE and part[4:].startswith((_COM_FIRST, _COM_MORE)):
            continue
        if marker == 0xE1 and part[4:10] == EXIF_HEADER and not has_exif:
            has_exif = True
            if comment is not None:
                part = merge_exif(part, comment) or part
        kept.append(part)
        if (marker == 0xE0 and len(kept) == 1) or (has_exif and insert_at == 0):
            insert_at = len(kept)  # after a leading JFIF APP0 and after the EXIF segment
    if comment is not None and not has_exif:
        ours = (exif_segment(comment) or b"") + ours
    return (
        image[:2] + b"".join(kept[:insert_at]) + ours + b"".join(kept[insert_at:]) + image[segments[-1][1] :]
    )


def embed(image: bytes, recipe: dict[str, Any]) -> bytes:
    """The image with ``recipe`` inside; pixels untouched. A ``"request"`` dict in the recipe (an API payload)
    is also written as A1111 infotext (with ``"index"`` as its batch position).

    Embedding again replaces what an earlier ``embed`` wrote. Raises TruncatedImageError or
    DamagedImageError when the bytes are not a complete PNG or JPEG container, TypeError when the recipe is
    not JSON-able.
    """
    request, index = recipe.get("request"), recipe.get("index")
    index = index if isinstance(index, int) else 0
    infotext = a1111_parameters(request, index) if isinstance(request, dict) else None
    try:
        if image.startswith(_PNG_SIGNATURE):
            return _embed_png(image, recipe, infotext)
        if image.startswith(b"\xff\xd8\xff"):
            return _embed_jpeg(image, recipe, infotext)
    except ImageFileError as exc:
        raise type(exc)(f"the image {exc}") from None
    return image


# --- Reading ----------------------------------------------------------------------------------------------


def _inflate(data: bytes) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, _TEXT_MAX)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else out


def _png_text(body: bytes, kind: bytes) -> tuple[str, str | None]:
    keyword, _, rest = body.partition(b"\x00")
    name = keyword.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        text = _inflate(rest[1:])
        return name, None if text is None else text.decode("latin-1")
    compressed, rest = rest[:1] == b"\x01", rest[2:]
    _language, _, rest = rest.partition(b"\x00")
    _translated, _, text_bytes = rest.partition(b"\x00")
    inflated = _inflate(text_bytes) if compressed else text_bytes
    return name, None if inflated is None else inflated.decode("utf-8", "replace")


def _texts(data: bytes) -> dict[str, str]:
    """Our JSON and any infotext in the bytes, by key; stops quietly where the data is cut or damaged."""
    found: dict[str, str] = {}
    with contextlib.suppress(ImageFileError):
        if data.startswith(_PNG_SIGNATURE):
            for kind, start, end in png_chunks(data):
                if kind in _TEXT_CHUNKS:
                    key, text = _png_text(data[start + 8 : end - 4], kind)
                    if key in _KEYS and text is not None:
                        found.setdefault(key, text)
        elif data.startswith(b"\xff\xd8\xff"):
            parts: list[bytes] = []
            for marker, start, end in jpeg_segments(data):
                body = data[start + 4 : end]
                if marker == 0xFE and body.startswith(_COM_FIRST) and not parts:
                    parts.append(body[len(_COM_FIRST) :])
                elif marker == 0xFE and body.startswith(_COM_MORE) and parts:
                    parts.append(body[len(_COM_MORE) :])
                elif marker == 0xE1 and body.startswith(EXIF_HEADER) and "parameters" not in found:
                    found["parameters"] = read_user_comment(body[6:]) or ""
            if parts:
                found[JSON_KEY] = b"".join(parts).decode("utf-8", "replace")
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            pos = 12
            while pos + 8 <= len(data):
                size = int.from_bytes(data[pos + 4 : pos + 8], "little")
                if data[pos : pos + 4] == b"EXIF":
                    tiff = data[pos + 8 : pos + 8 + size]
                    found["parameters"] = read_user_comment(tiff.removeprefix(EXIF_HEADER)) or ""
                pos += 8 + size + (size & 1)
    return {key: text for key, text in found.items() if text}


def _extract(data: bytes, name: str) -> dict[str, Any] | None:
    texts = _texts(data)
    if JSON_KEY in texts:
        try:
            recipe = json.loads(texts[JSON_KEY])
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested 100,000 deep
            recipe = None
        if not isinstance(recipe, dict):
            raise DamagedRecipeError(f"{name} has a damaged {JSON_KEY} recipe")
        return recipe
    return parse_a1111(texts["parameters"]) if "parameters" in texts else None


def extract(data: bytes) -> dict[str, Any] | None:
    """The recipe ``embed`` put in ``data``; else an A1111 infotext as ``{"request": {...}, ...}``; else None.

    Raises DamagedRecipeError when our recipe is there but is not a JSON object.
    """
    return _extract(data, "the image")


def read_recipe(path: str | Path, *, max_bytes: int = RECORD_MAX_BYTES) -> dict[str, Any]:
    """The recipe inside the image file at ``path`` (see ``extract``), read safely (``read_image_file``).

    Raises ImageFileError subclasses with one line each: missing, a folder, unreadable, not an image,
    truncated, damaged recipe, or ``NoRecipeError`` ("x.png holds no generation parameters").
    """
    data = read_image_file(path, max_bytes=max_bytes)
    name = display_name(path)
    recipe = _extract(data, name)
    if recipe is None:
        raise NoRecipeError(f"{name} holds no generation parameters")
    return recipe
