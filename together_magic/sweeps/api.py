"""The Python front doors of sweeps: ``together_magic.sweep()`` and ``asweep()``.

They plan and run exactly as the ``%%imagine --vary`` cell does (``notebook.cells``): every cell checked
before anything is sent, one request per cell, the finished cells kept (and returned in the
``Interrupted`` error) when the run is stopped part-way."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Imagine, current
from ..errors import OptionError
from ..generation.loop import Interrupted, run_blocking
from ..generation.options import ImagineOptions
from .result import Sweep
from .run import (
    OUTPUT_OPTIONS,
    first_failure,
    interrupted_message,
    plan_sweep,
    run_sweep,
    save_sweep,
    saved_summary,
)

__all__ = ["asweep", "options_from", "sweep"]


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
    if max_images is not None and (
        isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1
    ):
        raise OptionError(f"sweep(): max_images must be a whole number, 1 or more, got {max_images!r}")
    if max_images is not None:
        config = Imagine(parent=None, **{**config.trait_values(config=True), "max_sweep_images": max_images})
    texts: tuple[str, ...] = ()
    if isinstance(vary, str):
        texts, vary = (vary,), None
    elif vary is not None and not isinstance(vary, Mapping):
        if isinstance(vary, bytes) or not isinstance(vary, Iterable):
            raise OptionError(
                f"sweep(): vary must map axes to values, e.g. vary={{'steps': [4, 8]}}, got {vary!r}"
            )
        vary = list(vary)
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
    try:
        done = await run_sweep(planned, config, source="python")
    except Interrupted:
        # Nothing is bound by an interrupted call: save what finished (as the magic and the CLI do) and
        # say how to get it back, with the seed that was drawn for it.
        if planned.save_dir is not None and planned.responses:
            save_sweep(planned, planned.save_dir)
        raise Interrupted(interrupted_message(planned, _again(planned, fields, cache)), planned) from None
    if done.save_dir is not None:
        done.save_errors = save_sweep(done, done.save_dir)
        if done.save_errors:
            warnings.warn(saved_summary(done, done.save_errors, done.save_dir), RuntimeWarning, stacklevel=2)
    failure = first_failure(done)
    if failure is not None:
        raise failure
    return done


def _again(planned: Sweep, fields: Mapping[str, Any], cache: bool) -> str:
    """Where an interrupted ``sweep()`` left its finished cells: the cache, reached by the same call."""
    saved = f"saved in {planned.save_dir}; " if planned.save_dir is not None and planned.saved else ""
    if not cache:
        return saved + "cache=False: nothing was kept for a re-run"
    seeded = fields.get("seed") is not None or any(axis.name == "seed" for axis in planned.axes)
    how = "the same call" if seeded else f"the same call with seed={planned.options.seed}"
    return f"{saved}{how} takes them from the cache"


def sweep(
    prompt: str | None = None,
    vary: Mapping[str, Any] | Sequence[str] | str | None = None,
    **kwargs: Any,
) -> Sweep:
    """The blocking form of :func:`asweep` (scripts, and notebooks without ``await``)."""
    return run_blocking(lambda: asweep(prompt, vary, **kwargs))
