"""Writing images to disk without ever losing anything, and reading an image file a user names, safely.

Writing keeps three promises, because a class re-runs cells, a kernel can die mid-write and two kernels (in
different containers, on a shared network folder) can save into one folder at the same moment:
- a file is either absent or complete: the bytes go to a hidden temporary file in the same folder, are
  fsync'ed, then get their final name by ``os.link``; where a file system makes no hard links, by an atomic
  no-replace rename (Linux ``renameat2``), else by an O_EXCL claim that the complete file then replaces
  (the claim is removed if that fails). Never by copying bytes under the final name;
- an existing file is never replaced (``atomic_write_new`` adds ``-1``, ``-2`` ...);
- a name built from a prompt never leaves the folder it is meant for (``safe_stem``).

Temporary files are created with mode 0666 and the kernel applies the umask (and any default ACL), exactly as
``open(path, "w")`` would, so saved images get the user's usual mode with no umask race between threads.

A temporary file is judged abandoned by its age and an advisory lock, never by a PID (PIDs mean nothing
across PID namespaces or machines sharing a network folder): the writer holds ``flock`` on it from creation
to publication, and a cleaner removes only a temp file it can lock AND that nobody modified for
``STALE_AFTER`` seconds. Where flock is a no-op (some NFS setups), the age still protects a live writer.

Reading (``read_image_file``) checks the cheap things before the expensive ones: that the path is a regular
file, its size, the magic bytes, then the header's dimensions and the container's structure (``containers``),
all without decoding a pixel. Each refusal is one line naming the file and the problem (an ``ImageFileError``,
re-exported here); the caller adds the option name.

A leaf module: the standard library and its sibling leaf ``containers``.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import stat
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from .containers import (
    KINDS,
    DamagedImageError,
    FileTooLargeError,
    ImageFileError,
    ImageNotFoundError,
    NotAFileError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    UnreadableFileError,
    describe_size,
    display_name,
    image_info,
    sniff,
)

if sys.platform != "win32":
    import fcntl


__all__ = [
    "STALE_AFTER",
    "DamagedImageError",
    "FileTooLargeError",
    "ImageFileError",
    "ImageNotFoundError",
    "NotAFileError",
    "NotAnImageError",
    "TooManyPixelsError",
    "TruncatedImageError",
    "UnreadableFileError",
    "atomic_write_new",
    "atomic_write_replace",
    "read_image_file",
    "remove_stale_temps",
    "safe_stem",
    "unique_path",
]

_MAX_STEM = 80
_UNSAFE = re.compile(r"[^a-z0-9]+")
_TMP_PREFIX, _TMP_SUFFIX = ".together-magic-", ".tmp"
STALE_AFTER = 3600.0
"""Seconds without a modification after which an unlocked temp file counts as abandoned. Generous on
purpose: a leftover hidden file costs disk space, a wrong guess costs a user's image."""
_CHUNK = 4 << 20  # write in pieces so a long write keeps refreshing the temp file's mtime
_O_CLOEXEC, _O_NOFOLLOW, _O_NONBLOCK = (getattr(os, f"O_{n}", 0) for n in ("CLOEXEC", "NOFOLLOW", "NONBLOCK"))
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW
# link(2) errors that mean "this file system makes no hard links here", so another way must be used:
# EPERM (FAT, exFAT, many FUSE and SMB mounts), EOPNOTSUPP/ENOTSUP and ENOSYS (file systems or FUSE drivers
# without a link operation), EMLINK (our temp file has exactly one link, so the limit can only be "one"),
# EXDEV (union and FUSE file systems that report it for two names in one folder; a rename may still work
# there, and if it does not, the error propagates and nothing is left behind). Anything else (ENOSPC,
# EDQUOT, EIO, EACCES, EROFS, ENAMETOOLONG...) is a real failure and propagates.
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}
)


def safe_stem(text: str, *, max_length: int = _MAX_STEM, fallback: str = "image") -> str:
    """A file-name stem made only of lower-case ASCII letters, digits and single dashes.

    Separators, NUL, dots and anything else cannot survive, so the result can never name another folder.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("-", ascii_text.lower())[:max_length].strip("-")
    return stem or fallback


def _numbered(path: Path) -> Iterator[Path]:
    yield path
    for counter in itertools.count(1):
        yield path.with_name(f"{path.stem}-{counter}{path.suffix}")


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """The first of ``stem.suffix``, ``stem-1.suffix`` ... that does not exist yet in ``folder``.

    Only a hint (another writer may take it next): ``atomic_write_new`` is what guarantees no overwrite.
    """
    return next(p for p in _numbered(folder / f"{stem}{suffix}") if not os.path.lexists(p))


def _lock(fd: int, *, wait: bool) -> bool:
    if sys.platform == "win32":  # pragma: no cover - no advisory locks; age alone protects temp files
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError as exc:  # file systems without flock: only the age protects
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            raise
    return True


def _open_temp(folder: Path, mode: int = 0o666) -> tuple[int, Path]:
    for _ in range(100):
        tmp = folder / f"{_TMP_PREFIX}{os.urandom(8).hex()}{_TMP_SUFFIX}"
        try:
            fd = os.open(tmp, _NEW_FILE, mode)  # the kernel applies the umask, as open(..., "w") does
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        _lock(fd, wait=True)
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))  # pragma: no cover


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:_CHUNK]) :]
    os.fsync(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the new name durable too (a crash right after a save must not lose the file's entry)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Unsupported(Exception):
    """renameat2(RENAME_NOREPLACE) is not available here."""


def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        # Looked up on each use (dlopen of libc is cached: microseconds), only where links fail.
        func = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28, musl >= 1.2.4
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Atomic rename that fails with FileExistsError instead of replacing (Linux ``RENAME_NOREPLACE``)."""
    import ctypes

    func = _renameat2()
    if func is None:
        raise _Unsupported
    at_fdcwd, rename_noreplace = -100, 1
    if func(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), rename_noreplace) == 0:
        return
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        raise _Unsupported
    raise OSError(code, os.strerror(code), str(dst))


def _reserve_and_move(tmp: Path, target: Path) -> None:
    """Claim ``target`` with O_EXCL, then move the complete temp file over the (empty) claim.

    If the move fails the claim is removed again (only if it is still our empty file), so a failed save
    never leaves an empty image under a real name.
    """
    fd = os.open(target, _NEW_FILE, 0o666)
    try:
        claim = os.fstat(fd)
        try:
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                now = os.lstat(target)
                if (now.st_dev, now.st_ino) == (claim.st_dev, claim.st_ino):
                    os.unlink(target)
            raise
    finally:
        os.close(fd)


def _publish_new(tmp: Path, path: Path) -> Path:
    how = "link"
    for target in _numbered(path):
        while True:
            try:
                if how == "link":
                    os.link(tmp, target)
                elif how == "rename":
                    _rename_noreplace(tmp, target)
                else:
                    _reserve_and_move(tmp, target)
                return target
            except FileExistsError:
                break
            except _Unsupported:
                how = "reserve"
            except OSError as exc:
                if how != "link" or exc.errno not in _NO_HARD_LINKS:
                    raise
                how = "rename"
    raise AssertionError("unreachable")  # pragma: no cover


def _write_then(
    target: str | os.PathLike[str],
    data: bytes,
    publish: Callable[[Path, Path], Path],
    mode: int = 0o666,
) -> Path:
    path = Path(target)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    fd, tmp = _open_temp(folder, mode)
    try:
        _write_all(fd, data)
        target = publish(tmp, path)
        _fsync_dir(folder)
        return target
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # after a link, the temp name; after a failure, the partial bytes
        os.close(fd)  # releases the lock last, once the temp name is gone


def atomic_write_new(path: str | os.PathLike[str], data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path`` or, if it exists, to the next free ``-N`` name; return the path written.

    Never replaces a file, even one created by another process a microsecond earlier. A crash leaves at
    most a hidden ``.together-magic-*.tmp`` file (removed by a later write once ``STALE_AFTER`` has passed),
    never a truncated or empty image. Errors (disk full, read-only folder...) propagate and leave nothing.
    ``private``: the file is readable by its owner only (0600) from its first byte (a file of secrets).
    """
    return _write_then(path, data, _publish_new, 0o600 if private else 0o666)


def atomic_write_replace(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path``, atomically replacing it if it exists. Only for files we own (cache
    entries, stores): readers see the old bytes or the new ones, never a mix."""

    def replace(tmp: Path, target: Path) -> Path:
        os.replace(tmp, target)
        return target

    return _write_then(path, data, replace)


def remove_stale_temps(folder: Path, *, stale_after: float = STALE_AFTER) -> int:
    """Delete our temp files in ``folder`` that no writer holds (lock) and nobody touched for
    ``stale_after`` seconds; return how many were removed. Other files are never looked at."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith(_TMP_PREFIX) and entry.name.endswith(_TMP_SUFFIX):
            with contextlib.suppress(OSError):
                removed += _remove_if_abandoned(Path(entry.path), stale_after)
    return removed


def _remove_if_abandoned(path: Path, stale_after: float) -> bool:
    seen = os.lstat(path)
    if not stat.S_ISREG(seen.st_mode) or time.time() - seen.st_mtime < stale_after:
        return False
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_NOFOLLOW)
    try:
        if not _lock(fd, wait=False):
            return False  # a writer is alive, whatever its namespace
        held, now = os.fstat(fd), os.lstat(path)
        if (held.st_ino, held.st_dev) != (
            now.st_ino,
            now.st_dev,
        ) or time.time() - held.st_mtime < stale_after:
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)


def read_image_file(path: str | os.PathLike[str], *, max_bytes: int, max_pixels: int | None = None) -> bytes:
    """The bytes of the image file at ``path``, after checking (cheapest first) that it is a regular file,
    at most ``max_bytes`` long, starts like an image, and is complete with a sane pixel count.

    A 2 GB file is refused from its size alone, a FIFO or device is never opened, a folder never listed.
    Raises ``ImageFileError`` subclasses with one-line messages naming the file.
    """
    name = display_name(path)
    try:
        kind = _kind(os.stat(path).st_mode)
        if kind is None:  # never open a FIFO (blocks) or a device (side effects)
            fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
            kind = _kind(os.fstat(fd).st_mode)  # it may have been swapped since the stat
            if kind is not None:
                os.close(fd)
    except (OSError, ValueError) as exc:
        raise _os_error(name, exc) from None
    if kind is not None:
        raise NotAFileError(f"{name} is {kind}")
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise FileTooLargeError(
                f"{name} is {describe_size(size)}; an image must be at most {describe_size(max_bytes)}"
            )
        try:
            head = handle.read(16)
            if sniff(head) is None:
                raise NotAnImageError(f"{name} is empty" if not head else f"{name} is not {KINDS}")
            data = head + handle.read(max_bytes + 1 - len(head))
        except OSError as exc:
            raise _os_error(name, exc) from None
    if len(data) > max_bytes:  # it grew while we read
        raise FileTooLargeError(f"{name} grew past {describe_size(max_bytes)}; an image must be at most that")
    image_info(data, name, max_pixels=max_pixels)
    return data


def _kind(mode: int) -> str | None:
    """None for a regular file, else what the path is instead."""
    if stat.S_ISREG(mode):
        return None
    return "a folder" if stat.S_ISDIR(mode) else "not a regular file"


def _os_error(name: str, exc: OSError | ValueError) -> ImageFileError:
    if isinstance(exc, FileNotFoundError):
        return ImageNotFoundError(f"{name} does not exist")
    if isinstance(exc, ValueError | NotADirectoryError):  # a NUL in the name; a file used as a folder
        return NotAFileError(f"{name} is not a valid file path")
    reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror or "unknown error"
    return UnreadableFileError(f"{name} cannot be read: {reason.lower()}")
