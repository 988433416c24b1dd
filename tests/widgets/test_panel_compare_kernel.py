"""The panel's compare row in a real ipykernel: clicks arrive as comm messages, as a browser sends them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ..kernel import Kernel, loaded_kernel, set_latency


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = loaded_kernel(
        tmp_path_factory.mktemp("compare-kernel"),
        "import hashlib\n"
        "from together_magic.generation.loop import Interrupted\n"
        "p = %imagine_panel\n"
        "p.prompt.value = 'a red fox in a snowy forest'\n"
        "p.width.value, p.height.value = 320, 256\n"
        "p.seed.value, p.lock.value = 31, True",
    )
    yield k
    k.stop()


def ids(kernel: Kernel, *names: str) -> list[str]:
    return kernel.ok(f"print({', '.join(f'p.{n}.model_id' for n in names)})").text.split()


def values(kernel: Kernel, code: str) -> object:
    return json.loads(kernel.ok(f"import json\nprint(json.dumps({code}))").text)


def test_compare_click_returns_at_once_and_fills_a_grid(kernel: Kernel) -> None:
    set_latency(kernel, 0.6)
    kernel.ok("p.axis.value, p.values.value = 'steps', '1,2,4'")
    (compare,) = ids(kernel, "compare")
    kernel.click(compare)
    busy = kernel.ok("print(p.busy, p.compare.disabled, p.generate.disabled, p.status.value[:6])")
    assert busy.text.split() == ["True", "True", "True", "sweep:"]  # the announce line, nothing sent yet
    assert busy.elapsed < 0.5  # the kernel answers while the sweep runs
    done = values(
        kernel,
        "[await p.task is p.last_sweep, [c.request.steps for c in p.last_sweep.cells], "
        "p.status.value.split(' (')[0], len(p.entries[0].views), "
        "p.gallery.children[-1] is p.entries[0].widget]",
    )
    assert done == [True, [1, 2, 4], "done: 3 cells", 3, True]
    set_latency(kernel, 0)


def test_cancel_mid_sweep_keeps_the_finished_cells(kernel: Kernel) -> None:
    set_latency(kernel, 0.4)
    kernel.ok("p.settings.max_concurrency = 1\np.axis.value, p.values.value = 'seed', '1..4'")
    compare, cancel = ids(kernel, "compare", "cancel")
    kernel.click(compare)
    kernel.ok("await asyncio.sleep(0.6)")
    kernel.click(cancel)
    ended = values(
        kernel,
        "[await asyncio.sleep(0.3), p.task.done() and not p.task.cancelled(), "
        "[c.state for c in p.last_sweep.cells], p.status.value, "
        "[v.card is not None for v in p.entries[0].views], p.compare.disabled]",
    )
    assert ended == [
        None,
        True,  # ended with an exception (Interrupted, carrying the sweep: see test_panel_compare.py)
        ["done", "cancelled", "cancelled", "cancelled"],
        "sweep interrupted: 1 of 4 cells finished (kept in the grid), 3 cancelled",
        [True, False, False, False],
        False,
    ]
    # The panel took the task's exception itself: dropping the task logs nothing to stderr
    collected = kernel.ok("import gc\np.task = None\ngc.collect()\nawait asyncio.sleep(0.1)")
    assert collected.of_type("stream") == [], collected.outputs
    kernel.ok("p.settings.max_concurrency = 4")
    set_latency(kernel, 0)
    assert values(kernel, "len(p.last_sweep.cells)") == 4  # the kernel is usable afterwards


def test_a_failing_cell_and_copy_as_code_byte_for_byte(kernel: Kernel) -> None:
    kernel.ok("p.axis.value, p.values.value = 'model', 'FLUX.2-dev,acme/missing,FLUX.2-flex'")
    (compare,) = ids(kernel, "compare")
    kernel.click(compare)
    states = values(kernel, "[await p.task is not None, [c.state for c in p.last_sweep.cells]]")
    assert states == [True, ["done", "failed", "done"]]
    failed = kernel.ok("print(p.entries[0].views[1].box.children[0].children[1].value)").text
    assert "404" in failed and "acme/missing" in failed
    copy_id = kernel.ok("print(p.entries[0].views[2].card.copy.model_id)").text.strip()
    message = {"event": "copied", "copied": True, "inserted": None, "reason": ""}
    kernel.client.shell_channel.send(
        kernel.client.session.msg(
            "comm_msg", {"comm_id": copy_id, "data": {"method": "custom", "content": message}}
        )
    )
    assert kernel.ok("print(p.status.value)").text.startswith("copied the cell for seed 31")
    code = kernel.ok("print(p.entries[0].views[2].card.copy.text, end='')").text
    assert code.startswith("%%imagine --model black-forest-labs/FLUX.2-flex --n 1 --seed 31 ")
    kernel.ok(
        "digest = hashlib.sha256(p.last_sweep.cells[2].response.data[0].image_bytes()).hexdigest()\n"
        "%config Imagine.cache = False\n"
        "before = _o.shared_backend().stats['requests']"
    )
    again = kernel.run(code)  # the copied cell, pasted and run: made again (no cache), the same bytes
    assert again.status == "ok" and not again.of_type("error"), again.outputs
    same = values(
        kernel,
        "[hashlib.sha256(_.data[0].image_bytes()).hexdigest() == digest, "
        "_o.shared_backend().stats['requests'] - before]",
    )
    assert same == [True, 1]
    whole = kernel.ok("print(p.entries[0].copy.text, end='')").text
    flux = "black-forest-labs/FLUX.2"
    assert whole.splitlines()[0].endswith(f"--vary model={flux}-dev,acme/missing,{flux}-flex")
    assert whole.endswith("\na red fox in a snowy forest")
    kernel.ok("%config Imagine.cache = True")
    rerun = kernel.run(whole)  # "Copy the sweep", pasted and run: the same grid of requests
    assert rerun.status == "ok", rerun.outputs
    assert (
        values(kernel, "[c.request == d.request for c, d in zip(_.cells, p.last_sweep.cells)]") == [True] * 3
    )
