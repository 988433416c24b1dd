"""Saving never overwrites, never leaves the target folder, and never leaves a partial or empty image behind:
not when writers are killed, not when the disk fills, not when a writer lives in another PID namespace."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import together_magic as tm
from together_magic.generation.saving import save_response
from together_magic.imagefiles.files import STALE_AFTER, atomic_write_new, remove_stale_temps
from together_magic.types import Provenance, attach_provenance
from together_magic.widgets.panel import ImaginePanel

from ..conftest import MODEL

nasty_prompts = st.one_of(
    st.sampled_from(
        [
            "../../x",
            "/etc/passwd",
            "..",
            ".",
            "a\x00b",
            "C:\\Windows\\x",
            "~/x",
            "x" * 5000,
            "🦊/../🦊",
            "con",
            "a/b/c",
            " ",
            "\u202e\u2066evil",
            "name.png",
            "-rf /",
        ]
    ),
    st.text(min_size=1, max_size=200),
)
_response_cache: dict[str, tm.ImageResponse] = {}


def response_for(prompt: str) -> tm.ImageResponse:
    base = _response_cache.get("base")
    if base is None:
        with tm.Together(base_url="offline") as client:
            base = client.images.generate(prompt="fox", model=MODEL, seed=1, n=2, width=256, height=256)
        _response_cache["base"] = base
    clone = tm.ImageResponse.model_validate(base.model_dump())
    request = tm.ImageRequest(prompt=prompt or " ", model=MODEL, seed=1, n=2, width=256, height=256)
    return attach_provenance(clone, Provenance(request=request))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=nasty_prompts)
def test_save_stays_inside_and_never_overwrites(tmp_path: Path, prompt: str) -> None:
    folder = tmp_path / "out"
    folder.mkdir(exist_ok=True)
    before = {p: p.read_bytes() for p in folder.iterdir()}
    response = response_for(prompt)
    first = save_response(response, folder)
    second = save_response(response, folder)
    assert first.ok and second.ok
    paths = [p for p in first.paths + second.paths if p is not None]
    for path in paths:
        assert path.resolve().parent == folder.resolve()
        assert not path.name.startswith(".")
        assert path.read_bytes().startswith(b"\xff\xd8")
    assert second.paths == first.paths and all(second.existing)  # the same images: found, not copied
    assert len(set(paths)) == 2
    for path, data in before.items():
        assert path.read_bytes() == data  # nothing that was there changed
    assert not list(folder.glob(".together-magic-*"))
    assert sorted(os.listdir(tmp_path)) == ["out"]  # nothing escaped next to (or above) the folder


@pytest.mark.anyio
async def test_panel_save_never_overwrites(tmp_path: Path) -> None:
    from together_magic import config

    config.set_current(config.Imagine(save_dir=str(tmp_path / "saved"), cache=False))
    try:
        panel = ImaginePanel(shell=None)
        panel.prompt.value = "../../../../tmp/escape attempt"
        panel.width.value = panel.height.value = 256
        panel.generate.click()
        await panel.task
        save = next(b for b in panel.gallery.children[0].children[2].children if b.description == "Save")
        for _ in range(3):
            save.click()
    finally:
        config.set_current(None)
    saved = sorted(p.name for p in (tmp_path / "saved").iterdir())
    seed = panel.last.request.seed  # type: ignore[union-attr]
    assert saved == [f"tmp-escape-attempt-s{seed}.jpg"]  # three clicks, one file, nothing overwritten


ROOT = Path(__file__).resolve().parents[2]
BIG = 200 * 1024 * 1024

WRITER = """
import sys
from pathlib import Path
from together_magic.imagefiles.files import atomic_write_new
folder, size = Path(sys.argv[1]), int(sys.argv[2])
data = b"\\xff\\xd8" + b"x" * size
print("writing", flush=True)
atomic_write_new(folder / "big.jpg", data)
print("done", flush=True)
"""


def temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".together-magic-*.tmp"))


def age(paths: list[Path], seconds: float) -> None:
    """Make files look untouched for ``seconds`` (what a grace period's worth of waiting would do)."""
    past = time.time() - seconds
    for path in paths:
        os.utime(path, (past, past))


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def test_kill_during_a_write_leaves_no_partial_file(tmp_path: Path, figures: Callable[[str], None]) -> None:
    outcomes = []
    for attempt in range(5):
        proc = subprocess.Popen(
            python(WRITER, str(tmp_path), str(BIG)), stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        time.sleep(0.02 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        visible = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
        for path in visible:  # whatever has an image's name is whole
            assert path.stat().st_size == 2 + BIG
        outcomes.append("complete" if visible else "absent")
        for path in visible:
            path.unlink()
    leftovers = temps(tmp_path)
    assert leftovers, "no writer was caught mid-write"
    atomic_write_new(tmp_path / "next.jpg", b"\xff\xd8next")
    assert temps(tmp_path) == leftovers  # young: a slow writer could still own them, so they stay
    age(leftovers, STALE_AFTER + 60)
    atomic_write_new(tmp_path / "later.jpg", b"\xff\xd8later")  # the next write clears abandoned ones
    assert temps(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["later.jpg", "next.jpg"]
    figures(
        f"5 writers killed mid-write: images {outcomes}; {len(leftovers)} hidden temp files, kept while "
        f"young, removed by the first write after {STALE_AFTER:.0f} s"
    )


def _unshare(*flags: str) -> list[str]:
    tool = shutil.which("unshare")
    if tool is None:
        pytest.fail("util-linux `unshare` is needed to run a writer in another namespace")
    return [tool, *flags] if os.geteuid() == 0 else [tool, "--user", "--map-root-user", *flags]


def _descendant(pid: int, depth: int) -> int:
    for _ in range(depth):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert len(children) == 1, children
        pid = int(children[0])
    return pid


def _free_pid() -> int:
    """A PID nobody uses in this (the host's) namespace, for the writer to have inside its own."""
    top = int(Path("/proc/sys/kernel/pid_max").read_text())
    return next(p for p in range(top - 50, 300, -1) if not Path(f"/proc/{p}").exists())


def test_a_writer_in_another_pid_namespace_keeps_its_temp_file(
    tmp_path: Path, figures: Callable[[str], None]
) -> None:
    """A writer whose PID means nothing here (and is free here), paused mid-write for longer than the grace
    period, keeps its temp file: the flock it holds is what counts. Then it finishes a whole image."""
    inner_pid = _free_pid()
    script = 'echo $(($1 - 1)) > /proc/sys/kernel/ns_last_pid && "$2" -c "$3" "$4" "$5"; exit $?'
    command = [
        *_unshare("--pid", "--fork", "--mount-proc"),
        "sh", "-c", script, "sh", str(inner_pid), sys.executable, WRITER, str(tmp_path), str(BIG),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing", proc.stderr
        writer = _descendant(proc.pid, 2)  # unshare -> sh (PID 1 inside) -> python
        status = Path(f"/proc/{writer}/status").read_text()
        assert f"NSpid:\t{writer}\t{inner_pid}" in status  # it really is another PID inside
        deadline = time.monotonic() + 30
        while not [t for t in temps(tmp_path) if t.stat().st_size > 0]:
            assert time.monotonic() < deadline and not (tmp_path / "big.jpg").exists()
            time.sleep(0.0005)
        os.kill(writer, signal.SIGSTOP)
        assert not (tmp_path / "big.jpg").exists(), "the writer finished before it could be paused"
        in_flight = temps(tmp_path)
        age(in_flight, STALE_AFTER * 3)  # paused far longer than the grace period
        assert remove_stale_temps(tmp_path) == 0
        atomic_write_new(tmp_path / "other.jpg", b"\xff\xd8other")  # a write in this namespace cleans too
        assert temps(tmp_path) == in_flight
        os.kill(writer, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out.strip() == "done", err
    sizes = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    assert sizes == {"big.jpg": 2 + BIG, "other.jpg": 7}  # whole, and no empty image anywhere
    figures(
        f"writer as PID {inner_pid} of another PID namespace (free here), paused {STALE_AFTER * 3:.0f} s "
        "mid-write: temp file kept (flock), image whole, 0 empty files"
    )


CONCURRENT = """
import sys
from pathlib import Path
from together_magic.imagefiles.files import atomic_write_new
folder, who = Path(sys.argv[1]), sys.argv[2]
for i in range(15):
    atomic_write_new(folder / "same.jpg", f"{who}:{i}:".encode() * 2000)
"""


def test_writers_in_several_namespaces_never_collide(tmp_path: Path, figures: Callable[[str], None]) -> None:
    procs = []
    for who in range(6):
        isolate = _unshare("--pid", "--fork") if who % 2 else []
        procs.append(subprocess.Popen([*isolate, *python(CONCURRENT, str(tmp_path), str(who))], cwd=ROOT))
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    files = list(tmp_path.iterdir())
    contents = sorted(p.read_bytes() for p in files)
    expected = sorted(f"{who}:{i}:".encode() * 2000 for who in range(6) for i in range(15))
    assert contents == expected and temps(tmp_path) == []
    figures(f"6 writers (3 in their own PID namespaces) x 15 saves under one name: {len(files)} whole files")


FULL_DISK = """
import errno, json, sys
from pathlib import Path
from together_magic.imagefiles.files import atomic_write_new, atomic_write_replace
folder = Path(sys.argv[1])
(folder / "keep.txt").write_bytes(b"user data")
outcomes = []
for name, size, write in [
    ("a.jpg", 1_000, atomic_write_new), ("a.jpg", 2_500_000, atomic_write_new),
    ("a.jpg", 3_000_000, atomic_write_new), ("a.jpg", 9_000_000, atomic_write_new),
    ("cache.bin", 3_000_000, atomic_write_replace),
]:
    try:
        outcomes.append(write(folder / name, b"\\xff\\xd8" + b"x" * size).name)
    except OSError as exc:
        outcomes.append(errno.errorcode[exc.errno])
print(json.dumps({"outcomes": outcomes, "files": {p.name: p.stat().st_size for p in folder.iterdir()}}))
"""


def test_a_full_disk_leaves_nothing_partial(tmp_path: Path, figures: Callable[[str], None]) -> None:
    """A real 4 MB tmpfs, mounted in a private mount namespace (nothing leaks to the host)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    script = 'mount -t tmpfs -o size=4m tmpfs "$1" && cd "$2" && "$3" -c "$4" "$1"'
    command = [
        *_unshare("--mount"),
        "sh",
        "-c",
        script,
        "sh",
        str(folder),
        str(ROOT),
        sys.executable,
        FULL_DISK,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    report = json.loads(result.stdout)
    assert report["outcomes"] == ["a.jpg", "a-1.jpg", "ENOSPC", "ENOSPC", "ENOSPC"]
    assert report["files"] == {"keep.txt": 9, "a.jpg": 1_002, "a-1.jpg": 2_500_002}
    assert list(folder.iterdir()) == []  # the tmpfs went away with its namespace
    figures("4 MB tmpfs filled: 3 saves failed with ENOSPC, 0 partial or empty files, user file intact")


FILE_SIZE_LIMIT = """
import errno, resource, signal, sys
from pathlib import Path
from together_magic.imagefiles.files import atomic_write_new
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
try:
    atomic_write_new(Path(sys.argv[1]) / "big.jpg", b"x" * 3_000_000)
except OSError as exc:
    print(errno.errorcode[exc.errno])
"""


def test_a_file_size_limit_leaves_nothing_partial(tmp_path: Path) -> None:
    result = subprocess.run(
        python(FILE_SIZE_LIMIT, str(tmp_path)), capture_output=True, text=True, timeout=60
    )
    assert (result.stdout, result.stderr) == ("EFBIG\n", "")
    assert list(tmp_path.iterdir()) == []
