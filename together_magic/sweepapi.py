"""The front doors of sweeps: the ``%%imagine --vary`` cell, and ``together_magic.sweep()`` / ``asweep()``.

In a notebook cell the grid fills in while the requests run, and the finished ``Sweep`` is the cell's
result (bound to ``-o NAME`` too). An interrupt cancels every pending request at once; the cell then raises
(so "Run all" stops there) after binding the partial sweep to ``-o NAME``, saving what finished with
``--save`` and showing it, and the one-line message says how many cells finished and how many were
cancelled. When every cell failed, the first error is raised as a single request's would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .config import Imagine, current
from .errors import OptionError
from .options import ImagineOptions
from .runner import Interrupted, run_blocking
from .sweeping import (
    OUTPUT_OPTIONS,
    announce,
    first_failure,
    interrupted_message,
    plan_sweep,
    run_sweep,
    save_sweep,
    saved_summary,
)
from .sweeps import Cell, Sweep

__all__ = ["LiveGrid", "asweep", "options_from", "sweep", "sweep_cell"]

_STYLE = "font:12px/1.4 sans-serif;opacity:.75"
TICK_SECONDS = 0.25


def _show_line(text: str) -> None:
    """A small grey information line in the cell's output (never stderr)."""
    from IPython.display import display

    display(  # type: ignore[no-untyped-call]
        {"text/plain": text, "text/html": f'<div style="{_STYLE}">{html.escape(text)}</div>'}, raw=True
    )


class LiveGrid:
    """The grid filling in cell by cell while a sweep runs on the kernel's loop.

    It works as ``progress.StatusLine`` does (that module sits above this one): a display with a
    ``display_id`` that starts with no data at all, is updated in place, and is emptied when the cell ends.
    The finished ``Sweep`` is the cell's result, so a saved notebook, and nbval, see the final grid once and
    nothing transient.
    """

    def __init__(self, sweep: Sweep, *, enabled: bool = True) -> None:
        self.sweep = sweep
        self.enabled = enabled
        self._handle: Any = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = True
        self._grid = ""
        self._started = time.perf_counter()

    def __enter__(self) -> LiveGrid:
        from IPython.display import display

        if not self.enabled:
            return self
        try:
            self._handle = display({}, raw=True, display_id=True)  # type: ignore[no-untyped-call]
            self._task = asyncio.get_running_loop().create_task(self._tick())
        except Exception:  # no kernel, no loop: a live grid is a nicety, never a failure
            self._handle = None
        return self

    def cell_done(self, cell: Cell) -> None:
        self._dirty = True

    def bundle(self) -> dict[str, str]:
        if self._dirty:
            self._grid, self._dirty = self.sweep.html(), False
        text = f"{self.sweep.summary()} … {time.perf_counter() - self._started:.1f} s"
        line = f'<div style="{_STYLE}">⏳ {html.escape(text)}</div>'
        return {"text/plain": text, "text/html": line + self._grid}

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self._handle is not None:
                self._handle.update(self.bundle(), raw=True)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._handle is not None:
            with contextlib.suppress(Exception):
                self._handle.update({}, raw=True)


def _kept(planned: Sweep, out: str | None) -> str:
    kept = f"bound to {out}" if out else "add -o NAME to keep a partial sweep"
    if out is None and planned.options.seed is not None:
        kept += f"; with --seed {planned.options.seed} a re-run takes finished cells from the cache"
    if planned.save_dir is not None and planned.saved:
        kept += f"; saved in {planned.save_dir}"
    return kept


async def sweep_cell(magics: Any, options: ImagineOptions, namespace: dict[str, Any], *, live: bool) -> Any:
    """Run a ``%%imagine --vary`` cell (or ``--from`` a contact sheet) for the magic.

    ``OptionError`` and ``TogetherError`` are the magic's to show as one line; ``Interrupted`` becomes the
    ``ImagineCancelled`` line of the runner.
    """
    from IPython.display import display

    config: Imagine = magics.settings
    planned = plan_sweep(options, config=config, namespace=namespace, where="notebook")
    _show_line(announce(planned, config))
    try:
        with LiveGrid(planned, enabled=live and options.display) as grid:
            await run_sweep(planned, config, source="magic", on_cell=grid.cell_done)
    except Interrupted:
        magics.bind(options.out, planned)
        if planned.save_dir is not None and planned.responses:
            save_sweep(planned, planned.save_dir)
        if options.display and planned.responses:
            display(planned)  # type: ignore[no-untyped-call]
        raise Interrupted(interrupted_message(planned, _kept(planned, options.out)), planned) from None
    finished = next(iter(planned.responses.values()), None)
    if finished is not None:
        magics._announce(finished.provenance.backend)
    magics.bind(options.out, planned)
    problems = save_sweep(planned, planned.save_dir) if planned.save_dir is not None else []
    planned.save_errors = problems
    failure = first_failure(planned)
    if failure is not None:
        raise failure
    if problems:
        # Bound first, shown, then the failure named: nothing the user already has is lost.
        if options.display:
            display(planned)  # type: ignore[no-untyped-call]
        raise OptionError(saved_summary(planned, problems, planned.save_dir or Path(".")))
    return planned if options.display else None


_RENAMES = {
    "negative_prompt": "negative",
    "guidance_scale": "guidance",
    "output_format": "format",
    "image_url": "image",
    "reference_images": "references",
    "image_loras": "loras",
    "prompt_upsampling": "upsample",
}
_FIELDS = {f.name for f in dataclasses.fields(ImagineOptions)} - set(OUTPUT_OPTIONS) - {"params", "prompt"}
_INTS, _FLOATS = ("n", "seed", "width", "height", "steps"), ("guidance",)


def options_from(prompt: str | None, fields: Mapping[str, Any]) -> ImagineOptions:
    """Keyword arguments (our option names or the API's field names) -> ``ImagineOptions``."""
    known: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for key, value in fields.items():
        name = _RENAMES.get(key, key)
        if name not in _FIELDS:
            params[key] = value
            continue
        if value is not None and name in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
            raise OptionError(f"sweep(): {key} must be a whole number, got {value!r}")
        if value is not None and name in _FLOATS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OptionError(f"sweep(): {key} must be a number, got {value!r}")
            value = float(value)
        if name == "loras" and value is not None:
            value = tuple(_lora(item) for item in value)
        if name == "references" and value is not None:
            value = (value,) if isinstance(value, str | bytes) else tuple(value)
        known[name] = value
    return ImagineOptions(prompt=prompt, params=tuple(params.items()), **known)


def _lora(item: Any) -> tuple[str, float]:
    if isinstance(item, Mapping):
        return str(item.get("path")), float(item.get("scale", 1.0))
    if isinstance(item, tuple | list) and len(item) == 2:
        return str(item[0]), float(item[1])
    path, _, scale = str(item).rpartition(":")
    try:
        return (path, float(scale)) if path else (str(item), 1.0)
    except ValueError:
        return str(item), 1.0


async def asweep(
    prompt: str | None = None,
    vary: Mapping[str, Any] | Sequence[str] | str | None = None,
    *,
    save: str | Path | None = None,
    cache: bool = True,
    from_path: str | Path | None = None,
    max_images: int | None = None,
    **fields: Any,
) -> Sweep:
    """``await together_magic.asweep("a red fox", vary={"guidance": [1, 3.5, 7]}, seed=42)``.

    ``vary`` maps axes to values (a list, a ``range``, or text as after ``--vary``: ``"4:28:8"``), or is
    ``--vary`` texts (``["steps=4,8", "guidance=1,7"]``); the other keywords are the options of
    ``%%imagine`` or the API's field names (``negative_prompt=...``); unknown names are sent as they are,
    like ``-p``. Failed cells are kept in ``.failed``; when every cell failed, the first error is raised.
    With ``save=DIR``, files that could not be written are listed in ``.save_errors`` (and warned about):
    the sweep is returned all the same.
    """
    config = current()
    if max_images is not None:
        config = Imagine(parent=None, **{**config.trait_values(config=True), "max_sweep_images": max_images})
    texts: tuple[str, ...] = ()
    if isinstance(vary, str):
        texts, vary = (vary,), None
    elif vary is not None and not isinstance(vary, Mapping):
        if not all(isinstance(item, str) for item in vary):
            raise OptionError("sweep(): vary must map axes to values, e.g. vary={'steps': [4, 8]}")
        texts, vary = tuple(vary), None
    options = options_from(prompt, fields).replace(
        vary=texts,
        save=str(save) if save is not None else None,
        cache=cache,
        from_path=str(from_path) if from_path is not None else None,
    )
    planned = plan_sweep(options, config=config, vary=vary, where="python")
    done = await run_sweep(planned, config, source="python")
    if done.save_dir is not None:
        done.save_errors = save_sweep(done, done.save_dir)
        if done.save_errors:
            warnings.warn(saved_summary(done, done.save_errors, done.save_dir), RuntimeWarning, stacklevel=2)
    failure = first_failure(done)
    if failure is not None:
        raise failure
    return done


def sweep(
    prompt: str | None = None,
    vary: Mapping[str, Any] | Sequence[str] | str | None = None,
    **kwargs: Any,
) -> Sweep:
    """The blocking form of :func:`asweep` (scripts, and notebooks without ``await``)."""
    return run_blocking(lambda: asweep(prompt, vary, **kwargs))
