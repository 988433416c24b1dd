"""AUTOMATIC1111's "infotext" and the EXIF UserComment that carries it in JPEGs, written and read by hand.

The infotext is how A1111 (and the image browsers that copied it: its PNG-info tab, InvokeAI, Civitai,
stable-diffusion-webui forks) store generation parameters as text. This module writes it the way A1111 does
and reads it following A1111's own rules, so files move both ways. In JPEG and WebP, A1111 puts the text in
EXIF UserComment through piexif (``UserComment.dump(text, encoding="unicode")``): ``UNICODE\\0`` then
UTF-16 big-endian, in a big-endian ("MM") TIFF. Big-endian throughout is what piexif decodes; exiftool and
PHP pick the same byte order for an MM file; Pillow's ``getexif()`` returns the raw tag.

A leaf module: the standard library only.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
from typing import Any, Literal

__all__ = [
    "EXIF_HEADER",
    "a1111_parameters",
    "exif_segment",
    "merge_exif",
    "parse_a1111",
    "read_user_comment",
    "segment",
    "user_comment",
]

EXIF_HEADER = b"Exif\x00\x00"


# A1111's own rules (modules/infotext_utils.py): the last line holds "Key: value" pairs when at least three
# match; a value with a comma, newline or colon is JSON-quoted; lines before it are the prompt, and from a
# line starting "Negative prompt:" on, the negative prompt. Every line is stripped when read.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def _quote(value: object) -> str:
    """A1111's quoting (a value with a comma, newline or colon), also for values a reader would change:
    a leading quote or surrounding spaces."""
    text = str(value)
    risky = any(c in text for c in ',\n:"') or text != text.strip()
    return json.dumps(text, ensure_ascii=False) if risky else text


def a1111_parameters(payload: dict[str, Any], index: int = 0) -> str:
    """The infotext AUTOMATIC1111 writes: prompt, ``Negative prompt:`` line, then ``Key: value`` pairs.

    Only what the request holds is written (no invented size or model). A1111 reads the last line as
    settings only when it has three pairs, so a sparse request gets ``Generator: together-magic`` (then
    ``Batch pos``, then ``Seed: unknown``) until it has three.
    """
    lines = [str(payload.get("prompt", ""))]
    if payload.get("negative_prompt"):
        lines.append(f"Negative prompt: {payload['negative_prompt']}")
    guidance = payload.get("guidance_scale", payload.get("guidance"))
    pairs = [
        f"{key}: {_quote(value)}"
        for key, value in (
            ("Steps", payload.get("steps")),
            ("CFG scale", guidance),
            ("Seed", payload.get("seed")),
            (
                "Size",
                f"{payload['width']}x{payload['height']}"
                if "width" in payload and "height" in payload
                else None,
            ),
            ("Model", payload.get("model")),
            ("Batch pos", index or None),
        )
        if value is not None
    ]
    padding = iter((("Generator", "together-magic"), ("Batch pos", index), ("Seed", "unknown")))
    while len(pairs) < 3:  # a sparse request: add true (or honestly unknown) pairs until A1111 sees settings
        key, value = next(padding)
        if not any(pair.startswith(f"{key}: ") for pair in pairs):
            pairs.append(f"{key}: {value}")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def _pairs(line: str) -> list[tuple[str, str]]:
    """A1111's ``re_param.findall(line)`` in linear time: after a failed match it resumes after the next
    comma, where findall tries every character (quadratic: a hostile 1 MB line would take hours). On the
    lines A1111 writes, both find the same pairs."""
    found: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        match = _PARAM.match(line, pos)
        if match and match.end() > pos:
            found.append((match[1], match[2]))
            pos = match.end()
        else:
            comma = line.find(",", pos)
            if comma < 0:
                break
            pos = comma + 1
    return found


def parse_a1111(text: str) -> dict[str, Any]:
    """An A1111 infotext as a record: ``{"request": {...}}`` with the API's field names, plus every
    setting as read under ``"a1111"`` and ``"index"`` from ``Batch pos``."""
    *lines, last = text.strip().split("\n")
    pairs = _pairs(last)
    if len(pairs) < 3:
        lines, pairs = [*lines, last], []
    parts: dict[bool, list[str]] = {False: [], True: []}  # prompt lines, negative prompt lines
    in_negative = False
    for raw in lines:
        line = raw.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[16:].strip()
        if line or parts[in_negative]:  # A1111 never starts either text with a blank line
            parts[in_negative].append(line)
    prompt, negative = "\n".join(parts[False]), "\n".join(parts[True])
    settings: dict[str, str] = {}
    for key, value in pairs:
        if len(value) > 1 and value[0] == value[-1] == '"':
            with contextlib.suppress(ValueError):
                value = str(json.loads(value))
        settings[key] = value
    request: dict[str, Any] = {"prompt": prompt}
    if negative:
        request["negative_prompt"] = negative
    record: dict[str, Any] = {"request": request, "a1111": settings}
    for key, field, kind in (
        ("Steps", "steps", int),
        ("Seed", "seed", int),
        ("CFG scale", "guidance_scale", float),
    ):
        with contextlib.suppress(KeyError, ValueError):
            request[field] = kind(settings[key])
    size = _SIZE.match(settings.get("Size", ""))
    if size:
        request["width"], request["height"] = int(size[1]), int(size[2])
    if settings.get("Model"):
        request["model"] = settings["Model"]
    with contextlib.suppress(KeyError, ValueError):
        record["index"] = int(settings["Batch pos"])
    return record


def segment(marker: int, body: bytes) -> bytes:
    """A JPEG marker segment: FF, marker, big-endian length (counting itself), body."""
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def user_comment(text: str) -> bytes:
    """The UserComment value piexif's ``UserComment.dump(text, encoding="unicode")`` makes."""
    return b"UNICODE\x00" + text.encode("utf-16-be", "replace")


def exif_segment(comment: bytes) -> bytes | None:
    """A new EXIF APP1 segment holding only UserComment, laid out as piexif does (MM; IFD0 -> Exif IFD)."""
    ifd0 = struct.pack(">HHHII", 1, 0x8769, 4, 1, 26) + b"\x00" * 4  # ExifIFDPointer -> offset 26
    exif_ifd = struct.pack(">HHHII", 1, 0x9286, 7, len(comment), 44) + b"\x00" * 4  # UserComment at 44
    body = EXIF_HEADER + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + exif_ifd + comment
    return segment(0xE1, body) if len(body) <= 0xFFFF - 2 else None


class _Tiff:
    """Just enough of a TIFF (EXIF) block to find and add tags, in either byte order."""

    def __init__(self, data: bytes) -> None:
        orders: dict[bytes, Literal["big", "little"]] = {b"MM\x00\x2a": "big", b"II\x2a\x00": "little"}
        if data[:4] not in orders:
            raise ValueError("not a TIFF block")
        self.data, self.order = data, orders[data[:4]]
        self.fmt = ">" if self.order == "big" else "<"

    def number(self, pos: int, size: int) -> int:
        if pos + size > len(self.data):
            raise ValueError("cut short")
        return int.from_bytes(self.data[pos : pos + size], self.order)

    def entries(self, ifd: int) -> dict[int, bytes]:
        """Tag -> the raw 12-byte entry of the IFD at ``ifd``."""
        count = self.number(ifd, 2)
        self.number(ifd + 2, 12 * count)  # bounds check
        return {self.number(p, 2): self.data[p : p + 12] for p in range(ifd + 2, ifd + 2 + 12 * count, 12)}

    def exif_ifd(self) -> int | None:
        pointer = self.entries(self.number(4, 4)).get(0x8769)
        return None if pointer is None else int.from_bytes(pointer[8:12], self.order)

    def entry(self, tag: int, kind: int, count: int, value: int) -> bytes:
        return struct.pack(f"{self.fmt}HHII", tag, kind, count, value)

    def ifd(self, entries: dict[int, bytes], next_ifd: int) -> bytes:
        body = b"".join(entries[tag] for tag in sorted(entries))
        return struct.pack(f"{self.fmt}H", len(entries)) + body + struct.pack(f"{self.fmt}I", next_ifd)


def merge_exif(app1: bytes, comment: bytes) -> bytes | None:
    """The image's own EXIF APP1 segment with UserComment set; None if it is damaged or would outgrow 64 kB.

    Nothing in the old block moves (so every offset in it, maker notes and thumbnail included, stays valid):
    new copies of the Exif IFD (with the comment) and of IFD0 (pointing to that copy) are appended, and the
    header points to the new IFD0.
    """
    try:
        tiff = _Tiff(app1[10:])
        ifd0_at = tiff.number(4, 4)
        ifd0 = tiff.entries(ifd0_at)
        next_ifd = tiff.number(ifd0_at + 2 + 12 * len(ifd0), 4)
        old_exif = tiff.exif_ifd()
        exif = tiff.entries(old_exif) if old_exif is not None else {}
    except ValueError:
        return None
    block = tiff.data + b"\x00" * (len(tiff.data) & 1)
    exif_at = len(block)
    comment_at = exif_at + 2 + 12 * len(exif | {0x9286: b""}) + 4
    exif[0x9286] = tiff.entry(0x9286, 7, len(comment), comment_at)
    new_exif = tiff.ifd(exif, 0) + comment + b"\x00" * (len(comment) & 1)
    ifd0[0x8769] = tiff.entry(0x8769, 4, 1, exif_at)
    new_ifd0_at = exif_at + len(new_exif)
    block = (
        block[:4] + struct.pack(f"{tiff.fmt}I", new_ifd0_at) + block[8:] + new_exif + tiff.ifd(ifd0, next_ifd)
    )
    body = EXIF_HEADER + block
    return segment(0xE1, body) if len(body) <= 0xFFFF - 2 else None


def read_user_comment(tiff_block: bytes) -> str | None:
    """The UserComment text in a TIFF/EXIF block (either byte order), or None."""
    try:
        tiff = _Tiff(tiff_block)
        exif_at = tiff.exif_ifd()
        raw = tiff.entries(exif_at).get(0x9286) if exif_at is not None else None
        if raw is None:
            return None
        count = int.from_bytes(raw[4:8], tiff.order)
        start = int.from_bytes(raw[8:12], tiff.order) if count > 4 else 0
        value = tiff.data[start : start + count] if count > 4 else raw[8 : 8 + count]
        if len(value) != count:
            return None
    except ValueError:
        return None
    prefix, body = value[:8], value[8:]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", "replace")
        # Some writers use little-endian even in MM files: guess as exiftool does, from which byte is zero.
        high_zero = sum(1 for i in range(0, len(body) - 1, 2) if body[i] == 0)
        low_zero = sum(1 for i in range(1, len(body), 2) if body[i] == 0)
        little = low_zero > high_zero or (low_zero == high_zero and tiff.order == "little")
        return body.decode("utf-16-le" if little else "utf-16-be", "replace")
    text = body if prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8) else value
    return text.split(b"\x00")[0].decode("utf-8", "replace")
