"""One image request through the gateway: cache, single flight, reservation, pace, upstream, settle.

The order matters and is the whole design:

1. A seeded request (the only kind that can repeat exactly) is looked up in the shared cache: a hit is
   answered at once, free, whatever is left of the student's budget.
2. :func:`ledger.claim` decides in one transaction: an identical request already on its way upstream means
   *wait for it* (then it is a free hit); otherwise the student's images and dollars, the class's dollars
   and the global pace are checked and reserved together, or the request is refused.
3. The upstream is called (after the pace's slot, if any); its images are recorded in the store (which is
   the cache and the wall's image store), then the reservation is settled, which also ends the single
   flight. A failure releases the reservation: nothing is charged for what was not made.

With ``--fallback offline``, a spent budget, a full pace or a failed upstream is answered by the offline
renderer instead, free, and says so with ``x-together-magic-backend: offline``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ..generation.generate import cache_key
from ..models import estimate_cost
from ..offline.apierror import OfflineAPIError
from ..offline.backend import Reply
from ..offline.reply import error_reply, json_reply
from ..offline.validate import Job
from ..store.store import NewGeneration, NewImage, Store, StoreError
from ..types import ImageRequest
from . import ledger
from .ledger import Ask, Cached, Grant, Policy, Refused, Wait, WallEntry
from .roster import Roster, Student, micros
from .settings import OFFLINE, GatewaySettings
from .upstream import Made, OfflineRenderer, Upstream, UpstreamFailure

__all__ = ["BACKEND_HEADER", "CACHE_HEADER", "Gateway"]

log = logging.getLogger("together_magic.gateway")

BACKEND_HEADER = "x-together-magic-backend"
CACHE_HEADER = "x-together-magic-cache"
"""``hit`` (the shared cache answered), ``miss`` (the upstream made it), ``bypass`` (the offline fallback)."""
_EVICT_EVERY = 16
DOWN_SECONDS = 30.0
"""With ``--fallback offline``, after the upstream fails a worker sends the class to the offline renderer
for this long before trying the upstream again, rather than making every student wait for the failure."""


@dataclasses.dataclass(frozen=True)
class _Request:
    """One admitted request: who, what they sent, what will go upstream, and what it costs."""

    student: Student
    job: Job
    forward: dict[str, Any]
    key: str
    """The cache key of ``forward`` (seeded: the gateway picks a seed when the student gave none)."""
    seeded: bool
    """Whether the student chose the seed: only then may the cache answer (otherwise they want a new one)."""
    ask: Ask
    cost: float | None
    base_url: str
    request_id: str


class Gateway:
    """The state of one worker: the store (cache, class, wall), the upstream client, the offline renderer."""

    def __init__(self, settings: GatewaySettings, key: str | None) -> None:
        self.settings = settings
        self.store = Store(settings.data)
        self.roster = Roster(self.store)
        self.offline = OfflineRenderer()
        self.upstream = None if settings.upstream == OFFLINE else Upstream(settings.upstream, key)
        budget = settings.class_budget
        self.policy = Policy(
            rate=10**6 if self.upstream is None else settings.upstream_rate,
            class_micros=None if budget is None else micros(budget),
        )
        self._recorded = 0
        self._down_until = 0.0
        self._held: set[int] = set()
        """Reservations of this worker's requests on their way upstream, renewed by ``_renewer``."""
        self._renewer: asyncio.Task[None] | None = None

    @property
    def endpoint(self) -> str:
        return OFFLINE if self.upstream is None else self.upstream.endpoint

    async def aclose(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        if self.upstream is not None:
            await self.upstream.aclose()
        self.store.close()

    # ------------------------------------------------------------------------------------------------
    def admit(
        self, student: Student, body: dict[str, Any], job: Job, *, base_url: str, request_id: str
    ) -> _Request:
        """What will be asked upstream: the student's body, as base64, with a seed (chosen if missing).

        ``null`` fields are dropped, as the SDKs drop ``None`` (``"n": null`` means the default).
        """
        forward = {k: v for k, v in body.items() if v is not None}
        forward["response_format"] = "base64"
        seeded = body.get("seed") is not None
        if not seeded:
            forward["seed"] = job.seed  # picked by the validator, as Together would pick one
        key = cache_key(ImageRequest.model_validate(forward), self.endpoint)
        assert key is not None  # seeded and base64: always cacheable
        cost = estimate_cost(job.model.id, job.width, job.height, steps=job.steps, n=job.n)
        ask = Ask(student.id, job.n, micros(cost or 0.0), key if seeded else None)
        return _Request(student, job, forward, key, seeded, ask, cost, base_url, request_id)

    async def generate(self, req: _Request) -> Reply:
        """The answer to one admitted request (see the module docstring); never raises for the student's
        mistakes or the upstream's failures: those are Together-shaped error replies."""
        check_cache = True
        deadline = time.monotonic() + ledger.STALE_SECONDS
        delay = 0.02
        while True:
            if req.seeded:
                hit = await self._lookup(req.key)
                if hit is not None:
                    return await self._answer_cached(req, *hit)
            if self.settings.fallback == OFFLINE and time.monotonic() < self._down_until:
                return await self._answer_offline(req)
            verdict = await asyncio.to_thread(self.store.write, partial(self._claim, req.ask, check_cache))
            if isinstance(verdict, Grant):
                return await self._forward(req, verdict)
            if isinstance(verdict, Cached):
                check_cache = False  # the row is there but its file was not: the store dropped it
            elif isinstance(verdict, Wait):
                if time.monotonic() > deadline:
                    req = dataclasses.replace(req, ask=dataclasses.replace(req.ask, key=None))
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.25)
            else:
                if verdict.kind != "auth" and self.settings.fallback == OFFLINE:
                    return await self._answer_offline(req)
                return self.error(req.request_id, _refusal(verdict))

    async def _forward(self, req: _Request, grant: Grant) -> Reply:
        self._held.add(grant.reservation)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew())
        try:
            return await self._send(req, grant)
        finally:
            self._held.discard(grant.reservation)

    async def _renew(self) -> None:
        """Keep this worker's reservations alive while any is held, so only a dead worker's expire."""
        while self._held:
            await asyncio.sleep(self.policy.lease / 6)
            held = tuple(self._held)
            if not held:
                return
            try:
                renew = partial(ledger.renew, reservations=held, now=time.time())
                await asyncio.to_thread(self.store.write, renew)
            except StoreError as exc:
                log.warning("together-magic gateway: could not renew reservations: %s", exc)

    async def _send(self, req: _Request, grant: Grant) -> Reply:
        wait = grant.send_at - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            if self.upstream is None:
                made = await self.offline.generate(req.forward)
            else:
                made = await self.upstream.generate(ImageRequest.model_validate(req.forward))
        except UpstreamFailure as failure:
            await asyncio.to_thread(self.store.write, lambda c: ledger.release(c, grant))
            if failure.fallback and self.settings.fallback == OFFLINE:
                self._down_until = time.monotonic() + DOWN_SECONDS
                return await self._answer_offline(req)
            return self.error(req.request_id, failure.error)
        except BaseException:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self.store.write, lambda c: ledger.release(c, grant))
            raise
        label = self.settings.label
        generation = await self._record(req, made, label, cache=True)
        entry = self._entry(req, made, generation, label, "upstream")
        await self._book(partial(ledger.settle, grant=grant, ask=req.ask, entry=entry))
        return self._images(req, made.images, made.model, entry, label, "miss")

    async def _answer_cached(self, req: _Request, generation: int, made: Made, label: str) -> Reply:
        entry = self._entry(req, made, generation, label, "cached")
        await self._book(partial(ledger.free, entry=entry))
        return self._images(req, made.images, made.model, entry, label, "hit")

    async def _answer_offline(self, req: _Request) -> Reply:
        try:
            made = await self.offline.generate(req.forward)
        except UpstreamFailure as failure:
            return self.error(req.request_id, failure.error)
        generation = await self._record(req, made, "offline", cache=False)
        entry = self._entry(req, made, generation, "offline", "offline")
        await self._book(partial(ledger.free, entry=entry))
        return self._images(req, made.images, made.model, entry, "offline", "bypass")

    def _claim(
        self, ask: Ask, check_cache: bool, conn: sqlite3.Connection
    ) -> Grant | Wait | Cached | Refused:
        return ledger.claim(conn, ask, self.policy, time.time(), check_cache=check_cache)

    async def _book(self, write: Callable[..., int]) -> None:
        """Record what was answered (usage, wall). The images are made: if the database cannot take the
        row, the student still gets them (the log says what was not counted), never a 500 instead."""
        try:
            await asyncio.to_thread(self.store.write, lambda c: write(c, now=time.time()))
        except StoreError as exc:
            log.warning("together-magic gateway: could not count an answer in %s: %s", self.store.folder, exc)

    # ------------------------------------------------------------------------------------------------
    async def _lookup(self, key: str) -> tuple[int, Made, str] | None:
        try:
            found = await asyncio.to_thread(self.store.lookup, key)
        except StoreError:
            return None
        if found is None or not found.images:
            return None
        images = tuple(image.read_bytes() for image in found.images)
        return found.id, Made(images, found.model), found.backend

    async def _record(self, req: _Request, made: Made, label: str, *, cache: bool) -> int | None:
        """Keep the images (cache, wall, URLs); a store that cannot write costs the wall, not the answer."""
        seed = int(req.forward["seed"])
        record = NewGeneration(
            source="gateway",
            request=req.forward,
            images=[NewImage(data, seed=seed + i) for i, data in enumerate(made.images)],
            backend=label,
            model=made.model,
            cost=req.cost if cache else 0.0,
            cache_key=req.key if cache else None,
        )
        self._recorded += 1
        evict = self._recorded % _EVICT_EVERY == 0

        def write() -> int:
            generation = self.store.record(record)
            if evict:
                self.store.evict(self.settings.cache_mb * 1_000_000)
            return generation

        try:
            return await asyncio.to_thread(write)
        except StoreError as exc:
            log.warning("together-magic gateway: could not keep an image in %s: %s", self.store.folder, exc)
            return None

    def _entry(self, req: _Request, made: Made, generation: int | None, label: str, how: str) -> WallEntry:
        job = req.job
        params: dict[str, Any] = {
            "model": job.model.id,
            "width": job.width,
            "height": job.height,
            "seed": int(req.forward["seed"]),
            "n": len(made.images),
        }
        if job.steps is not None:
            params["steps"] = job.steps
        for name in ("guidance_scale", "guidance", "negative_prompt", "aspect_ratio"):
            if req.forward.get(name) not in (None, ""):
                params[name] = req.forward[name]
        return WallEntry(req.student.id, generation, len(made.images), job.prompt, params, label, how)

    def _images(
        self, req: _Request, images: tuple[bytes, ...], model: str, entry: WallEntry, label: str, cache: str
    ) -> Reply:
        as_url = req.job.response_format == "url" and entry.generation_id is not None
        data: list[dict[str, Any]] = []
        for index, image in enumerate(images):
            if as_url:
                data.append(
                    {"index": index, "type": "url", "url": f"{req.base_url}/shrt/{entry.url_token}-{index}"}
                )
            else:
                data.append(
                    {"index": index, "type": "b64_json", "b64_json": base64.b64encode(image).decode("ascii")}
                )
        payload = {"id": req.request_id, "model": model, "object": "list", "data": data}
        return json_reply(
            200,
            payload,
            {"x-request-id": req.request_id, BACKEND_HEADER: label, CACHE_HEADER: cache},
        )

    @staticmethod
    def error(request_id: str, err: OfflineAPIError) -> Reply:
        reply = error_reply(request_id, err)
        reply.headers.setdefault("x-request-id", request_id)
        reply.headers.setdefault(BACKEND_HEADER, "gateway")
        return reply


def _refusal(verdict: Refused) -> OfflineAPIError:
    kinds = {401: "invalid_request_error", 402: "budget_exceeded", 429: "rate_limit"}
    headers = {"x-should-retry": "false"} if verdict.status != 429 else {}
    if verdict.retry_after is not None:
        headers["retry-after"] = str(int(verdict.retry_after))
    return OfflineAPIError(
        verdict.status,
        verdict.message,
        type=kinds.get(verdict.status, "invalid_request_error"),
        code=verdict.code,
        headers=headers,
    )
