"""Values JSON cannot carry, anywhere in a request and through every front door: one line naming the
option, before anything is sent (never ``ValueError: Out of range float values are not JSON compliant``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from PIL import Image

import together_magic as tm
from together_magic import models
from together_magic.config import Imagine
from together_magic.errors import OptionError
from together_magic.generation.line import parse_line
from together_magic.generation.plan import build_plan
from together_magic.generation.values import json_problem
from together_magic.imagefiles import metadata

from ..shells import magic_shell

BAD = st.sampled_from([math.inf, -math.inf, math.nan])
LEAF = st.one_of(st.integers(-5, 5), st.floats(-10, 10), st.text("ab", max_size=2), st.booleans(), st.none())
KEYS = st.text("xyz", min_size=1, max_size=2)


def _with_a_bad_number(draw: st.DrawFn) -> Any:
    """A nested list/object with at least one NaN or infinity somewhere inside."""
    shape = draw(
        st.recursive(
            LEAF,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
            max_leaves=6,
        )
    )
    bad = draw(BAD)
    path = draw(st.lists(st.sampled_from(["list", "dict"]), min_size=1, max_size=3))
    value: Any = bad
    for kind in reversed(path):
        value = [shape, value] if kind == "list" else {"k": value, "z": shape}
    return value


nested_bad = st.composite(_with_a_bad_number)()
CONFIG = Imagine(cache_size_mb=0)


def literal(value: Any) -> str:
    """The JSON text a user would type: infinities and NaN written as the overflowing 1e999."""
    return (
        json.dumps(value).replace("-Infinity", "-1e999").replace("Infinity", "1e999").replace("NaN", "1e999")
    )


@settings(max_examples=40, deadline=None)
@given(value=nested_bad)
def test_the_check_finds_every_bad_number_however_deep(value: Any) -> None:
    problem = json_problem(value)
    assert problem is not None and "not a number JSON can carry" in problem
    with pytest.raises(
        OptionError, match=r"^-p extra: .* is not a number JSON can carry; use a finite number$"
    ):
        build_plan(parse_line(f"--size 256x256 -p extra='{literal(value)}'", "a fox", {}), config=CONFIG)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=nested_bad)
def test_every_python_front_door_says_one_line(tmp_path: Path, value: Any) -> None:
    with pytest.raises(OptionError, match=r"-p extra: .* is not a number JSON can carry"):
        tm.sweep("a fox", vary={"seed": [1, 2]}, size="256x256", extra=value)
    items = [{"prompt": "a fox", "image_loras": [{"path": "x", "scale": value}]}]
    with pytest.raises(OptionError) as refused:  # a batch's fields are typed: refused, in one line
        tm.generate_many(items, out=tmp_path / "many", config=CONFIG)
    assert "\n" not in str(refused.value) and str(refused.value).startswith("item 0: ")
    assert not any((tmp_path / "many").glob("*.jpg"))


@pytest.fixture
def ip(tmp_path: Path) -> Iterator[InteractiveShell]:
    with magic_shell(tmp_path / "cache") as shell:
        yield shell


def one_line(ip: InteractiveShell, cell: str) -> str:
    with capture_output() as captured:
        result = ip.run_cell(cell, store_history=False)
    shown = (captured.stdout + captured.stderr).strip()
    assert not result.success and "Traceback" not in shown and len(shown.splitlines()) == 1, shown
    return shown


def test_the_magic_the_from_file_and_vary_values(ip: InteractiveShell, tmp_path: Path) -> None:
    value = {"a": [1, {"b": -math.inf}]}
    assert one_line(ip, f"%imagine a fox -p extra='{literal(value)}'") == (
        "UsageError: -p extra: -inf at a[1].b is not a number JSON can carry; use a finite number"
    )
    image = tmp_path / "saved.png"
    Image.new("RGB", (8, 8), "red").save(image)
    request = {"prompt": "a fox", "model": models.DEFAULT_MODEL, "seed": 1, "extra": [math.nan]}
    image.write_bytes(metadata.embed(image.read_bytes(), {"request": request}))  # a file saying NaN
    assert "-p extra: nan at [0] is not a number JSON can carry" in one_line(ip, f"%imagine --from {image}")
    shown = one_line(ip, "%imagine a fox --size 256x256 -p extra=1 --vary 'seed=1,2' -p more='[1e999]'")
    assert "-p more: inf at [0] is not a number JSON can carry" in shown


def test_a_batch_from_the_command_line(tmp_path: Path) -> None:
    items = tmp_path / "items.txt"
    items.write_text("a fox\n")
    done = subprocess.run(
        [
            *[sys.executable, "-m", "together_magic", "batch", str(items), "--out", str(tmp_path / "o")],
            *["-p", 'extra={"deep": [1, 1e999]}'],
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "together-magic: error: line 1 of items.txt: -p extra: inf at deep[1] is not a number JSON can "
        "carry; use a finite number"
    ]
