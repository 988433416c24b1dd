"""One image request through the gateway: hidden, cache, single flight, reservation, pace, upstream, settle.

The order matters and is the whole design:

0. A request whose image the teacher hid (its exact cache key) is refused to everyone but its maker.
1. A seeded request (the only kind that can repeat exactly) is looked up in the shared cache: a hit is
   answered at once, free, whatever is left of the student's budget.
2. :func:`ledger.claim` decides in one transaction: an identical request already on its way upstream means
   *wait for it* (then it is a free hit); otherwise the student's refusals, images and dollars, the class's
   dollars and the global pace are checked and reserved together, or the request is refused.
3. The upstream is called (after the pace's slot, if any), one attempt at a time: a retry takes a new slot
   in the pace, since the upstream counts attempts. Its images, at most the ``n`` asked for (extras are
   dropped and logged), are recorded in the store (the cache and the wall's image store), then what was
   delivered is charged, which also ends the single flight. A failure releases the reservation: nothing is
   charged for what was not made; a request the upstream refused counts against its student.

With ``--fallback offline``, a spent budget, a full pace or a failed upstream is answered by the offline
renderer instead, free within the student's ``--fallback-rate``, and says so with
``x-together-magic-backend: offline``. The renderer works on one image request at a time per worker.

(Every request was already counted against its student's own pace and lanes in ``app``, before its body.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ..client.base import DEFAULT_MAX_RETRIES
from ..client.retries import backoff
from ..generation.generate import cache_key
from ..models import estimate_cost
from ..offline.backend import Reply
from ..offline.validate import Job
from ..store.store import NewGeneration, NewImage, Store, StoreError
from ..types import ImageRequest
from . import answers, ledger, pace, upkeep
from .answers import Admitted
from .ledger import Ask, Cached, Grant, Policy, Refused, Wait
from .roster import Roster, Student, micros
from .settings import OFFLINE, GatewaySettings
from .upstream import Made, OfflineRenderer, Upstream, UpstreamFailure

__all__ = ["DOWN_SECONDS", "Gateway"]

log = logging.getLogger("together_magic.gateway")

DOWN_SECONDS = 30.0
"""With ``--fallback offline``, after the upstream fails a worker sends the class to the offline renderer
for this long before trying the upstream again, rather than making every student wait for the failure."""
_NO_FALLBACK = ("auth", "refusals")


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
        self.lanes = pace.Lanes()
        self.held = pace.Held()
        self._render: asyncio.Semaphore | None = None
        self._down_until = 0.0
        self._books = 0
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

    error = staticmethod(answers.error)

    # ------------------------------------------------------------------------------------------------
    def admit(
        self, student: Student, body: dict[str, Any], job: Job, *, base_url: str, request_id: str
    ) -> Admitted:
        """What will be asked upstream: the student's fields, as base64, with a seed (chosen if missing)."""
        forward = {k: v for k, v in body.items() if v is not None}
        forward["response_format"] = "base64"
        seeded = body.get("seed") is not None
        if not seeded:
            forward["seed"] = job.seed  # picked by the validator, as Together would pick one
        key = cache_key(ImageRequest.model_validate(forward), self.endpoint)
        assert key is not None  # seeded and base64: always cacheable
        cost = estimate_cost(job.model.id, job.width, job.height, steps=job.steps, n=job.n)
        ask = Ask(student.id, job.n, micros(cost or 0.0), key if seeded else None)
        return Admitted(student, job, forward, key, seeded, ask, cost, base_url, request_id)

    async def generate(self, req: Admitted) -> Reply:
        """The answer to one admitted request (see the module docstring); never raises for the student's
        mistakes or the upstream's failures: those are Together-shaped error replies."""
        if req.seeded:
            hidden = partial(ledger.hidden_from, key=req.key, student=req.student.id)
            if await asyncio.to_thread(self.store.read, hidden):
                return self.error(req.request_id, answers.hidden())
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
                if verdict.kind not in _NO_FALLBACK and self.settings.fallback == OFFLINE:
                    return await self._answer_offline(req)
                return self.error(req.request_id, answers.refusal(verdict))

    async def _forward(self, req: Admitted, grant: Grant) -> Reply:
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

    async def _attempts(self, req: Admitted, grant: Grant) -> Made:
        """The upstream's images, trying again after a failure that may pass (at most the client's usual
        two retries), each retry in its own slot of the pace; raises the last :class:`UpstreamFailure`."""
        send_at = grant.send_at
        for attempt in range(DEFAULT_MAX_RETRIES + 1):
            wait = send_at - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if self.upstream is None:
                    async with self._renderer():
                        return await self.offline.generate(req.forward)
                return await self.upstream.generate(ImageRequest.model_validate(req.forward))
            except UpstreamFailure as failure:
                if not failure.retry or attempt == DEFAULT_MAX_RETRIES:
                    raise
                later = time.time() + backoff(attempt)
                slot = await asyncio.to_thread(
                    self.store.write, partial(ledger.retry_slot, policy=self.policy, now=later)
                )
                if isinstance(slot, Refused):
                    raise  # the pace has no room for another attempt soon: answer with this failure
                log.info("together-magic gateway: request %s: attempt %d failed, trying again in %.1f s",
                         req.request_id, attempt + 1, slot - time.time())  # fmt: skip
                send_at = slot
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, req: Admitted, grant: Grant) -> Reply:
        try:
            made = await self._attempts(req, grant)
        except UpstreamFailure as failure:
            refused = req.student.id if failure.refused else None
            release = partial(ledger.release, grant=grant, refused=refused)
            await asyncio.to_thread(self.store.write, lambda c: release(c))
            if failure.fallback and self.settings.fallback == OFFLINE:
                self._down_until = time.monotonic() + DOWN_SECONDS
                return await self._answer_offline(req)
            return self.error(req.request_id, failure.error)
        except BaseException:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self.store.write, lambda c: ledger.release(c, grant))
            raise
        made, ask = self._delivered(req, made)
        label = self.settings.label
        generation = await self._record(req, made, label, cache=True)
        entry = answers.wall_entry(req, made, generation, label, "upstream")
        await self._book(partial(ledger.settle, grant=grant, ask=ask, entry=entry))
        return answers.images_reply(req, made.images, made.model, entry, label, "miss")

    def _delivered(self, req: Admitted, made: Made) -> tuple[Made, Ask]:
        """What is handed on and charged: the images asked for, never more (extras are dropped and logged,
        fewer are charged as fewer), so the meter follows what the student got."""
        asked, got = req.job.n, len(made.images)
        if got == asked:
            return made, req.ask
        kept = made.images[:asked]
        log.warning(
            "together-magic gateway: the upstream answered %d images for n=%d (request %s); handed on and "
            "charged %d",
            got, asked, req.request_id, len(kept),
        )  # fmt: skip
        ask = dataclasses.replace(req.ask, images=len(kept), micros=req.ask.micros * len(kept) // asked)
        return Made(kept, made.model), ask

    async def _answer_cached(self, req: Admitted, generation: int, made: Made, label: str) -> Reply:
        entry = answers.wall_entry(req, made, generation, label, "cached")
        await self._book(partial(ledger.free, entry=entry))
        return answers.images_reply(req, made.images, made.model, entry, label, "hit")

    async def _answer_offline(self, req: Admitted) -> Reply:
        job, rate = req.job, self.settings.fallback_rate
        weight = pace.megapixels(job.width, job.height, job.n)
        take = partial(pace.take, student=req.student.id, kind=pace.FALLBACK, limit=rate, weight=weight)
        wait = await asyncio.to_thread(self.store.write, lambda c: take(c, now=time.time()))
        if wait is not None:
            what = (
                f"The offline fallback makes at most {rate} megapixels of images a minute per student "
                "(a 1024x1024 image is 1)."
            )
            return self.error(req.request_id, pace.too_fast(what, wait, "fallback_rate_limit"))
        try:
            async with self._renderer():
                made = await self.offline.generate(req.forward)
        except UpstreamFailure as failure:
            return self.error(req.request_id, failure.error)
        generation = await self._record(req, made, "offline", cache=False)
        entry = answers.wall_entry(req, made, generation, "offline", "offline")
        await self._book(partial(ledger.free, entry=entry))
        return answers.images_reply(req, made.images, made.model, entry, "offline", "bypass")

    def _renderer(self) -> asyncio.Semaphore:
        """The offline renderer works on one request at a time in a worker: it is CPU the class shares."""
        if self._render is None:
            self._render = asyncio.Semaphore(1)
        return self._render

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
        self._books += 1
        if self._books % 16 == 0:  # wall rows grow the database too: keep it inside --cache-mb
            await self._upkeep()

    async def _upkeep(self) -> None:
        try:
            await asyncio.to_thread(upkeep.trim, self.store, self.settings.cache_mb * 1_000_000)
        except StoreError as exc:
            log.warning(
                "together-magic gateway: could not trim the class data in %s: %s", self.store.folder, exc
            )

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

    async def _record(self, req: Admitted, made: Made, label: str, *, cache: bool) -> int | None:
        """Keep the images (cache, wall, URLs); a store that cannot write costs the wall, not the answer."""
        seed = int(req.forward["seed"])
        record = NewGeneration(
            source="gateway",
            request=answers.stored_request(req.forward),
            images=[NewImage(data, seed=seed + i) for i, data in enumerate(made.images)],
            backend=label,
            model=made.model,
            cost=req.cost if cache else 0.0,
            cache_key=req.key if cache else None,
        )
        try:
            generation = await asyncio.to_thread(self.store.record, record)
        except StoreError as exc:
            log.warning("together-magic gateway: could not keep an image in %s: %s", self.store.folder, exc)
            return None
        await self._upkeep()  # every new entry: the data stays inside --cache-mb, however big the requests
        return generation
