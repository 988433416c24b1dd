"""Generation parameters inside the image files themselves, and reading them back.

A saved image carries what made it, so ``--from PATH`` (or any tool that reads AUTOMATIC1111's format)
can reproduce it: PNGs get a ``parameters`` text chunk in the widely used A1111 layout plus a
``together_magic`` JSON chunk; JPEGs get the JSON in a comment segment. The chunks are spliced into the
encoded bytes, so the pixels are never re-encoded.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types import ImageRequest

__all__ = ["a1111_parameters", "embed", "embed_parameters", "read_parameters", "read_record"]

JSON_KEY = "together_magic"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def a1111_parameters(payload: dict[str, Any], index: int = 0) -> str:
    """The infotext AUTOMATIC1111 writes: prompt, ``Negative prompt:`` line, then ``Key: value`` pairs."""
    lines = [str(payload.get("prompt", ""))]
    if payload.get("negative_prompt"):
        lines.append(f"Negative prompt: {payload['negative_prompt']}")
    pairs = []
    if payload.get("steps") is not None:
        pairs.append(f"Steps: {payload['steps']}")
    if payload.get("guidance_scale") is not None:
        pairs.append(f"CFG scale: {payload['guidance_scale']}")
    if payload.get("seed") is not None:
        pairs.append(f"Seed: {payload['seed']}")
    pairs.append(f"Size: {payload.get('width', 1024)}x{payload.get('height', 1024)}")
    pairs.append(f"Model: {payload.get('model', '')}")
    if index:
        pairs.append(f"Batch pos: {index}")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _itxt(keyword: str, text: str) -> bytes:
    # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword, UTF-8 text.
    return _png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


def embed_parameters(image: bytes, payload: dict[str, Any], index: int = 0) -> bytes:
    """The same image with its parameters inside (PNG chunks or a JPEG comment); other formats unchanged."""
    record = json.dumps({"request": payload, "index": index}, ensure_ascii=False, sort_keys=True)
    if image.startswith(_PNG_SIGNATURE):
        # Insert right after IHDR (8-byte signature + 25-byte IHDR chunk) so readers find it early.
        head, tail = image[:33], image[33:]
        return head + _itxt("parameters", a1111_parameters(payload, index)) + _itxt(JSON_KEY, record) + tail
    if image.startswith(b"\xff\xd8"):
        comment = f"{JSON_KEY}:{record}".encode()
        if len(comment) > 65533:
            return image
        return image[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + image[2:]
    return image


def _parse_a1111(text: str) -> dict[str, Any]:
    lines = text.strip().split("\n")
    payload: dict[str, Any] = {}
    settings_line = lines.pop() if len(lines) > 1 and ": " in lines[-1] else ""
    negative = [ln for ln in lines if ln.startswith("Negative prompt: ")]
    payload["prompt"] = "\n".join(ln for ln in lines if not ln.startswith("Negative prompt: "))
    if negative:
        payload["negative_prompt"] = negative[0].removeprefix("Negative prompt: ")
    for pair in settings_line.split(", "):
        key, _, value = pair.partition(": ")
        if key == "Steps" and value.isdigit():
            payload["steps"] = int(value)
        elif key == "Seed" and value.isdigit():
            payload["seed"] = int(value)
        elif key == "CFG scale":
            with contextlib.suppress(ValueError):
                payload["guidance_scale"] = float(value)
        elif key == "Size" and "x" in value:
            w, _, h = value.partition("x")
            if w.isdigit() and h.isdigit():
                payload["width"], payload["height"] = int(w), int(h)
        elif key == "Model" and value:
            payload["model"] = value
    return payload


def read_parameters(path: str | Path) -> ImageRequest:
    """The request stored in an image saved by together-magic (or A1111-style ``parameters``).

    Raises FileNotFoundError for a missing file and ValueError when the file holds no parameters.
    """
    from PIL import Image, UnidentifiedImageError

    from .offline.catalogue import DEFAULT_MODEL
    from .types import ImageRequest

    file = Path(path)
    try:
        with Image.open(file) as img:
            info = dict(img.info)
            text = dict(getattr(img, "text", {}) or {})
    except UnidentifiedImageError:
        raise ValueError(f"{file.name} is not an image") from None
    record: str | None = text.get(JSON_KEY)
    comment = info.get("comment")
    if record is None and isinstance(comment, bytes) and comment.startswith(f"{JSON_KEY}:".encode()):
        record = comment.decode("utf-8").split(":", 1)[1]
    if record is not None:
        try:
            payload = json.loads(record)["request"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{file.name} has a damaged together_magic record") from None
        return ImageRequest(**payload)
    if "parameters" in text:
        payload = _parse_a1111(text["parameters"])
        payload.setdefault("model", DEFAULT_MODEL)
        return ImageRequest(**payload)
    raise ValueError(f"{file.name} holds no generation parameters")


def embed(image: bytes, record: dict[str, Any]) -> bytes:
    """The image with ``record`` inside (interim wrapper; the codec is being rewritten)."""
    return embed_parameters(image, dict(record.get("request") or {}), int(record.get("index", 0)))


def read_record(path: str | Path) -> dict[str, Any]:
    """The record stored in a saved image (interim wrapper)."""
    from PIL import Image, UnidentifiedImageError

    file = Path(path)
    try:
        with Image.open(file) as img:
            info = dict(img.info)
            text = dict(getattr(img, "text", {}) or {})
    except UnidentifiedImageError:
        raise ValueError(f"{file.name} is not an image") from None
    record: str | None = text.get(JSON_KEY)
    comment = info.get("comment")
    if record is None and isinstance(comment, bytes) and comment.startswith(f"{JSON_KEY}:".encode()):
        record = comment.decode("utf-8").split(":", 1)[1]
    if record is not None:
        try:
            loaded = json.loads(record)
        except ValueError:
            raise ValueError(f"{file.name} has a damaged together_magic record") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{file.name} has a damaged together_magic record")
        return loaded
    if "parameters" in text:
        return {"request": _parse_a1111(text["parameters"])}
    raise ValueError(f"{file.name} holds no generation parameters")
