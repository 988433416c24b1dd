"""``%%imagine --vary`` in a real ipykernel, driven over the Jupyter protocol as a front end drives it: the
grid filling in live, the cache over a real HTTP server, an interrupt in the middle, a failing cell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import Server
from ..kernel import Kernel, loaded_kernel, set_latency

CELL = "%%imagine --size 256x256 -s 17 --vary steps=1..4 --vary guidance=1,3.5,7 -o {name}\na red fox"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = loaded_kernel(tmp_path_factory.mktemp("sweep-kernel-cache"))
    yield k
    k.stop()


def value(kernel: Kernel, expression: str) -> Any:
    return json.loads(kernel.ok(f"import json; print(json.dumps({expression}))").text)


def test_twelve_cells_twelve_requests_and_a_grid_that_fills_in(kernel: Kernel) -> None:
    set_latency(kernel, 0.3)
    before = value(kernel, "_o.shared_backend().stats['requests']")
    reply = kernel.ok(CELL.format(name="s_live"))
    set_latency(kernel, 0.0)
    assert value(kernel, "_o.shared_backend().stats['requests']") - before == 12
    sent = value(kernel, "[c.response.provenance.request.payload() for c in s_live.cells]")
    assert len({json.dumps(p, sort_keys=True) for p in sent}) == 12
    assert [(p["steps"], p["guidance_scale"]) for p in sent] == [
        (s, g) for g in (1.0, 3.5, 7.0) for s in (1, 2, 3, 4)
    ]
    assert {(p["seed"], p["n"], p["width"], p["prompt"]) for p in sent} == {(17, 1, 256, "a red fox")}

    shown = [o["content"] for o in reply.of_type("display_data")]
    announce = shown[0]["data"]["text/plain"]
    assert announce.startswith("sweep: 12 images (4 x 3: steps x guidance), one request each to FLUX.2-dev")
    live = [d for d in shown if d["data"] == {}]
    assert len(live) == 1  # the live grid starts with no data at all ...
    live_id = live[0]["transient"]["display_id"]
    updates = [o["content"] for o in reply.of_type("update_display_data")]
    assert all(u["transient"]["display_id"] == live_id for u in updates)
    grids = [u["data"]["text/html"].count("<img ") for u in updates if u["data"]]
    assert grids == sorted(grids) and max(grids) > 0 and any(0 < g < 12 for g in grids)  # ... fills in ...
    assert updates[-1]["data"] == {}  # ... and ends empty, so the saved notebook keeps only the result
    (result,) = reply.of_type("execute_result")
    data = result["content"]["data"]
    assert data["text/plain"].startswith("Sweep: a red fox · FLUX.2-dev · seed 17 · 12 cells")
    assert data["text/html"].count("<img ") == 12
    assert result["content"]["metadata"]["together_magic"]["sweep"]["cells"] == 12
    check = "print(_ is s_live, any('run_cell_async' in c and 's_live' in c for c in In))"
    assert kernel.ok(check).text.split() == ["True", "True"]  # the result, from a top-level await


def test_running_it_again_is_served_from_the_cache(kernel: Kernel, server: Server) -> None:
    kernel.ok(f"%config Imagine.base_url = {server.base_url!r}")
    try:
        before = server.stats().get("requests", 0)
        kernel.ok(CELL.format(name="s_http"))
        assert server.stats().get("requests", 0) - before == 12
        kernel.ok(CELL.format(name="s_http_again"))
        assert server.stats().get("requests", 0) - before == 12  # nothing more reached the server
        assert value(kernel, "[c.response.cached for c in s_http_again.cells]") == [True] * 12
        assert (
            value(kernel, "[c.request == d.request for c, d in zip(s_http.cells, s_http_again.cells)]")
            == [True] * 12
        )
    finally:
        kernel.ok("%config Imagine.base_url = None")


def test_an_interrupt_keeps_what_finished_and_the_kernel_goes_on(kernel: Kernel) -> None:
    set_latency(kernel, 1.0)
    kernel.ok("%config Imagine.max_concurrency = 2")
    try:
        reply = kernel.run(
            "%%imagine --size 256x256 -s 23 --vary steps=1..4 --vary guidance=1,3 -o s_int\na red fox",
            interrupt_after=1.5,
        )
    finally:
        set_latency(kernel, 0.0)
        kernel.ok("%config Imagine.max_concurrency = 4")
    assert reply.status in ("error", "no-reply")
    assert reply.elapsed < 2.8, reply.elapsed  # cancelled within a fraction of a second of the interrupt
    (error,) = reply.of_type("error")
    assert error["content"]["ename"] == "ImagineCancelled"
    assert error["content"]["traceback"] == [
        "sweep interrupted: 2 of 8 cells finished (bound to s_int), 6 cancelled"
    ]
    shown = [o["content"]["data"] for o in reply.of_type("display_data")]
    assert any(
        d.get("text/plain", "").startswith("Sweep: a red fox") and "cancelled" in d["text/html"]
        for d in shown
    )
    assert value(kernel, "[len(s_int.responses), len(s_int.cancelled), type(s_int).__name__]") == [
        2,
        6,
        "Sweep",
    ]
    leftover = "[repr(t) for t in asyncio.all_tasks() if repr(t.get_coro()).split()[2] in ('one', 'send')]"
    assert value(kernel, leftover) == []  # no request of the sweep is left running
    assert kernel.ok("%%imagine --size 256x256 -s 1 --vary steps=1,2\nfox").of_type("execute_result")


def test_a_failing_cell_shows_its_error_and_the_others_complete(kernel: Kernel) -> None:
    reply = kernel.ok(
        "%%imagine --size 256x256 -s 2 --vary model=FLUX.2-dev,acme/missing,FLUX.1.1-pro -o s_fail\nfox"
    )
    (result,) = reply.of_type("execute_result")
    page = result["content"]["data"]["text/html"]
    assert page.count("<img ") == 2 and "Unable to access model acme/missing" in page
    assert value(kernel, "[c.state for c in s_fail.cells]") == ["done", "failed", "done"]


def test_an_interrupted_line_magic_sweep_reports_what_its_worker_thread_kept(kernel: Kernel) -> None:
    """``x = %imagine --vary ...`` runs in a worker thread (no top-level await): the same account."""
    set_latency(kernel, 1.0)
    kernel.ok("%config Imagine.max_concurrency = 1")
    try:
        reply = kernel.run(
            "x = %imagine 'a red fox' --size 256x256 -s 29 --vary steps=4..7 -o s_thread", interrupt_after=1.5
        )
    finally:
        set_latency(kernel, 0.0)
        kernel.ok("%config Imagine.max_concurrency = 4")
    (error,) = reply.of_type("error")
    assert error["content"]["traceback"] == [
        "sweep interrupted: 1 of 4 cells finished (bound to s_thread), 3 cancelled"
    ]
    assert reply.elapsed < 2.8, reply.elapsed
    assert value(kernel, "[len(s_thread.responses), len(s_thread.cancelled)]") == [1, 3]
