"""The cache through the real path (plan -> service -> store): it deletes only its own files and never
serves a damaged entry, whatever shares its folder and however its files are damaged."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from together_magic.config import Imagine
from together_magic.generation.generate import Generated, generate
from together_magic.generation.line import parse_line
from together_magic.generation.plan import build_plan
from together_magic.generation.stored import store_for

_SEEN: Counter[str] = Counter()


def run(config: Imagine, line: str) -> Generated:
    plan = build_plan(parse_line(line, "a meadow with flowers under a blue sky", {}), config=config)

    async def go() -> Generated:
        return await generate(plan, config, source="python")

    return asyncio.run(go())


user_names = st.one_of(
    st.sampled_from(
        ["data.json", "package.json", "results.json", "a" * 64 + ".json", "notes.txt", "store.sqlite3.bak"]
    ),
    st.from_regex(r"[A-Za-z0-9_.-]{1,20}\.(json|png|jpg|csv)", fullmatch=True),
    st.from_regex(
        r"[0-9a-f]{64}\.(png|jpg|webp)", fullmatch=True
    ),  # a content-addressed dataset: the store's form
).filter(lambda n: n not in ("store.sqlite3", ".", ".."))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(user_names, min_size=1, max_size=6, unique=True), inside=st.booleans())
def test_eviction_deletes_only_what_the_store_wrote(
    tmp_path_factory: object, names: list[str], inside: bool
) -> None:
    folder = tmp_path_factory.mktemp("shared")  # type: ignore[attr-defined]
    users = {}
    old = time.time() - 3600  # yesterday's files: older than any grace, so only their names protect them
    for name in names:
        target = folder / "images" / name if inside else folder / name  # also in the store's own subfolder
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(name.encode() * 3)
        os.utime(target, (old, old))
        users[target] = target.read_bytes()
    config = Imagine(cache_dir=str(folder), cache_size_mb=1)
    for seed in range(5):  # about 5 x 0.3 MB through a 1 MB store: eviction runs every time
        run(config, f"--seed {seed} --size 768x768")
    store_for(config).repair()  # what the next open runs after a crash: the orphan sweep of images/
    deleted = [p for p, data in users.items() if not p.exists() or p.read_bytes() != data]
    _SEEN["user files deleted or changed by the cache"] += len(deleted)
    _SEEN["user files beside the cache"] += len(users)
    assert not deleted


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seeds=st.lists(st.integers(0, 40), min_size=1, max_size=3, unique=True), young=st.booleans())
def test_a_user_file_holding_the_bytes_the_store_makes_is_never_adopted(
    tmp_path_factory: object, seeds: list[int], young: bool
) -> None:
    """A user's file inside ``images/`` under the store's own name, holding exactly the bytes the store
    later makes: the store writes its own copy beside it, and clearing the history leaves the user's."""
    made = tmp_path_factory.mktemp("made")  # type: ignore[attr-defined]
    expected = {seed: run(Imagine(cache_dir=str(made)), f"--seed {seed} --size 256x256") for seed in seeds}
    folder = tmp_path_factory.mktemp("shared")  # type: ignore[attr-defined]
    users = {}
    for generated in expected.values():
        data = generated.response.image_bytes()[0]
        name = f"{hashlib.sha256(data).hexdigest()}.jpg"  # exactly the name the store gives these bytes
        target = folder / "images" / name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        if not young:
            old = time.time() - 3600
            os.utime(target, (old, old))
        users[target] = data
    config = Imagine(cache_dir=str(folder))
    for seed in seeds:
        again = run(config, f"--seed {seed} --size 256x256")
        assert again.response.image_bytes() == expected[seed].response.image_bytes()
    store = store_for(config)
    store.repair()
    assert store.clear(everything=True) >= len(seeds)  # every history entry and the files it owned
    store.repair()
    deleted = [p for p, data in users.items() if not p.exists() or p.read_bytes() != data]
    _SEEN["user files deleted or changed by the cache"] += len(deleted)
    _SEEN["user files beside the cache"] += len(users)
    assert not deleted
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(p.name for p in users)


def test_a_damaged_entry_is_never_served(tmp_path: Path) -> None:
    config = Imagine(cache_dir=str(tmp_path))
    rng = random.Random(7)
    fresh = {seed: run(config, f"--seed {seed} --size 256x256").response.image_bytes() for seed in range(8)}
    for round_ in range(24):
        seed = rng.randrange(8)
        files = sorted((tmp_path / "images").glob("*.jpg"))
        victim = rng.choice(files)
        data = bytearray(victim.read_bytes())
        damage = rng.choice(["flip", "truncate", "empty", "delete"])
        if damage == "flip":
            data[rng.randrange(len(data))] ^= 0xFF
            victim.write_bytes(bytes(data))
        elif damage == "truncate":
            victim.write_bytes(bytes(data[: len(data) // 2]))
        elif damage == "empty":
            victim.write_bytes(b"")
        else:
            victim.unlink()
        for seed in range(8):
            again = run(config, f"--seed {seed} --size 256x256").response
            if again.image_bytes() != fresh[seed]:
                _SEEN["damaged entries served"] += 1
            _SEEN["lookups after damage"] += 1
        _SEEN[f"damage: {damage}"] += 1
        _ = round_
    assert _SEEN["damaged entries served"] == 0


def test_cache_safety_figures(figures: Callable[[str], None]) -> None:
    kinds = ", ".join(f"{k[8:]} {v}" for k, v in sorted(_SEEN.items()) if k.startswith("damage:"))
    figures(
        f"cache beside user files: {_SEEN['user files beside the cache']} user files, "
        f"{_SEEN['user files deleted or changed by the cache']} deleted or changed by the cache; "
        f"damaged store files ({kinds}): "
        f"{_SEEN['lookups after damage']} lookups, {_SEEN['damaged entries served']} damaged entries served"
    )
    assert _SEEN["user files deleted or changed by the cache"] == 0 and _SEEN["damaged entries served"] == 0
