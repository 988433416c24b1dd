"""The store under real concurrent processes, SIGKILLs at random moments, and a sentinel key.

Every writer is a separate Python process on the same folder, as several kernels, the panel, the CLI and
a gateway would be; the checks afterwards read the real SQLite file and the real image files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from together_magic.store import DATABASE, NewGeneration, NewImage, Store

from ..conftest import Server

SENTINEL = "tm-secret-SENTINEL-5c0ffee1d2b3"
MARKER = "tm-visible-MARKER-77a1"
OWN_NAME = re.compile(r"^\.?[0-9a-f]{64}\.")  # what the store writes in images/ (files and temporaries)

WRITER = r"""
import random, sys
from io import BytesIO
from PIL import Image
from together_magic.store import NewGeneration, NewImage, Store

folder, tag, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rng = random.Random(tag)
store = Store(folder, orphan_grace=3600)

def image(source=rng):
    out = BytesIO()
    Image.frombytes("RGB", (8, 8), source.randbytes(192)).save(out, format="PNG", compress_level=0)
    return out.getvalue()

def every_row_has_its_file(conn):
    # Under the write lock nobody is between deleting and unlinking, so this must hold exactly.
    for name, size in conn.execute("SELECT name, size FROM blobs"):
        path = store.images / name
        assert path.is_file() and path.stat().st_size == size, f"a row points to a missing {name}"

shared_pool = [image(random.Random(k)) for k in range(6)]  # the same bytes in every writer: shared files
print("ready", flush=True)
if mode != "chaos":
    sys.stdin.readline()  # all writers start together
for i in range(count):
    n = 1 if mode == "steady" else rng.randint(1, 3)
    pool = [rng.choice(shared_pool) for _ in range(n)] if mode == "shared" else [image() for _ in range(n)]
    images = [NewImage(data, i * 10 + k) for k, data in enumerate(pool)]
    request = {"prompt": f"{tag} number {i}", "model": "m", "seed": i, "n": n}
    store.record(NewGeneration("batch", request, images, "offline", cache_key=f"{tag}-{i}"))
    if mode == "shared":
        hit = store.lookup(f"{tag}-{rng.randrange(i + 1)}")
        if hit is not None:
            assert all(image.read_bytes() in shared_pool for image in hit.images)
        if rng.random() < 0.3:
            store.evict(rng.randrange(0, 2_000))  # another writer may be taking these very files back
        elif rng.random() < 0.05:
            store.clear(source="batch")
        store.write(every_row_has_its_file)
    if mode == "chaos":
        roll = rng.random()
        if roll < 0.25:
            store.evict(rng.randrange(20_000, 200_000))
        elif roll < 0.35:
            store.clear(f"{tag} number {rng.randrange(i + 1)}")
        elif roll < 0.6:
            store.lookup(f"{tag}-{rng.randrange(i + 1)}")
        elif roll < 0.7:
            store.repair()
store.close()
print("done", flush=True)
"""


def start_writer(folder: Path, tag: str, count: int, mode: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), tag, str(count), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n", process.stderr.read() if process.stderr else ""
    return process


def check_consistent(folder: Path) -> dict[str, int]:
    """Integrity ok, every row's file present with its hash, no file without a row, nothing pending."""
    conn = sqlite3.connect(folder / DATABASE)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        blobs = {
            sha: (name, size) for sha, name, size in conn.execute("SELECT sha256, name, size FROM blobs")
        }
        used = {r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM images")}
        assert used == set(blobs), "blob rows and image rows disagree"
        assert conn.execute("SELECT COUNT(*) FROM doomed").fetchone()[0] == 0
        rows = conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
        bare = conn.execute(
            "SELECT COUNT(*) FROM generations g"
            " WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.generation_id = g.id)"
        ).fetchone()[0]
        assert bare == 0  # every writer here records at least one image
    finally:
        conn.close()
    for sha, (name, size) in blobs.items():
        data = (folder / "images" / name).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha, f"dangling or damaged {name}"
    on_disk = {p.name for p in (folder / "images").iterdir() if OWN_NAME.match(p.name)}
    assert on_disk == {name for name, _ in blobs.values()}, (
        f"orphans: {on_disk - {n for n, _ in blobs.values()}}"
    )
    return {"rows": rows, "files": len(blobs)}


def test_two_processes_record_500_each_at_once(tmp_path: Path, figures: Callable[[str], None]) -> None:
    writers = [start_writer(tmp_path, tag, 500, "steady") for tag in ("alpha", "beta")]
    started = time.monotonic()
    for w in writers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    outputs = [w.communicate(timeout=60) for w in writers]
    elapsed = time.monotonic() - started
    for w, (out, err) in zip(writers, outputs, strict=True):
        assert (w.returncode, out, err) == (0, "done\n", ""), err  # no lock error reached the caller
    assert check_consistent(tmp_path) == {"rows": 1000, "files": 1000}
    with Store(tmp_path) as store:
        assert store.count() == 1000 and store.integrity_check() == "ok"
        for tag in ("alpha", "beta"):
            for i in (0, 250, 499):
                hit = store.lookup(f"{tag}-{i}")
                assert hit is not None and hit.prompt == f"{tag} number {i}"
    figures(f"2 processes x 500 records at once: 1000 rows in {elapsed:.1f} s, 0 lock errors, integrity ok")


def test_writers_sharing_files_while_evicting_each_other(
    tmp_path: Path, figures: Callable[[str], None]
) -> None:
    """The race the doomed table exists for: one process frees a file while another takes it back."""
    writers = [start_writer(tmp_path, f"s{k}", 300, "shared") for k in range(3)]
    for w in writers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    outputs = [w.communicate(timeout=60) for w in writers]
    for w, (out, err) in zip(writers, outputs, strict=True):
        assert (w.returncode, out, err) == (0, "done\n", ""), err
    stats = check_consistent(tmp_path)
    with Store(tmp_path) as store:
        for gen in store.history(last=None):
            assert all(image.read_bytes() for image in gen.images)
    figures(f"3 processes x 300 records over 6 shared files, evicting and clearing each other: {stats}")


def test_writers_killed_at_random_moments_leave_a_consistent_store(
    tmp_path: Path, figures: Callable[[str], None]
) -> None:
    folder = tmp_path / "store"
    (folder / "images").mkdir(parents=True)
    user_files = {
        "data.json": b"{}",
        "results.json": b"[]",
        f"{'ab' * 32}.json": b"old cache",
        "images/mine.png": b"not the store's",
    }
    for name, content in user_files.items():
        (folder / name).write_bytes(content)
    rng = random.Random(20)
    orphans_cleaned = 0
    kills = 0
    for round_ in range(20):
        writer = start_writer(folder, f"w{round_}", 100_000, "chaos")
        time.sleep(rng.uniform(0.02, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.communicate(timeout=10)
        assert writer.returncode == -signal.SIGKILL, "the writer finished before it was killed"
        kills += 1
        before = {p.name for p in (folder / "images").iterdir() if OWN_NAME.match(p.name)}
        with Store(folder, orphan_grace=0) as store:  # the next open repairs (grace 0: nothing is in flight)
            assert store.integrity_check() == "ok"
            for gen in store.history(last=20):
                for image in gen.images:
                    assert image.read_bytes()  # no row points to a missing or damaged file
        after = {p.name for p in (folder / "images").iterdir() if OWN_NAME.match(p.name)}
        orphans_cleaned += len(before - after)
        check_consistent(folder)
    for name, content in user_files.items():
        assert (folder / name).read_bytes() == content, name
    rows = check_consistent(folder)["rows"]
    figures(
        f"{kills} writers SIGKILLed at random: integrity ok, 0 dangling rows, "
        f"{orphans_cleaned} orphans cleaned, {rows} rows kept"
    )


def scan(folder: Path, needle: str) -> list[str]:
    """Every file under ``folder`` holding ``needle`` as UTF-8, UTF-16 or in JSON's ASCII escapes."""
    forms = [needle.encode(), needle.encode("utf-16-le")]
    return [str(p) for p in folder.rglob("*") if p.is_file() and any(f in p.read_bytes() for f in forms)]


SECRET_WRITER = r"""
import base64, io, os, sys
from PIL import Image
import together_magic as tm
from together_magic.store import NewGeneration, NewImage, Store

folder, marker = sys.argv[1], sys.argv[2]
key = os.environ["TOGETHER_API_KEY"]
ref = io.BytesIO()
Image.new("RGB", (64, 64), (200, 30, 30)).save(ref, format="PNG")
reference = "data:image/png;base64," + base64.b64encode(ref.getvalue()).decode()
store = Store(folder)
with tm.Together() as client:  # key and URL from the environment, as for users; the server demands the key
    for i, prompt in enumerate([f"a red fox {marker}", "a blue whale", "a green forest"]):
        extra = {"image_url": reference} if i == 0 else {}
        model = "black-forest-labs/FLUX.1-kontext-pro" if extra else "black-forest-labs/FLUX.2-dev"
        response = client.images.generate(
            prompt=prompt, model=model, seed=i, n=2, width=256, height=256, response_format="base64", **extra
        )
        request = response.request.payload()
        assert key not in repr(request)
        images = [NewImage(c.image_bytes(), i) for c in response.data]
        backend = f"http://user:{key}@127.0.0.1:8000/v1?api_key={key}" if i == 1 else str(client.base_url)
        new = NewGeneration("python", request, images, backend, response_id=response.id, cache_key=f"k{i}")
        store.record(new)
store.lookup("k0")
store.history("fox")
store.evict(10**9)
sys.stdout.write("recorded\n")
sys.stdout.flush()
os._exit(0)  # no close: the WAL keeps every page written, so the scan sees them too
"""


def test_the_store_never_holds_the_api_key(
    start_server: Callable[..., Server], tmp_path: Path, figures: Callable[[str], None]
) -> None:
    server = start_server("--require-key", SENTINEL)
    env = {**os.environ, "TOGETHER_API_KEY": SENTINEL, "TOGETHER_BASE_URL": server.base_url}
    run = subprocess.run(
        [sys.executable, "-c", SECRET_WRITER, str(tmp_path), MARKER],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (run.returncode, run.stdout, run.stderr) == (0, "recorded\n", ""), run.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert (tmp_path / f"{DATABASE}-wal").exists() and len(files) >= 6
    assert scan(tmp_path, MARKER), "the scan cannot see what the store wrote: it would miss the key too"
    assert scan(tmp_path, SENTINEL) == []
    with Store(tmp_path) as store:
        backends = {g.backend for g in store.history(last=None)}
        assert backends == {server.base_url, "http://127.0.0.1:8000/v1"}
        image_url = store.history("fox")[0].request["image_url"]
        assert re.fullmatch(r"<elided \d+ chars sha256:[0-9a-f]{64}>", image_url)
    figures(
        f"sentinel key in the writer's environment: absent from {len(files)} store files (DB, WAL, images)"
    )


def test_nothing_in_the_store_api_can_take_a_key_or_headers() -> None:
    """The store's inputs are the request body and plain metadata: no field or parameter for a secret."""
    suspicious = re.compile(r"key$|^api|header|auth|token|secret|password|credential", re.IGNORECASE)
    names = [f.name for cls in (NewGeneration, NewImage) for f in dataclasses.fields(cls)]
    for name, method in inspect.getmembers(Store, callable):
        if not name.startswith("_") or name == "__init__":
            names += list(inspect.signature(method).parameters)
    assert "cache_key" in names  # the scan sees real names (cache_key is a hash of the body, not a secret)
    assert [n for n in names if suspicious.search(n) and n != "cache_key"] == []


BLOCKED_WRITER = r"""
import sys
from io import BytesIO
from PIL import Image
from together_magic.store import NewGeneration, NewImage, Store

def image(colour):
    out = BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, format="PNG")
    return NewImage(out.getvalue())

import together_magic.store.store as module
real_write, written = module.write_blob, []

def write_then_stall(*args):  # the real write; after the third file, wait here to be killed
    real_write(*args)
    written.append(args[1])
    if len(written) == 3:
        print("written", flush=True)
        sys.stdin.readline()

store = Store(sys.argv[1])
store.record(NewGeneration("cli", {"prompt": "warm-up", "model": "m"}, [image("white")], "offline"))
module.write_blob = write_then_stall
print("ready", flush=True)
images = [image(c) for c in ("red", "green", "blue")]
store.record(NewGeneration("cli", {"prompt": "p", "model": "m"}, images, "offline"))
"""


def test_a_writer_killed_between_its_files_and_its_commit_leaves_only_orphans(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_WRITER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n"
            assert writer.stdout.readline() == "written\n"  # its files are written, its commit is not
        finally:
            writer.kill()
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert len(files) == 4
    with Store(tmp_path) as store:  # young orphans may belong to a live writer: kept; no row names them
        assert [g.prompt for g in store.history()] == ["warm-up"]
        assert sorted(p.name for p in (tmp_path / "images").iterdir()) == files
    with Store(tmp_path, orphan_grace=0) as store:  # the dead writer's session, now stale, triggers a sweep
        (kept,) = store.history()
        assert store.integrity_check() == "ok" and kept.images[0].read_bytes()
        assert [p.name for p in (tmp_path / "images").iterdir()] == [kept.images[0].path.name]
