"""The SDK-shaped request and response types, and how a response shows itself in a notebook.

The face hands on the public names (``from together_magic.types import ImageResponse``). Owns: ``request``
(``ImageRequest``, ``Provenance``, ``ImageProvenance``, ``Fetcher``: pure data), ``response``
(``ImageChoicesData``, ``ImageResponse``, ``attach_provenance``, the one writer of provenance) and ``view``
(previews and captions, the display protocol's renderer). Importing the wing imports ``view``, so every
response has its HTML view however it was made. May import ``imagefiles``, ``errors``, ``config``,
``ratelimit`` and ``models``; no I/O.
"""

from __future__ import annotations

from ..imagefiles.bytes import sniff_format
from ..models.ratelimit import RateLimit
from . import view as _view  # noqa: F401  (registers how responses show themselves)
from .request import Fetcher, ImageProvenance, ImageRequest, Provenance
from .response import ImageChoicesData, ImageResponse, attach_provenance

__all__ = [
    "Fetcher",
    "ImageChoicesData",
    "ImageProvenance",
    "ImageRequest",
    "ImageResponse",
    "Provenance",
    "RateLimit",
    "attach_provenance",
    "sniff_format",
]
