"""The little ASGI plumbing the gateway needs: headers, bounded body reads, sending a :class:`Reply`.

Kept apart from the routes so they read as decisions, not as protocol. The body limit is the offline
backend's (:data:`MAX_BODY_BYTES`): what the gateway accepts is what a Together-compatible server accepts.
"""

from __future__ import annotations

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

DRAIN_BYTES = 65_536
"""An unread body up to this size is left for the server to drain; a larger one closes the connection."""


class Disconnected(Exception):
    """The client went away while its body was being read."""


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


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The whole body, or None as soon as it exceeds ``limit``."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return bytes(body)


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
