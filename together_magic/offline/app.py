"""The offline backend as an ASGI application, for ``together-magic serve`` (uvicorn) or any ASGI server.

The key, the route, the declared ``Content-Length`` and the rate limit are judged from the headers alone,
before one byte of the body is read; a body that grows past the limit while it arrives (chunked uploads)
is answered 413 as soon as it does. Rendering runs in a worker thread, so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .backend import MAX_BODY_BYTES, OfflineBackend, Reply

__all__ = ["OfflineApp", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


_DRAIN_BYTES = 65_536
"""An unread body up to this size is drained so the connection lives on; a larger one ends it."""


class ClientDropped(Exception):
    """Raised on purpose to make the server cut the connection mid-response (the ``drop`` fault)."""


class _Disconnected(Exception):
    """The client went away while its body was being read: there is no one to answer."""


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 20 else None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None as soon as it exceeds :data:`MAX_BODY_BYTES`."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message.get("more_body"):
            return bytes(body)


class OfflineApp:
    def __init__(self, backend: OfflineBackend) -> None:
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":  # only reached when uvicorn has a websocket library: refuse it
            await receive()
            await send({"type": "websocket.close", "code": 1003})
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        backend = self.backend
        length = _content_length(headers)
        outcome = backend.start(scope["method"], scope["path"], headers, length)
        if isinstance(outcome, Reply):
            if (length or 0) > _DRAIN_BYTES or (length is None and "transfer-encoding" in headers):
                # The body is left unread: rather than let the server swallow megabytes to keep the
                # connection alive, close it (clients read the answer first, as httpcore and curl do).
                outcome.headers["connection"] = "close"
            await _send_reply(outcome, send, scope["method"])
            return
        try:
            body = await _read_body(receive)
        except _Disconnected:
            return
        if body is None:
            reply = backend.too_large(outcome)
            reply.headers["connection"] = "close"
        else:
            work = backend.admit(outcome, body)
            if isinstance(work, Reply):
                reply = work
            else:
                if backend.options.latency:
                    await asyncio.sleep(backend.options.latency)
                server = scope.get("server") or ("127.0.0.1", 80)
                host = headers.get("host") or f"{server[0]}:{server[1]}"
                reply = await asyncio.to_thread(backend.complete, work, f"{scope['scheme']}://{host}")
        await _send_reply(reply, send, scope["method"])


async def _send_reply(reply: Reply, send: Send, method: str) -> None:
    if reply.delay:
        await asyncio.sleep(reply.delay)
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if reply.fault == "drop":
        raise ClientDropped("fault injection: connection dropped before the body")
    if reply.fault == "truncated":
        await send(
            {"type": "http.response.body", "body": reply.body[: len(reply.body) // 2], "more_body": True}
        )
        raise ClientDropped("fault injection: body truncated")
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(backend: OfflineBackend | None = None) -> OfflineApp:
    return OfflineApp(backend or OfflineBackend())
