"""``%imagine_history`` in a real ipykernel: cards with working actions, pages, and the static copy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..kernel import Kernel, loaded_kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    folder = tmp_path_factory.mktemp("history-kernel")
    k = loaded_kernel(
        folder,
        f"import json, hashlib, os, ipywidgets\nos.chdir({str(folder)!r})\n"
        f"%config Imagine.save_dir = {str(folder / 'saved')!r}",
    )
    for seed in range(100, 170, 10):  # 7 cells of 4 images: 28 images, more than a page
        k.ok(f"%%imagine -n 4 --seed {seed} --size 256x256 --no-display\nfox number {seed}")
    yield k
    k.stop()


def values(kernel: Kernel, code: str) -> object:
    return json.loads(kernel.ok(f"print(json.dumps({code}))").text)


def comm(kernel: Kernel, model_id: str, content: dict[str, object]) -> None:
    kernel.client.shell_channel.send(
        kernel.client.session.msg(
            "comm_msg", {"comm_id": model_id, "data": {"method": "custom", "content": content}}
        )
    )


def test_history_shows_cards_pages_and_a_static_copy(kernel: Kernel) -> None:
    shown = kernel.ok("%imagine_history fox")
    outputs = [o["content"] for o in shown.outputs if o["msg_type"] in ("display_data", "execute_result")]
    assert [sorted(o["data"]) for o in outputs] == [
        ["application/vnd.jupyter.widget-view+json", "text/plain"],
        ["text/html", "text/plain"],
    ]
    assert outputs[0]["data"]["text/plain"].startswith("28 generations matching 'fox'\n")
    static = outputs[1]["data"]["text/html"]
    assert 'class="together-magic-snapshot"' in static and static.count("<img ") == 24
    assert "images 1-24 of 28, page 1 of 2" in static and "%%imagine --model" in static
    view_id = outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    kernel.ok(f"v = ipywidgets.Widget.widgets[{view_id!r}]")
    assert values(kernel, "[type(v).__name__, len(v.grid.children), v.page]") == ["HistoryView", 24, 0]
    older = kernel.ok("print(v.older.model_id)").text.strip()
    kernel.click(older)
    page = values(kernel, "[v.page, len(v.grid.children), sorted({c.choice.seed for c in v.cards})]")
    assert page == [1, 4, [100, 101, 102, 103]]  # the oldest cell's four images
    update = kernel.ok("print(v._snapshot_bundle()['text/plain'])").text.strip()
    assert update == "history page 2 of 2 (static copy)"
    api = kernel.ok(
        "from together_magic.histories.search import history\nhistory('fox', last=2)"
    )  # Python: cards too
    kinds = [sorted(o["content"]["data"]) for o in api.outputs if o["msg_type"] == "display_data"]
    assert kinds[0] == ["application/vnd.jupyter.widget-view+json", "text/plain"] and len(kinds) == 2


def test_card_actions_in_the_kernel(kernel: Kernel, tmp_path: Path) -> None:
    kernel.ok("%imagine_history fox --last 3")
    view_id = kernel.ok(
        "v = [w for w in ipywidgets.Widget.widgets.values() if type(w).__name__ == 'HistoryView'][-1]\n"
        "print(v.model_id)"
    ).text.strip()
    assert view_id
    buttons = values(kernel, "{b.description: b.model_id for b in v.grid.children[2].children[2].children}")
    assert isinstance(buttons, dict)
    assert set(buttons) == {"Save", "Download", "Reuse in the panel", "Use as reference", "Copy as code"}
    kernel.click(buttons["Reuse in the panel"])
    assert "no panel in this kernel yet" in kernel.ok("print(v.status.value)").text
    kernel.ok("p = %imagine_panel")
    kernel.click(buttons["Reuse in the panel"])
    seed = values(kernel, "v.cards[2].choice.seed")
    state = values(kernel, "[p.prompt.value, p.seed.value, p.lock.value, p.width.value]")
    assert state == ["fox number 160", seed, True, 256]
    kernel.click(buttons["Use as reference"])
    assert values(kernel, "p._reference == v.cards[2].choice.image_bytes()") is True
    kernel.ok("p.set_reference(None)\np.generate.click()\nawait p.task")
    same = values(kernel, "p.last.data[0].image_bytes() == v.cards[2].choice.image_bytes()")
    assert same is True  # "Reuse in the panel", Generate: the same image again
    comm(kernel, buttons["Copy as code"], {"event": "copied", "copied": True, "inserted": None, "reason": ""})
    assert kernel.ok("print(v.status.value)").text.startswith(f"copied the cell for seed {seed}")
    code = kernel.ok("print(v.cards[2].copy.text, end='')").text
    kernel.ok(
        "digest = hashlib.sha256(v.cards[2].choice.image_bytes()).hexdigest()\n%config Imagine.cache = False"
    )
    again = kernel.run(code)
    assert again.status == "ok", again.outputs
    assert values(kernel, "hashlib.sha256(_.data[0].image_bytes()).hexdigest() == digest") is True
    kernel.ok("%config Imagine.cache = True")
    kernel.click(buttons["Save"])
    assert "saved" in kernel.ok("print(v.status.value)").text
