"""The gateway as an ASGI application: Together's images endpoint for students, ``/class`` for the teacher.

Every request is judged from its headers first: the route, the token (one indexed read, so a revocation
holds on the next request in every worker) and the declared size, before one byte of the body is read.
Every error is Together's shape (``{"id", "error": {message, type, param, code}}``); a bug is a 500 in that
shape with the traceback in the server's log, never a key: the key lives only in the upstream client.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
from typing import Any

from ..models import MODELS, ModelSpec
from ..offline.apierror import OfflineAPIError, invalid, parse_body
from ..offline.backend import MAX_BODY_BYTES, Reply
from ..offline.reply import json_reply
from ..offline.validate import parse_job
from ..store.store import StoreError
from .asgi import (
    Disconnected,
    Receive,
    Scope,
    Send,
    bearer,
    content_length,
    header_map,
    read_body,
    send_reply,
    unread,
)
from .core import Gateway
from .roster import Denied
from .settings import KEY_ENV, GatewaySettings
from .wall import WallRoutes

__all__ = ["GatewayApp", "create_app", "from_environment"]

log = logging.getLogger("together_magic.gateway")

GENERATIONS = ("/v1/images/generations", "/images/generations")
SERVICE = "together-magic classroom gateway"
_READ_ONLY = ("/", "/v1/models", "/models")
"""Paths answered to GET (and ``/shrt/...`` images): another method there is a 405, another path a 404."""


def _request_id() -> str:
    return f"gw-{secrets.token_hex(10)}"


def _too_large() -> OfflineAPIError:
    return OfflineAPIError(
        413,
        f"Request body is too large: at most {MAX_BODY_BYTES} bytes ({MAX_BODY_BYTES // 2**20} MiB).",
        code="request_too_large",
    )


class GatewayApp:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.wall = WallRoutes(gateway)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1003})
            return
        if scope["type"] != "http":
            return
        headers = header_map(scope)
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        rid = _request_id()
        try:
            reply = await self._route(scope, method, path, headers, receive, rid)
        except Disconnected:
            return
        except (
            StoreError
        ) as exc:  # locked past its retries, disk full, unreadable: say so, in Together's shape
            log.warning("together-magic gateway: the class database failed (request %s): %s", rid, exc)
            err = OfflineAPIError(
                503,
                "The class gateway cannot reach its database right now. Try again in a moment.",
                type="server_error",
                code="gateway_store_unavailable",
            )
            reply = Gateway.error(rid, err)
        except Exception:
            log.exception("together-magic gateway: internal error (request %s)", rid)
            reply = Gateway.error(rid, OfflineAPIError(500, "Internal server error", type="server_error"))
        await send_reply(reply, send, method)

    async def _route(
        self, scope: Scope, method: str, path: str, headers: dict[str, str], receive: Receive, rid: str
    ) -> Reply:
        if path in GENERATIONS:
            return await self._generations(scope, method, headers, receive, rid)
        if path == "/class" or path.startswith("/class/"):
            query = scope.get("query_string", b"").decode("latin-1")
            secure = scope.get("scheme") == "https"
            reply = await self.wall.handle(method, path, query, headers, receive, secure)
            return unread(reply, headers)
        if not (path in _READ_ONLY or path.startswith("/shrt/")):
            err = OfflineAPIError(
                404,
                f"Unknown endpoint {method[:20]} {path[:200]}: this class gateway serves images only "
                f"(POST {GENERATIONS[0]}).",
                code="not_found",
            )
            return unread(Gateway.error(rid, err), headers)
        if method not in ("GET", "HEAD"):
            err = OfflineAPIError(
                405, f"Method {method[:20]} not allowed: use GET.", headers={"allow": "GET"}
            )
            return unread(Gateway.error(rid, err), headers)
        if path.startswith("/shrt/"):
            token, _, position = path.removeprefix("/shrt/").rpartition("-")
            return await self.wall.image("token", token, position, teacher=False)
        if path in ("/v1/models", "/models"):
            return json_reply(200, [_model(spec) for spec in MODELS.values()])
        return json_reply(200, {"service": SERVICE, "endpoint": GENERATIONS[0], "wall": "/class"})

    async def _generations(
        self, scope: Scope, method: str, headers: dict[str, str], receive: Receive, rid: str
    ) -> Reply:
        if method != "POST":
            err = OfflineAPIError(
                405, f"Method {method[:20]} not allowed: use POST.", headers={"allow": "POST"}
            )
            return unread(Gateway.error(rid, err), headers)
        who = await asyncio.to_thread(self.gateway.roster.student, bearer(headers))
        if isinstance(who, Denied):
            err = OfflineAPIError(
                401, who.message, code="invalid_api_key", headers={"x-should-retry": "false"}
            )
            return unread(Gateway.error(rid, err), headers)
        length = content_length(headers)
        if length is not None and length > MAX_BODY_BYTES:
            return unread(Gateway.error(rid, _too_large()), {**headers, "content-length": str(length)})
        body = await read_body(receive)
        if body is None:
            reply = Gateway.error(rid, _too_large())
            reply.headers["connection"] = "close"
            return reply
        try:
            raw = parse_body(body)
            job = parse_job(raw)
            check_forwardable(raw)
        except OfflineAPIError as err:
            return Gateway.error(rid, err)
        server = scope.get("server") or ("127.0.0.1", 80)
        base_url = f"{scope['scheme']}://{headers.get('host') or f'{server[0]}:{server[1]}'}"
        try:
            request = self.gateway.admit(who, raw, job, base_url=base_url, request_id=rid)
        except ValueError as exc:  # a field the validator let through but the request type cannot hold
            detail = str(exc).splitlines()[0][:200]
            return Gateway.error(rid, OfflineAPIError(400, f"Request body cannot be used: {detail}."))
        return await self.gateway.generate(request)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def check_forwardable(body: dict[str, Any]) -> None:
    """Refuse (400, naming the field) what parses but cannot go upstream as JSON: text with an unpaired
    surrogate (``"\\ud800"`` is valid JSON but not UTF-8) and numbers that overflowed to infinity
    (``1e999``). The offline renderer ignores fields it does not know; the upstream client cannot send them.
    """
    for name, top in body.items():
        stack: list[Any] = [name, top]
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                if not value.isascii():
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError:
                        if value is name:
                            raise OfflineAPIError(
                                400, "Request body cannot be used: a field name is not valid Unicode text."
                            ) from None
                        detail = "Text must be valid Unicode (it holds an unpaired surrogate)."
                        raise invalid(name, detail) from None
            elif isinstance(value, float) and not math.isfinite(value):
                raise invalid(name, "Numbers must be finite (this one is too large for a double).")
            elif isinstance(value, dict):
                stack.extend(value.keys())
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)


def _model(spec: ModelSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "object": "model",
        "type": "image",
        "display_name": spec.display_name,
        "organization": spec.maker,
        "created": 0,
    }


def create_app(settings: GatewaySettings, key: str | None) -> GatewayApp:
    return GatewayApp(Gateway(settings, key))


def from_environment() -> GatewayApp:
    """The factory uvicorn's workers call: settings from the environment, the key from the key variable."""
    key = (os.environ.get(KEY_ENV) or "").strip() or None
    return create_app(GatewaySettings.from_environment(), key)
