"""The responses, shaped exactly like the Together SDK's: ``ImageChoicesData`` and ``ImageResponse``.

Both accept extra fields (``timings``, ``type`` and anything Together adds later). No I/O happens here:
bytes of an image given by URL come from a ``Fetcher`` (the client that made the response provides one).
What made a response is one immutable ``Provenance``, written only by ``ImageResponse.parse`` and
``attach_provenance`` (which the client and the generation engine call). How a response shows itself in a
notebook lives beside it, in ``view``, which registers itself when the ``types`` wing is imported.
"""

from __future__ import annotations

import binascii
import dataclasses
import io
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from ..errors import ImageDataError
from ..imagefiles.bytes import EXTENSIONS, decode_b64, human_size, sniff_format
from ..imagefiles.files import atomic_write_new, atomic_write_replace, unique_path
from ..models.ratelimit import RateLimit
from .request import Fetcher, ImageProvenance, ImageRequest, Provenance

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ImageChoicesData", "ImageResponse", "attach_provenance", "register_display"]

T = TypeVar("T")
_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF"}


class ImageChoicesData(BaseModel):
    """One generated image: base64 bytes or a URL, never both in practice."""

    model_config = ConfigDict(extra="allow")

    index: int
    b64_json: str | None = None
    url: str | None = None
    type: str | None = None

    _bytes: bytes | None = PrivateAttr(default=None)
    _fetcher: Fetcher | None = PrivateAttr(default=None)
    _provenance: ImageProvenance | None = PrivateAttr(default=None)
    _memo: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_bytes(cls, data: bytes, index: int = 0) -> ImageChoicesData:
        """A choice holding raw image bytes (an uploaded reference, a stored image)."""
        choice = cls(index=index, type="b64_json")
        choice._bytes = data
        return choice

    def __repr_args__(self) -> Any:
        # A 1024x1024 image is megabytes of base64: show its size, never the payload.
        for key, value in super().__repr_args__():
            if key == "b64_json" and isinstance(value, str):
                yield key, f"<{human_size(len(value))} base64>"
            else:
                yield key, value

    @property
    def provenance(self) -> ImageProvenance:
        return self._provenance or ImageProvenance(None, self.index)

    @property
    def seed(self) -> int | None:
        """This image's own seed, when known (see ``provenance.request`` for everything else)."""
        return self.provenance.seed

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        """A value derived from this image, made once (previews at a given size, the decoded size...)."""
        if key not in self._memo:
            self._memo[key] = make()
        value: T = self._memo[key]
        return value

    def image_bytes(self) -> bytes:
        """The encoded image, decoded from ``b64_json`` or downloaded from ``url`` (once, then kept)."""
        if self._bytes is None:
            if self.b64_json is not None:
                self._bytes = self._decode()
            elif self.url is not None:
                if self._fetcher is None:
                    raise ImageDataError(
                        f"image {self.index}: no client to download {self.url} (responses made by "
                        "together_magic clients can; use Together().fetch(url) otherwise)"
                    )
                self._bytes = self._fetcher.fetch(self.url)
            else:
                raise ImageDataError(f"image {self.index} has neither b64_json nor url")
        return self._bytes

    async def aimage_bytes(self) -> bytes:
        """Like :meth:`image_bytes`, without blocking the event loop when the image must be downloaded."""
        if self._bytes is None and self.b64_json is None and self.url is not None and self._fetcher:
            self._bytes = await self._fetcher.afetch(self.url)
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
        return EXTENSIONS.get(self.format or "", ".bin")

    def image(self) -> Image.Image:
        """A fully loaded PIL image (a new object each call: callers may draw on it)."""
        from PIL import Image

        img = Image.open(io.BytesIO(self.image_bytes()))
        img.load()
        return img

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the real picture, read from its header without decoding the pixels."""

        def read() -> tuple[int, int]:
            from PIL import Image

            with Image.open(io.BytesIO(self.image_bytes())) as img:
                width, height = img.size
            return int(width), int(height)

        return self.memo("size", read)

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
            return atomic_write_replace(target, data)
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

    _provenance: Provenance = PrivateAttr(default_factory=Provenance)

    @classmethod
    def parse(
        cls,
        content: bytes,
        *,
        request: ImageRequest | None = None,
        fetcher: Fetcher | None = None,
        rate_limit: RateLimit | None = None,
        backend: str | None = None,
    ) -> ImageResponse:
        """A response from the JSON bytes of an answer (pydantic's JSON parser, straight from bytes).

        ``backend``: what answered, when the server says (a classroom gateway falling back to the offline
        renderer sends ``x-together-magic-backend: offline``). Raises ``pydantic.ValidationError`` for a
        body of the wrong shape; the client reports it.
        """
        result = cls.model_validate_json(content)
        for choice in result.data or []:
            choice._fetcher = fetcher
        attach_provenance(result, Provenance(request=request, rate_limit=rate_limit, backend=backend))
        return result

    @classmethod
    def combine(cls, parts: Sequence[ImageResponse]) -> ImageResponse:
        """One response holding the images of several (one request per image), re-indexed 0..N-1.

        Each image keeps the provenance of the response it came from, so its own seed stays with it.
        """
        choices: list[ImageChoicesData] = []
        for part in parts:
            for choice in part.data or []:
                moved = choice.model_copy(update={"index": len(choices)})
                moved._bytes, moved._fetcher, moved._memo = choice._bytes, choice._fetcher, choice._memo
                moved._provenance = choice.provenance
                choices.append(moved)
        first = parts[0] if parts else cls()
        return cls(id=first.id, model=first.model, object=first.object or "list", data=choices)

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    @property
    def request(self) -> ImageRequest | None:
        """The request that produced this response (kept by the client; not an API field)."""
        return self._provenance.request

    @property
    def elapsed(self) -> float | None:
        """Seconds from sending the request to having the images (None when unknown)."""
        return self._provenance.elapsed

    @property
    def cached(self) -> bool:
        """True when the images came from together-magic's local store, not from the API."""
        return self._provenance.cached

    @property
    def saved_paths(self) -> list[Path]:
        return [p for p in self._provenance.saved if p is not None]

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate-limit headers of the answer, so callers can pace themselves."""
        return self._provenance.rate_limit

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # The IPython display protocol: a grid of previews in notebooks, one line per image in terminals.
        # The renderer is ``types.view``, which the wing's face imports, so any response can show itself.
        if _display is None:
            return {"text/plain": repr(self)}, {}
        return _display(self, include, exclude)

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


Display = Callable[[ImageResponse, Any, Any], tuple[dict[str, Any], dict[str, Any]]]
_display: Display | None = None


def register_display(render: Display) -> None:
    """Called by ``types.view`` when it loads: how ``ImageResponse`` shows itself in notebooks."""
    global _display
    _display = render


def attach_provenance(
    response: ImageResponse, provenance: Provenance, images: Iterable[ImageProvenance] | None = None
) -> ImageResponse:
    """The one writer of provenance: the response's record and, with it, each image's.

    Without ``images``, an image whose provenance is unknown gets the response's request at its index
    (a raw ``n`` request: "#k of N, seed S"); images that already know theirs keep it.
    """
    choices = response.data or []
    given = list(images) if images is not None else None
    for position, choice in enumerate(choices):
        if given is not None and position < len(given):
            choice._provenance = given[position]
        elif choice._provenance is None:
            choice._provenance = ImageProvenance(provenance.request, choice.index)
    record = dataclasses.replace(provenance, images=tuple(c.provenance for c in choices))
    response._provenance = record
    return response
