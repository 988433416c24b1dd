"""``/class``: the teacher's live wall of the class's images, and the images behind the gateway's URLs.

The page is static HTML and JavaScript shipped in the package (no CDN, no build step); it polls
``/class/api/wall`` every two seconds. The teacher's token opens it once (``/class?token=...``), which
turns it into an HttpOnly, SameSite=Strict cookie scoped to ``/class`` and redirects to a clean address, so
the token does not stay on a projected screen. Changing state (hiding an image) takes a JSON POST, which a
page on another site cannot send with that cookie.

Hidden means hidden: every wall row of that request leaves the wall, its ``/shrt/`` links answer 410 Gone,
and the request is refused to every student but the one who made it (see ``core``), until it is shown
again. A ``/shrt/`` link also lives :data:`LINK_SECONDS` only and dies with its student's token (revoked or
expired); it is cached ``private``, never by a shared proxy.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from ..offline.apierror import OfflineAPIError, parse_body
from ..offline.backend import Reply
from ..offline.reply import error_reply, json_reply
from ..store.store import StoreError
from .answers import WALL_NEGATIVE, WALL_PROMPT, clip
from .asgi import Receive, TooSlow, bearer, cookie, read_body
from .core import Gateway
from .roster import Denied, judge
from .upkeep import WALL_SIZE

__all__ = ["COOKIE", "LINK_SECONDS", "WALL_SIZE", "WallRoutes"]

COOKIE = "together_magic_teacher"
LINK_SECONDS = 3600
"""How long a ``/shrt/`` image link works after the answer that gave it (a lesson; the student's own copy,
in the answer itself or their notebook, is theirs)."""

_PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}
_LOCKED = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Class wall: teacher only</title>
<body style="font: 22px system-ui, sans-serif; margin: 2em; max-width: 44em">
<h1>Class wall: teacher only</h1>
<p>Open the address printed when the gateway first started (it ends in <code>/class?token=...</code>), or
make a new one on the gateway's machine with:</p><pre>together-magic class teacher</pre></body></html>"""


def _asset(name: str) -> bytes:
    return resources.files("together_magic.gateway").joinpath("static").joinpath(name).read_bytes()


def _page(status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> Reply:
    return Reply(status, body, {"content-type": content_type, **_PAGE_HEADERS, **(extra or {})})


def _not_found(what: str) -> Reply:
    return error_reply("wall", OfflineAPIError(404, f"{what} not found.", code="not_found"))


def _gone(why: str) -> Reply:
    return error_reply("wall", OfflineAPIError(410, f"This image link no longer works: {why}.", code="gone"))


def _wall_rows(conn: sqlite3.Connection, hidden: bool) -> list[dict[str, Any]]:
    where = "" if hidden else "WHERE w.hidden = 0"
    rows = conn.execute(
        "SELECT w.id, s.name, w.created, w.images, w.prompt, w.params, w.backend, w.how, w.hidden,"
        " w.generation_id IS NOT NULL FROM gateway_wall w JOIN gateway_students s ON s.id = w.student"
        f" {where}"
        " ORDER BY w.id DESC LIMIT ?",
        (WALL_SIZE,),
    ).fetchall()
    return [
        {
            "id": r[0],
            "student": r[1],
            "created": r[2],
            "images": r[3] if r[9] else 0,
            "prompt": clip(r[4], WALL_PROMPT),  # rows are kept clipped; older rows are clipped here
            "params": _params(r[5]),
            "backend": r[6],
            "how": r[7],
            "hidden": bool(r[8]),
        }
        for r in rows
    ]


def _params(text: str) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(text)
    if isinstance(params.get("negative_prompt"), str):
        params["negative_prompt"] = clip(params["negative_prompt"], WALL_NEGATIVE)
    return params


def _hide(conn: sqlite3.Connection, wall_id: int, hidden: bool, now: float) -> bool:
    """Hide (or show again) a wall row and every row of the same request or images; a hidden request is
    served to nobody but its maker (the student of its first row that was not a cache hit)."""
    row = conn.execute(
        "SELECT cache_key, generation_id, student FROM gateway_wall WHERE id = ?", (wall_id,)
    ).fetchone()
    if row is None:
        return False
    key, generation, student = row
    conn.execute(
        "UPDATE gateway_wall SET hidden = ? WHERE id = ? OR cache_key = ? OR generation_id = ?",
        (int(hidden), wall_id, key, generation),
    )
    if key is not None and not hidden:
        conn.execute("DELETE FROM gateway_hidden WHERE cache_key = ?", (key,))
    elif key is not None:
        maker = conn.execute(
            "SELECT student FROM gateway_wall WHERE cache_key = ? AND how != 'cached' ORDER BY id LIMIT 1",
            (key,),
        ).fetchone()
        conn.execute(
            "INSERT INTO gateway_hidden VALUES (?, ?, ?) ON CONFLICT(cache_key) DO NOTHING",
            (key, maker[0] if maker else student, now),
        )
    return True


class WallRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def _teacher(self, headers: dict[str, str]) -> bool:
        token = bearer(headers) or cookie(headers, COOKIE)
        return await asyncio.to_thread(self.gateway.roster.is_teacher, token)

    async def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], receive: Receive, secure: bool
    ) -> Reply:
        if path == "/class/wall.js":
            return _page(200, _asset("wall.js"), "text/javascript; charset=utf-8")
        if path == "/class" and method in ("GET", "HEAD"):
            tokens = parse_qs(query).get("token")
            token = tokens[0] if tokens else None
            if token is not None:
                if not await asyncio.to_thread(self.gateway.roster.is_teacher, token):
                    return _page(401, _LOCKED.encode(), "text/html; charset=utf-8")
                flags = "HttpOnly; SameSite=Strict; Path=/class" + ("; Secure" if secure else "")
                return _page(
                    303, b"", "text/plain", {"location": "/class", "set-cookie": f"{COOKIE}={token}; {flags}"}
                )
            if not await self._teacher(headers):
                return _page(401, _LOCKED.encode(), "text/html; charset=utf-8")
            return _page(200, _asset("wall.html"), "text/html; charset=utf-8")
        if not await self._teacher(headers):
            err = OfflineAPIError(401, "The class wall needs the teacher's token.", code="invalid_api_key")
            return error_reply("wall", err)
        if path == "/class/api/wall" and method == "GET":
            return await self._wall(query)
        if path == "/class/api/hide" and method == "POST":
            return await self._hide(headers, receive)
        if path.startswith("/class/image/") and method in ("GET", "HEAD"):
            wall_id, _, position = path.removeprefix("/class/image/").partition("/")
            return await self.image("id", wall_id, position, teacher=True)
        return _not_found(f"{method} {path[:100]}")

    async def _wall(self, query: str) -> Reply:
        hidden = (parse_qs(query).get("hidden") or ["0"])[0] == "1"
        store = self.gateway.store
        entries = await asyncio.to_thread(store.read, lambda c: _wall_rows(c, hidden))
        usage = await asyncio.to_thread(self.gateway.roster.usage)
        now = time.time()
        students = [
            {
                "name": u.name,
                "images_used": u.images_used,
                "images_limit": u.images_limit,
                "dollars_used": u.micros_used / 1_000_000,
                "budget": None if u.budget_micros is None else u.budget_micros / 1_000_000,
                "cached": u.cached,
                "offline": u.offline,
                "refused": u.refused,
                "last_seen": u.last_seen,
                "status": u.status(now),
            }
            for u in usage
        ]
        payload = {"now": now, "upstream": self.gateway.settings.label, "entries": entries, "usage": students}
        return json_reply(200, payload, {"cache-control": "no-store"})

    async def _hide(self, headers: dict[str, str], receive: Receive) -> Reply:
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return error_reply("wall", OfflineAPIError(415, 'Send JSON: {"id": N, "hidden": true}.'))
        seconds = self.gateway.settings.read_timeout
        try:
            body = await read_body(receive, 4096, idle=seconds, total=3 * seconds)
        except TooSlow:
            return error_reply("wall", OfflineAPIError(408, "The request body did not arrive in time."))
        try:
            if body is None:
                raise OfflineAPIError(413, "Request body is too large.")
            request = parse_body(body)
            if not isinstance(request, dict):
                request = {}
            wall_id, hidden = request.get("id"), request.get("hidden", True)
            if type(wall_id) is not int or type(hidden) is not bool or not 0 < wall_id < 2**63:
                raise OfflineAPIError(400, 'Send JSON: {"id": N, "hidden": true or false}.')
        except OfflineAPIError as err:
            return error_reply("wall", err)
        changed = await asyncio.to_thread(
            self.gateway.store.write, lambda c: _hide(c, wall_id, hidden, time.time())
        )
        if not changed:
            return _not_found(f"Wall entry {wall_id}")
        return json_reply(200, {"id": wall_id, "hidden": hidden})

    async def image(self, by: str, ref: str, position: str, *, teacher: bool) -> Reply:
        """An image by wall id (the teacher's wall) or by URL token (the URLs given to students)."""
        if (
            not position.isdigit()
            or len(position) > 3
            or (by == "id" and not (ref.isdigit() and len(ref) < 19))
        ):
            return _not_found("Image")
        column = "id" if by == "id" else "url_token"
        key: int | str = int(ref) if by == "id" else ref

        def find(c: sqlite3.Connection) -> tuple[Any, ...] | None:
            row: tuple[Any, ...] | None = c.execute(
                "SELECT w.generation_id, w.hidden, w.created, s.id, s.name, s.revoked, s.expires"
                f" FROM gateway_wall w JOIN gateway_students s ON s.id = w.student WHERE w.{column} = ?",
                (key,),
            ).fetchone()
            return row

        store = self.gateway.store
        found = await asyncio.to_thread(store.read, find)
        if found is None or found[0] is None:
            return _not_found("Image")
        now = time.time()
        age = now - found[2]
        if not teacher:  # the teacher's wall shows hidden images (greyed) and old ones; a link does not
            if found[1]:
                return _gone("the teacher hid this image")
            if isinstance(judge(found[3:], now), Denied):
                return _gone("the class token of the student who made it was revoked or has expired")
            if age >= LINK_SECONDS:
                return _gone(f"links live {LINK_SECONDS // 60} minutes; ask for the image again")
        try:
            generation = await asyncio.to_thread(store.get, found[0])
            images = generation.images if generation is not None else ()
            index = int(position)
            if index >= len(images):
                return _not_found("Image")
            data = await asyncio.to_thread(images[index].read_bytes)
        except StoreError:
            return _not_found("Image")
        fmt = images[index].format
        life = 86400 if teacher else max(1, int(LINK_SECONDS - age))
        return Reply(200, data, {"content-type": f"image/{fmt}", "cache-control": f"private, max-age={life}"})
