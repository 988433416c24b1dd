"""``%%imagine --each`` in a real ipykernel: a DataFrame of 20 rows, interrupted halfway, then finished."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from together_magic.batches.manifest import MANIFEST_NAME

from ..kernel import Kernel, loaded_kernel, set_latency

ROWS = 20
CELL = "%%imagine --each df --out {out} --size 256x256\na {{{{ item.animal }}}} no. {{{{ item.number }}}}"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = loaded_kernel(tmp_path_factory.mktemp("batch-kernel"))
    k.ok(
        "import pandas as pd\n"
        f"df = pd.DataFrame({{'animal': ['fox', 'owl', 'hare', 'wren'] * {ROWS // 4}, "
        f"'number': range({ROWS})}})"
    )
    yield k
    k.stop()


def statuses(out: Path) -> dict[str, int]:
    if not (out / MANIFEST_NAME).exists():
        return {}
    try:
        with sqlite3.connect(out / MANIFEST_NAME) as db:
            return dict(db.execute("SELECT status, count(*) FROM items GROUP BY status").fetchall())
    except sqlite3.OperationalError:  # the file exists, its tables are being made right now
        return {}


def answered(kernel: Kernel) -> int:
    return int(kernel.ok("print(_o.shared_backend().stats['status_200'])").text)


def test_interrupted_halfway_then_the_same_cell_finishes_the_rest(kernel: Kernel, tmp_path: Path) -> None:
    out = tmp_path / "animals"
    set_latency(kernel, 0.5)
    msg_id = kernel.client.execute(CELL.format(out=out))
    deadline = time.monotonic() + 60
    while statuses(out).get("done", 0) < ROWS // 2 - 2:  # about halfway (answers land 4 or 5 at a time)
        assert time.monotonic() < deadline, statuses(out)
        time.sleep(0.02)
    reply = kernel.wait(msg_id, interrupt_after=0.0, timeout=30)  # interrupts now, then collects the cell
    assert reply.status in ("error", "no-reply")
    if reply.status == "error":
        assert [e["content"]["ename"] for e in reply.of_type("error")] == ["ImagineCancelled"]
    done_then = statuses(out).get("done", 0)
    assert 0 < done_then < ROWS, done_then  # interrupted part-way
    notes = [o["content"]["data"].get("text/plain", "") for o in reply.of_type("display_data")]
    assert any(f"interrupted: {done_then} of {ROWS} done are kept in {out}" in n for n in notes)
    # the progress bar lived in a display that started empty and was emptied again
    bars = [o["content"] for o in reply.of_type("display_data") if o["content"]["data"] == {}]
    assert bars and reply.of_type("update_display_data")[-1]["content"]["data"] == {}

    # Nothing goes on in the background, and the kernel answers.
    before = answered(kernel)
    time.sleep(1.0)
    assert statuses(out).get("done", 0) == done_then and answered(kernel) == before
    assert kernel.ok("print(1 + 1)").text.strip() == "2"
    first_half = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg")}
    assert len(first_half) == done_then

    set_latency(kernel, 0.0)
    again = kernel.ok(CELL.format(out=out))
    assert answered(kernel) - before == ROWS - done_then  # only the rest was generated
    (result,) = again.of_type("execute_result")
    assert f"{ROWS} of {ROWS} done" in result["content"]["data"]["text/plain"]
    assert result["content"]["data"]["text/html"].count("<figure") == ROWS
    assert statuses(out) == {"done": ROWS}
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg") if p.name in first_half} == first_half
    assert len(list(out.glob("*.jpg"))) == ROWS


def test_mistakes_in_the_cell_are_one_line(kernel: Kernel, tmp_path: Path) -> None:
    for cell, message in [
        ("%%imagine --each dff --out x\n{{ item }}", "--each: there is no variable 'dff'; did you mean df?"),
        ("%%imagine --each df\n{{ item.animal }}", "--each needs --out DIR"),
        (f"%%imagine --each df --out {tmp_path}\n{{{{ item.colour }}}}", "item has no field 'colour'"),
    ]:
        reply = kernel.run(cell)
        assert reply.text.startswith("UsageError: ") and message in reply.text
        assert reply.text.count("\n") == 1 and not reply.of_type("error")
