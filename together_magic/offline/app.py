"""The offline backend as an ASGI application, for ``together-magic serve`` (uvicorn) or any ASGI server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .backend import OfflineBackend, Reply, Request

__all__ = ["OfflineApp", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDropped(Exception):
    """Raised on purpose to make the server cut the connection mid-response (the ``drop`` fault)."""


class OfflineApp:
    def __init__(self, backend: OfflineBackend) -> None:
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host") or "{}:{}".format(*scope.get("server") or ("127.0.0.1", 80))
        request = Request(scope["method"], scope["path"], headers, bytes(body), f"{scope['scheme']}://{host}")
        outcome = self.backend.admit(request)
        if isinstance(outcome, Reply):
            reply = outcome
        else:
            if self.backend.options.latency:
                await asyncio.sleep(self.backend.options.latency)
            reply = await asyncio.to_thread(self.backend.complete, *outcome, request.base_url)
        await _send_reply(reply, send)


async def _send_reply(reply: Reply, send: Send) -> None:
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
    await send({"type": "http.response.body", "body": reply.body})


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
