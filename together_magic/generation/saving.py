"""Writing a response's images to disk with what made them, and reading that back (``--from``).

Names are ``<prompt-slug>-s<seed>.<ext>`` from each image's own seed (``-<k>`` is added for the k-th image of
a raw ``n`` request, whose images share one seed); an existing file is never replaced (a ``-1``, ``-2``...
suffix is added), and saving the same image into the same folder again finds the copy already there
instead of making another. Each file embeds the request that reproduces that image alone.

A save that fails part-way (disk full at image 2 of 4) writes what it can and reports, per image, what was
written and what failed, so the front end can bind the response first and then say which files exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..imagefiles import metadata
from ..imagefiles.containers import display_name
from ..imagefiles.files import atomic_write_new, safe_stem
from ..models import DEFAULT_MODEL
from ..types import ImageChoicesData, ImageRequest, ImageResponse

__all__ = [
    "SaveReport",
    "file_payload",
    "file_stem",
    "omitted_inputs",
    "read_parameters",
    "read_recipe",
    "recipe_for",
    "save_images",
    "save_response",
]

_MAX_INLINE_REFERENCE = 2048


@dataclass(frozen=True)
class SaveReport:
    """Per image: the path written (or found already there), or None and the reason it failed."""

    paths: tuple[Path | None, ...]
    errors: tuple[str | None, ...]
    existing: tuple[bool, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(self.errors)

    def summary(self, folder: Path | str) -> str:
        """One line for a partial failure: which files were written and which were not, and why."""
        written = [p.name for p in self.paths if p is not None]
        failed = [f"#{i}: {e}" for i, e in enumerate(self.errors) if e]
        head = f"--save: {len(failed)} of {len(self.errors)} images could not be written to {folder}"
        done = f"; written: {', '.join(written)}" if written else "; nothing was written"
        return f"{head} ({'; '.join(failed)}){done}"


def file_payload(request: ImageRequest | None) -> dict[str, Any]:
    """A request as a saved file (an image's recipe, a sheet's cell) carries it: a data: URL of an input
    image would bloat every file, so it is left out; a URL or a short value is kept."""
    payload = request.payload() if request is not None else {}
    return {
        k: v
        for k, v in payload.items()
        if k not in ("image_url", "image_base64", "reference_images") or len(str(v)) < _MAX_INLINE_REFERENCE
    }


def omitted_inputs(request: ImageRequest | None) -> list[str]:
    """The fields ``file_payload`` leaves out, recorded by name so that ``--from`` asks for the input
    image again instead of silently sending a text-to-image request in place of an edit."""
    if request is None:
        return []
    return sorted(set(request.payload()) - set(file_payload(request)))


def recipe_for(choice: ImageChoicesData, fallback: ImageRequest | None = None) -> dict[str, Any]:
    """What a saved image carries: the request that makes it alone and its place in that request."""
    own = choice.provenance
    request = own.request or fallback
    omitted = omitted_inputs(request)
    return {
        "request": file_payload(request),
        "index": own.position,
        **({"omitted": omitted} if omitted else {}),
    }


def file_stem(choice: ImageChoicesData, fallback: ImageRequest | None = None) -> str:
    own = choice.provenance
    request = own.request or fallback
    stem = safe_stem(request.prompt if request is not None else "image", max_length=60)
    if own.seed is None:
        return f"{stem}-{choice.index}"
    return f"{stem}-s{own.seed}" if own.of <= 1 else f"{stem}-s{own.seed}-{own.position}"


def _same_file_exists(folder: Path, stem: str, suffix: str, data: bytes) -> Path | None:
    """An earlier save of exactly these bytes under this stem (so saving twice does not copy)."""
    numbered = re.compile(rf"{re.escape(stem)}-\d+{re.escape(suffix)}")
    try:
        names = [name for name in os.listdir(folder) if numbered.fullmatch(name)]
    except OSError:
        names = []
    candidates = [folder / f"{stem}{suffix}", *(folder / name for name in names)]
    for path in candidates:
        try:
            same_size = path.is_file() and not path.is_symlink() and path.stat().st_size == len(data)
            if same_size and path.read_bytes() == data:
                return path
        except OSError:
            continue
    return None


def _save_one(choice: ImageChoicesData, folder: Path, fallback: ImageRequest | None) -> tuple[Path, bool]:
    data = metadata.embed(choice.image_bytes(), recipe_for(choice, fallback))
    stem, suffix = file_stem(choice, fallback), choice.extension
    found = _same_file_exists(folder, stem, suffix, data)
    if found is not None:
        return found, True
    return atomic_write_new(folder / f"{stem}{suffix}", data), False


def save_images(
    choices: Sequence[ImageChoicesData], folder: str | Path, fallback: ImageRequest | None = None
) -> SaveReport:
    """Save images (see the module docstring); one image's failure never stops the others."""
    directory = Path(folder).expanduser()
    paths: list[Path | None] = []
    errors: list[str | None] = []
    existing: list[bool] = []
    for choice in choices:
        try:
            path, was_there = _save_one(choice, directory, fallback)
        except OSError as exc:
            paths.append(None)
            errors.append(exc.strerror or str(exc))
            existing.append(False)
        except Exception as exc:  # a broken image (bad base64) must not stop the others being saved
            paths.append(None)
            errors.append(f"{type(exc).__name__}: {exc}")
            existing.append(False)
        else:
            paths.append(path)
            errors.append(None)
            existing.append(was_there)
    return SaveReport(tuple(paths), tuple(errors), tuple(existing))


def save_response(response: ImageResponse, folder: str | Path) -> SaveReport:
    """Save every image of a response, each named and described by its own provenance."""
    return save_images(response.data or [], folder, response.request)


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The recipe stored in a saved image; ``ValueError`` with one line when there is none."""
    return metadata.read_recipe(Path(path).expanduser())


def read_parameters(path: str | Path) -> ImageRequest:
    """The request stored in an image saved by together-magic (or A1111-style ``parameters``).

    Raises FileNotFoundError for a missing file and ValueError (one line) when the file holds no
    parameters, is not an image, is a folder or cannot be read.
    """
    recipe = read_recipe(path)
    payload = recipe.get("request")
    name = display_name(path)
    if not isinstance(payload, dict):
        raise metadata.DamagedRecipeError(f"{name} has a damaged {metadata.JSON_KEY} recipe (no request)")
    try:
        return ImageRequest(**{"model": DEFAULT_MODEL, "prompt": "", **payload})
    except (TypeError, ValueError):
        raise metadata.DamagedRecipeError(
            f"{name} holds generation parameters that are not a valid request"
        ) from None
