"""Running a batch's requests: paced, retried, each answer written to disk and recorded, then dropped.

The order of things for every request (a "part": one request; an item with ``-n 4`` is four parts):

1. wait for the pacer (``pacing.Pacer``: spacing to the rate limit, the 429 gate, adaptive concurrency);
2. send it with no client-side retries (``max_retries=0``), so a 429 slows the whole batch, not one call;
3. read every image's bytes and check them, then write the files atomically (``outputs.save_images``:
   usual names, parameters embedded) in a worker thread;
4. when all parts of an item are on disk, mark it done (files + SHA-256) in one manifest transaction.

A SIGKILL between 3 and 4 leaves complete files that the next run adopts (``plan.adopt``) instead of asking
again; a kill during 3 leaves at most a hidden temporary file. Nothing holds more than the responses in
flight. A 429 is retried until ``MAX_THROTTLES`` for that part; other retryable failures (5xx, 408/409,
timeouts, dropped connections, a corrupt image) ``max_retries`` times with backoff; the rest (400, 404,
422...) fail the item at once with a one-line error. 401 and 402 stop the batch: every item would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..client.clients import AsyncTogether
from ..client.retries import RETRY_HEADER, retryable, wait_before_retry
from ..config import Imagine
from ..errors import (
    APIError,
    AuthenticationError,
    PaymentRequiredError,
    RateLimitError,
    TogetherError,
)
from ..generation.cost import charge, part_cost
from ..generation.generate import cache_key, record_part, verify
from ..generation.saving import save_images
from ..generation.stored import store_for
from ..store.store import Store, StoreError
from ..types import ImageResponse
from .manifest import FileEntry, Manifest
from .pacing import Pacer
from .plan import ItemState, Job, sha256_of

__all__ = ["MAX_THROTTLES", "Runner", "error_kind"]

log = logging.getLogger("together_magic")

MAX_THROTTLES = 20
"""429s one part may receive before it is reported as failed (each waits for the server's Retry-After)."""
_REQUEST_ID = re.compile(r" \(request id [^)]*\)")


def error_kind(line: str) -> str:
    """An error line without its request id, so failures can be counted by kind."""
    return _REQUEST_ID.sub("", line)


# ----------------------------------------------------------------------------------- running
@dataclass
class RunStats:
    made: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    cost: float = 0.0
    costed: bool = True
    failures: dict[str, int] = field(default_factory=dict)


class Runner:
    """Sends the jobs of one run; ``await runner.run()`` returns when every item is settled."""

    def __init__(
        self,
        *,
        manifest: Manifest,
        batch: int,
        jobs: list[Job],
        states: dict[int, ItemState],
        client: AsyncTogether,
        pacer: Pacer,
        config: Imagine,
        on_item: Callable[[bool], None] | None = None,
        on_throttle: Callable[[], None] | None = None,
    ) -> None:
        self.manifest = manifest
        self.batch = batch
        self.folder = manifest.folder
        self.jobs = jobs
        self.states = states
        self.client = client
        self.pacer = pacer
        self.config = config
        self.on_item = on_item
        self.on_throttle = on_throttle
        self.stats = RunStats()
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._open = len(states)
        self._finished = asyncio.Event()
        self._fatal: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._store: Store | None = store_for(config) if config.cache_size_mb > 0 else None
        self._store_failed = False

    async def run(self) -> None:
        if not self.states:
            return
        for job in self.jobs:
            self._queue.put_nowait(job)
        dispatcher = asyncio.ensure_future(self._dispatch())
        try:
            await self._finished.wait()
            if self._fatal is not None:
                # A 401/402 stops the batch, but the requests already in flight may have been granted and
                # paid for (a class budget runs out mid-batch): let them finish and save, send nothing new.
                dispatcher.cancel()
                for timer in self._timers:
                    timer.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            dispatcher.cancel()
            for timer in self._timers:
                timer.cancel()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(dispatcher, *self._tasks, return_exceptions=True)
        if self._fatal is not None:
            raise self._fatal

    async def _dispatch(self) -> None:
        while True:
            job = await self._queue.get()
            await self.pacer.acquire()
            task = asyncio.ensure_future(self._attempt(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _later(self, seconds: float, job: Job) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(seconds, self._queue.put_nowait, job))

    async def _attempt(self, job: Job) -> None:
        try:
            await self._send_and_save(job)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug or a fatal answer: stop the batch, keep what is done
            self._fatal = exc
            self._finished.set()

    async def _send_and_save(self, job: Job) -> None:
        if self._fatal is not None:  # dispatched just before a 401/402 stopped the batch: send nothing
            self.pacer.release()
            return
        headers = {**job.headers, RETRY_HEADER: str(job.attempts_before + job.sent)}
        job.sent += 1
        self.states[job.item].sent += 1
        started = time.perf_counter()
        try:
            response = await self.client.images.send(job.request, extra_headers=headers)
            await verify(response, job.request)
        except RateLimitError as err:
            self.pacer.release()
            wait = self.pacer.throttled(err.retry_after, err.rate_limit)
            if self.on_throttle is not None:
                self.on_throttle()
            job.throttles += 1
            if job.throttles > MAX_THROTTLES:
                self._settle(job, [], str(err))
            else:
                self.stats.retries += 1
                self._later(wait, job)
            return
        except (AuthenticationError, PaymentRequiredError):
            self.pacer.release()
            raise
        except TogetherError as err:
            self.pacer.release()
            self.pacer.failed()
            if retryable(err) and job.errors < self.config.max_retries:
                job.errors += 1
                self.stats.retries += 1
                hinted = err.retry_after if isinstance(err, APIError) else None
                self._later(wait_before_retry(job.errors - 1, hinted), job)
            else:
                self._settle(job, [], str(err))
            return
        except BaseException:
            self.pacer.release()
            raise
        self.pacer.release()
        self.pacer.succeeded(response.rate_limit)
        self.stats.requests += 1
        cost = part_cost(job.request, self.config)
        if cost is None:
            self.stats.costed = False
        else:
            self.stats.cost += cost
        charge(cost)
        elapsed = time.perf_counter() - started
        files, error = await asyncio.to_thread(self._save, response, job, elapsed, cost)
        self._settle(job, files, error)

    def _save(
        self, response: ImageResponse, job: Job, elapsed: float, cost: float | None
    ) -> tuple[list[FileEntry], str | None]:
        """In a worker thread: write the images (atomically, never replacing a file), hash them, and
        record them in the history like every other generation."""
        report = save_images(response.data or [], self.folder, job.request)
        files = []
        for position, path in enumerate(report.paths):
            if path is not None:
                files.append(FileEntry(path.name, sha256_of(path), job.part * job.request.n + position))
        problems = [e for e in report.errors if e]
        saved = [(self.folder / f.name).absolute() for f in files]  # the history is read from anywhere
        self._record(response, job, elapsed, cost, saved)
        return files, (f"could not write the image: {problems[0]}" if problems else None)

    def _record(
        self, response: ImageResponse, job: Job, elapsed: float, cost: float | None, saved: list[Path]
    ) -> None:
        """Into the local store (history and cache), after the files: a store that cannot be written
        costs the batch nothing; it is said once per run, not once per image."""
        # History off records nothing of a batch: its seeds are drawn for it (the manifest, not the store,
        # is what re-runs it), so keeping them "for the cache" would keep every prompt anyway.
        if self._store is None or not self.config.history:
            return
        try:
            record_part(
                self._store,
                response,
                job.request,
                self.config,
                source="batch",
                backend=response.provenance.backend or self.client.backend,
                key=cache_key(job.request, self.client.base_url),
                elapsed=elapsed,
                cost=cost,
                saved=saved,
            )
        except StoreError as exc:
            if not self._store_failed:
                self._store_failed = True
                log.warning("together-magic: could not record this batch in %s: %s", self._store.folder, exc)

    def _settle(self, job: Job, files: list[FileEntry], error: str | None) -> None:
        state = self.states[job.item]
        state.files.extend(files)
        if error is not None and state.error is None:
            state.error = error
        state.parts_left -= 1
        if state.parts_left > 0:
            return
        failed = state.error is not None
        self.manifest.finish(
            self.batch,
            state.index,
            status="failed" if failed else "done",
            files=sorted(state.files, key=lambda f: f.part),
            attempts=state.attempts_before + state.sent,
            error=state.error,
        )
        if failed:
            self.stats.failed += 1
            kind = error_kind(state.error or "")
            self.stats.failures[kind] = self.stats.failures.get(kind, 0) + 1
        else:
            self.stats.made += 1
        if self.on_item is not None:
            self.on_item(failed)
        self._open -= 1
        if self._open <= 0:
            self._finished.set()
