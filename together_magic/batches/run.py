"""Running a batch's requests: paced, retried, each answer written to disk and recorded, then dropped.

The order of things for every request (a "part": one request; an item with ``-n 4`` is four parts):

1. wait for the pacer (``pacing.Pacer``: spacing to the rate limit, the 429 gate, adaptive concurrency);
2. send it with no client-side retries (``max_retries=0``), so a 429 slows the whole batch, not one call;
3. read every image's bytes and check them, then write the files atomically (``outputs.save_images``:
   usual names, parameters embedded) in a worker thread;
4. when all parts of an item are on disk, mark it done (files + SHA-256) in one manifest transaction.

A SIGKILL between 3 and 4 leaves complete files that the next run adopts (``adopt``) instead of asking
again; a kill during 3 leaves at most a hidden temporary file. Nothing holds more than the responses in
flight. A 429 is retried until ``MAX_THROTTLES`` for that part; other retryable failures (5xx, 408/409,
timeouts, dropped connections, a corrupt image) ``max_retries`` times with backoff; the rest (400, 404,
422...) fail the item at once with a one-line error. 401 and 402 stop the batch: every item would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client.clients import AsyncTogether
from ..client.retries import MAX_RETRY_AFTER, backoff
from ..config import Imagine
from ..errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    ImageDataError,
    PaymentRequiredError,
    RateLimitError,
    TogetherError,
)
from ..generation.cost import part_cost
from ..generation.generate import cache_key, session
from ..generation.saving import save_images
from ..generation.stored import generation_of, store_for
from ..imagefiles import metadata
from ..imagefiles.files import safe_stem
from ..store.store import Store, StoreError
from ..types import ImageRequest, ImageResponse
from .manifest import FileEntry, Manifest, canonical
from .pacing import Pacer

__all__ = ["MAX_THROTTLES", "RETRY_HEADER", "Job", "Runner", "adopt", "error_kind"]

log = logging.getLogger("together_magic")

MAX_THROTTLES = 20
"""429s one part may receive before it is reported as failed (each waits for the server's Retry-After)."""
RETRY_HEADER = "x-together-magic-retry-count"
_REFERENCE_FIELDS = ("image_url", "image_base64", "reference_images")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
_REQUEST_ID = re.compile(r" \(request id [^)]*\)")


def error_kind(line: str) -> str:
    """An error line without its request id, so failures can be counted by kind."""
    return _REQUEST_ID.sub("", line)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------- adoption
def _matches(saved: Any, payload: dict[str, Any]) -> bool:
    """Does an image's embedded request equal this request? (Big reference images are not embedded.)"""
    if not isinstance(saved, dict):
        return False
    for key, value in payload.items():
        if key in saved:
            if canonical(saved[key]) != canonical(value):
                return False
        elif key not in _REFERENCE_FIELDS:
            return False
    return set(saved) <= set(payload)


def adopt(folder: Path, names: list[str], request: ImageRequest) -> list[FileEntry] | None:
    """The files already in ``folder`` holding this request's images (one per image), or None.

    Only names that start like the ones ``generation.saving`` gives this prompt and seed are opened, so a
    resume reads a handful of files per unfinished item, not the whole folder.
    """
    if request.seed is None:
        return None
    stem, tag = safe_stem(request.prompt, max_length=60), f"-s{request.seed}"
    payload = request.payload()
    found: dict[int, FileEntry] = {}
    for name in names:
        if not (name.startswith(stem + tag) and name.lower().endswith(_IMAGE_SUFFIXES)):
            continue
        try:
            record = metadata.read_record(folder / name)
        except Exception:  # not an image of ours, damaged, unreadable: never adopted, never touched
            continue
        position = record.get("index", 0)
        if isinstance(position, int) and position not in found and _matches(record.get("request"), payload):
            try:
                found[position] = FileEntry(name, sha256_of(folder / name), position)
            except OSError:
                continue
    if all(k in found for k in range(request.n)):
        return [found[k] for k in range(request.n)]
    return None


# ----------------------------------------------------------------------------------- running
@dataclass
class Job:
    """One request of one item, and how it went so far in this run."""

    item: int
    part: int
    request: ImageRequest
    headers: dict[str, str]
    attempts_before: int = 0
    errors: int = 0
    throttles: int = 0
    sent: int = 0


@dataclass
class ItemState:
    index: int
    parts_left: int
    attempts_before: int
    files: list[FileEntry] = field(default_factory=list)
    error: str | None = None
    sent: int = 0


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
            await _check_images(response, job.request)
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
            if _retryable(err) and job.errors < self.config.max_retries:
                job.errors += 1
                self.stats.retries += 1
                hinted = err.retry_after if isinstance(err, APIError) else None
                self._later(min(hinted, MAX_RETRY_AFTER) if hinted else backoff(job.errors - 1), job)
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
            session().spent += cost
        session().requests += 1
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
        key = cache_key(job.request, self.client.base_url)
        record = generation_of(
            response,
            request=job.request,
            source="batch",
            backend=response.provenance.backend or self.client.backend,
            cache_key=key,
            elapsed=elapsed,
            cost=cost,
        )
        try:
            self._store.record(dataclasses.replace(record, saved_paths=saved))
            self._store.evict(self.config.cache_size_mb * 1_000_000)
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


def _retryable(err: TogetherError) -> bool:
    if isinstance(err, ImageDataError | APIConnectionError | APIResponseValidationError):
        return True
    if isinstance(err, APIStatusError):
        status = err.status_code or 0
        return status in (408, 409) or status >= 500
    return False


async def _check_images(response: ImageResponse, request: ImageRequest) -> None:
    """Every image's bytes, now (downloads on the loop), each a real image: else the part is retried."""
    choices = response.data or []
    if len(choices) < request.n:
        raise ImageDataError(f"asked for {request.n} images, the answer holds {len(choices)}")
    for choice in choices:
        await choice.aimage_bytes()
        if choice.format is None:
            raise ImageDataError(f"image {choice.index}: the bytes are not a JPEG, PNG, WebP or GIF image")
