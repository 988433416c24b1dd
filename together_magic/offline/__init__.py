"""A Together-compatible images endpoint that runs on this machine, with a procedural renderer.

It is what the client uses when no API key is configured (in-process, through httpx transports), and what
``together-magic serve`` puts on a port for notebooks, curl and the official ``together`` SDK.
"""

from __future__ import annotations

import threading

from .backend import FAULTS, RENDERER_NOTICE, BackendOptions, OfflineBackend
from .catalogue import DEFAULT_MODEL, MODELS, ModelSpec

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
    """The process-wide in-process backend, so an image URL from one client can be fetched by another."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = OfflineBackend()
        return _shared
