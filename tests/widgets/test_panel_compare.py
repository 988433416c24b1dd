"""The panel's compare row, driven as its buttons are, on a running loop, against the offline backend."""

from __future__ import annotations

import asyncio
import hashlib
from types import SimpleNamespace
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from together_magic.generation import generate as service
from together_magic.generation.line import parse_line
from together_magic.generation.loop import Interrupted
from together_magic.generation.plan import build_plan
from together_magic.offline import shared_backend
from together_magic.sweeps.result import Sweep
from together_magic.widgets.compare import SweepEntry
from together_magic.widgets.gallery import MAX_GRID_CELLS, MAX_GRIDS, _beyond_bounds
from together_magic.widgets.panel import ImaginePanel

from ..panel_helpers import make, png, shell, shown

__all__ = ["shell"]

pytestmark = pytest.mark.anyio


async def compare(panel: ImaginePanel, axis: str, values: str) -> Sweep:
    panel.axis.value, panel.values.value = axis, values
    panel.compare.click()
    assert panel.task is not None, panel.status.value
    result: Sweep = await panel.task
    return result


def entry(panel: ImaginePanel, position: int = 0) -> SweepEntry:
    found = panel.entries[position]
    assert isinstance(found, SweepEntry)
    return found


def cell_buttons(view: Any) -> dict[str, Any]:
    card = view.box.children[0]
    actions = next(c for c in card.children if "together-magic-actions" in c._dom_classes)
    return {b.description: b for b in actions.children}


async def test_compare_steps_makes_a_labelled_grid_entry(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.n.value = 3  # the form's image count is for Generate: compare makes one image per value
    panel.seed.value, panel.lock.value = 4242, True
    before = shared_backend().stats["requests"]
    panel.axis.value, panel.values.value = "steps", "1..3"
    panel.compare.click()
    announced = panel.status.value  # the announce line comes first, before anything is sent
    assert announced.startswith("sweep: 3 images (steps), one request each to FLUX.2-dev"), announced
    assert panel.generate.disabled and panel.compare.disabled and not panel.cancel.disabled
    sweep = await panel.task  # type: ignore[misc]
    assert panel.status.value.startswith("done: 3 cells (steps): 3 done (")
    assert shared_backend().stats["requests"] == before + 3
    assert [c.request.steps for c in sweep.cells] == [1, 2, 3]
    assert {(c.request.seed, c.request.n, c.request.width, c.request.height) for c in sweep.cells} == {
        (4242, 1, 320, 256)
    }
    assert panel.sweeps == [sweep] and panel.last_sweep is sweep
    grid = entry(panel)
    assert shown(panel)[0] is grid.widget and "together-magic-sweep-entry" in grid.widget._dom_classes
    labels = [view.box.children[0].children[0].value for view in grid.views]
    assert [label.split(">")[1].split("<")[0] for label in labels] == ["steps=1", "steps=2", "steps=3"]
    assert all(view.card is not None for view in grid.views)
    assert "3 cells (steps): 3 done" in grid.heading.value and "seed 4242" in grid.heading.value
    assert not panel.generate.disabled and not panel.compare.disabled and panel.cancel.disabled
    # Generate afterwards puts its cards first; the grid stays in the gallery, newest first
    await_generate = panel.generate
    await_generate.click()
    await panel.task  # type: ignore[misc]
    assert len(panel.entries) == 4 and panel.entries[3] is grid and len(panel.cards) == 3


async def test_cell_actions_and_copy_as_code_reproduce_the_cell(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.seed.value, panel.lock.value = 777, True
    panel.guidance.value = 2.5
    sweep = await compare(panel, "guidance", "1,4.5")
    view = entry(panel).views[1]
    assert view.card is not None and view.card.choice.seed == 777
    buttons = cell_buttons(view)
    assert set(buttons) == {"Save", "Download", "Reuse seed", "Use as reference", "Copy as code"}
    code = buttons["Copy as code"].text
    head, body = code.split("\n", 1)
    assert head.startswith("%%imagine --model black-forest-labs/FLUX.2-dev --n 1 --seed 777")
    assert "--guidance 4.5" in head and "--vary" not in head and "--no-interpolate" not in head
    plan = build_plan(parse_line(head.removeprefix("%%imagine "), body, {}), config=panel.settings)
    assert plan.request == sweep.cells[1].request
    panel.settings.cache = False  # made again, not found: the same bytes from the request alone
    again = await service.generate(plan, panel.settings, source="python")
    made = sweep.cells[1].response
    assert made is not None
    digest = hashlib.sha256(made.data[0].image_bytes()).hexdigest()  # type: ignore[index]
    assert hashlib.sha256(again.response.data[0].image_bytes()).hexdigest() == digest  # type: ignore[index]
    whole = entry(panel).copy.text
    assert whole.splitlines()[0].endswith("--vary guidance=1,4.5") and whole.endswith(
        "\na red fox in a snowy forest"
    )
    assert "--seed 777" in whole
    buttons["Copy as code"].click()  # no browser: the code is shown to copy by hand
    assert panel.code.value == code and "copy the cell from the box below" in panel.status.value
    entry(panel).copy.click()
    assert panel.code.value == whole
    panel.seed.value, panel.lock.value = 1, False
    buttons["Reuse seed"].click()
    assert (panel.seed.value, panel.lock.value) == (777, True)
    view.card.widget.children[1].children[1].click()  # the thumbnail's enlarge button
    assert panel.viewer.layout.display == "" and panel.viewer_copy.text == code


async def test_bad_values_are_one_line_and_nothing_is_sent(shell: InteractiveShell) -> None:
    panel = make(shell)
    before = shared_backend().stats["requests"]
    for axis, values, expected in [
        ("steps", "4,x", "--vary steps: values must be whole numbers"),
        ("steps", "", "--vary steps= has no values"),
        ("steps", "1..100", "more than Imagine.max_sweep_images (64); raise it with %config"),
        ("steps", "4,60", "--vary steps=60"),
        ("seed", "1,1", "listed twice"),
    ]:
        panel.axis.value, panel.values.value = axis, values
        panel.compare.click()
        assert panel.task is None, values
        assert expected in panel.status.value and "\n" not in panel.status.value, panel.status.value
    assert shared_backend().stats["requests"] == before and panel.sweeps == [] and panel.entries == []
    names = [name for _, name in panel.axis.options]
    assert {"steps", "guidance"} <= set(names) and not {"negative", "upsample", "lora"} & set(names)
    panel.model.value = "black-forest-labs/FLUX.1.1-pro"  # the axes follow the model: no steps, a negative
    names = [name for _, name in panel.axis.options]
    assert "steps" not in names and "negative" in names and "upsample" not in names
    panel.model.value = "black-forest-labs/FLUX.2-pro"
    assert "upsample" in [name for _, name in panel.axis.options]
    assert panel.axis.value == "seed" and panel.values.placeholder == "1..4"


async def test_a_failing_cell_shows_its_error_and_the_others_complete(shell: InteractiveShell) -> None:
    panel = make(shell)
    sweep = await compare(panel, "model", "FLUX.2-dev,acme/missing-model")
    assert [c.state for c in sweep.cells] == ["done", "failed"]
    failed = entry(panel).views[1]
    assert failed.card is None
    box = failed.box.children[0]
    assert "together-magic-failed" in box._dom_classes
    assert "404" in box.children[1].value and "acme/missing-model" in box.children[1].value
    assert set(cell_buttons(failed)) == {"Reuse seed", "Copy as code"}  # no image to save
    assert panel.status.value.startswith("done: 2 cells (model): 1 done, 1 failed")


async def test_every_cell_failing_says_so(shell: InteractiveShell) -> None:
    panel = make(shell)
    await compare(panel, "model", "acme/one,acme/two")
    assert "⚠ all 2 cells failed: 404" in panel.status.value


async def test_cancel_keeps_finished_cells_and_ends_with_interrupted(
    shell: InteractiveShell, backend_latency: Any
) -> None:
    backend_latency(0.3)
    panel = make(shell)
    panel.settings.max_concurrency = 1  # one at a time: after ~0.45 s one cell is done, three are not
    panel.axis.value, panel.values.value = "seed", "1..4"
    panel.compare.click()
    await asyncio.sleep(0.45)
    started = asyncio.get_running_loop().time()
    panel.cancel.click()
    with pytest.raises(Interrupted) as caught:
        await panel.task  # type: ignore[misc]
    assert asyncio.get_running_loop().time() - started < 0.5
    sweep = caught.value.result
    assert sweep is panel.last_sweep
    assert [c.state for c in sweep.cells] == ["done", "cancelled", "cancelled", "cancelled"]
    assert panel.status.value == "sweep interrupted: 1 of 4 cells finished (kept in the grid), 3 cancelled"
    views = entry(panel).views
    assert views[0].card is not None and all(v.card is None for v in views[1:])
    assert "cancelled" in views[1].box.children[0].children[1].value
    assert not panel.generate.disabled and panel.cancel.disabled
    backend_latency(0)
    await compare(panel, "seed", "1..4")  # again: the finished cell comes from the cache
    assert [c.response.cached for c in panel.last_sweep.cells] == [True, False, False, False]  # type: ignore[union-attr]


async def test_static_copy_includes_the_grid(shell: InteractiveShell) -> None:
    panel = make(shell)
    with capture_output():
        panel._ipython_display_()
    await compare(panel, "seed", "5,6")
    await panel.task  # type: ignore[misc]
    snapshot = panel.snapshot_html()
    assert "together-magic-sweep" in snapshot and snapshot.count("<img ") == 2
    assert "1 compare grid" in snapshot
    assert (
        panel._snapshot_bundle()["text/plain"]
        == "ImaginePanel gallery: 0 images, 1 compare grid (static copy)"
    )


async def test_double_click_and_compare_while_generating(
    shell: InteractiveShell, backend_latency: Any
) -> None:
    backend_latency(0.2)
    panel = make(shell)
    before = shared_backend().stats["requests"]
    panel.axis.value, panel.values.value = "seed", "1,2"
    panel.compare.click()
    panel.compare.click()
    panel.generate.click()
    await panel.task  # type: ignore[misc]
    assert shared_backend().stats["requests"] == before + 2 and len(panel.sweeps) == 1
    assert panel.responses == []


async def test_cancel_before_it_starts_sends_nothing(shell: InteractiveShell) -> None:
    panel = make(shell)
    before = shared_backend().stats["requests"]
    panel.axis.value, panel.values.value = "seed", "1,2"
    panel.compare.click()
    panel.cancel.click()  # in the same moment: the task never ran
    with pytest.raises(asyncio.CancelledError):
        await panel.task  # type: ignore[misc]
    assert panel.status.value == "cancelled before anything was sent"
    assert [c.state for c in panel.last_sweep.cells] == ["cancelled", "cancelled"]  # type: ignore[union-attr]
    assert all("cancelled" in v.box.children[0].children[1].value for v in entry(panel).views)
    assert shared_backend().stats["requests"] == before and not panel.compare.disabled


async def test_budget_and_bounded_grids(shell: InteractiveShell) -> None:
    panel = make(shell)
    panel.settings.budget = 0.001
    panel.axis.value, panel.values.value = "seed", "1..4"
    panel.compare.click()
    assert panel.task is None and "would cost about" in panel.status.value and panel.sweeps == []
    panel.settings.budget = None
    for k in range(MAX_GRIDS + 1):
        await compare(panel, "seed", f"{k},{k + 10}")
    grids = [e for e in panel.entries if isinstance(e, SweepEntry)]
    assert len(grids) == MAX_GRIDS and len(panel.sweeps) == MAX_GRIDS + 1  # every sweep is still kept
    assert [g.sweep for g in grids] == panel.sweeps[:0:-1]  # newest first; the oldest grid was closed


def test_live_grids_are_bounded_by_count_and_cells() -> None:
    def grids(*sizes: int) -> list[Any]:  # newest first, as panel.entries holds them
        return [SimpleNamespace(views=[None] * size) for size in sizes]

    assert _beyond_bounds(grids(64, 16, 8)) == []
    many = grids(4, 4, 4, 4, 4)
    assert _beyond_bounds(many) == many[MAX_GRIDS:]
    big = grids(40, 64, 8)  # 104 cells: the 64-cell grid goes, and the older one after it
    assert _beyond_bounds(big) == big[1:] and MAX_GRID_CELLS < 104
    assert _beyond_bounds(grids(500)) == []  # the newest grid always stays


async def test_uploaded_reference_and_braces_copy_as_runnable_code(
    shell: InteractiveShell, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # reference files are written next to the notebook when code is copied
    panel = make(shell)
    panel.model.value = "black-forest-labs/FLUX.1-kontext-pro"
    panel.prompt.value = "the fox in {{ braces }}, kept literally"
    panel.set_reference(png((200, 30, 30)), "upload red.png")
    sweep = await compare(panel, "seed", "3,4")
    assert sweep.cells[0].request.model_extra["image_url"].startswith("data:image/png;base64,")  # type: ignore[index]
    view, grid = entry(panel).views[1], entry(panel)
    for code in (view.code[0], grid.copy.text):
        head, body = code.split("\n", 1)
        assert "--image references/reference-" in head and head.endswith("--no-interpolate")
        assert body == "the fox in {{ braces }}, kept literally"
    reference = view.code[0].split("--image ", 1)[1].split()[0]
    assert not (tmp_path / reference).exists()
    cell_buttons(view)["Copy as code"].click()
    assert (tmp_path / reference).read_bytes() == png((200, 30, 30))
    head, body = view.code[0].split("\n", 1)
    options = parse_line(head.removeprefix("%%imagine "), body, {})
    assert build_plan(options, config=panel.settings).request == sweep.cells[1].request
    panel.prompt.value = "   "
    panel.compare.click()
    assert "⚠ the prompt is empty" in panel.status.value and len(panel.sweeps) == 1  # nothing new sent
