"""The gateway as an ASGI application: Together's images endpoint for students, ``/class`` for the teacher.

Every request is judged from its headers first: the route, the token (one indexed read, so a revocation
holds on the next request in every worker), the declared size, the student's own pace (every request
counts, cache hits too) and their lanes (a few in flight), before one byte of the body is read. The body
then has deadlines (``--read-timeout``) and is priced before it is parsed (see ``intake``).
Every error is Together's shape (``{"id", "error": {message, type, param, code}}``); a bug is a 500 in that
shape with the traceback in the server's log, never a key: the key lives only in the upstream client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from functools import partial

from ..models import MODELS
from ..models.feed import model_info
from ..offline.apierror import OfflineAPIError
from ..offline.backend import MAX_BODY_BYTES, Reply
from ..offline.reply import json_reply
from ..offline.validate import parse_job
from ..store.store import StoreError
from . import pace
from .asgi import (
    Disconnected,
    Receive,
    Scope,
    Send,
    TooSlow,
    bearer,
    content_length,
    header_map,
    read_body,
    send_reply,
    unread,
)
from .core import Gateway
from .intake import SMALL_BODY, first_look, parse_request
from .roster import Denied, Student
from .settings import KEY_ENV, GatewaySettings
from .wall import WallRoutes

__all__ = ["BODY_FACTOR", "GatewayApp", "create_app", "from_environment"]

log = logging.getLogger("together_magic.gateway")

GENERATIONS = ("/v1/images/generations", "/images/generations")
SERVICE = "together-magic classroom gateway"
BODY_FACTOR = 3
"""A body may take this many ``--read-timeout`` periods in all (each of its parts one period)."""
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


def _too_fast(rate: int, wait: float) -> OfflineAPIError:
    what = f"You are sending requests faster than this class allows ({rate} a minute per student)."
    return pace.too_fast(what, wait, "student_rate_limit")


def _closing(rid: str, err: OfflineAPIError) -> Reply:
    """An answer to a request whose body was not read to its end: the connection cannot be reused."""
    reply = Gateway.error(rid, err)
    reply.headers["connection"] = "close"
    return reply


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
            return json_reply(200, [model_info(spec) for spec in MODELS.values() if spec.listed])
        return json_reply(200, {"service": SERVICE, "endpoint": GENERATIONS[0], "wall": "/class"})

    async def _generations(
        self, scope: Scope, method: str, headers: dict[str, str], receive: Receive, rid: str
    ) -> Reply:
        if method != "POST":
            err = OfflineAPIError(
                405, f"Method {method[:20]} not allowed: use POST.", headers={"allow": "POST"}
            )
            return unread(Gateway.error(rid, err), headers)
        token, held, now = bearer(headers), self.gateway.held, time.time()
        rate = self.gateway.settings.student_rate
        wait = held.wait(token, now)
        if wait is not None and token is not None:  # over the minute: answered from memory, a little later
            reply = unread(Gateway.error(rid, _too_fast(rate, wait)), headers)
            if not await held.slow_down(token, wait):
                reply.headers["connection"] = "close"
            return reply
        who = await asyncio.to_thread(self.gateway.roster.student, token)
        if isinstance(who, Denied):
            err = OfflineAPIError(
                401, who.message, code="invalid_api_key", headers={"x-should-retry": "false"}
            )
            return unread(Gateway.error(rid, err), headers)
        length = content_length(headers)
        if length is not None and length > MAX_BODY_BYTES:
            return unread(Gateway.error(rid, _too_large()), {**headers, "content-length": str(length)})
        take = partial(pace.take, student=who.id, kind=pace.REQUEST, limit=rate, now=now)
        wait = await asyncio.to_thread(self.gateway.store.write, lambda c: take(c))
        if wait is not None:
            if token is not None:
                held.hold(token, now, wait)
            return unread(Gateway.error(rid, _too_fast(rate, wait)), headers)
        try:
            async with self.gateway.lanes.enter(who.id):
                return await self._generate(scope, headers, receive, rid, who)
        except pace.Crowded as crowded:
            return unread(Gateway.error(rid, crowded.error), headers)

    async def _generate(
        self, scope: Scope, headers: dict[str, str], receive: Receive, rid: str, who: Student
    ) -> Reply:
        settings = self.gateway.settings
        seconds = settings.read_timeout
        try:
            body = await read_body(
                receive, idle=seconds, total=BODY_FACTOR * seconds, look=(SMALL_BODY, first_look)
            )
        except TooSlow:
            err = OfflineAPIError(
                408,
                f"The request body did not arrive in time: each part must come within {seconds:g} s and "
                f"all of it within {BODY_FACTOR * seconds:g} s.",
                code="request_timeout",
            )
            return _closing(rid, err)
        except OfflineAPIError as err:  # refused from its first bytes: the rest is never read
            return _closing(rid, err)
        if body is None:
            return _closing(rid, _too_large())
        try:
            raw = parse_request(body, allow_unsafe=settings.allow_unsafe)
            job = parse_job(raw)
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


def create_app(settings: GatewaySettings, key: str | None) -> GatewayApp:
    return GatewayApp(Gateway(settings, key))


def from_environment() -> GatewayApp:
    """The factory uvicorn's workers call: settings from the environment, the key from the key variable."""
    key = (os.environ.get(KEY_ENV) or "").strip() or None
    return create_app(GatewaySettings.from_environment(), key)
