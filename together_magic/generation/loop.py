"""Running a generation on the right event loop, and cancelling it promptly.

Three situations, measured in the project's kernel-loop study:

- **ipykernel, top-level cell**: ``rewriter.CellRewriter`` turns a ``%%imagine`` cell into a top-level
  ``await``, so the request runs on the kernel's own loop (widgets stay live) and the cell stays busy
  until the images are there. ``wait_cancellable`` waits in 0.1 s slices: a kernel interrupt lands on a
  sleeping loop only when it wakes (ipykernel#881), and the slices make it land within a fraction of a
  second.
- **no loop running** (terminal IPython, a plain ``InteractiveShell``): ``run_blocking`` runs the task on
  IPython's own persistent loop; Ctrl-C cancels the task itself (IPython#14248 would leave it running).
- **a loop running but no await possible** (``%%capture``/``%%time`` around the cell, pytest-asyncio):
  ``run_blocking`` uses a worker thread with its own loop and client, and cancels it on Ctrl-C.

No nest_asyncio and no fire-and-forget tasks: outputs of detached tasks never reach saved notebooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..client.clients import AsyncTogether
from ..client.tls import CA_FILE_ENV
from ..config import Imagine

__all__ = ["ImagineCancelled", "Interrupted", "client_for_running_loop", "run_blocking", "wait_cancellable"]

T = TypeVar("T")
POLL_SECONDS = 0.1


class ImagineCancelled(KeyboardInterrupt):
    """The user interrupted a generation. Shown as one line."""

    message = "generation cancelled (nothing was bound; the next cell will work)"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message

    def _render_traceback_(self) -> list[str]:
        return [self.message]


class Interrupted(Exception):
    """Raised by work that was cancelled after keeping part of its result (a sweep's finished cells).

    An ordinary exception, so it can end an asyncio task (a ``KeyboardInterrupt`` there would escape the
    event loop); the waiting functions below turn it into ``ImagineCancelled`` with its message, which
    says what was kept. ``result`` is what was kept.
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


def _cancelled(outcome: BaseException | None) -> ImagineCancelled:
    """The error a cancelled wait raises: the work's own account of what it kept, when it gave one."""
    if isinstance(outcome, Interrupted):
        return ImagineCancelled(str(outcome))
    return ImagineCancelled()


def _outcome(task: asyncio.Future[Any]) -> BaseException | None:
    if not task.done() or task.cancelled():
        return None
    return task.exception()


# ----------------------------------------------------------------------------- clients, one per loop
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[tuple[Any, ...], AsyncTogether]] = (
    weakref.WeakKeyDictionary()
)


def _settings_of(config: Imagine) -> tuple[Any, ...]:
    return (
        config.base_url,
        config.timeout,
        config.max_retries,
        config.strict,
        os.environ.get("TOGETHER_API_KEY"),
        os.environ.get("TOGETHER_BASE_URL"),
        config.ca_file,
        os.environ.get(CA_FILE_ENV),
    )


async def client_for_running_loop(config: Imagine) -> AsyncTogether:
    """An ``AsyncTogether`` bound to the running loop (an httpx pool cannot move between loops).

    It is reused while the settings (config, key, base URL) stay the same, and closed when they change.
    Front ends announce the offline backend and retired models themselves, so this client never prints.
    """
    loop = asyncio.get_running_loop()
    settings = _settings_of(config)
    entry = _clients.get(loop)
    if entry is not None and entry[0] == settings:
        return entry[1]
    if entry is not None:
        # Forget the old pool before closing it: if the new settings are unusable (a bad base URL), the
        # next call must build a client again, never be handed this closed one.
        _clients.pop(loop, None)
        await entry[1].aclose()
    client = AsyncTogether(
        base_url=config.base_url,
        timeout=config.timeout,
        max_retries=config.max_retries,
        announce_offline=False,
        strict=config.strict,
        ca_file=config.ca_file or None,
    )
    _clients[loop] = (settings, client)
    return client


def close_idle_clients() -> None:
    """Close the pools of loops that are not running right now (used when the extension is unloaded)."""
    for loop, (_, client) in list(_clients.items()):
        if not loop.is_closed() and not loop.is_running():
            with contextlib.suppress(Exception):
                loop.run_until_complete(client.aclose())
        _clients.pop(loop, None)


async def close_loop_client() -> None:
    entry = _clients.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry[1].aclose()


# ----------------------------------------------------------------------------- waiting and cancelling
async def wait_cancellable(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` in short slices so a kernel interrupt cancels it within ~0.1 s."""
    task = asyncio.ensure_future(awaitable)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait({task}, timeout=1.0)
        current = asyncio.current_task()
        if current is not None and sys.version_info >= (3, 11):
            current.uncancel()
        raise _cancelled(_outcome(task)) from None
    result: T = task.result()
    return result


def run_blocking(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine to completion from synchronous code, wherever we are."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    # Outside the ``except`` block, so errors raised by the work carry no unrelated RuntimeError context.
    return _run_in_thread(factory) if running else _run_on_ipython_loop(factory)


def _run_on_ipython_loop(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    from IPython.core.async_helpers import get_asyncio_loop

    loop = get_asyncio_loop()  # type: ignore[no-untyped-call]
    task = loop.create_task(factory())

    async def sliced() -> None:
        # Wake the loop every slice: a SIGINT delivered to another thread only sets a flag, which the
        # main thread checks when it runs Python code again.
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)

    try:
        loop.run_until_complete(sliced())
    except KeyboardInterrupt:
        task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.wait({task}, timeout=1.0))
        raise _cancelled(_outcome(task)) from None
    result: T = task.result()
    return result


def _run_in_thread(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> T:
        box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        ready.set()
        try:
            return await factory()
        finally:
            await close_loop_client()  # this loop dies with the thread; so must its pool

    finished = threading.Event()

    def worker() -> None:
        try:
            box["result"] = asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc
        finally:
            ready.set()
            finished.set()

    thread = threading.Thread(target=worker, name="together-magic", daemon=True)
    thread.start()
    # An Event, not thread.join(): a KeyboardInterrupt inside join() can mark a thread that is still
    # running as stopped (CPython gh-90882, before 3.13), and the second join() would not wait at all.
    try:
        while not finished.wait(0.05):
            pass
    except KeyboardInterrupt:
        ready.wait(1)
        if "task" in box:
            box["loop"].call_soon_threadsafe(box["task"].cancel)
        finished.wait(2)
        raise _cancelled(box.get("error")) from None
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result
