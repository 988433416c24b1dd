"""A Together-compatible images endpoint that runs on this machine, with a procedural renderer.

It is what the client uses when no API key is configured (in-process, through httpx transports), and what
``together-magic serve`` puts on a port for notebooks, curl and the official ``together`` SDK. It reads
every model and limit from :mod:`together_magic.models`, the one catalogue.

May import ``models``, ``types`` and ``errors`` only: it must answer as Together does whatever the client
above it does, so it knows nothing of the client, the store or any front end.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..models import DEFAULT_MODEL, MODELS, ModelSpec

if TYPE_CHECKING:
    from .backend import FAULTS, RENDERER_NOTICE, BackendOptions, OfflineBackend

__all__ = [
    "DEFAULT_MODEL",
    "FAULTS",
    "MODELS",
    "OFFLINE_BASE_URL",
    "RENDERER_NOTICE",
    "BackendOptions",
    "ModelSpec",
    "OfflineBackend",
    "shared_backend",
]

OFFLINE_BASE_URL = "http://offline.together-magic/v1"
"""The base URL in-process clients use; ``.invalid``-style host that no resolver will ever answer."""

_shared: OfflineBackend | None = None
_shared_lock = threading.Lock()


def shared_backend() -> OfflineBackend:
    """The process-wide in-process backend, so an image URL from one client can be fetched by another.

    It runs with the default options, so its rate limit is the generous default (see ``BackendOptions``).
    """
    from .backend import OfflineBackend

    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = OfflineBackend()
        return _shared


def __getattr__(name: str) -> Any:
    # The backend (and what it imports) loads on first use: ``%load_ext`` only needs the catalogue.
    if name in ("FAULTS", "RENDERER_NOTICE", "BackendOptions", "OfflineBackend"):
        from . import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
