"""In-process httpx transports: the client talks to the offline backend with no port and no thread.

Requests still go through the whole httpx stack (headers, JSON encoding, timeouts, response parsing), so
the client cannot tell the difference from a server. Transport-level faults are acted out the way a
network would show them: a dropped or cut connection raises ``RemoteProtocolError``; a reply slower than
the read timeout raises ``ReadTimeout`` after waiting that long. As over HTTP, the headers are judged
(key, declared size, rate limit) before the body is read.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from .backend import OfflineBackend, Reply, Ticket, Work

__all__ = ["AsyncOfflineTransport", "OfflineTransport"]


def _base_url(request: httpx.Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"


def _start(backend: OfflineBackend, request: httpx.Request) -> Reply | Ticket:
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isascii() and length.isdigit() and len(length) < 20 else None
    headers = {k.lower(): v for k, v in request.headers.items()}
    return backend.start(request.method, request.url.path, headers, declared)


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout", {})
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if value is not None else None


def _finish(reply: Reply, request: httpx.Request) -> httpx.Response:
    if reply.fault in ("drop", "truncated"):
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=request
        )
    return httpx.Response(reply.status, headers=reply.headers, content=reply.body, request=request)


def _timeout(request: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout("timed out waiting for the offline backend", request=request)


def _too_slow(limit: float | None, waited: float, delay: float) -> bool:
    return limit is not None and waited + delay > limit


class OfflineTransport(httpx.BaseTransport):
    def __init__(self, backend: OfflineBackend) -> None:
        self.backend = backend

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = _start(self.backend, request)
        limit = _read_timeout(request)
        waited = 0.0
        outcome = started if isinstance(started, Reply) else self.backend.admit(started, request.read())
        if isinstance(outcome, Reply):
            reply = outcome
        else:
            waited = self.backend.options.latency
            if _too_slow(limit, 0.0, waited):
                time.sleep(limit or 0.0)
                raise _timeout(request)
            time.sleep(waited)
            reply = self.backend.complete(outcome, _base_url(request))
        if reply.delay:
            if _too_slow(limit, waited, reply.delay):
                time.sleep(max(0.0, (limit or 0.0) - waited))
                raise _timeout(request)
            time.sleep(reply.delay)
        return _finish(reply, request)


class AsyncOfflineTransport(httpx.AsyncBaseTransport):
    def __init__(self, backend: OfflineBackend) -> None:
        self.backend = backend

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = _start(self.backend, request)
        limit = _read_timeout(request)
        waited = 0.0
        if isinstance(started, Reply):
            outcome: Reply | Work = started
        else:
            outcome = self.backend.admit(started, await request.aread())
        if isinstance(outcome, Reply):
            reply = outcome
        else:
            waited = self.backend.options.latency
            if _too_slow(limit, 0.0, waited):
                await asyncio.sleep(limit or 0.0)
                raise _timeout(request)
            await asyncio.sleep(waited)
            # Rendering is CPU work: keep the kernel's loop free for widgets and interrupts meanwhile.
            reply = await asyncio.to_thread(self.backend.complete, outcome, _base_url(request))
        if reply.delay:
            if _too_slow(limit, waited, reply.delay):
                await asyncio.sleep(max(0.0, (limit or 0.0) - waited))
                raise _timeout(request)
            await asyncio.sleep(reply.delay)
        return _finish(reply, request)
