"""The little ASGI plumbing the gateway needs: headers, bounded body reads, sending a :class:`Reply`.

Kept apart from the routes so they read as decisions, not as protocol. The body limit is the offline
backend's (:data:`MAX_BODY_BYTES`): what the gateway accepts is what a Together-compatible server accepts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from ..offline.backend import MAX_BODY_BYTES, Reply

__all__ = [
    "DRAIN_BYTES",
    "Disconnected",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "TooSlow",
    "bearer",
    "content_length",
    "cookie",
    "header_map",
    "read_body",
    "send_reply",
    "unread",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Disconnected(Exception):
    """The client went away while its body was being read."""


class TooSlow(Exception):
    """The client did not send its body within the deadlines given to :func:`read_body`."""


def header_map(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 20 else None


def bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def cookie(headers: dict[str, str], name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


async def read_body(
    receive: Receive,
    limit: int = MAX_BODY_BYTES,
    *,
    idle: float | None = None,
    total: float | None = None,
    look: tuple[int, Callable[[bytes], Exception | None]] | None = None,
) -> bytes | None:
    """The whole body, or None as soon as it exceeds ``limit``.

    ``idle``: seconds each part may take to arrive, ``total``: seconds for all of it (else :class:`TooSlow`).
    ``look=(size, judge)``: once the body grows past ``size`` bytes, ``judge(head)`` may refuse it (the
    exception it returns is raised) before the rest is read.
    """
    body = bytearray()
    deadline = None if total is None else time.monotonic() + total
    looked = look is None
    while True:
        wait = idle
        if deadline is not None:
            left = deadline - time.monotonic()
            wait = left if wait is None else min(wait, left)
        try:
            message = await (receive() if wait is None else asyncio.wait_for(receive(), max(wait, 0.0)))
        except TimeoutError:
            raise TooSlow from None
        if message["type"] == "http.disconnect":
            raise Disconnected
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not looked and look is not None and len(body) > look[0]:
            looked = True
            refused = look[1](bytes(body[: look[0] + 64]))
            if refused is not None:
                raise refused
        if not message.get("more_body"):
            return bytes(body)


DRAIN_BYTES = 65_536
"""An unread body up to this size is left for the server to drain (the connection is kept: cheaper than a
new one); a larger one closes the connection. A drain that stalls is cut by ``protocol``'s deadline."""


def unread(reply: Reply, headers: dict[str, str]) -> Reply:
    """A reply sent without reading the body: close the connection rather than swallow a big upload."""
    length = content_length(headers)
    if (length or 0) > DRAIN_BYTES or (length is None and "transfer-encoding" in headers):
        reply.headers["connection"] = "close"
    return reply


async def send_reply(reply: Reply, send: Send, method: str) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})
