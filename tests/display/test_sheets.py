"""The labelled grids: preview sizes, the notebook's bytes, and the contact sheet's drawing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import together_magic as tm
from together_magic import config
from together_magic.display.sheets import (
    PREVIEW_PIXELS,
    SHEET_PIXELS,
    Sheet,
    SheetCell,
    preview_side,
    rows_of,
    sheet_html,
    sheet_image,
)
from together_magic.generation.saving import read_recipe
from together_magic.types import ImageChoicesData


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path) -> Iterator[None]:
    settings = config.Imagine(cache_dir=str(tmp_path / "cache"))
    config.set_current(settings)
    yield
    config.set_current(None)


@pytest.mark.parametrize(
    ("columns", "cells", "preview", "side"),
    [
        (4, 16, 512, 256),
        (2, 4, 512, 512),
        (2, 4, 300, 300),
        (8, 64, 512, 128),
        (1, 64, 512, 128),
        (16, 16, 512, 96),
    ],
)
def test_previews_shrink_as_grids_grow(columns: int, cells: int, preview: int, side: int) -> None:
    assert preview_side(columns, cells, preview) == side
    assert side * min(columns, 4) <= max(PREVIEW_PIXELS, 4 * 96)


def test_a_4x4_grid_of_megapixel_images_adds_under_a_megabyte() -> None:
    sweep = tm.sweep(
        "a lighthouse by the sea at sunset", {"steps": [1, 2, 3, 4], "guidance": [1, 3, 5, 7]}, seed=3
    )
    assert {c.response.data[0].size for c in sweep.cells if c.response and c.response.data} == {(1024, 1024)}
    data, meta = sweep._repr_mimebundle_()
    stored = len(json.dumps({"data": data, "metadata": meta}))  # what the notebook file keeps of the output
    assert data["text/html"].count("<img ") == 16 and 'width="256"' in data["text/html"]
    assert stored < 1_000_000, stored


def _cells(n: int, state: str = "pending") -> list[SheetCell]:
    return [SheetCell(None, f"reason {k}", state, size=(512, 256)) for k in range(n)]


def test_the_contact_sheet_draws_labels_and_empty_cells() -> None:
    good = tm.Together().images.generate(
        prompt="fox", model="black-forest-labs/FLUX.2-dev", seed=1, width=256, height=256
    )
    choice = good.data[0]
    cells = [
        SheetCell(choice, "0.1 s", "done", size=(256, 256)),
        SheetCell(None, "404 no such model", "failed", size=(256, 256)),
        SheetCell(None, "cancelled", "cancelled", size=(256, 256)),
        SheetCell(ImageChoicesData.from_bytes(b"not an image"), "0.1 s", "done", size=(256, 256)),
    ]
    sheet = Sheet(
        "fox · 4 cells", "steps", ("1", "2"), "guidance", ("1", "7"), (("model: a", rows_of(cells, 2)),)
    )
    image = sheet_image(sheet, cell=512)
    assert image.width < 2 * 512  # cells never larger than the images (256 px) themselves
    pixels = image.load()
    assert pixels is not None
    ink = [(x, y) for x in range(image.width) for y in range(60) if sum(pixels[x, y]) < 200]
    assert ink  # the heading, grid title and column headers are drawn in the top band
    colours = {pixels[x, y] for x in range(image.width) for y in range(image.height)}
    assert (248, 230, 230) in colours and (
        238,
        238,
        238,
    ) in colours  # failed (twice: the broken image) and cancelled
    page = sheet_html(sheet, 128)
    assert page.count("<img ") == 1 and "404 no such model" in page and "UnidentifiedImageError" in page
    assert "model: a" in page and "guidance ↓ · steps →" in page


def test_one_axis_sheets_have_no_row_headers_and_huge_ones_stay_drawable() -> None:
    single = Sheet("", "seed", ("1", "2", "3"), None, ("",), ((None, rows_of(_cells(3), 3)),))
    assert "↓" not in sheet_html(single, 100)
    assert sheet_image(single, 64).size[1] < 200
    many = Sheet(
        "",
        "seed",
        tuple(map(str, range(40))),
        "steps",
        tuple(map(str, range(40))),
        ((None, rows_of(_cells(1600), 40)),),
    )
    image = sheet_image(many, 1024)
    assert image.width * image.height <= SHEET_PIXELS * 1.1


def test_a_saved_sheet_is_a_png_carrying_every_cell(tmp_path: Path) -> None:
    sweep = tm.sweep("fox", {"seed": [1, 2], "steps": [1, 2]}, size="256x256", save=tmp_path)
    assert sweep.sheet_path is not None and sweep.sheet_path.name == "fox-sweep-seed-steps.png"
    record = read_recipe(sweep.sheet_path)
    assert [c["request"]["seed"] for c in record["sweep"]["cells"]] == [1, 2, 1, 2]
    assert record["request"] == record["sweep"]["cells"][0]["request"]
    with Image.open(sweep.sheet_path) as img:
        assert img.format == "PNG" and img.size[0] > 2 * 256
