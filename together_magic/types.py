"""The request and response models, shaped exactly like the Together SDK's, plus what users need next.

``ImageRequest``, ``ImageChoicesData`` and ``ImageResponse`` have the SDK's fields and defaults so code moves
between the two unchanged. All three accept extra fields: requests carry ``steps``, ``guidance_scale``,
``response_format`` and friends to the API; responses keep ``timings`` and anything Together adds later.

The helpers answer the questions a notebook asks right after generating: the bytes, a PIL image, the real
format of those bytes (Together sends JPEG unless PNG was asked, whatever the file name says), saving.
"""

from __future__ import annotations

import base64
import binascii
import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from .errors import ImageDataError
from .files import atomic_write_new, unique_path

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageChoicesData", "ImageRequest", "ImageResponse", "sniff_format"]

SyncFetch = Callable[[str], bytes]
AsyncFetch = Callable[[str], Awaitable[bytes]]

_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif"}
_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF"}


def sniff_format(data: bytes) -> str | None:
    """The image format named by the bytes' signature: ``jpeg``, ``png``, ``webp``, ``gif`` or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def decode_b64(text: str) -> bytes:
    """Strict base64 decoding: corrupt payloads must fail loudly, not become a broken picture."""
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(text, strict_mode=True)
    return base64.b64decode(text, validate=True)  # pragma: no cover - Python 3.10


def looks_like_base64(text: str) -> bool:
    """A screen that costs nothing (ASCII, a length a decoder accepts); the strict decode comes later.

    Scanning every character up front would cost a fifth of a request's client time for a 1024x1024 image,
    so corrupt payloads that pass this screen are reported by ``image_bytes()`` as an ``ImageDataError``.
    """
    return len(text) % 4 == 0 and text.isascii()


def _human_size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.1f} kB"


class ImageRequest(BaseModel):
    """The body of ``POST /images/generations``; send ``model_dump(exclude_none=True)``."""

    model_config = ConfigDict(extra="allow")

    prompt: str
    model: str
    seed: int | None = None
    n: int = 1
    height: int = 1024
    width: int = 1024
    negative_prompt: str | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON body, as the Together SDK builds it."""
        return self.model_dump(exclude_none=True)


class ImageChoicesData(BaseModel):
    """One generated image: base64 bytes or a URL, never both in practice."""

    model_config = ConfigDict(extra="allow")

    index: int
    b64_json: str | None = None
    url: str | None = None

    _bytes: bytes | None = PrivateAttr(default=None)
    _fetch: SyncFetch | None = PrivateAttr(default=None)
    _afetch: AsyncFetch | None = PrivateAttr(default=None)
    _previews: dict[int, Any] = PrivateAttr(default_factory=dict)

    def __repr_args__(self) -> Any:
        # A 1024x1024 image is megabytes of base64: show its size, never the payload.
        for key, value in super().__repr_args__():
            if key == "b64_json" and isinstance(value, str):
                yield key, f"<{_human_size(len(value))} base64>"
            else:
                yield key, value

    def image_bytes(self) -> bytes:
        """The encoded image, decoded from ``b64_json`` or downloaded from ``url`` (once, then kept)."""
        if self._bytes is None:
            if self.b64_json is not None:
                self._bytes = self._decode()
            elif self.url is not None:
                fetch = self._fetch or _download
                self._bytes = fetch(self.url)
            else:
                raise ImageDataError(f"image {self.index} has neither b64_json nor url")
        return self._bytes

    async def aimage_bytes(self) -> bytes:
        """Like :meth:`image_bytes`, without blocking the event loop when the image must be downloaded."""
        if self._bytes is None and self.b64_json is None and self.url is not None:
            if self._afetch is not None:
                self._bytes = await self._afetch(self.url)
            else:
                self._bytes = await _adownload(self.url)
        return self.image_bytes()

    def _decode(self) -> bytes:
        assert self.b64_json is not None
        try:
            return decode_b64(self.b64_json)
        except (binascii.Error, ValueError) as exc:
            raise ImageDataError(f"image {self.index}: b64_json is not valid base64 ({exc})") from None

    @property
    def format(self) -> str | None:
        """``jpeg``, ``png``, ``webp`` or ``gif``, read from the bytes, not trusted from the request."""
        return sniff_format(self.image_bytes())

    @property
    def extension(self) -> str:
        return _EXTENSIONS.get(self.format or "", ".bin")

    def image(self) -> Image.Image:
        """A fully loaded PIL image (a new object each call: callers may draw on it)."""
        from PIL import Image

        img = Image.open(io.BytesIO(self.image_bytes()))
        img.load()
        return img

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the real picture, read from its header without decoding the pixels."""
        from PIL import Image

        with Image.open(io.BytesIO(self.image_bytes())) as img:
            width, height = img.size
        return int(width), int(height)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the image and return where it went.

        With no suffix the real format's extension is added. A suffix naming another format converts
        (``save("fox.png")`` on a JPEG gives a real PNG). An existing file is kept and a ``-1``, ``-2`` ...
        name is used instead unless ``overwrite=True``; the write is atomic either way.
        """
        target = Path(path)
        data = self.image_bytes()
        suffix = target.suffix.lower()
        if not suffix:
            target = target.with_name(target.name + self.extension)
        elif suffix in _PIL_FORMATS and _PIL_FORMATS[suffix].lower() != self.format:
            data = self._convert(_PIL_FORMATS[suffix])
        if overwrite:
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(target)
            return target
        return atomic_write_new(target, data)

    def _convert(self, pil_format: str) -> bytes:
        img = self.image()
        if pil_format == "JPEG" and img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        out = io.BytesIO()
        img.save(out, format=pil_format)
        return out.getvalue()


class ImageResponse(BaseModel):
    """What ``images.generate`` returns: ``data`` holds one choice per image."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    model: str | None = None
    object: str | None = None
    data: list[ImageChoicesData] | None = None

    _request: ImageRequest | None = PrivateAttr(default=None)
    _elapsed: float | None = PrivateAttr(default=None)
    _cached: bool = PrivateAttr(default=False)
    _saved: list[Path] = PrivateAttr(default_factory=list)

    @property
    def request(self) -> ImageRequest | None:
        """The request that produced this response (kept by the client; not an API field)."""
        return self._request

    @property
    def elapsed(self) -> float | None:
        """Seconds from sending the request to having the images (None when unknown)."""
        return self._elapsed

    @property
    def cached(self) -> bool:
        """True when the images came from together-magic's disk cache, not from the API."""
        return self._cached

    @property
    def saved_paths(self) -> list[Path]:
        return list(self._saved)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # The IPython display protocol: a grid of previews in notebooks, one line per image in terminals.
        from .display import mimebundle

        return mimebundle(self, include=include, exclude=exclude)

    def __len__(self) -> int:
        return len(self.data or [])

    def image_bytes(self) -> list[bytes]:
        return [choice.image_bytes() for choice in self.data or []]

    def images(self) -> list[Image.Image]:
        return [choice.image() for choice in self.data or []]

    def save(self, folder: str | Path, *, stem: str = "image") -> list[Path]:
        """Save every image into ``folder`` as ``stem-<index>.<ext>``, never replacing a file."""
        directory = Path(folder)
        return [
            choice.save(unique_path(directory, f"{stem}-{choice.index}", choice.extension))
            for choice in self.data or []
        ]


def _user_agent() -> str:
    from ._version import __version__

    return f"together-magic/{__version__}"


def _download(url: str) -> bytes:
    """Download an image URL that did not come from one of our clients (Together's CDN wants a UA)."""
    import httpx

    try:
        response = httpx.get(url, headers={"User-Agent": _user_agent()}, follow_redirects=True, timeout=60)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ImageDataError(f"could not download {url}: {exc}") from None
    return response.content


async def _adownload(url: str) -> bytes:
    import httpx

    try:
        async with httpx.AsyncClient(headers={"User-Agent": _user_agent()}, timeout=60) as client:
            response = await client.get(url, follow_redirects=True)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ImageDataError(f"could not download {url}: {exc}") from None
    return response.content
