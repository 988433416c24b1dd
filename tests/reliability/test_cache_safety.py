"""The cache through the real path (plan -> service -> store): it deletes only its own files and never
serves a damaged entry, whatever shares its folder and however its files are damaged."""

from __future__ import annotations

import asyncio
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
