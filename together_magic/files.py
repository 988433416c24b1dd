"""Writing images to disk without ever losing anything.

Three promises, because a class re-runs cells and a kernel can die mid-write:
- a file is either absent or complete (written to a temporary name in the same folder, then linked in);
- an existing file is never replaced (a ``-1``, ``-2`` ... suffix is added instead);
- a name built from a prompt never leaves the folder it is meant for.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import ImageResponse

__all__ = ["atomic_write_new", "safe_stem", "save_response", "unique_path"]

_MAX_STEM = 80
_UNSAFE = re.compile(r"[^a-z0-9]+")


def safe_stem(text: str, *, max_length: int = _MAX_STEM, fallback: str = "image") -> str:
    """A file-name stem made only of lower-case ASCII letters, digits and single dashes.

    Separators, NUL, dots and anything else cannot survive, so the result can never name another folder.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("-", ascii_text.lower())[:max_length].strip("-")
    return stem or fallback


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """The first of ``stem.suffix``, ``stem-1.suffix`` ... that does not exist yet in ``folder``."""
    candidate = folder / f"{stem}{suffix}"
    counter = 1
    while candidate.exists():
        candidate = folder / f"{stem}-{counter}{suffix}"
        counter += 1
    return candidate


_TMP_PREFIX = ".together-magic-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(folder: Path) -> None:
    """Delete temporary files left by writers that were killed mid-write (their process is gone)."""
    for tmp in folder.glob(f"{_TMP_PREFIX}*.tmp"):
        pid = tmp.name[len(_TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def atomic_write_new(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` or, if it exists, to the next free ``-N`` name; return the path written.

    The bytes go to a hidden temporary file first and are fsync'ed; the final name is then created with
    ``os.link``, which fails instead of replacing when the name was taken meanwhile (another process, a
    second cell). A crash leaves at most a hidden ``.tmp`` file, never a truncated image, and the next
    write into that folder removes it.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphans(folder)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        stem, suffix = path.stem, path.suffix
        target = path
        counter = 0
        while True:
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                counter += 1
                target = folder / f"{stem}-{counter}{suffix}"
            except OSError:
                # File systems without hard links: reserve the name exclusively, then move the bytes in.
                try:
                    reserved = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    counter += 1
                    target = folder / f"{stem}-{counter}{suffix}"
                    continue
                os.close(reserved)
                os.replace(tmp, target)
                return target
    finally:
        tmp.unlink(missing_ok=True)


def save_response(response: ImageResponse, folder: str | Path) -> list[Path]:
    """Save every image as ``<prompt-slug>-s<seed>-<index>.<ext>`` with its parameters embedded.

    The extension comes from the real bytes; nothing is overwritten; the slug cannot leave ``folder``.
    """
    from .metadata import embed_parameters

    directory = Path(folder)
    request = response.request
    payload = request.payload() if request is not None else {}
    payload = {
        k: v for k, v in payload.items() if k not in ("image_url", "image_base64") or len(str(v)) < 2048
    }
    stem = safe_stem(str(payload.get("prompt", "image")), max_length=60)
    seed = payload.get("seed")
    paths = []
    for choice in response.data or []:
        name = f"{stem}-s{seed}-{choice.index}" if seed is not None else f"{stem}-{choice.index}"
        data = embed_parameters(choice.image_bytes(), payload, choice.index)
        paths.append(atomic_write_new(directory / f"{name}{choice.extension}", data))
    return paths
