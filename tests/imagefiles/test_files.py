"""Names stay inside their folder; writes are atomic, never replace a file, follow the umask and fall back
only on the errors that mean "no hard links here"; a user's image file is refused in one line, cheaply."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from together_magic.imagefiles.files import (
    STALE_AFTER,
    atomic_write_new,
    atomic_write_replace,
    remove_stale_temps,
    safe_stem,
    unique_path,
)


@pytest.mark.parametrize(
    "text",
    [
        "../../etc/passwd",
        "/abs/path",
        "a\x00b",
        "..",
        ".hidden",
        "C:\\windows\\system32",
        "x" * 500,
        "狐狸 🦊",
        "",
    ],
)
def test_safe_stem_cannot_leave_the_folder(text: str, tmp_path: Path) -> None:
    stem = safe_stem(text)
    assert stem and len(stem) <= 80
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem and ".." not in stem
    assert not stem.startswith(".")
    assert (tmp_path / stem).resolve().parent == tmp_path.resolve()


def test_safe_stem_is_readable() -> None:
    assert safe_stem("A Red Fox, in the Snow!") == "a-red-fox-in-the-snow"
    assert safe_stem("Café crème") == "cafe-creme"


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_unique_path_and_atomic_write(tmp_path: Path) -> None:
    assert unique_path(tmp_path, "a", ".png") == tmp_path / "a.png"
    first = atomic_write_new(tmp_path / "a.png", b"1")
    second = atomic_write_new(tmp_path / "a.png", b"2")
    assert (first.name, second.name) == ("a.png", "a-1.png")
    assert first.read_bytes() == b"1" and second.read_bytes() == b"2"
    assert unique_path(tmp_path, "a", ".png") == tmp_path / "a-2.png"
    assert listing(tmp_path) == ["a-1.png", "a.png"]


def test_a_planted_symlink_is_a_taken_name_and_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.png").symlink_to(outside / "victim.png")  # dangling: writing through it would create victim
    assert unique_path(folder, "a", ".png").name == "a-1.png"
    assert atomic_write_new(folder / "a.png", b"data").name == "a-1.png"
    assert list(outside.iterdir()) == []


def test_atomic_write_replace_replaces_only_the_named_file(tmp_path: Path) -> None:
    target = tmp_path / "entry.bin"
    neighbour = tmp_path / "entry-1.bin"
    neighbour.write_bytes(b"keep")
    assert atomic_write_replace(target, b"one") == target
    assert atomic_write_replace(target, b"two") == target
    assert target.read_bytes() == b"two" and neighbour.read_bytes() == b"keep"
    assert listing(tmp_path) == ["entry-1.bin", "entry.bin"]


# --- The no-hard-link fallbacks, forced by making the OS primitives fail (our code is not touched) -------


@pytest.fixture
def no_links(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[str]]:
    """Make ``os.link`` fail with the given errno, as a file system without hard links does."""
    calls: list[str] = []

    def install(code: int) -> list[str]:
        def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            calls.append(str(dst))
            raise OSError(code, os.strerror(code), str(dst))

        monkeypatch.setattr(os, "link", link)
        return calls

    return install


class _LibcWithout:
    """A C library without renameat2 (older glibc, macOS, musl < 1.2.4)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


class _LibcRefusing:
    """A C library whose renameat2 says the file system does not support RENAME_NOREPLACE (EINVAL)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        def renameat2(*call: Any) -> int:
            ctypes.set_errno(errno.EINVAL)
            return -1

        self.renameat2 = renameat2


@pytest.fixture(params=["renameat2", "no-renameat2", "renameat2-einval"])
def fallback(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, no_links: Any) -> str:
    """Each way a save goes when hard links fail: an atomic no-replace rename, or an O_EXCL claim."""
    no_links(errno.EPERM)
    if request.param == "no-renameat2":
        monkeypatch.setattr(ctypes, "CDLL", _LibcWithout)
    elif request.param == "renameat2-einval":
        monkeypatch.setattr(ctypes, "CDLL", _LibcRefusing)
    return str(request.param)


@pytest.mark.parametrize("code", [errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV])
def test_no_hard_links_errors_fall_back(
    tmp_path: Path, no_links: Callable[[int], list[str]], code: int
) -> None:
    calls = no_links(code)
    (tmp_path / "a.png").write_bytes(b"old")
    path = atomic_write_new(tmp_path / "a.png", b"new")
    assert calls and path.name == "a-1.png"
    assert path.read_bytes() == b"new" and (tmp_path / "a.png").read_bytes() == b"old"
    assert listing(tmp_path) == ["a-1.png", "a.png"]


@pytest.mark.parametrize(
    "code", [errno.ENOSPC, errno.EIO, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG]
)
def test_real_errors_propagate_and_leave_nothing(
    tmp_path: Path, no_links: Callable[[int], list[str]], code: int
) -> None:
    no_links(code)
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(OSError) as caught:
        atomic_write_new(tmp_path / "a.png", b"x" * 100_000)
    assert caught.value.errno == code
    assert listing(tmp_path) == ["keep.txt"]  # no temp file, no claimed name


def test_fallback_writes_whole_files_and_never_replaces(tmp_path: Path, fallback: str) -> None:
    for i in range(3):
        atomic_write_new(tmp_path / "a.png", bytes([i]) * 1000)
    assert listing(tmp_path) == ["a-1.png", "a-2.png", "a.png"]
    assert [(tmp_path / n).read_bytes() for n in ("a.png", "a-1.png", "a-2.png")] == [
        bytes([i]) * 1000 for i in range(3)
    ]


def test_fallback_under_concurrency_loses_nothing(tmp_path: Path, fallback: str) -> None:
    payloads = [f"writer {i} ".encode() * 5000 for i in range(8)]
    barrier = threading.Barrier(len(payloads))
    written: list[Path] = []

    def write(data: bytes) -> None:
        barrier.wait()
        written.append(atomic_write_new(tmp_path / "same.jpg", data))

    threads = [threading.Thread(target=write, args=(data,)) for data in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(written)) == len(payloads)
    assert sorted(p.read_bytes() for p in written) == sorted(payloads)
    assert len(listing(tmp_path)) == len(payloads)  # no temp files, no empty claims


def test_a_failed_move_gives_the_claimed_name_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_links: Callable[[int], list[str]]
) -> None:
    no_links(errno.EPERM)
    monkeypatch.setattr(ctypes, "CDLL", _LibcWithout)  # so the O_EXCL claim is used

    def failing_replace(src: Any, dst: Any) -> None:
        assert Path(dst).exists() and Path(dst).stat().st_size == 0  # the claim is there, empty
        raise OSError(errno.EIO, "Input/output error", str(dst))

    monkeypatch.setattr(os, "replace", failing_replace)
    (tmp_path / "keep.png").write_bytes(b"user")
    with pytest.raises(OSError) as caught:
        atomic_write_new(tmp_path / "a.png", b"image")
    assert caught.value.errno == errno.EIO
    assert listing(tmp_path) == ["keep.png"]  # neither an empty a.png nor a temp file


# --- Modes follow the umask ------------------------------------------------------------------------------


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    old = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("how", ["new", "replace", "fallback"])
def test_saved_files_follow_the_umask(
    tmp_path: Path,
    umask: Callable[[int], None],
    no_links: Callable[[int], list[str]],
    mask: int,
    mode: int,
    how: str,
) -> None:
    if how == "fallback":
        no_links(errno.EPERM)
    umask(mask)
    target = tmp_path / "a.png"
    path = atomic_write_replace(target, b"x") if how == "replace" else atomic_write_new(target, b"x")
    umask(0o022)
    assert oct(path.stat().st_mode & 0o777) == oct(mode)
    plain = tmp_path / "plain"
    plain.touch()
    os.chmod(plain, 0o666 & ~mask)  # what open(..., "w") gives under that umask
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


# --- Temp files: judged by lock and age, never by PID ---------------------------------------------------


def orphan(folder: Path, name: str = ".together-magic-0000000000000000.tmp", age: float = 0.0) -> Path:
    path = folder / name
    path.write_bytes(b"half an image")
    if age:
        past = time.time() - age
        os.utime(path, (past, past))
    return path


def test_young_temp_files_stay_and_old_unlocked_ones_go(tmp_path: Path) -> None:
    young = orphan(tmp_path, ".together-magic-young.tmp", age=STALE_AFTER / 2)
    old = orphan(tmp_path, ".together-magic-old.tmp", age=STALE_AFTER * 2)
    legacy = orphan(tmp_path, ".together-magic-999999-abc.tmp", age=STALE_AFTER * 2)  # older versions' name
    users = [orphan(tmp_path, name, age=STALE_AFTER * 2) for name in ("data.json", "together-magic-x.tmp")]
    assert remove_stale_temps(tmp_path) == 2
    assert young.exists() and not old.exists() and not legacy.exists()
    assert all(p.exists() for p in users)


def test_a_locked_temp_file_stays_however_old(tmp_path: Path) -> None:
    held = orphan(tmp_path, ".together-magic-held.tmp", age=STALE_AFTER * 10)
    with held.open("rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # as a live writer in any namespace or machine does
        assert remove_stale_temps(tmp_path) == 0
        atomic_write_new(tmp_path / "a.png", b"x")  # a write cleans up too: it must spare it as well
        assert held.exists()
    assert remove_stale_temps(tmp_path) == 1 and not held.exists()


def test_things_shaped_like_temp_files_but_not_files_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".together-magic-dir.tmp").mkdir()
    target = orphan(tmp_path, "precious.png", age=STALE_AFTER * 2)
    (tmp_path / ".together-magic-link.tmp").symlink_to(target)
    past = time.time() - STALE_AFTER * 2
    os.utime(tmp_path / ".together-magic-link.tmp", (past, past), follow_symlinks=False)
    assert remove_stale_temps(tmp_path) == 0
    assert target.read_bytes() == b"half an image"
    assert listing(tmp_path) == [".together-magic-dir.tmp", ".together-magic-link.tmp", "precious.png"]


def test_a_temp_file_is_locked_while_it_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the moment the bytes are down, before the file gets its name
        for tmp in tmp_path.glob(".together-magic-*.tmp"):
            with tmp.open("rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    seen.append(False)
                except BlockingIOError:
                    seen.append(True)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_new(tmp_path / "a.png", b"x")
    assert seen and all(seen)
    assert listing(tmp_path) == ["a.png"]


# --- Reading an image file the user names ----------------------------------------------------------------

MB = 10**6


def encoded(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 20)).save(out, format=fmt)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds no pixels at all (built by hand)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def hostile_files(folder: Path) -> dict[str, tuple[Path, type[Exception], str]]:
    """name -> (path, expected error, expected message) for every way a named file can be unusable."""
    from together_magic.imagefiles.files import (
        DamagedImageError,
        FileTooLargeError,
        ImageNotFoundError,
        NotAFileError,
        NotAnImageError,
        TooManyPixelsError,
        TruncatedImageError,
    )

    cases: dict[str, tuple[Path, type[Exception], str]] = {}

    def case(name: str, data: bytes | None, error: type[Exception], message: str) -> None:
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        cases[name] = (path, error, message.replace("{}", str(path)))

    (folder / "fox.png").mkdir()
    cases["folder"] = (folder / "fox.png", NotAFileError, f"{folder / 'fox.png'} is a folder")
    case("missing.png", None, ImageNotFoundError, "{} does not exist")
    case("empty.png", b"", NotAnImageError, "{} is empty")
    case("notes.png", b"just some text, renamed", NotAnImageError, "{} is not a JPEG, PNG, WebP or GIF image")
    case("fake.jpg", b"\xff\xd8", NotAnImageError, "{} is not a JPEG, PNG, WebP or GIF image")
    case("cut.png", encoded("PNG")[:-30], TruncatedImageError, "{} is truncated")
    case("cut.jpg", encoded("JPEG")[:-100], TruncatedImageError, "{} is truncated")
    case("cut-header.jpg", encoded("JPEG")[:40], TruncatedImageError, "{} is truncated")
    case("cut.gif", encoded("GIF")[:-5], TruncatedImageError, "{} is truncated")
    case("cut.webp", encoded("WEBP")[:-10], TruncatedImageError, "{} is truncated")
    case("signature-only.png", b"\x89PNG\r\n\x1a\n", TruncatedImageError, "{} is truncated")
    bomb = png_header_only(30000, 30000)
    case(
        "bomb.png",
        bomb,
        TooManyPixelsError,
        "{} declares 30000x30000 pixels; at most 89,478,485 pixels are accepted",
    )
    case("zero.png", png_header_only(0, 10), DamagedImageError, "{} is a damaged PNG image")
    no_ihdr = b"\x89PNG\r\n\x1a\n" + png_header_only(1, 1)[33:]
    case("no-ihdr.png", no_ihdr, DamagedImageError, "{} is a damaged PNG image (no IHDR header)")
    big = folder / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2.1 GB that takes no disk
    cases["2 GB sparse"] = (big, FileTooLargeError, f"{big} is 2.1 GB; an image must be at most 20 MB")
    os.mkfifo(folder / "pipe.png")  # opening it would block forever
    cases["fifo"] = (folder / "pipe.png", NotAFileError, f"{folder / 'pipe.png'} is not a regular file")
    cases["device"] = (Path("/dev/zero"), NotAFileError, "/dev/zero is not a regular file")
    (folder / "plain.txt").write_text("x")
    cases["file as folder"] = (
        folder / "plain.txt" / "x.png",
        NotAFileError,
        f"{folder / 'plain.txt' / 'x.png'} is not a valid file path",
    )
    return cases


def test_hostile_files_are_refused_in_one_line_and_quickly(tmp_path: Path) -> None:
    from together_magic.imagefiles.files import ImageFileError, read_image_file

    for name, (path, error, message) in hostile_files(tmp_path).items():
        started = time.perf_counter()
        with pytest.raises(error) as caught:
            read_image_file(path, max_bytes=20 * MB)
        took = time.perf_counter() - started
        assert isinstance(caught.value, ImageFileError | FileNotFoundError), name
        assert isinstance(caught.value, ValueError), name  # the caller catches ValueError
        text = str(caught.value)
        assert text.startswith(message), (name, text)
        assert "\n" not in text and "Traceback" not in text, name
        assert took < 0.5, (name, took)


def test_a_2gb_file_is_refused_without_being_read(tmp_path: Path) -> None:
    from together_magic.imagefiles.files import FileTooLargeError, read_image_file

    big = tmp_path / "big.png"
    with big.open("wb") as handle:
        handle.write(png_header_only(64, 64))
        handle.truncate(2 * 1024**3)

    def bytes_read() -> int:
        fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return int(fields["rchar"])

    before = bytes_read()
    started = time.perf_counter()
    with pytest.raises(FileTooLargeError):
        read_image_file(big, max_bytes=20 * MB)
    assert time.perf_counter() - started < 0.5  # a hang guard; the speed itself is in benchmarks/bench_files
    assert bytes_read() - before < 64 * 1024  # only /proc/self/io itself, not the file


def test_size_limit_is_inclusive(tmp_path: Path) -> None:
    from together_magic.imagefiles.files import FileTooLargeError, read_image_file

    data = encoded("PNG")
    path = tmp_path / "exact.png"
    path.write_bytes(data)
    assert read_image_file(path, max_bytes=len(data)) == data
    with pytest.raises(FileTooLargeError, match=f"is {len(data)} bytes; an image must be at most"):
        read_image_file(path, max_bytes=len(data) - 1)


def test_an_unreadable_file_is_named_in_one_line(tmp_path: Path) -> None:
    """chmod 000 stops everyone but root; as root, the check runs in a child without the capabilities
    that let root ignore file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), a real unprivileged read."""
    import subprocess
    import sys

    path = tmp_path / "secret.png"
    path.write_bytes(encoded("PNG"))
    path.chmod(0)
    code = (
        "import sys\nfrom together_magic.imagefiles.files import read_image_file\n"
        "try:\n    read_image_file(sys.argv[1], max_bytes=10**6)\n"
        "except ValueError as exc:\n    print(type(exc).__name__, exc)\n"
    )

    def drop_root_overrides() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH out of the bounding set
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")

    preexec = drop_root_overrides if os.geteuid() == 0 else None
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        preexec_fn=preexec,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout == f"UnreadableFileError {path} cannot be read: permission denied\n"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_real_images_are_read_whole(tmp_path: Path, fmt: str) -> None:
    from together_magic.imagefiles.containers import image_info
    from together_magic.imagefiles.files import read_image_file

    data = encoded(fmt, (37, 23))
    path = tmp_path / f"ok.{fmt.lower()}"
    path.write_bytes(data)
    assert read_image_file(path, max_bytes=MB) == data
    assert image_info(data)[1:] == (37, 23)


def test_a_name_with_control_characters_stays_on_one_line(tmp_path: Path) -> None:
    from together_magic.imagefiles.files import ImageNotFoundError, read_image_file

    with pytest.raises(ImageNotFoundError) as caught:
        read_image_file(tmp_path / "evil\nname\r.png", max_bytes=MB)
    assert "\n" not in str(caught.value) and "\r" not in str(caught.value)
    assert "evil\\nname\\r.png" in str(caught.value)
