"""The preflight's verdicts: planned as the magic plans, variables never guessed, what the cloud refuses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from together_magic import models
from together_magic.config import Imagine
from together_magic.preflight import check_notebook
from together_magic.preflight.report import EXPECTED, FAILS, NOT_PLANNED, OK, Report

from .notebooks import BEFORE_CLASS, Cell, write_notebook

DEV = models.find_model(models.DEFAULT_MODEL)
assert DEV is not None and DEV.price.per_image is not None
PER_IMAGE = DEV.price.per_image


def check(tmp_path: Path, cells: list[Cell]) -> Report:
    return check_notebook(write_notebook(tmp_path / "class.ipynb", cells))


def test_the_three_mistakes_are_named_with_their_fixes(tmp_path: Path) -> None:
    report = check(tmp_path, BEFORE_CLASS)
    verdicts = report.verdicts()
    assert verdicts == {3: FAILS, 4: FAILS, 5: FAILS, 6: OK}
    retired, negative, size, fine = report.rows
    assert retired.problems[0].fix == "-m black-forest-labs/FLUX.2-dev"
    assert "FLUX.1-schnell is retired" in retired.problems[0].text
    assert negative.problems[0].fix == "drop --negative"
    assert "does not take negative_prompt" in negative.problems[0].text
    assert "try 496x496 or 504x504" in size.problems[0].text
    assert (fine.images, fine.cost) == (2, pytest.approx(2 * PER_IMAGE))
    assert not report.ok and report.exit_status == 1
    text = report.text()
    assert "fix: -m black-forest-labs/FLUX.2-dev" in text and "fix: drop --negative" in text
    assert f"prices: list prices as of {models.PRICES_AS_OF}" in text


@pytest.mark.parametrize(
    ("cells", "note"),
    [
        (["%%imagine\n{{ prompt }}"], "depends on a variable: prompt (no earlier cell assigns it)"),
        (['prompt = input("?")', "%%imagine\n{{ prompt }}"], "depends on a variable: prompt"),
        (["r = %imagine 'a fox'", "%%imagine --image r\nnight"], "depends on a variable: r"),
        (["%%imagine -o r\nfox", "%%imagine --reference r\nnight"], "depends on a variable: r"),
        (["from x import seeds", "%%imagine --vary 'seed={{ seeds }}'\nfox"], "depends on a variable: seeds"),
        (["items = load()", "%%imagine --each items --out o\n{{ item }}"], "depends on a variable: items"),
        (["p = 'fox'", "%%imagine\n{{ p.upper() }}"], "depends on a value only the kernel has"),
        (["city = make()", "%%imagine --from {{ city.saved_paths[0] }}"], "depends on a variable: city"),
        (["for i in range(3):\n    %imagine 'a fox'"], "inside a loop or block"),
        (["%config Imagine.n = N", "%%imagine\nfox"], "depends on a value known only by running"),
    ],
)
def test_what_only_the_kernel_knows_is_not_planned(tmp_path: Path, cells: list[Cell], note: str) -> None:
    report = check(tmp_path, cells)
    row = report.rows[-1]  # (an earlier %imagine is a row of its own)
    assert (row.verdict, row.images) == (NOT_PLANNED, None)
    assert note in row.note
    assert report.ok and report.exit_status == 0  # not planned is not a failure


def test_nothing_of_the_notebook_is_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    report = check(
        tmp_path,
        [
            f"x = {code}",
            f"%%imagine\n{{{{ {code} }}}}",
            f'%%imagine --vary "seed={{{{ {code} }}}}"\nfox',
            f"%%imagine --save {{{{ {code} }}}}\nfox",
        ],
    )
    assert not marker.exists()
    assert [row.verdict for row in report.rows] == [NOT_PLANNED, NOT_PLANNED, OK]
    assert "depends on a value only the kernel has" in report.rows[0].note


def test_literals_of_earlier_cells_are_used_and_output_folders_do_not_matter(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            'prompt = "a fox"\nseeds = [1, 2, 3]\nfolder = Path("out")',
            "%%imagine --save {{ folder }} --size 512x512\n{{ prompt }}",
            "%%imagine --vary 'seed={{ seeds }}' --vary steps=1,2 --size 512x512\n{{ prompt }}",
            'a = %imagine "{{ prompt }}" -n 2\nb = %imagine "{{ prompt }}" --seed 9',
        ],
    )
    assert [(r.verdict, r.images) for r in report.rows] == [(OK, 1), (OK, 6), (OK, 2), (OK, 1)]
    assert report.images == 10 and report.cost == pytest.approx(10 * PER_IMAGE)
    assert [line.split()[:3] for line in report.text().splitlines()[2:5]] == [
        ["2", "1", f"${PER_IMAGE:.4f}"],
        ["3", "6", f"${6 * PER_IMAGE:.4f}"],
        ["4", "3", f"${3 * PER_IMAGE:.4f}"],  # one row for the cell's two %imagine lines
    ]
    assert not (tmp_path / "out").exists() and not (tmp_path / "folder").exists()  # nothing written


def test_config_lines_apply_in_order(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            "%%imagine\nfox",
            "%config Imagine.n = 3",
            "%%imagine\nfox",
            "%config Imagine.model = 'black-forest-labs/FLUX.1-schnell'",
            "%%imagine --steps 4\nfox",
        ],
    )
    first, three, retired = report.rows
    assert (first.images, three.images, retired.images) == (1, 3, 3)
    assert retired.verdict == FAILS
    assert retired.problems[0].fix == "%config Imagine.model = 'black-forest-labs/FLUX.2-dev'"


def test_a_retired_model_is_tried_with_its_replacement(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            "%%imagine -m black-forest-labs/FLUX.1-dev-lora --lora some/lora:0.8 --size 512x512\nfox",
            "%%imagine --vary model=FLUX.2-dev,FLUX.1-schnell --size 512x512\nfox",
            "%%imagine -m black-forest-labs/FLUX.2-deev\nfox",
        ],
    )
    lora, axis, typo = report.rows
    assert lora.problems[0].fix == "-m black-forest-labs/FLUX.2-dev and drop --lora"
    assert axis.images == 2 and axis.problems[0].fix == "use black-forest-labs/FLUX.2-dev in its place"
    assert "not among Together's models" in typo.problems[0].message
    assert typo.problems[0].fix == "-m black-forest-labs/FLUX.2-dev"
    assert all(row.verdict == FAILS for row in report.rows)


def test_a_cell_meant_to_fail_is_shown_but_does_not_fail_the_check(tmp_path: Path) -> None:
    report = check(tmp_path, [("%%imagine --size 500x500\nfox", ["raises-exception"])])
    assert report.rows[0].verdict == EXPECTED and report.exit_status == 0
    assert "fails as intended: --size 500x500" in report.text()


def test_paths_are_read_from_the_notebooks_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "lesson"
    folder.mkdir()
    (folder / "animals.txt").write_text("fox\nowl\nhare\n")
    write_notebook(
        folder / "class.ipynb",
        [
            "%%imagine --each animals.txt --out set --size 256x256\na {{ item }} in watercolour",
            'animals = ["fox", "owl"]',
            "%%imagine --each animals --out set --size 256x256\na {{ item }} in watercolour",
            "%%imagine --each animals --out set --save x\n{{ item }}",
            "%%imagine -m black-forest-labs/FLUX.1-kontext-pro --image missing.png\nnight",
        ],
    )
    monkeypatch.chdir(tmp_path)  # not the notebook's folder
    report = check_notebook(Path("lesson/class.ipynb"))
    from_file, from_list, save, missing = report.rows
    assert (from_file.verdict, from_file.images) == (OK, 3)
    assert (from_list.verdict, from_list.images) == (OK, 2)
    assert save.verdict == FAILS and save.problems[0].fix == "drop --save"
    assert missing.verdict == FAILS and "no file, URL or variable" in missing.problems[0].message
    assert not (folder / "set").exists()


def test_prices_nobody_publishes_are_counted_apart(tmp_path: Path) -> None:
    pro = "black-forest-labs/FLUX.1.1-pro"
    assert not models.find_model(pro).price.known  # type: ignore[union-attr]
    report = check(tmp_path, [f"%%imagine -m {pro} -n 2\nfox", "%%imagine\nfox"])
    assert (report.images, report.unpriced, report.cost) == (3, 2, pytest.approx(PER_IMAGE))
    assert "+ 2 images at unpublished prices" in report.text()
    priced = check_notebook(tmp_path / "class.ipynb", lambda: Imagine(prices={pro: 0.05}))
    megapixels = 1024 * 1024 / 1e6  # FLUX1.1 [pro] bills by the megapixel, FLUX.2 [dev] by the image
    assert priced.unpriced == 0 and priced.cost == pytest.approx(2 * 0.05 * megapixels + PER_IMAGE, abs=1e-5)


def test_a_notebook_without_magics_makes_nothing(tmp_path: Path) -> None:
    python = "import together_magic as tm\ntm.sweep('fox', vary={'seed': [1, 2]})"  # Python, not a magic
    report = check(tmp_path, ["# notes", python])
    assert report.rows == [] and report.exit_status == 0
    assert "no %%imagine cells" in report.text()


def test_an_image_input_given_by_param_is_refused_as_the_cloud_refuses_it(tmp_path: Path) -> None:
    """``-p`` fields are sent as given (Together may know fields we do not), so the plan lets them by; the
    catalogue's rule (``models.refused_inputs``, the one the offline server answers 400 with) catches them."""
    lora = '[{"path": "some/lora", "scale": 0.8}]'
    report = check(
        tmp_path,
        [
            f"%%imagine -p 'image_loras={lora}' --vary seed=1,2 --size 512x512\nfox",
            "%%imagine -p image_url=https://example.org/a.png --size 512x512\nfox",
            "%%imagine -p future_field=1 --size 512x512\nfox",  # not an image input: the cloud ignores it
        ],
    )
    loras, url, future = report.rows
    assert loras.verdict == FAILS and [p.fix for p in loras.problems] == ["drop -p image_loras"]  # once
    assert url.verdict == FAILS and url.problems[0].fix == "drop -p image_url"
    assert future.verdict == OK


def test_settings_that_change_no_plan_do_not_stop_it_and_refused_ones_are_not_applied(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        [
            "%config Imagine.preview_size = SIZE\n%config Imagine.save_dir = str(folder)",
            "%config Imagine.n = 9",  # the kernel refuses it (1-4): the setting stays 1
            "%%imagine --size 512x512\nfox",
        ],
    )
    (row,) = report.rows
    assert (row.verdict, row.images) == (OK, 1)


def test_from_a_saved_image_or_contact_sheet_in_the_notebooks_folder(tmp_path: Path) -> None:
    """``--from`` reads the recipe saved in the file (relative to the notebook), as the magic does: an image
    is one generation again, a contact sheet its whole sweep."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")

    sweep_line = ["generate", "a fox", "--size", "256x256", "--vary", "seed=1..3", "--save", "images"]
    made = subprocess.run(
        [sys.executable, "-m", "together_magic", *sweep_line],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    sheet = re.search(r"contact sheet: (\S+)", made.stdout)
    assert sheet is not None
    sheet_name = Path(sheet.group(1)).name
    image = next(p.name for p in sorted((tmp_path / "images").iterdir()) if p.name != sheet_name)
    write_notebook(
        tmp_path / "class.ipynb",
        [
            f"%%imagine --from images/{image}",
            f"%%imagine --from images/{sheet_name}",
            f"%%imagine --from images/{image} --size 500x500",
        ],
    )
    report = check_notebook(tmp_path / "class.ipynb")
    again, sweep, resized = report.rows
    assert (again.verdict, again.images) == (OK, 1)  # the file holds one image's own request
    assert (sweep.verdict, sweep.images) == (OK, 3)
    assert resized.verdict == FAILS and "try 496x496 or 504x504" in resized.problems[0].text
