"""Sweeps end to end in a real in-process IPython shell and through the Python API, on the offline backend
(real httpx stack, in-process transport; the kernel and HTTP-server versions are in test_sweep_kernel)."""

from __future__ import annotations

import asyncio
import html
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from PIL import Image

import together_magic as tm
from together_magic.config import Imagine, set_current
from together_magic.errors import NotFoundError, OptionError
from together_magic.generation import loop
from together_magic.imagefiles import metadata
from together_magic.offline import shared_backend
from together_magic.sweeps.result import Sweep

from ..shells import magic_shell

MODEL = "black-forest-labs/FLUX.2-dev"
PRO = "black-forest-labs/FLUX.1.1-pro"  # the model Together documents negative_prompt for


@pytest.fixture
def ip(tmp_path: Path) -> Iterator[InteractiveShell]:
    with magic_shell(tmp_path / "cache", forget=("sw",)) as shell:
        yield shell


def run(ip: InteractiveShell, cell: str) -> Any:
    with capture_output() as captured:
        result = ip.run_cell(cell)
    if not result.success:
        raise AssertionError(f"cell failed: {result.error_before_exec or result.error_in_exec!r}")
    assert captured.stderr == ""
    return result.result


def usage_error(ip: InteractiveShell, cell: str) -> str:
    with capture_output() as captured:
        result = ip.run_cell(cell)
    assert not result.success
    shown = (captured.stdout + captured.stderr).strip().splitlines()
    assert shown and "Traceback" not in "\n".join(shown)
    return shown[-1]


def requests() -> int:
    return shared_backend().stats["requests"]


def test_a_two_axis_sweep_makes_one_request_per_cell(ip: InteractiveShell) -> None:
    before = requests()
    sweep = run(
        ip, "%%imagine --size 256x256 -s 9 --vary steps=1..4 --vary guidance=1,3.5,7 -o sw\na red fox"
    )
    assert requests() - before == 12
    assert isinstance(sweep, Sweep) and ip.user_ns["sw"] is sweep and sweep.shape == (4, 3)
    payloads = [cell.response.request.payload() for cell in sweep.cells if cell.response]
    assert len(payloads) == 12 and len({repr(sorted(p.items())) for p in payloads}) == 12
    for cell in sweep.cells:  # the request that was sent carries the cell's own values, and only those
        steps, guidance = cell.values
        sent = cell.response.provenance.request.payload() if cell.response else {}
        assert (sent["steps"], sent["guidance_scale"], sent["seed"], sent["n"]) == (steps, guidance, 9, 1)
        assert (sent["prompt"], sent["width"], sent["model"]) == ("a red fox", 256, MODEL)
    # the pixels are the ones a single request with those fields gets: the server saw those fields
    alone = tm.Together().images.generate(
        prompt="a red fox", model=MODEL, seed=9, width=256, height=256, steps=3, guidance_scale=7.0
    )
    assert sweep.cell(steps=3, guidance=7).image_bytes() == alone.image_bytes()
    assert sweep[3, 7.0] is sweep.cell(guidance=7, steps=3)
    before = requests()
    assert sweep.responses[(1, 1.0)] is sweep.cells[0].response and not sweep.failed
    assert [[c.values for c in row] for row in sweep.rows()][1] == [(1, 3.5), (2, 3.5), (3, 3.5), (4, 3.5)]
    again = run(ip, sweep.to_cell().replace("--vary", "-o sw_again --vary", 1))
    assert requests() == before  # the copy-as-code cell is the same sweep, from the cache
    assert [c.request for c in again.cells] == [c.request for c in sweep.cells]
    assert all(c.response is not None and c.response.cached for c in again.cells)


def test_each_cells_hover_is_the_cell_that_makes_that_image_alone(ip: InteractiveShell) -> None:
    """What the grid shows about a cell is enough: the hover of a prompt S/R cell used to be a line without
    the prompt (shown nowhere else), and a line without the model when it was the kernel's default."""
    ip.run_line_magic("config", "Imagine.model = 'black-forest-labs/FLUX.2-flex'")
    sweep = run(ip, "%%imagine --size 256x256 -s 6 --vary 'prompt:fox=fox,owl' --vary steps=1,2\na red fox")
    ip.run_line_magic("config", f"Imagine.model = {MODEL!r}")  # the next kernel's default is another model
    page = sweep.html()
    for cell in sweep.cells:
        shown = cell.to_cell()
        assert html.escape(shown, quote=True) in page  # the hover of that cell's preview
        alone = run(ip, shown.replace("%%imagine", "%%imagine -o sw_alone", 1))
        assert alone.request.payload() == cell.request.payload()
        assert alone.image_bytes() == cell.response.image_bytes()  # type: ignore[union-attr]
    again = run(ip, sweep.to_cell())
    assert [c.request for c in again.cells] == [c.request for c in sweep.cells]


def test_lookups_name_what_is_missing(ip: InteractiveShell) -> None:
    sweep = run(ip, "%%imagine --size 256x256 -s 2 --vary steps=1,2 --vary guidance=1,2\nfox")
    for lookup, fragment in [
        (lambda: sweep.cell(steps=1), "give a value for guidance too"),
        (lambda: sweep.cell(steps=3, guidance=1), "steps has no value 3; its values: 1, 2"),
        (lambda: sweep.cell(seed=1), "this sweep has no axis 'seed'; its axes: steps, guidance"),
        (lambda: sweep[1], "give 2 value(s), one per axis (steps, guidance), got 1"),
    ]:
        with pytest.raises(KeyError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            lookup()
    assert sweep.find(steps=2, guidance=2).at == (1, 1)


def test_the_grid_has_headers_and_small_previews(ip: InteractiveShell) -> None:
    sweep = run(
        ip,
        f"%%imagine -m {PRO} --size 512x512 -s 4 --vary 'prompt:fox=fox,owl' "
        "--vary 'negative=\"\",snow'\nfox",
    )
    data, meta = sweep._repr_mimebundle_()
    page = data["text/html"]
    assert page.count("<img ") == 4
    for text in (
        "prompt: fox",
        "negative prompt",
        "owl",
        "(none)",
        "snow",
        "negative prompt ↓ · prompt: fox →",
    ):
        assert text in page, text
    assert 'width="512"' in page and 'width="513"' not in page  # at most preview_size
    assert meta["together_magic"]["sweep"] == {
        "axes": ["prompt:fox=fox,owl", 'negative="",snow'],
        "cells": 4,
        "failed": 0,
    }
    plain = data["text/plain"].splitlines()
    assert plain[0].startswith(
        "Sweep: fox · FLUX.1.1-pro · seed 4 · 4 cells (prompt: fox x negative prompt): 4 done"
    )
    assert plain[1].startswith("  prompt: fox=fox, negative prompt=(none): ")
    assert sweep.cell(prompt="owl", negative="snow").request.payload()["negative_prompt"] == "snow"
    assert sweep.cell(prompt="owl", negative="").request.prompt == "owl"


def test_a_failing_cell_is_an_empty_captioned_cell(ip: InteractiveShell) -> None:
    sweep = run(
        ip,
        "%%imagine --size 256x256 -s 3 --vary model=FLUX.2-dev,acme/no-such-model --vary steps=1,2\nfox",
    )
    assert [c.state for c in sweep.cells] == ["done", "failed", "done", "failed"]
    error = sweep.failed[("acme/no-such-model", 1)]
    assert (
        error.startswith("404") and "Unable to access model acme/no-such-model" in error and "\n" not in error
    )
    page = sweep._repr_mimebundle_()[0]["text/html"]
    assert page.count("<img ") == 2 and page.count("Unable to access model") == 2  # in each empty box
    with pytest.raises(KeyError, match="failed: 404"):
        sweep.cell(model="acme/no-such-model", steps=2)
    sheet = sweep.to_image(cell_size=128)
    red = [sheet.getpixel((x, y)) for x in range(sheet.width) for y in range(sheet.height)]
    assert red.count((248, 230, 230)) > 2 * 64 * 64  # two failed cells drawn as tinted boxes


def test_every_cell_failing_is_one_error_line(ip: InteractiveShell) -> None:
    shown = usage_error(ip, "%%imagine --size 256x256 -s 3 --vary model=acme/a,acme/b -o sw_bad\nfox")
    assert shown.startswith("NotFoundError: 404") and "acme/a" in shown
    assert isinstance(ip.user_ns["sw_bad"], Sweep)  # bound before the error was raised
    with pytest.raises(NotFoundError):
        tm.sweep("fox", vary={"model": ["acme/a"]}, size="256x256")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("--vary stepz=1", "UsageError: --vary: unknown axis 'stepz'; did you mean steps?"),
        ("--vary steps=x", "UsageError: --vary steps: values must be whole numbers"),
        (
            "--vary steps=4 -m black-forest-labs/FLUX.2-pro",
            "--vary steps: black-forest-labs/FLUX.2-pro does not take steps",
        ),
        (
            "--vary steps=4,60",
            "UsageError: --vary steps=60: --steps must be between 1 and 50 for black-forest-labs/FLUX.2-dev",
        ),
        (
            "--vary size=500x500",
            "--vary size=500x500: --size 500x500: width and height must each be a multiple of 8",
        ),
        (
            "--vary model=Qwen-Image,FLUX.2-dev --upsample",
            "--vary model=Qwen/Qwen-Image: --upsample: Qwen/Qwen-Image does not take",
        ),
        ("--vary steps=4 --size 100x100", "UsageError: --size 100x100: width and height must each be"),
        ("--vary steps=4 -n 2", "--n: a sweep makes one image per cell"),
        (  # the size axis undid the width axis: two cells labelled 512 and 768, one request twice
            "--vary width=512,768 --vary size=320x320",
            "--vary: width=512, size=320x320 and width=768, size=320x320 send the same request",
        ),
        ("--vary width=512,768 --vary aspect_ratio=1:1,16:9", "send the same request"),
        ("--vary steps=4 --each things", "--vary and --each do not combine"),
        (
            "--vary seed=1..3 --vary steps=1..3 --vary guidance=1..3 --vary size=256x256",
            "--vary takes at most 3 axes",
        ),
        (
            "--vary seed=1..10 --vary steps=1..10",
            "makes 100 images, more than Imagine.max_sweep_images (64); "
            "raise it with %config Imagine.max_sweep_images = 100",
        ),
    ],
)
def test_mistakes_are_one_line_before_anything_is_sent(
    ip: InteractiveShell, line: str, fragment: str
) -> None:
    before = requests()
    shown = usage_error(ip, f"%%imagine --size 256x256 -s 1 {line}\nfox")
    assert fragment in shown, shown
    assert requests() == before


def test_the_size_limit_can_be_raised(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Imagine.max_sweep_images = 3")
    assert "raise it with %config Imagine.max_sweep_images = 4" in usage_error(
        ip, "%%imagine --vary seed=1..4\nfox"
    )
    ip.run_line_magic("config", "Imagine.max_sweep_images = 4")
    assert len(run(ip, "%%imagine --size 256x256 --vary seed=1..4\nfox").responses) == 4


def test_the_budget_is_checked_for_the_whole_sweep_first(ip: InteractiveShell) -> None:
    ip.run_line_magic("config", "Imagine.budget = 0.001")
    before = requests()
    shown = usage_error(ip, "%%imagine --size 1024x1024 --vary seed=1..4\nfox")
    assert "BudgetError" in shown and "session budget" in shown and requests() == before


def test_cells_share_one_drawn_seed_and_run_at_most_max_concurrency(
    ip: InteractiveShell, backend_latency: Callable[[float], None]
) -> None:
    ip.run_line_magic("config", "Imagine.max_concurrency = 2")
    backend_latency(0.25)
    started = time.perf_counter()
    sweep = run(ip, "%%imagine --size 256x256 --vary steps=1..6\nfox")
    elapsed = time.perf_counter() - started
    backend_latency(0.0)
    assert elapsed >= 3 * 0.25  # six requests, two at a time
    assert len({c.seed for c in sweep.cells}) == 1 and sweep.cells[0].seed is not None
    assert f"--seed {sweep.cells[0].seed} " in sweep.to_line()


def test_save_writes_cells_and_a_sheet_that_from_runs_again(ip: InteractiveShell, tmp_path: Path) -> None:
    out = tmp_path / "out"
    ip.user_ns["out"] = str(out)
    first = run(
        ip,
        "%%imagine --size 256x256 -s 5 --vary steps=1,2 --vary guidance=2,4 -o sw_saved --save {{out}}\nfox",
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "fox-s5-1.jpg",
        "fox-s5-2.jpg",
        "fox-s5-3.jpg",
        "fox-s5-sweep-steps-guidance.png",
        "fox-s5.jpg",
    ]
    assert first.saved[(2, 4.0)] == out / "fox-s5-3.jpg"  # reading order: the last cell, the last name
    assert tm.read_parameters(out / "fox-s5-3.jpg") == first.cell(steps=2, guidance=4).request
    sheet = first.sheet_path
    assert sheet == out / "fox-s5-sweep-steps-guidance.png"
    with Image.open(sheet) as img:
        assert img.format == "PNG" and "Steps: 1" in img.text["parameters"]  # A1111 readers see cell 1
    before = requests()
    run(ip, f"sw_from = %imagine --from {sheet}")
    again = ip.user_ns["sw_from"]
    assert requests() == before  # the same requests, so all from the cache
    assert [c.request.payload() for c in again.cells] == [c.request.payload() for c in first.cells]
    assert again.to_line() == first.to_line().replace(f" --out sw_saved --save {out}", "")
    run(
        ip,
        "%%imagine --size 256x256 -s 5 --vary steps=1,2 --vary guidance=2,4 --save {{out}} --no-display\nfox",
    )
    assert sorted(p.name for p in out.iterdir()) == names  # saving the same sweep again copies nothing
    run(ip, f"sw_changed = %imagine --from {sheet} --size 320x320")
    changed = ip.user_ns["sw_changed"]
    assert {c.request.width for c in changed.cells} == {320}
    assert [c.values for c in changed.cells] == [c.values for c in first.cells]  # axes kept over overrides
    assert "drop --vary" in usage_error(ip, f"%imagine --from {sheet} --vary seed=1,2")


def test_an_edit_sweeps_sheet_keeps_its_input_image(ip: InteractiveShell, tmp_path: Path) -> None:
    """The sheet leaves image data out of its record; --from used to send the edit without its image."""
    photo = tmp_path / "photo.png"
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(photo)  # too big to inline in a record
    ip.user_ns.update(out=str(tmp_path / "out"), photo=str(photo))
    kontext = "black-forest-labs/FLUX.1-kontext-pro"
    first = run(
        ip,
        f"%%imagine -m {kontext} --image {{{{photo}}}} --size 256x256 -s 8 --vary 'prompt:snow=snow,rain' "
        "--save {{out}}\nadd snow",
    )
    assert all(c.request.image_url for c in first.cells)
    before = requests()
    run(ip, f"sw_edit = %imagine --from {first.sheet_path}")
    again = ip.user_ns["sw_edit"]
    assert [c.request.payload() for c in again.cells] == [c.request.payload() for c in first.cells]
    assert requests() == before  # the same edits, from the cache
    # An uploaded image has no file to name: --from says so instead of sending a text-to-image.
    uploaded = tm.sweep(
        "add snow", vary={"seed": [1, 2]}, model=kontext, image=photo.read_bytes(), size="256x256",
        save=tmp_path / "up",
    )  # fmt: skip
    assert "give it again with --image PATH" in usage_error(ip, f"%imagine --from {uploaded.sheet_path}")


def test_damaged_sheet_records_are_one_line(ip: InteractiveShell, tmp_path: Path) -> None:
    first = run(ip, "%%imagine --size 256x256 -s 5 --vary steps=1,2\nfox")
    png = tmp_path / "base.png"
    first.to_image(64).save(png)
    record = first.recipe()
    for damage in (
        lambda r: r["sweep"].update(version=99),
        lambda r: r["sweep"]["cells"][0].update(at=[7]),
        lambda r: r["sweep"]["cells"][0]["request"].update(seed="many"),
        lambda r: r["sweep"].update(axes="steps"),
        lambda r: r["sweep"].update(tokens=["--nonsense"]),
    ):
        broken = {
            **record,
            "sweep": {
                **record["sweep"],
                "cells": [dict(c, request=dict(c["request"])) for c in record["sweep"]["cells"]],
            },
        }
        damage(broken)
        path = tmp_path / "broken.png"
        path.write_bytes(metadata.embed(png.read_bytes(), broken))
        assert "--from: broken.png has a damaged sweep recipe" in usage_error(ip, f"%imagine --from {path}")


def test_a_failed_save_binds_and_shows_first(ip: InteractiveShell, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with capture_output() as captured:
        result = ip.run_cell(
            f"%%imagine --size 256x256 -s 5 --vary steps=1,2 -o sw_nosave --save {blocker}\nfox"
        )
    assert not result.success
    assert f"--save: 3 file(s) could not be written to {blocker}" in captured.stdout + captured.stderr
    assert len(ip.user_ns["sw_nosave"].responses) == 2 and ip.user_ns["sw_nosave"].save_errors


def test_ctrl_c_cancels_pending_cells_and_binds_what_finished(
    ip: InteractiveShell, backend_latency: Callable[[float], None]
) -> None:
    from IPython.core.async_helpers import get_asyncio_loop

    ip.run_line_magic("config", "Imagine.max_concurrency = 1")
    backend_latency(0.4)
    timer = threading.Timer(0.6, os.kill, (os.getpid(), signal.SIGINT))  # what Ctrl-C sends
    started = time.perf_counter()
    timer.start()
    with capture_output() as captured:
        result = ip.run_cell("%%imagine --size 256x256 -s 8 --vary steps=1..4 -o sw_part\nfox")
    elapsed = time.perf_counter() - started
    backend_latency(0.0)
    assert isinstance(result.error_in_exec, loop.ImagineCancelled)
    assert elapsed < 1.4, elapsed
    shown = captured.stdout + captured.stderr
    assert "sweep interrupted: 1 of 4 cells finished (bound to sw_part), 3 cancelled" in shown
    assert "Traceback" not in shown
    partial = ip.user_ns["sw_part"]
    assert len(partial.responses) == 1 and partial.cancelled == [(2,), (3,), (4,)]
    assert "cancelled" in partial._repr_mimebundle_()[0]["text/html"]
    assert not [t for t in asyncio.all_tasks(get_asyncio_loop()) if not t.done()]
    assert run(ip, "%%imagine --size 256x256 -s 8 --vary steps=1,2\nfox").responses


def test_ctrl_c_in_python_sweep_saves_what_finished_and_names_the_drawn_seed(
    backend_latency: Callable[[float], None], tmp_path: Path
) -> None:
    """``s = sweep(...)`` binds nothing when interrupted: its message used to say only "4 done", with the
    finished cells in the cache under a seed that was drawn and shown nowhere, and ``save=`` wrote none."""
    config = Imagine(max_concurrency=1, cache_dir=str(tmp_path / "cache"))
    set_current(config)
    backend_latency(0.4)
    timer = threading.Timer(0.7, os.kill, (os.getpid(), signal.SIGINT))  # the second cell is in flight
    timer.start()
    try:
        with pytest.raises(loop.ImagineCancelled) as info:
            tm.sweep("fox", vary={"steps": [1, 2, 3, 4]}, size="256x256", save=tmp_path / "out")
    finally:
        timer.cancel()
        backend_latency(0.0)
        set_current(None)
    found = re.fullmatch(
        r"sweep interrupted: 1 of 4 cells finished \(saved in (.+); the same call with seed=(\d+) takes them "
        r"from the cache\), 3 cancelled",
        info.value.message,
    )
    assert found is not None, info.value.message
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".jpg", ".png"]  # the cell, the sheet
    set_current(config)
    try:
        before = requests()
        again = tm.sweep("fox", vary={"steps": [1, 2, 3, 4]}, size="256x256", seed=int(found.group(2)))
    finally:
        set_current(None)
    assert requests() - before == 3 and again.cells[0].response.cached  # type: ignore[union-attr]


def test_python_sweep_matches_the_magic(ip: InteractiveShell, tmp_path: Path) -> None:
    magic = run(ip, "%%imagine --size 256x256 -s 6 --format png --vary guidance=1,3.5,7\nfox")
    python = tm.sweep("fox", vary={"guidance": [1, 3.5, 7]}, seed=6, size="256x256", output_format="png")
    assert [c.request for c in python.cells] == [c.request for c in magic.cells]
    texts = tm.sweep("fox", vary=["guidance=1,3.5,7"], seed=6, width=256, height=256, format="png")
    assert [c.request for c in texts.cells] == [c.request for c in magic.cells]
    together = asyncio.run(tm.asweep("fox", {"steps": "1:3:2"}, seed=6, size="256x256", save=tmp_path / "py"))
    assert together.cell(steps=3).request.steps == 3 and together.sheet_path is not None
    extra = tm.sweep("fox", {"seed": [1]}, size="256x256", output_format="png", style_preset="x")
    assert extra.cells[0].request.payload()["style_preset"] == "x"  # unknown names travel like -p
    for kwargs, fragment in [
        ({"steps": "8"}, "sweep(): steps must be a whole number"),
        ({"guidance": "high"}, "sweep(): guidance must be a number"),
        ({"vary": [3]}, "vary must map axes to values"),
        ({"vary": {"seed": range(100)}}, "raise it with max_images=100"),
        ({"vary": 5}, "sweep(): vary must map axes to values"),  # was a TypeError traceback
        ({"max_images": 0}, "sweep(): max_images must be a whole number, 1 or more, got 0"),  # a TraitError
        ({"max_images": "70"}, "sweep(): max_images must be a whole number, 1 or more, got '70'"),
        ({"max_images": True}, "sweep(): max_images must be a whole number, 1 or more, got True"),
    ]:
        with pytest.raises(OptionError, match=re.escape(fragment)):
            tm.sweep("fox", **{"vary": {"seed": [1]}, **kwargs})
    assert len(tm.sweep("fox", {"seed": range(70)}, size="256x256", max_images=70).responses) == 70


def test_the_package_exports_the_sweep_api() -> None:
    assert callable(tm.sweep) and tm.Sweep is Sweep and asyncio.iscoroutinefunction(tm.asweep)
    import together_magic.sweeps.api  # noqa: F401  (importing the module must not shadow the function)

    assert callable(tm.sweep)
