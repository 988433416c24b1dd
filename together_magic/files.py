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

__all__ = ["atomic_write_new", "atomic_write_replace", "safe_stem", "unique_path"]

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


def atomic_write_replace(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, replacing it atomically: only for files the caller owns."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return path


class ImageFileError(ValueError):
    """A file a user named is not a readable image; the message is one line without the option name."""


def read_image_file(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of an image file, checked (a file, not too big, an image signature) before reading it all.

    Interim version; raises FileNotFoundError when the path does not exist.
    """
    if not path.exists():
        raise FileNotFoundError(str(path))
    if path.is_dir():
        raise ImageFileError(f"{path.name} is a folder, not an image")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageFileError(f"{path.name} is {size / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB")
        with path.open("rb") as handle:
            head = handle.read(16)
            if not (
                head[:3] == b"\xff\xd8\xff"
                or head[:8] == b"\x89PNG\r\n\x1a\n"
                or head[:4] == b"RIFF"
                or head[:6] in (b"GIF87a", b"GIF89a")
            ):
                raise ImageFileError(f"{path.name} is not a JPEG, PNG, WebP or GIF image")
            return head + handle.read()
    except OSError as exc:
        raise ImageFileError(f"{path.name} cannot be read: {exc.strerror or exc}") from None
