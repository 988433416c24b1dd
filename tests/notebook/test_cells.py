"""The magic's cells (``notebook.cells``) return results, the magic binds; ``--from`` is read once."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from together_magic.cli import main

from ..shells import magic_shell

PACKAGE = Path(__file__).resolve().parents[2] / "together_magic"

_opened: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and isinstance(args[0], str | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # the interpreter's own record of every open(): no method of ours is replaced


@pytest.fixture
def ip(tmp_path: Path) -> Iterator[InteractiveShell]:
    with magic_shell(tmp_path / "cache", forget=("r_",)) as shell:
        yield shell


def opens_of(path: Path, run: Any) -> int:
    _opened.clear()
    run()
    return sum(1 for name in _opened if Path(name).resolve() == path.resolve())


def test_from_reads_an_image_file_once(ip: InteractiveShell, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with capture_output():
        ip.run_cell(f"%%imagine -s 3 --size 256x256 --save {out} -o r_first\na fox")
    saved = ip.user_ns["r_first"].saved_paths[0]
    with capture_output() as captured:
        reads = opens_of(saved, lambda: ip.run_cell(f"%imagine --from {saved} -o r_again"))
    assert not captured.stderr, captured.stderr
    assert ip.user_ns["r_again"].image_bytes() == ip.user_ns["r_first"].image_bytes()
    assert reads == 1


def test_from_reads_a_contact_sheet_once(ip: InteractiveShell, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    with capture_output():
        ip.run_cell(f"%%imagine -s 5 --size 256x256 --vary steps=1,2 --save {out} -o r_grid\na fox")
    sheet = ip.user_ns["r_grid"].sheet_path
    assert sheet is not None and sheet.parent == out
    with capture_output() as captured:
        reads = opens_of(sheet, lambda: ip.run_cell(f"%imagine --from {sheet} -o r_again"))
    assert not captured.stderr, captured.stderr
    assert len(ip.user_ns["r_again"].responses) == 2
    assert reads == 1


def test_the_cli_reads_from_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", "a fox", "-s", "4", "--size", "256x256", "--save", str(tmp_path / "o")]
    assert main(args) == 0
    saved = next((tmp_path / "o").iterdir())
    reads = opens_of(saved, lambda: main(["generate", "--from", str(saved), "--save", str(tmp_path / "p")]))
    capsys.readouterr()
    assert reads == 1


@pytest.mark.parametrize("value", ["", " "])
def test_from_needs_a_path(ip: InteractiveShell, value: str) -> None:
    with capture_output() as captured:
        result = ip.run_cell(f"%imagine a fox --from={value!r}")
    assert not result.success
    assert captured.stderr.strip() == (
        "UsageError: --from needs a path: an image saved with --save, or a sweep's contact sheet"
    )


def test_no_module_below_the_notebook_takes_the_magic_object() -> None:
    """Cells return results: nothing under the notebook wing names, takes or calls back into the magic."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "notebook" or path == PACKAGE / "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in [*node.args.args, *node.args.kwonlyargs]]
                if {"magics", "magic", "shell_magics"} & set(names):
                    wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} takes the magic")
            if isinstance(node, ast.Name) and node.id == "ImagineMagics":
                wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno} names ImagineMagics")
    assert not wrong, wrong
