"""``together-magic check``: the real command in a subprocess, its output and exit status."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from together_magic import models

from ..preflight.notebooks import BEFORE_CLASS, write_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
WITH_MAGICS = {"01-quickstart", "02-parameters", "05-experiments", "06-batches"}


def check(*paths: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    return subprocess.run(
        [sys.executable, "-m", "together_magic", "check", *map(str, paths)],
        capture_output=True, text=True, timeout=60, env=env, cwd=cwd,
    )  # fmt: skip


def test_every_shipped_notebook_passes_with_its_images_and_cost() -> None:
    """Issue 21: each notebook a class gets would run on the cloud today; the teacher sees what it costs."""
    assert {p.stem for p in NOTEBOOKS} >= WITH_MAGICS
    run = check(*NOTEBOOKS)
    assert (run.returncode, run.stderr) == (0, ""), run.stdout
    reports = run.stdout.split("\n\n")
    assert len(reports) == len(NOTEBOOKS) + 1  # and the line for them all
    for path, report in zip(NOTEBOOKS, reports, strict=False):
        assert report.startswith(str(path)), report
        if path.stem in WITH_MAGICS:
            total = re.search(r"^total: (\d+) images? in \d+ cells?, about \$(\d+\.\d{4})", report, re.M)
            assert total and int(total.group(1)) > 0 and float(total.group(2)) > 0, report
            assert "no cell would fail" in report and f"list prices as of {models.PRICES_AS_OF}" in report
        else:
            assert "no %%imagine cells" in report
    assert reports[-1].startswith("all 6 notebooks:")


def test_the_quickstart_in_figures() -> None:
    """01: four cells of FLUX.2 [dev] (1 + 1 + 4 + 1 images at its per-image price) and one that re-makes
    a saved image from a variable, which only the kernel knows."""
    spec = models.find_model(models.DEFAULT_MODEL)
    assert spec is not None and spec.price.per_image is not None
    run = check(NOTEBOOKS[0])
    assert run.returncode == 0
    rows = [line.split() for line in run.stdout.splitlines()[2:7]]
    assert [row[:3] for row in rows[:4]] == [
        [cell, str(images), f"${images * spec.price.per_image:.4f}"]
        for cell, images in (("4", 1), ("6", 1), ("9", 4), ("12", 1))
    ]
    assert rows[4][:3] == ["15", "-", "-"] and "depends on a variable: city" in run.stdout
    assert f"total: 7 images in 5 cells, about ${7 * spec.price.per_image:.4f}" in run.stdout


def test_three_mistakes_are_named_with_their_fixes_and_exit_1(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "before-class.ipynb", BEFORE_CLASS)
    run = check(path)
    assert (run.returncode, run.stderr) == (1, "")
    joined = " ".join(run.stdout.split())  # the verdicts wrap at 110 columns
    assert re.search(r"\b3 1 \? fails: black-forest-labs/FLUX\.1-schnell is retired", joined)
    assert "fix: -m black-forest-labs/FLUX.2-dev" in joined
    negative = r"\b4 - - fails: --negative: .* does not take negative_prompt;.* fix: drop --negative"
    assert re.search(negative, joined)
    assert re.search(r"\b5 - - fails: --size 500x500: .* try 496x496 or 504x504", joined)
    assert re.search(r"\b6 2 \$0\.0308 ok\b", joined)
    assert "3 cells would fail on the cloud" in joined
    assert all(len(line) <= 110 for line in run.stdout.splitlines()), run.stdout


def test_readme_shows_the_output_as_it_is(tmp_path: Path) -> None:
    readme = (NOTEBOOKS[0].parents[1] / "README.md").read_text()
    section = readme.split("## Before class: the preflight", 1)[1]
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    write_notebook(tmp_path / "before-class.ipynb", BEFORE_CLASS)
    assert check("before-class.ipynb", cwd=tmp_path).stdout == shown


def test_bad_arguments_are_one_line_each_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "damaged.ipynb").write_text('{"cells": [{"cell_type": "code", "sou')  # cut off mid-save
    (tmp_path / "notes.txt").write_text("not a notebook\n")
    (tmp_path / "data.ipynb").write_text('{"rows": [1, 2]}')
    good = write_notebook(tmp_path / "good.ipynb", ["%%imagine --size 512x512\nfox"])
    bad = ["missing.ipynb", "damaged.ipynb", "notes.txt", "data.ipynb", "."]
    run = check(*bad, good, cwd=tmp_path)
    lines = run.stderr.splitlines()
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(lines) == len(bad), run.stderr
    for name, line, says in zip(
        bad,
        lines,
        ["no such file", "invalid JSON", "invalid JSON", "not a Jupyter notebook", "a folder"],
        strict=True,
    ):
        assert line.startswith(f"together-magic: error: {name}: ") and says in line, line
    assert run.stdout.startswith(str(good)) and "no cell would fail" in run.stdout  # the others still checked


def test_no_notebook_at_all_is_a_usage_error() -> None:
    run = check()
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "NOTEBOOK.ipynb" in run.stderr and len(run.stderr.strip().splitlines()) <= 3
