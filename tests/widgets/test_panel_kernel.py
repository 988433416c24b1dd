"""The panel inside a real ipykernel: clicks arrive as comm messages, the kernel stays free meanwhile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..kernel import Kernel, loaded_kernel, set_latency


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
    assert "⚠ --height must be a multiple of 8 between 256 and 1920" in status
    assert "try 1000 or 1008" in status
    kernel.ok("p.width.value, p.height.value = 320, 256")
    set_latency(kernel, 0.5)
    before = int(kernel.ok("print(_o.shared_backend().stats['requests'])").text)
    for _ in range(3):  # a double (triple) click from the browser while the first request runs
        kernel.click(generate_id)
    after = kernel.ok("await p.task\nprint(_o.shared_backend().stats['requests'], p.sent)").text.split()
    assert int(after[0]) == before + 1
    set_latency(kernel, 0)


def test_copy_reported_by_the_browser_writes_the_reference(kernel: Kernel, tmp_path: Path) -> None:
    """The copy button's message from the front end: the status says so, the reference file is written."""
    kernel.ok(
        f"import os\nos.chdir({str(tmp_path)!r})\n"
        "p.model.value = 'black-forest-labs/FLUX.1-kontext-pro'\n"
        "p.set_reference(p.responses[0].data[0].image_bytes(), 'test')\n"
        "p.generate.click()\nawait p.task"
    )
    copy_id = kernel.ok("print(p.cards[0].copy.model_id)").text.strip()
    code = kernel.ok("print(p.cards[0].copy.text)").text
    reference = code.split("--image ", 1)[1].split()[0]
    assert not (tmp_path / reference).exists()
    message = {"event": "copied", "copied": True, "inserted": None, "reason": ""}
    msg = kernel.client.session.msg(
        "comm_msg", {"comm_id": copy_id, "data": {"method": "custom", "content": message}}
    )
    kernel.client.shell_channel.send(msg)
    status = kernel.ok("print(p.status.value)").text
    assert status.startswith("copied the cell for seed") and (tmp_path / reference).is_file()
    kernel.ok("p.set_reference(None)\np.model.value = 'black-forest-labs/FLUX.2-dev'")


def test_saved_panel_converted_with_nbconvert_shows_both_images(tmp_path: Path) -> None:
    """A notebook whose panel generated twice and compared two seeds, executed, saved and converted to
    HTML keeps both images and the grid."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    book = nbformat.v4.new_notebook()
    book.cells = [
        nbformat.v4.new_code_cell("%load_ext together_magic\np = %imagine_panel\np"),
        nbformat.v4.new_code_cell(
            "p.prompt.value = 'a lighthouse by the sea'\np.width.value = p.height.value = 256\n"
            "for seed in (5, 6):\n    p.seed.value, p.lock.value = seed, True\n"
            "    p.generate.click()\n    await p.task\n"
            "p.axis.value, p.values.value = 'seed', '7,8'\np.compare.click()\nsweep = await p.task"
        ),
    ]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(book, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "panel.ipynb"
    nbformat.write(book, path)
    saved = json.loads(path.read_text())["cells"][0]["outputs"]
    assert [sorted(o["data"]) for o in saved] == [
        ["application/vnd.jupyter.widget-view+json", "text/plain"],
        ["text/html", "text/plain"],
    ]
    html, _ = HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    copy = html[html.index("together-magic-snapshot") :]
    assert copy.count("<img ") == 4 and "seed 6" in copy and "seed 5" in copy
    assert copy.index("together-magic-sweep") < copy.index("seed 6") < copy.index("seed 5")  # newest first
    assert "2 images and 1 compare grid" in copy and "<b>7</b>" in copy and "<b>8</b>" in copy
