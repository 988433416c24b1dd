"""The store's files and plain-data hygiene: image checks, content-addressed writes, request elision.

Kept apart from ``store`` (which owns the database) so each stays readable. Nothing here touches SQLite
and nothing imports the rest of the package: errors are plain ``ValueError`` / ``OSError`` that the store
turns into its one-line ``StoreError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "BLOB_NAME",
    "EXTENSIONS",
    "TMP_NAME",
    "ImageInfo",
    "clean_text",
    "elide",
    "file_matches",
    "inspect_image",
    "sanitize_backend",
    "to_json",
    "write_blob",
]

# format -> extension. Only what Together returns and PIL can check; anything else is refused, because
# bytes the store cannot verify are bytes it might serve broken forever (issue 10, item 2).
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}

BLOB_NAME = re.compile(r"^([0-9a-f]{64})(?:-[0-9]{1,4})?\.(" + "|".join(EXTENSIONS.values()) + r")$")
"""The only names in ``images/`` the store ever deletes, and only those its own rows or intents name:
``<sha256>.<ext>``, or ``<sha256>-<k>.<ext>`` when a file the store did not write holds the first name."""
TMP_NAME = re.compile(r"^\.([0-9a-f]{64})\.[A-Za-z0-9_]{6,}\.tmp$")
"""Its temporary files (``mkstemp`` with a ``.<sha256>.`` prefix): deleted only once older than the grace."""

ELIDE_OVER = 2048
"""Strings longer than this in a request (base64 images, long URLs) are replaced by a placeholder; the
same bound as ``files.save_response`` uses for embedded parameters. Prompts are exempt: they are text."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_WHOLE = frozenset({"prompt", "negative_prompt"})


class ImageInfo(NamedTuple):
    format: str
    extension: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """Format and size of encoded image bytes, or ``ValueError`` saying why they are not a whole image.

    Cheap on purpose (measured: 0.03 ms for a 1024x1024 JPEG, 0.4 ms for a PNG, against 3.4-4.6 ms to
    decode): the signature, the header PIL parses, JPEG segment lengths, PNG chunk CRCs (``verify``), and
    the end a truncated download lacks (JPEG ``FFD9``, GIF ``3B``, WebP's RIFF length, PNG ``IEND``).
    A full decode would not buy much more: libjpeg decodes most bytes damaged inside the scan without error.
    """
    if not data:
        raise ValueError("empty")
    from PIL import Image  # lazy: PIL costs tens of ms to import and most store calls never need it

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = (img.format or "").lower()
            width, height = img.size
            if fmt in EXTENSIONS:
                img.verify()
    except Exception as exc:  # PIL raises many types (SyntaxError, struct.error, DecompressionBombError)
        raise ValueError(f"not a readable image ({type(exc).__name__})") from None
    if fmt not in EXTENSIONS:
        raise ValueError(f"format {fmt or 'unknown'} is not one of {', '.join(EXTENSIONS)}")
    tail = data[-64:].rstrip(b"\0\r\n ")
    complete = {
        "jpeg": tail.endswith(b"\xff\xd9") and _jpeg_headers_intact(data),
        "gif": tail.endswith(b"\x3b"),
        "webp": len(data) >= 12 and int.from_bytes(data[4:8], "little") + 8 <= len(data),
        "png": True,  # verify() already demanded IEND and every CRC
    }[fmt]
    if not complete:
        raise ValueError(f"truncated {fmt}")
    if width <= 0 or height <= 0:
        raise ValueError(f"{fmt} with a {width}x{height} header")
    return ImageInfo(fmt, EXTENSIONS[fmt], width, height)


def _jpeg_headers_intact(data: bytes) -> bool:
    """Whether the marker segments before the first scan chain up by their lengths.

    PIL skips junk between markers, so a JPEG with bytes lost in its headers (base64 decoded leniently,
    a damaged transfer) opens, then fails to decode. Walking the lengths catches that in microseconds.
    """
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            return False
        if marker == 0xDA:  # start of scan: entropy-coded data follows, up to the end marker
            return i + 2 + length < len(data)
        i += 2 + length
    return False


def file_matches(path: Path, size: int, sha256: str) -> bytes | None:
    """The file's bytes if it holds exactly ``size`` bytes hashing to ``sha256``, else None (or absent)."""
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size != size:
                return None
            data = handle.read()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == sha256 else None


def write_blob(folder: Path, name: str, data: bytes, sha256: str) -> None:
    """Make ``folder/name`` hold ``data`` (whose hash is ``sha256``), writing only when it does not already.

    Content addressing means the name says what the bytes must be: an existing file with those bytes is
    kept (its time refreshed, so an orphan sweep in another process sees it as fresh); anything else under
    that name (a damaged copy, a half-written file from a crash) is replaced atomically by a complete, fsynced
    one. Readers see the old file or the new one, never a partial one.
    """
    target = folder / name
    if file_matches(target, len(data), sha256) is not None:
        with contextlib.suppress(OSError):  # a stale mtime only makes a sweep eager; the commit re-checks
            os.utime(target)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{sha256}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def clean_text(text: str) -> str:
    """``text`` as SQLite can bind it: lone surrogates (a prompt holding ``chr(0xd800)``) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def elide(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a request body with data: URLs and long strings replaced by ``<elided N chars sha256:...>``.

    Reference images travel inside the request as base64 or data: URLs (megabytes); the database keeps
    their hash instead, which is enough to recognise the input again without bloating every row.
    """

    def walk(value: Any, key: str | None, depth: int) -> Any:
        if depth > 64:
            raise ValueError("nested more than 64 levels")
        if isinstance(value, str):
            if value.startswith("data:") or (len(value) > ELIDE_OVER and key not in _WHOLE):
                digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
                return f"<elided {len(value)} chars sha256:{digest}>"
            return value
        if isinstance(value, Mapping):
            return {str(k): walk(v, None, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v, None, depth + 1) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        raise ValueError(f"holds a {type(value).__name__}, which is not JSON")

    return {str(k): walk(v, str(k), 1) for k, v in payload.items()}


def to_json(value: Any) -> str:
    """Compact JSON, ASCII-only so any string (even a lone surrogate) round-trips through SQLite."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def sanitize_backend(label: str) -> str:
    """A backend label without anything secret: a URL loses its ``user:password@``, query and fragment.

    The store never receives headers or keys, but a base URL is the one field that could smuggle a
    credential (``https://user:key@host/v1`` or ``?api_key=...``), so it is cut before it reaches a row.
    """
    label = clean_text(label.strip())
    if "://" not in label:
        return label
    try:
        parts = urlsplit(label)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:
        return "<unparseable URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
