"""Reading notebooks for the preflight: real files, every way one can be wrong, and what earlier cells say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from together_magic.preflight.reading import Cell, NotebookError, find_magics, read_cells

from .notebooks import write_notebook


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("folder", "a folder, not a notebook"),
        (b"\xff\xfe\x00junk", "not UTF-8 text"),
        ('{"cells": [', "invalid JSON at line 1, column 12"),
        ("", "invalid JSON at line 1, column 1"),
        ("# a README\n", "invalid JSON"),
        ("[1, 2]", "not a Jupyter notebook (it has no list of cells)"),
        ('{"metadata": {}}', "not a Jupyter notebook"),
        ('{"worksheets": [], "nbformat": 3}', "nbformat 3 notebook"),
        ('{"cells": [{"cell_type": "code"}]}', "cell 1 is damaged"),
        ('{"cells": [{"cell_type": "code", "source": [1, 2]}]}', "cell 1 is damaged"),
        ("[" * 100_000, "JSON nested too deeply"),
    ],
)
def test_a_file_that_is_no_notebook_is_one_line_naming_it(tmp_path: Path, content: Any, says: str) -> None:
    path = tmp_path / "class.ipynb"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(NotebookError) as caught:
        read_cells(path)
    message = str(caught.value)
    assert says in message and message.startswith(str(path)) and "\n" not in message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_is_cells_or_one_line(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "any.ipynb"
    path.write_text(json.dumps({"cells": value} if isinstance(value, list) else value))
    try:
        cells = read_cells(path)
    except NotebookError as exc:
        assert "\n" not in str(exc)
    else:
        find_magics(cells)  # whatever the sources hold, reading them never raises


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("%a=b{}\n ():'\"x!\t[]imagine"), max_size=60), max_size=4))
def test_any_cell_source_reads_without_error(sources: list[str]) -> None:
    find_magics([Cell("code", source) for source in sources])


def test_the_magics_in_kernel_order_with_what_earlier_cells_assign(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "order.ipynb",
        [
            "# title",
            'prompt = "a fox"\nseeds = [1, 2]\nfolder = Path("out")\nimport numpy as np',
            "%%time\n%%imagine --seed 1 -o first\n{{ prompt }}",
            'one = %imagine "{{ prompt }}" --seed 2\nprompt = "an owl"\ntwo = %imagine "{{ prompt }}"',
            "%config Imagine.n = 2\n%config Imagine.model = MODEL\n"
            'for s in seeds:\n    %imagine "x" --seed {{ s }}',
            ("%%imagine --size 500x500\nfox", ["raises-exception"]),
        ],
    )
    magics = find_magics(read_cells(path))
    assert [(m.cell, m.line, m.text) for m in magics] == [
        (3, None, "--seed 1 -o first"),
        (4, 1, '"{{ prompt }}" --seed 2'),
        (4, 3, '"{{ prompt }}"'),
        (5, 4, '"x" --seed {{ s }}'),
        (6, None, "--size 500x500"),
    ]
    first, one, two, looped, intended = magics
    assert first.body == "{{ prompt }}" and first.values == {"prompt": "a fox", "seeds": [1, 2]}
    assert first.unknown == {"folder", "np"}
    assert one.values["prompt"] == "a fox" and two.values["prompt"] == "an owl"  # in-cell order
    assert {"first", "one"} <= two.unknown and "two" not in two.unknown
    assert looped.nested and looped.config == (("n", 2),)
    assert looped.unresolved == "%config Imagine.model = MODEL"
    assert intended.expected_error and not first.expected_error
    assert {"s", "two"} <= intended.unknown  # the loop variable and the last result are not known


def test_a_cell_that_is_not_python_still_gives_its_magics() -> None:
    (magic,) = find_magics([Cell("code", 'x = %imagine "a fox"\nthis is not python (\n')])
    assert (magic.line, magic.text, magic.nested) == (1, '"a fox"', False)


def test_markdown_and_raw_cells_are_never_read_as_magics() -> None:
    cells = [Cell("markdown", "%%imagine\na fox"), Cell("raw", '%imagine "a fox"')]
    assert find_magics(cells) == []
