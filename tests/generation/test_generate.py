"""One generation through the service: per-image seeds, the store as cache, corrupt answers, budgets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from together_magic import config as tm_config
from together_magic.errors import BudgetError, ImageDataError
from together_magic.generation.cost import session
from together_magic.generation.generate import Generated, generate
from together_magic.generation.line import parse_line
from together_magic.generation.plan import build_plan
from together_magic.offline import BackendOptions, shared_backend

MODEL = "black-forest-labs/FLUX.2-dev"


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[tm_config.Imagine]:
    made = tm_config.Imagine(cache_dir=str(tmp_path / "store"))
    yield made


def run(line: str, prompt: str, settings: tm_config.Imagine) -> Generated:
    plan = build_plan(parse_line(line, prompt, {}), config=settings)

    async def go() -> Generated:
        return await generate(plan, settings, source="python")

    return asyncio.run(go())


def test_each_image_has_its_own_seed_and_equals_the_single_request(settings: tm_config.Imagine) -> None:
    four = run("-n 4 --seed 100 --size 256x256", "a fox in the snow", settings).response
    assert [c.seed for c in four.data or []] == [100, 101, 102, 103]
    for k, choice in enumerate(four.data or []):
        alone = run(f"-n 1 --seed {100 + k} --size 256x256 --no-cache", "a fox in the snow", settings)
        assert alone.response.image_bytes() == [choice.image_bytes()]
        own = choice.provenance.request
        assert own is not None and own.n == 1 and own.seed == 100 + k
    settings.split_n = False
    raw = run("-n 4 --seed 100 --size 256x256 --no-cache", "a fox in the snow", settings).response
    assert [(c.provenance.position, c.provenance.of, c.seed) for c in raw.data or []] == [
        (k, 4, 100) for k in range(4)
    ]
    assert raw.image_bytes() == four.image_bytes()  # the offline backend seeds image k with S+k too


def test_seeded_parts_come_from_the_store(settings: tm_config.Imagine) -> None:
    stats = shared_backend().stats
    first = run("-n 2 --seed 7 --size 256x256", "owl", settings)
    before = stats["requests"]
    again = run("-n 2 --seed 7 --size 256x256", "owl", settings)
    assert stats["requests"] == before and again.response.cached and again.parts_cached == 2
    assert again.response.image_bytes() == first.response.image_bytes()
    assert again.response.provenance.cost == 0.0
    half = run("-n 3 --seed 7 --size 256x256", "owl", settings)  # seeds 7, 8 stored; 9 is new
    assert (half.parts_cached, half.parts_sent) == (2, 1) and stats["requests"] == before + 1


def test_a_corrupt_answer_is_never_cached(settings: tm_config.Imagine) -> None:
    backend = shared_backend()
    saved = backend.options
    backend.options = BackendOptions(fail_rate=1.0, faults=("badbase64",))
    try:
        with pytest.raises(ImageDataError, match="not valid base64"):
            run("--seed 31 --size 256x256", "corrupt fox", settings)
    finally:
        backend.options = saved
    healthy = run("--seed 31 --size 256x256", "corrupt fox", settings)
    assert not healthy.response.cached and healthy.response.data  # the server is fixed: a fresh answer
    assert run("--seed 31 --size 256x256", "corrupt fox", settings).response.cached


def test_a_damaged_store_entry_is_dropped_and_refreshed(settings: tm_config.Imagine) -> None:
    run("--seed 41 --size 256x256", "damaged", settings)
    images = list((Path(settings.cache_dir) / "images").glob("*.jpg"))
    assert len(images) == 1
    data = bytearray(images[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    images[0].write_bytes(bytes(data))
    again = run("--seed 41 --size 256x256", "damaged", settings)
    assert not again.response.cached  # dropped, asked again, never served damaged
    assert run("--seed 41 --size 256x256", "damaged", settings).response.cached


def test_eviction_only_ever_deletes_the_stores_own_files(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    users = {
        "data.json": b"{}",
        "package.json": b'{"a": 1}',
        "results.json": b"[]",
        "a" * 64 + ".json": b"{}",
    }
    for name, data in users.items():
        (folder / name).write_bytes(data)
    settings = tm_config.Imagine(cache_dir=str(folder), cache_size_mb=1)
    for seed in range(6):
        run(f"--seed {seed} --size 768x768", "meadow with flowers", settings)
    assert {name: (folder / name).read_bytes() for name in users} == users
    stored = sum(p.stat().st_size for p in (folder / "images").iterdir())
    assert 0 < stored <= 1_000_000


def test_budget_refuses_before_sending(settings: tm_config.Imagine) -> None:
    stats = shared_backend().stats
    spent = session().spent
    settings.budget = spent + 0.0001  # less than one 1024x1024 FLUX.2 dev image
    before = stats["requests"]
    with pytest.raises(BudgetError) as caught:
        run("--seed 3", "expensive", settings)
    assert stats["requests"] == before
    message = str(caught.value)
    assert (
        "would cost about $0.0154" in message and "%config Imagine.budget" in message and "\n" not in message
    )
    settings.budget = None
    made = run("--seed 3", "expensive", settings)
    assert made.response.provenance.cost == pytest.approx(0.0154)


def test_a_budget_refuses_what_it_cannot_count_until_given_a_price(settings: tm_config.Imagine) -> None:
    """Together publishes no price for most models: under a budget they are refused, not let through free."""
    stats = shared_backend().stats
    settings.budget = 100.0
    before = stats["requests"]
    with pytest.raises(BudgetError) as caught:
        run("-m openai/gpt-image-2 --seed 3 --size 256x256", "priceless", settings)
    assert stats["requests"] == before
    assert str(caught.value) == (
        "this request uses openai/gpt-image-2 whose price is unknown, so Imagine.budget cannot count it: "
        "give it one with %config Imagine.prices = {'openai/gpt-image-2': DOLLARS} (per image or MP, as the "
        "model bills), or set Imagine.budget = None"
    )
    settings.prices = {"openai/gpt-image-2": 0.04}
    made = run("-m openai/gpt-image-2 --seed 3 --size 256x256", "priceless", settings)
    assert made.response.provenance.cost == pytest.approx(0.04)
    settings.budget = None
