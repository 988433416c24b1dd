"""The Together client: ``Together`` / ``AsyncTogether`` and ``client.images.generate``, HTTP only.

The face hands on the clients (``from together_magic.client import Together``). Owns: ``clients`` (the two
clients on one pooled httpx client), ``base`` (settings, the User-Agent, parsing, errors from answers) and
``retries`` (when to retry and how long to wait). May import ``types``, ``errors``, ``models`` (with
``models.ratelimit``), ``imagefiles`` and ``offline`` (the in-process transport when no key is set); never
generation or above.
"""

from __future__ import annotations

from .clients import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    AsyncTogether,
    NotGiven,
    Together,
    resolve_settings,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "AsyncTogether",
    "NotGiven",
    "Together",
    "resolve_settings",
]
