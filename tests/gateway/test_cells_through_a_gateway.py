"""``%%imagine -n 4`` in a real kernel against a real gateway whose student has two images left.

Item 4 of issue 26: the two images the gateway made and charged are shown and bound, then the cell says
the 402 in one line. Item 5: with ``--fallback offline`` the other two come from the offline renderer, and
every image says its own backend and its own cost (the fallback is free), never ``custom`` throughout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from together_magic.cli import main
from together_magic.models import DEFAULT_MODEL, estimate_cost

from ..conftest import Server
from ..kernel import Kernel
from .conftest import Gateway

CELL = "%%imagine -n 4 --seed {seed} --size 256x256 -o pics\n{prompt}"
FACTS = (
    "import json\nfrom together_magic.types.view import captions\n"
    "print(json.dumps([[c.seed, c.provenance.backend, c.provenance.cost, line, c.image_bytes()[:3].hex()]"
    " for c, line in zip(pics.data, captions(pics))]))"
)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    started = Kernel(tmp_path_factory.mktemp("cells"))
    started.ok("%load_ext together_magic")
    yield started
    started.stop()


def connect(kernel: Kernel, gateway: Gateway, token: str) -> None:
    kernel.ok(f"import os\nos.environ.update(TOGETHER_BASE_URL={gateway.root!r}, TOGETHER_API_KEY={token!r})")


def shown_html(outputs: list[dict[str, Any]]) -> str:
    kinds = ("display_data", "execute_result")
    return "".join(o["content"]["data"].get("text/html", "") for o in outputs if o["msg_type"] in kinds)


def facts(kernel: Kernel) -> list[list[Any]]:
    return list(json.loads(kernel.ok(FACTS).text))


def test_the_images_paid_for_are_shown_and_bound_then_the_402(
    kernel: Kernel, upstream: Server, start_gateway: Any
) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url)
    connect(kernel, gw, gw.add("two-left", images=2))
    reply = kernel.run(CELL.format(seed=30, prompt="a paid fox"))
    assert reply.status == "error"
    assert shown_html(reply.outputs).count("<figure") == 2  # shown before the line
    (error,) = reply.of_type("error")
    assert len(error["content"]["traceback"]) == 1  # one line, no traceback
    assert (
        "402 budget_exceeded: Your class budget is spent: 2 of 2 images" in error["content"]["traceback"][0]
    )
    assert "together-magic class grant two-left --images N" in error["content"]["traceback"][0]

    made = facts(kernel)  # bound to -o pics
    assert len(made) == 2 and {seed for seed, *_ in made} <= {30, 31, 32, 33}
    assert all(jpeg == "ffd8ff" and backend == "gateway" for _, backend, _, _, jpeg in made)
    usage = {u.name: u for u in gw.roster.usage()}["two-left"]
    assert (usage.images_used, usage.refused) == (2, 2)  # charged for exactly what the cell shows


def test_each_image_says_its_own_backend_and_cost_under_fallback(
    kernel: Kernel, upstream: Server, start_gateway: Any
) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url, "--fallback", "offline")
    connect(kernel, gw, gw.add("falls-back", images=2))
    reply = kernel.ok(CELL.format(seed=40, prompt="a fox half in the cloud"))
    html = shown_html(reply.outputs)
    assert html.count(">gateway</span>") == 2 and html.count(">offline</span>") == 2 and "custom" not in html
    price = estimate_cost(DEFAULT_MODEL, 256, 256)
    assert price is not None and price > 0
    made = facts(kernel)
    assert sorted(backend for _, backend, *_ in made) == ["gateway", "gateway", "offline", "offline"]
    for seed, backend, cost, line, _ in made:
        assert f"seed {seed}" in line and "custom" not in line
        if backend == "gateway":
            assert cost == pytest.approx(price) and f"${price:.4f}" in line and line.endswith("gateway")
        else:
            assert cost == 0 and " · free · " in line and line.endswith("offline")
    assert "your class's gateway answered with together-magic's procedural renderer" in str(reply.outputs)
    total = kernel.ok("print(pics.provenance.cost, pics.provenance.backend)").text.split()
    assert float(total[0]) == pytest.approx(2 * price) and total[1] == "gateway"
    usage = {u.name: u for u in gw.roster.usage()}["falls-back"]
    assert (usage.images_used, usage.offline) == (2, 2)


def test_a_cached_answer_at_the_gateway_is_free_too(
    kernel: Kernel, upstream: Server, start_gateway: Any, tmp_path: Path
) -> None:
    gw: Gateway = start_gateway("--upstream", upstream.base_url)
    connect(kernel, gw, gw.add("first", images=1))
    kernel.ok(CELL.replace("-n 4", "-n 1").format(seed=50, prompt="a shared fox"))
    kernel.ok(f"%config Imagine.cache_dir = {str(tmp_path / 'fresh')!r}")  # not this kernel's own cache
    connect(kernel, gw, gw.add("second", images=1))
    shown = shown_html(kernel.ok(CELL.replace("-n 4", "-n 1").format(seed=50, prompt="a shared fox")).outputs)
    assert "free" in shown and "$" not in shown.split("</figure>")[0].rsplit("<figcaption>", 1)[-1]
    ((_, backend, cost, line, _),) = facts(kernel)
    assert (backend, cost) == ("gateway", 0) and " · free · " in line  # another student's image, shared
    assert {u.name: u.cached for u in gw.roster.usage()}["second"] == 1


def test_the_cli_saves_and_lists_the_images_paid_for_then_the_402(
    upstream: Server, start_gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    gw: Gateway = start_gateway("--upstream", upstream.base_url)
    monkeypatch.setenv("TOGETHER_BASE_URL", gw.root)
    monkeypatch.setenv("TOGETHER_API_KEY", gw.add("cli", images=2))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["generate", "-n", "4", "--seed", "60", "--size", "256x256", "--save", str(out), "a cli fox"]
    assert main(argv) == 1
    printed, err = capsys.readouterr()
    lines = [line for line in printed.splitlines() if " · saved " in line]
    assert len(lines) == 2 and len(list(out.glob("*.jpg"))) == 2
    assert err.count("\n") == 1 and "Your class budget is spent: 2 of 2 images" in err
