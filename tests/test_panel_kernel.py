"""The panel inside a real ipykernel: clicks arrive as comm messages, the kernel stays free meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .kernel import Kernel, loaded_kernel, set_latency


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = loaded_kernel(
        tmp_path_factory.mktemp("panel-kernel"),
        "p = %imagine_panel latest\n"
        "p.prompt.value = 'a red fox in a snowy forest'\n"
        "p.width.value, p.height.value = 320, 256",
    )
    yield k
    k.stop()


def test_click_returns_at_once_and_the_gallery_fills(kernel: Kernel) -> None:
    set_latency(kernel, 1.0)
    model_id = kernel.ok("print(p.generate.model_id)").text.strip()
    kernel.click(model_id)
    busy = kernel.ok("print(p.busy, p.generate.disabled)")  # the kernel answers while the request runs
    assert busy.text.split() == ["True", "True"]
    assert busy.elapsed < 0.8
    done = kernel.ok(
        "await p.task\n"
        "print(p.status.value.split(' (')[0], len(p.responses), len(p.gallery.children), latest is p.last)"
    )
    assert done.text.split() == ["done:", "1", "image", "1", "1", "True"]
    set_latency(kernel, 0)


def test_cancel_mid_request_in_the_kernel(kernel: Kernel) -> None:
    set_latency(kernel, 5.0)
    generate_id = kernel.ok("print(p.generate.model_id)").text.strip()
    cancel_id = kernel.ok("print(p.cancel.model_id)").text.strip()
    kernel.click(generate_id)
    kernel.ok("await asyncio.sleep(0.3)")
    kernel.click(cancel_id)
    reply = kernel.ok(
        "await asyncio.sleep(0.3)\n"
        "print(p.task.cancelled(), p.status.value.split(' after')[0], len(p.responses))"
    )
    assert reply.text.split() == ["True", "cancelled", "1"]
    set_latency(kernel, 0)


def test_panel_clicks_are_served_while_a_magic_cell_awaits(kernel: Kernel) -> None:
    set_latency(kernel, 1.5)
    generate_id = kernel.ok("print(p.generate.model_id)").text.strip()
    msg_id = kernel.client.execute("%%imagine --size 256x256 -s 1 -o r_busy\nowl")
    kernel.click(generate_id)  # arrives while the %%imagine cell is awaiting its request
    reply = kernel.wait(msg_id)
    assert reply.status == "ok"
    # the click was handled at once, not queued behind the cell: it started well before the cell ended
    since_click = kernel.ok("import time\nprint(round(time.perf_counter() - p._started, 1))")
    assert float(since_click.text) >= 1.0
    state = kernel.ok("await p.task\nprint(len(p.responses), r_busy.request.seed)")
    assert state.text.split() == ["2", "1"]
    set_latency(kernel, 0)


def test_bad_size_and_double_click_in_the_kernel(kernel: Kernel) -> None:
    kernel.ok("p.width.value, p.height.value = 1000, 1001")
    generate_id = kernel.ok("print(p.generate.model_id)").text.strip()
    kernel.click(generate_id)
    status = kernel.ok("print(p.status.value)").text
    assert (
        "⚠ --height must be a multiple of 8 between 256 and 1920" in status and "try 1000 or 1008" in status
    )
    kernel.ok("p.width.value, p.height.value = 320, 256")
    set_latency(kernel, 0.5)
    before = int(kernel.ok("print(_o.shared_backend().stats['requests'])").text)
    for _ in range(3):  # a double (triple) click from the browser while the first request runs
        kernel.click(generate_id)
    after = kernel.ok("await p.task\nprint(_o.shared_backend().stats['requests'], p.sent)").text.split()
    assert int(after[0]) == before + 1
    set_latency(kernel, 0)
