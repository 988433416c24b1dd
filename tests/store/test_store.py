"""The store on real SQLite files and real image files: what it records, refuses, serves, evicts and finds."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from together_magic.imagefiles.metadata import embed
from together_magic.offline.renderer import RenderSpec, encode, render
from together_magic.store import DATABASE, SOURCES, NewGeneration, NewImage, Store, StoreError
from together_magic.store import schema as _store_schema

from ..strategies import json_value

MODEL = "black-forest-labs/FLUX.2-dev"


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    """A small, valid, distinct image per seed."""
    img = Image.new("RGB", size, (seed % 251, (seed // 251) % 251, 7))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def gen(
    seed: int = 1,
    *,
    prompt: str = "a red fox",
    negative: str | None = None,
    key: str | None = None,
    data: bytes | None = None,
    model: str = MODEL,
    source: str = "magic",
    **extra: Any,
) -> NewGeneration:
    request: dict[str, Any] = {"prompt": prompt, "model": model, "seed": seed, "n": 1}
    if negative is not None:
        request["negative_prompt"] = negative
    images = [NewImage(data if data is not None else image_bytes(seed), seed)]
    return NewGeneration(source, request, images, backend="offline", cache_key=key, **extra)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "cache") as s:
        yield s


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- recording --------------------------------------------------------------------------------------------
def test_record_and_get_round_trip_plain_data(store: Store) -> None:
    jpeg, png = image_bytes(3, "JPEG", (40, 24)), image_bytes(4, "PNG", (16, 9))
    request = {"prompt": "a fox", "model": MODEL, "seed": 3, "n": 2, "negative_prompt": "blur"}
    new = NewGeneration(
        "cli", request, [NewImage(jpeg, 3), NewImage(png, 4, {"prompt": "own", "model": MODEL})],
        backend="together", response_id="r-1", elapsed=1.25, cost=0.0027, notebook="nb/a.ipynb",
        saved_paths=[Path("out/a.jpg")], cache_key="k",
    )  # fmt: skip
    before = time.time()
    gid = store.record(new)
    got = store.get(gid)
    assert got is not None
    assert (got.source, got.prompt, got.negative_prompt, got.model) == ("cli", "a fox", "blur", MODEL)
    assert (got.response_id, got.backend, got.elapsed, got.cost) == ("r-1", "together", 1.25, 0.0027)
    assert (got.notebook, got.saved_paths, got.cache_key) == ("nb/a.ipynb", ("out/a.jpg",), "k")
    assert got.request == request and before <= got.created == got.last_used <= time.time()
    first, second = got.images
    assert (first.position, first.seed, first.width, first.height, first.format) == (0, 3, 40, 24, "jpeg")
    assert (second.position, second.seed, second.width, second.height, second.format) == (1, 4, 16, 9, "png")
    assert first.request == {**request, "n": 1, "seed": 3}  # reproduces this image alone
    assert second.request == {"prompt": "own", "model": MODEL}
    assert first.read_bytes() == jpeg and second.read_bytes() == png
    assert first.sha256 == hashlib.sha256(jpeg).hexdigest() and first.size == len(jpeg)
    assert first.path == store.images / f"{first.sha256}.jpg" and second.path.suffix == ".png"
    assert store.get(gid + 1) is None and store.count() == 1


def test_long_strings_and_data_urls_are_elided_but_prompts_kept(store: Store) -> None:
    blob = "QUJD" * 5000
    long_prompt = "fox " * 2400  # 9600 chars: a prompt is text, never elided
    request = {
        "prompt": long_prompt, "model": MODEL, "image_url": "data:image/png;base64,AAAA",
        "image_base64": blob, "reference_images": ["https://x/short.png", "data:image/jpeg;base64,BBBB"],
    }  # fmt: skip
    got = store.get(store.record(NewGeneration("python", request, [NewImage(image_bytes(1))], "offline")))
    assert got is not None
    stored = got.request
    assert stored["prompt"] == long_prompt == got.prompt
    expected = hashlib.sha256(blob.encode()).hexdigest()
    assert stored["image_base64"] == f"<elided {len(blob)} chars sha256:{expected}>"
    assert stored["image_url"].startswith("<elided 26 chars sha256:")
    assert stored["reference_images"][0] == "https://x/short.png"
    assert stored["reference_images"][1].startswith("<elided")
    assert os.path.getsize(store.database) < 200_000  # the 20 kB of base64 did not go in


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("offline", "offline"),
        ("together", "together"),
        ("https://api.together.xyz/v1", "https://api.together.xyz/v1"),
        ("http://user:s3cret@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("https://h.example/v1?api_key=s3cret#s3cret", "https://h.example/v1"),
        ("http://s3cret@[::1]:9/v1", "http://[::1]:9/v1"),
        ("http://[::1", "<unparseable URL>"),
    ],
)
def test_backend_label_loses_credentials(store: Store, label: str, expected: str) -> None:
    got = store.get(store.record(NewGeneration("cli", {"prompt": "p", "model": "m"}, [], label)))
    assert got is not None and got.backend == expected and "s3cret" not in got.backend


def truncated_png() -> bytes:
    return image_bytes(1)[:-20]


def flipped_crc_png() -> bytes:
    data = bytearray(image_bytes(1))
    data[-20] ^= 0xFF  # inside the IDAT chunk: its CRC no longer matches
    return bytes(data)


def lenient_decode_of_damaged_base64(data: bytes) -> bytes:
    """The offline server's ``badbase64`` fault, decoded by a lenient decoder: 3 header bytes lost."""
    text = base64.b64encode(data).decode()
    return base64.b64decode(text[:8] + "!*!*" + text[12:])


BAD_IMAGES = {
    "empty": b"",
    "text": b"not an image at all",
    "truncated jpeg": image_bytes(1, "JPEG", (64, 64))[:-300],
    "truncated png": truncated_png(),
    "png with a bad CRC": flipped_crc_png(),
    "gif without trailer": image_bytes(1, "GIF")[:-1],
    "bmp": image_bytes(1, "BMP"),
    "png header only": image_bytes(1)[:33],
    "html error page": b"<html><body>502 Bad Gateway</body></html>",
    "jpeg decoded from damaged base64": lenient_decode_of_damaged_base64(image_bytes(1, "JPEG", (64, 64))),
    "png decoded from damaged base64": lenient_decode_of_damaged_base64(image_bytes(1)),
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_corrupt_or_foreign_images_are_refused_and_nothing_is_written(store: Store, name: str) -> None:
    images = [NewImage(image_bytes(2)), NewImage(BAD_IMAGES[name])]
    new = NewGeneration("magic", {"prompt": "p", "model": "m"}, images, "offline", cache_key="k")
    with pytest.raises(StoreError) as caught:
        store.record(new)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("image 1:")
    assert store.count() == 0 and store.lookup("k") is None
    assert [p.name for p in store.images.iterdir()] == []


def test_every_supported_format_is_accepted(store: Store) -> None:
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")):
        got = store.get(store.record(gen(1, data=image_bytes(5, fmt))))
        assert got is not None and got.images[0].path.suffix == f".{ext}"
    progressive = io.BytesIO()
    Image.new("RGB", (33, 17), "teal").save(progressive, "JPEG", progressive=True, comment=b"x" * 300)
    with_params = embed(image_bytes(6, "JPEG", (40, 40)), {"request": {"prompt": "p", "seed": 1}, "index": 0})
    renderer = encode(render(RenderSpec("a fox", MODEL, 256, 256, 4, 4, 1)), "jpeg")
    for data in (progressive.getvalue(), with_params, renderer):
        got = store.get(store.record(gen(1, data=data)))
        assert got is not None and got.images[0].format == "jpeg"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": "browser"}, "source"),
        ({"request": ["prompt"]}, "request"),
        ({"request": {"prompt": 5, "model": "m"}}, "prompt"),
        ({"request": {"prompt": "p", "model": "m", "x": b"raw"}}, "request"),
        ({"request": {"prompt": "p", "model": "m", "x": {1, 2}}}, "request"),
        ({"elapsed": float("nan")}, "elapsed"),
        ({"cost": float("inf")}, "cost"),
        ({"images": [NewImage(image_bytes(1), 2**64)]}, "image 0"),
        ({"images": [NewImage("text")]}, "image 0"),  # type: ignore[arg-type]
        ({"cache_key": 5}, "cache_key"),
        ({"notebook": Path("a.ipynb")}, "notebook"),
        ({"saved_paths": [b"a.png"]}, "saved_paths"),
        ({"saved_paths": "out.png"}, "saved_paths"),
        ({"backend": None}, "backend"),
    ],
)
def test_bad_fields_give_one_line_naming_the_field(store: Store, change: dict[str, Any], field: str) -> None:
    base = {"source": "magic", "request": {"prompt": "p", "model": "m"}, "images": [], "backend": "offline"}
    with pytest.raises(StoreError) as caught:
        store.record(NewGeneration(**{**base, **change}))
    assert str(caught.value).startswith(f"{field}") and "\n" not in str(caught.value)
    if field == "source":
        assert all(s in str(caught.value) for s in SOURCES)


def test_a_deeply_nested_request_is_refused_in_one_line(store: Store) -> None:
    nested: Any = "x"
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(StoreError, match=r"^request: nested more than 64 levels$"):
        store.record(NewGeneration("python", {"prompt": "p", "model": "m", "x": nested}, [], "offline"))


def test_awkward_text_is_stored_and_found(store: Store) -> None:
    prompt = "fox \ud800 in \x00 snow 🦊 Ünïcode"
    got = store.get(
        store.record(gen(1, prompt=prompt, notebook="n\udcff.ipynb", saved_paths=["a\udcffb.png"]))
    )
    assert got is not None and got.request["prompt"] == prompt  # exact in the JSON
    assert got.prompt == "fox \ufffd in \x00 snow 🦊 Ünïcode"  # bindable in the column
    for needle in ("\x00 snow", "🦊", "ünï", "ÜNÏCODE", "FOX"):
        assert [g.id for g in store.history(needle)] == [got.id], needle


@settings(max_examples=40, deadline=None)
@given(request=st.dictionaries(st.text(max_size=8), json_value, max_size=5))
def test_any_json_request_round_trips(request: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder, Store(folder) as store:
        body = {**request, "prompt": "p", "model": "m"}
        got = store.get(store.record(NewGeneration("python", body, [], "offline")))
        assert got is not None
        assert got.request == body  # short strings are kept exactly (floats, huge ints, any text)


# -- the cache ------------------------------------------------------------------------------------------
def test_lookup_serves_the_newest_entry_with_its_bytes_and_refreshes_recency(store: Store) -> None:
    assert store.lookup("k") is None
    store.record(gen(1, key="k"))
    newest = store.record(gen(2, key="k"))
    store.record(gen(3, key="other"))
    hit = store.lookup("k")
    assert hit is not None and hit.id == newest and hit.images[0].read_bytes() == image_bytes(2)
    stored = store.get(newest)
    assert stored is not None and stored.last_used == hit.last_used > stored.created


def test_lookup_uses_the_index_not_a_scan(store: Store) -> None:
    store.record(gen(1, key="k"))
    plan = store.read(
        lambda c: c.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM generations WHERE cache_key = ? ORDER BY id DESC LIMIT 1",
            ("k",),
        ).fetchall()
    )
    text = " ".join(str(row[-1]) for row in plan)
    assert "generations_cache_key" in text and "TEMP B-TREE" not in text, text


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "empty", "swap"])
def test_a_damaged_entry_is_dropped_once_and_never_served(store: Store, damage: str) -> None:
    first = store.record(gen(1, key="k"))
    shared = store.record(gen(1, key="k2"))  # same bytes: same file
    untouched = store.record(gen(2, key="k3"))
    stored = store.get(first)
    assert stored is not None
    path = stored.images[0].path
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:-5]))
    elif damage == "delete":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(image_bytes(9))  # a valid image, but not the one recorded
    assert store.lookup("k") is None
    assert store.get(first) is None and store.get(shared) is None  # both rows used the damaged file
    assert store.lookup("k") is None and store.lookup("k2") is None
    assert not path.exists()  # the damaged file was the store's own: removed
    hit = store.lookup("k3")
    assert hit is not None and hit.id == untouched
    again = store.record(gen(1, key="k"))  # the next generation repairs the entry
    hit = store.lookup("k")
    assert hit is not None and hit.id == again and hit.images[0].read_bytes() == image_bytes(1)


def test_read_bytes_refuses_a_damaged_file(store: Store) -> None:
    got = store.get(store.record(gen(1)))
    assert got is not None
    got.images[0].path.write_bytes(b"x")
    with pytest.raises(StoreError, match="missing or damaged"):
        got.images[0].read_bytes()


def test_evict_drops_least_recently_used_first_down_to_the_bound(store: Store) -> None:
    ids = [store.record(gen(i, key=f"k{i}")) for i in range(6)]
    sizes = {i: len(image_bytes(i)) for i in range(6)}
    assert store.lookup("k0") is not None  # now the most recently used
    bound = sizes[0] + sizes[5] + sizes[4]
    removed = store.evict(bound)
    assert removed == 3
    assert [g.id for g in store.history()] == [ids[5], ids[4], ids[0]]
    assert store.stats().bytes <= bound
    assert store.evict(bound) == 0
    assert sorted(p.name for p in store.images.iterdir()) == sorted(
        f"{hashlib.sha256(image_bytes(i)).hexdigest()}.png" for i in (0, 4, 5)
    )


def test_a_shared_file_counts_once_and_stays_while_a_row_uses_it(store: Store) -> None:
    a = store.record(gen(1, key="a"))
    store.record(gen(1, key="b"))
    stats = store.stats()
    assert (stats.generations, stats.images, stats.files, stats.bytes) == (2, 2, 1, len(image_bytes(1)))
    assert store.evict(len(image_bytes(1))) == 0
    assert store.evict(len(image_bytes(1)) - 1) == 2  # both go: the file is freed only with the last
    assert store.get(a) is None and list(store.images.iterdir()) == []


def test_evict_refuses_a_bad_bound(store: Store) -> None:
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(StoreError, match=r"^max_bytes: "):
            store.evict(bad)  # type: ignore[arg-type]


user_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\\\x00"), min_size=1, max_size=40
).filter(lambda n: n not in (".", "..") and not n.startswith(DATABASE))
OWN = re.compile(r"^\.?[0-9a-f]{64}\.")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(top=st.lists(user_names, max_size=4), inside=st.lists(user_names, max_size=4))
def test_eviction_repair_and_clear_never_touch_a_file_the_store_did_not_write(
    tmp_path: Path, top: list[str], inside: list[str]
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as root:
        folder = Path(root)
        hexname = hashlib.sha256(b"old cache entry").hexdigest()
        planted = {
            "data.json": b"{}",
            "package.json": b'{"name": "x"}',
            "results.json": b"[1]",
            f"{hexname}.json": b'{"data": []}',
            "notes.txt": b"mine",
            f"images/{hexname}.json": b"{}",
            f"images/{hexname}.jpg.bak": b"bak",
            f"images/{hexname[:63]}.png": b"x",
            f"images/{hexname.upper()}.png": b"x",
            "images/holiday.jpg": image_bytes(7, "JPEG"),
            f"images/.{hexname}.tmp": b"no random part",
            f"images/{hexname}.png": image_bytes(8, "PNG"),
            f"images/{hexname}.jpg": b"named by its hash",
        }  # fmt: skip  (the last two: a user's content-addressed dataset, named like the store's files)
        planted.update({name: name.encode("utf-8", "surrogateescape") for name in top})
        planted.update({f"images/{n}": b"in images" for n in inside if not OWN.match(n)})
        for name, content in planted.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
        old = time.time() - 3600
        for name in planted:
            os.utime(folder / name, (old, old))  # older than any grace: only its name protects it
        with Store(folder, orphan_grace=0) as store:
            for i in range(12):
                store.record(gen(i, key=f"k{i}"))
            store.evict(len(image_bytes(0)))
            store.repair()
            store.evict(0)
            store.record(gen(1))
            store.clear(everything=True)
            assert store.count() == 0
        after = files_in(folder)
        for name, content in planted.items():
            assert after.get(name) == content, name
        leftovers = [n for n in after if n.startswith("images/") and n not in planted]
        assert all(not OWN.match(Path(n).name) for n in leftovers), leftovers


# -- history --------------------------------------------------------------------------------------------
def test_history_filters_and_order(store: Store) -> None:
    a = store.record(gen(1, prompt="A Red FOX at dawn", source="magic"))
    b = store.record(gen(2, prompt="blue whale", negative="no foxes", model="other/model", source="cli"))
    cut = time.time()
    time.sleep(0.01)
    c = store.record(gen(3, prompt="fox_50% off", source="panel"))
    assert [g.id for g in store.history()] == [c, b, a]
    assert [g.id for g in store.history(last=2)] == [c, b]
    assert store.history(last=0) == []
    assert [g.id for g in store.history("fox")] == [c, b, a]  # b by its negative prompt
    assert [g.id for g in store.history("red fox")] == [a]
    assert [g.id for g in store.history("_50%")] == [c]  # LIKE wildcards are literal
    assert [g.id for g in store.history("x_5")] == [c]
    assert [g.id for g in store.history("%")] == [c]
    assert [g.id for g in store.history("fox", model="other/model")] == [b]
    assert [g.id for g in store.history(since=cut)] == [c]
    assert [g.id for g in store.history(source="cli")] == [b]
    assert store.history("nothing like this") == []
    with pytest.raises(StoreError, match=r"^source: 'web' is not one of magic, panel"):
        store.history(source="web")
    with pytest.raises(StoreError, match=r"^last: "):
        store.history(last=-1)
    with pytest.raises(StoreError, match=r"^since: "):
        store.history(since="yesterday")  # type: ignore[arg-type]


words = st.sampled_from(
    ["fox", "Fox", "RED", "red", "snow", "Éclair", "éclair", "ß", "_", "%", '"', "a b", "🦊"]
)
texts = st.lists(words, max_size=6).map(" ".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompts=st.lists(st.tuples(texts, st.none() | texts), min_size=1, max_size=8),
    needle=texts,
    full=st.booleans(),
)
def test_text_search_is_a_case_insensitive_substring_match(
    tmp_path: Path, prompts: list[tuple[str, str | None]], needle: str, full: bool
) -> None:
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder, Store(folder, full_text=full) as store:
        ids = [store.record(gen(i, prompt=p, negative=n)) for i, (p, n) in enumerate(prompts)]
        lowered = needle.lower()
        expected = [
            gid
            for gid, (p, n) in zip(ids, prompts, strict=True)
            if lowered in p.lower() or (n is not None and lowered in n.lower())
        ]
        got = [g.id for g in store.history(needle or None, last=None)]
        assert got == (sorted(expected, reverse=True) if needle else sorted(ids, reverse=True))
        assert [g.id for g in store.history(needle or None, last=2)] == got[:2]


def test_search_index_survives_a_process_without_fts(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    with Store(folder) as store:
        a = store.record(gen(1, prompt="a red fox"))
        assert [g.id for g in store.history("red fox")] == [a]
    with Store(folder, full_text=False) as plain:  # a Python whose SQLite lacks FTS5 writes meanwhile
        b = plain.record(gen(2, prompt="another red fox"))
        plain.clear("a red fox")
        assert [g.id for g in plain.history("red fox")] == [b]
    with Store(folder) as store:  # the index is rebuilt, not silently stale
        assert [g.id for g in store.history("red fox")] == [b]
        assert store.read(lambda c: c.execute("SELECT COUNT(*) FROM generations_fts").fetchone()[0]) == 1


def test_clear_by_filter_and_everything(store: Store) -> None:
    a = store.record(gen(1, prompt="red fox"))
    store.record(gen(2, prompt="blue whale"))
    store.record(gen(1, prompt="red fox again"))  # shares a's file
    with pytest.raises(StoreError, match="everything=True"):
        store.clear()
    assert store.clear("whale") == 1
    assert store.stats().files == 1
    assert store.clear(since=time.time() + 10) == 0
    assert store.get(a) is not None
    assert store.clear(everything=True) == 2
    assert store.count() == 0 and list(store.images.iterdir()) == []


def test_record_many_from_a_generator_keeps_each_image_its_own(store: Store) -> None:
    """Bytes made on the fly and dropped: an id reused by a later object must not reuse a hash."""

    def fresh() -> Iterator[NewGeneration]:
        for i in range(40):
            yield NewGeneration("batch", {"prompt": f"p{i}", "model": "m"}, [NewImage(image_bytes(i))], "x")

    ids = store.record_many(fresh())
    assert len(ids) == 40
    for i, gid in enumerate(ids):
        got = store.get(gid)
        assert got is not None and got.images[0].read_bytes() == image_bytes(i)


def test_saved_paths_can_be_added_after_recording(store: Store) -> None:
    gid = store.record(gen(1, saved_paths=["a.png"]))
    store.add_saved_paths(gid, [Path("b.png"), "c.png"])
    store.add_saved_paths(gid + 99, ["ignored.png"])
    got = store.get(gid)
    assert got is not None and got.saved_paths == ("a.png", "b.png", "c.png")


# -- the database itself ----------------------------------------------------------------------------------
def test_opening_is_lazy(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet"
    store = Store(folder)
    assert not folder.exists()
    assert store.count() == 0 and (folder / DATABASE).exists()
    store.close()
    store.close()  # idempotent
    assert store.count() == 0  # and reopens lazily


def test_schema_version_and_component_migrations(store: Store) -> None:
    assert store.read(lambda c: c.execute("PRAGMA user_version").fetchone()[0]) == len(
        _store_schema.MIGRATIONS
    )
    assert store.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    steps: list[_store_schema.Migration] = ["CREATE TABLE batch_items (id INTEGER PRIMARY KEY, prompt TEXT);"]
    assert store.ensure_schema("batch", steps) == 1
    assert store.ensure_schema("batch", steps) == 1  # idempotent
    steps.append(lambda c: c.execute("ALTER TABLE batch_items ADD COLUMN done INTEGER DEFAULT 0"))
    assert store.ensure_schema("batch", steps) == 2
    store.write(lambda c: c.execute("INSERT INTO batch_items (prompt) VALUES ('x')"))
    with store.connect() as conn:
        assert conn.execute("SELECT prompt, done FROM batch_items").fetchall() == [("x", 0)]


def test_a_database_from_a_newer_version_is_still_used(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.write(lambda c: c.execute("PRAGMA user_version = 99"))
    with Store(tmp_path) as store:
        gid = store.record(gen(1, key="k"))
        hit = store.lookup("k")
        assert hit is not None and hit.id == gid


def test_a_foreign_file_in_place_of_the_database_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / DATABASE).write_bytes(b"my own notes, not SQLite" * 100)
    with Store(tmp_path) as store, pytest.raises(StoreError) as caught:
        store.record(gen(1))
    assert "\n" not in str(caught.value) and "not a database" in str(caught.value)
    assert (tmp_path / DATABASE).read_bytes() == b"my own notes, not SQLite" * 100


def test_a_held_lock_is_waited_for_then_reported_in_one_line(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.count()
        blocker = sqlite3.connect(tmp_path / DATABASE, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        threading.Timer(0.5, lambda: blocker.execute("COMMIT")).start()
        started = time.monotonic()
        store.record(gen(1))  # waits for the other writer instead of failing
        assert time.monotonic() - started >= 0.4
        blocker.execute("BEGIN IMMEDIATE")
        quick = Store(tmp_path, lock_timeout=0.3)
        with pytest.raises(StoreError) as caught:
            quick.record(gen(2))
        blocker.execute("ROLLBACK")
        blocker.close()
        quick.close()
        assert "stayed locked for 0.3 s" in str(caught.value) and "\n" not in str(caught.value)
        assert store.count() == 1


def test_threads_share_one_store(store: Store) -> None:
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(25):
                store.record(gen(offset + i, key=f"k{offset + i}"))
                assert store.lookup(f"k{offset + i}") is not None
                store.history("fox", last=5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 100,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.count() == 100 and store.integrity_check() == "ok"


def test_repair_drops_rows_whose_file_vanished_and_old_orphans_only(tmp_path: Path) -> None:
    with Store(tmp_path, orphan_grace=60) as store:
        kept = store.record(gen(1))
        lost = store.record(gen(2))
        lost_image = store.get(lost)
        assert lost_image is not None
        lost_image.images[0].path.unlink()
        young = store.images / f"{hashlib.sha256(b'young').hexdigest()}.png"
        old = store.images / f"{hashlib.sha256(b'old').hexdigest()}.png"
        stranger = store.images / f"{hashlib.sha256(b'a user dataset').hexdigest()}.png"
        tmp = store.images / f".{hashlib.sha256(b'tmp').hexdigest()}.abc123xy.tmp"
        for path in (young, old, stranger, tmp):
            path.write_bytes(b"orphan")
        then = time.time() - 120
        for path in (old, stranger, tmp):
            os.utime(path, (then, then))
        with sqlite3.connect(store.database) as db:  # what a writer killed before its commit leaves behind
            db.executemany("INSERT INTO intents VALUES (?, ?)", [(young.name, time.time()), (old.name, then)])
        report = store.repair()
        assert report == (1, 2)
        assert store.get(lost) is None and store.get(kept) is not None
        assert young.exists() and not old.exists() and not tmp.exists()
        assert stranger.read_bytes() == b"orphan"  # hash-named but never written by the store: not an orphan


def test_an_entry_without_images_is_never_cached(store: Store) -> None:
    with pytest.raises(StoreError, match=r"^cache_key: "):
        store.record(NewGeneration("magic", {"prompt": "p", "model": "m"}, [], "offline", cache_key="k"))
    assert store.lookup("k") is None


def test_a_folder_that_cannot_hold_a_store_gives_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_bytes(b"mine")
    for folder in (blocked, blocked / "below"):
        with Store(folder) as store, pytest.raises(StoreError) as caught:
            store.record(gen(1))
        assert "\n" not in str(caught.value) and str(folder) in str(caught.value)
    assert blocked.read_bytes() == b"mine"
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "images").write_bytes(b"a file where the store wants a folder")
    with Store(tmp_path / "s") as store, pytest.raises(StoreError):
        store.count()
    assert (tmp_path / "s" / "images").read_bytes() == b"a file where the store wants a folder"


SEEDS = [image_bytes(1, fmt, (24, 16)) for fmt in ("JPEG", "PNG", "WEBP", "GIF")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.sampled_from(SEEDS),
    cuts=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 40)), max_size=3),
    flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 255)), max_size=3),
)
def test_mangled_image_bytes_are_stored_whole_or_refused_in_one_line(
    store: Store, base: bytes, cuts: list[tuple[int, int]], flips: list[tuple[int, int]]
) -> None:
    data = bytearray(base)
    for at, length in cuts:
        del data[at % max(len(data), 1) : at % max(len(data), 1) + length]
    for at, mask in flips:
        if data:
            data[at % len(data)] ^= mask
    try:
        gid = store.record(gen(1, data=bytes(data)))
    except StoreError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("image 0: ")
        return
    got = store.get(gid)
    assert got is not None and got.images[0].read_bytes() == bytes(data)


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
@pytest.mark.parametrize("target_exists", [True, False])
def test_a_planted_symlink_for_the_database_is_refused_and_its_target_untouched(
    tmp_path: Path, suffix: str, target_exists: bool
) -> None:
    """The store's image files already refuse links; so do its database and the database's log and index:
    one StoreError line, and the file the link points to is neither created nor changed."""
    folder, target = tmp_path / "store", tmp_path / "elsewhere" / "precious.db"
    folder.mkdir()
    target.parent.mkdir()
    if target_exists:
        target.write_bytes(b"keep me")
    (folder / f"{DATABASE}{suffix}").symlink_to(target)
    with Store(folder) as store, pytest.raises(StoreError) as info:
        store.count()
    message = str(info.value)
    assert "symbolic link" in message and "\n" not in message
    assert (target.read_bytes() == b"keep me") if target_exists else not target.exists()
