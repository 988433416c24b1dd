"""The notebooks run on what README command (1) installs (``.[lab]``), not only on the test tools.

nbval runs the notebooks in the test environment, which also has pandas, the official SDK, numpy...: a
notebook that needs one of them passes there and shows a teacher a traceback after ``scripts/start``. Here
each notebook runs in a real kernel in which every module that only the ``test`` extra brings cannot be
imported, and must give the outputs its stored copy shows, kind for kind (no new error, no new stderr).
"""

from __future__ import annotations

import re
import shutil
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BLOCK = """import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _NotInstalled())"""
"""Run first in the kernel: a module only the test tools bring is not installed (as after scripts/start)."""


def _closure(extras: set[str]) -> set[str]:
    """The distributions ``together-magic[extras]`` pulls in, as installed here (normalised names)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [("together-magic", frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = (canonicalize_name(dist.metadata["Name"]), wanted)
        if key in seen:
            continue
        seen.add(key)
        for requirement in map(Requirement, dist.requires or []):
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in wanted or {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def _test_only_modules() -> list[str]:
    only = _closure({"test"}) - _closure({"lab"})
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if module.isidentifier() and all(canonicalize_name(d) in only for d in dists)
    )


def _kinds(cell: nbformat.NotebookNode) -> list[str]:
    """What a cell showed, kind by kind: errors by name, streams by stream (stdout, stderr).

    Consecutive chunks of one stream count once, as Jupyter saves them: the kernel may flush one ``print``
    in two messages ("1 True 4", then "\\n") when its flush timer falls between the writes."""
    kinds: list[str] = []
    previous = None
    for output in cell.get("outputs", []):
        if output["output_type"] == "error":
            kinds.append(f"error {output['ename']}")
        elif output["output_type"] == "stream" and previous != ("stream", output["name"]):
            kinds.append(output["name"])
        previous = (output["output_type"], output.get("name"))
    return kinds


def test_the_lab_extra_leaves_the_test_tools_out() -> None:
    blocked = _test_only_modules()
    assert {"pandas", "together", "pytest"} <= set(blocked)  # the check below is not empty
    assert not {"together_magic", "ipykernel", "ipywidgets", "PIL"} & set(blocked)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_on_the_lab_install(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cache of its own: nbval's run of the same notebooks must not find these images (cached captions)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shutil.copy(path, tmp_path / path.name)
    stored = nbformat.read(path, as_version=4)
    book = nbformat.read(path, as_version=4)
    block = BLOCK.format(blocked=set(_test_only_modules()))
    NotebookClient(
        book,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        extra_arguments=[f"--IPKernelApp.exec_lines={[block]!r}"],
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    for number, (ran, kept) in enumerate(zip(book.cells, stored.cells, strict=True)):
        if ran.cell_type == "code":
            assert _kinds(ran) == _kinds(kept), (number, ran.source[:80], _shown(ran))


def _shown(cell: nbformat.NotebookNode) -> str:
    """The errors and stderr a cell showed, without terminal colours (for the assertion message)."""
    text = "\n".join(
        "".join(o.get("traceback", [])) or o.get("text", "")
        for o in cell.outputs
        if o["output_type"] == "error" or o.get("name") == "stderr"
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[-1500:]
