"""uvicorn's h11 protocol with two bounds it lacks: a deadline for a request's headers, a connection limit.

uvicorn closes a kept-alive connection that stays silent for ``timeout_keep_alive``, but a client that sends a
byte now and then is never silent: its headers can take forever, and every such connection holds a file
descriptor. Here each connection must finish its request's headers within ``--read-timeout`` of opening (or
of its previous answer), and a worker holding ``--max-connections`` closes new ones at once. The body's
deadlines are the app's own (``asgi.read_body``), since only the app knows when it starts to read it.

uvicorn loads this class by name in every worker (``serve`` passes ``http=`` as a string), and the settings
come from the environment, as the app's do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import GatewaySettings

__all__ = ["GuardedH11"]

log = logging.getLogger("together_magic.gateway")

_WARN_EVERY = 60.0
"""Seconds between two log lines about connections closed for being over the limit."""


class GuardedH11(H11Protocol):
    """One HTTP/1.1 connection: uvicorn's, dropped when its headers are too slow or the worker is full."""

    _settings: GatewaySettings | None = None
    _warned = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if GuardedH11._settings is None:
            GuardedH11._settings = GatewaySettings.from_environment()
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: object = None
        """The request cycle current when the deadline was set: a new one means the headers arrived."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        settings = GuardedH11._settings
        assert settings is not None
        if len(self.connections) > settings.max_connections:
            now = time.monotonic()
            if now - GuardedH11._warned > _WARN_EVERY:
                GuardedH11._warned = now
                log.warning(
                    "together-magic gateway: %d connections open in this worker (--max-connections %d): "
                    "closing new ones",
                    len(self.connections) - 1,
                    settings.max_connections,
                )
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        settings = GuardedH11._settings
        assert settings is not None
        self._disarm()
        self._waiting_for = self.cycle
        self._deadline = self.loop.call_later(settings.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is self._waiting_for and not self.transport.is_closing():
            self.transport.close()  # headers incomplete after --read-timeout: drop, say nothing

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._deadline is not None and self.cycle is not self._waiting_for:
            self._disarm()  # the request's headers are in: from here the app's body deadline rules

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already start a pipelined request (a new, unfinished cycle)
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
