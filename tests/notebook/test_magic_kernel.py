"""``%%imagine`` in a real ipykernel, driven over the Jupyter protocol as a notebook front end drives it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..kernel import Kernel, loaded_kernel, set_latency


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = loaded_kernel(tmp_path_factory.mktemp("kernel-cache"))
    yield k
    k.stop()


def test_cell_runs_on_the_kernel_loop_and_blocks_until_the_images(kernel: Kernel) -> None:
    set_latency(kernel, 0.5)
    reply = kernel.ok("%%imagine -n 2 -s 3 --size 256x256 -o r_k\na red fox in the snow")
    assert reply.elapsed >= 0.5
    results = reply.of_type("execute_result")
    assert len(results) == 1 and not reply.of_type("clear_output")
    shown = [o["content"] for o in reply.of_type("display_data")]
    notice = [d for d in shown if "offline backend" in d["data"].get("text/plain", "")]
    status = [d for d in shown if d not in notice]
    # the live status line starts empty, is updated in place while waiting, and ends empty again, so a
    # saved notebook keeps nothing of it (and nbval, which ignores updates, compares nothing)
    assert len(notice) == 1 and len(status) == 1 and status[0]["data"] == {}
    status_id = status[0]["transient"]["display_id"]
    updates = [o["content"] for o in reply.of_type("update_display_data")]
    assert updates and all(u["transient"]["display_id"] == status_id for u in updates)
    assert any("generating 2 images with FLUX.2-dev" in u["data"].get("text/plain", "") for u in updates)
    assert updates[-1]["data"] == {}
    data = results[0]["content"]["data"]
    assert data["text/plain"].startswith("ImageResponse: 2 images")
    assert data["text/html"].count("<img ") == 2
    assert results[0]["content"]["metadata"]["together_magic"]["seed"] == 3
    check = kernel.ok("print(type(r_k).__name__, len(r_k.data), _ is r_k, 'run_cell_async' in In[-2])")
    assert check.text.strip() == "ImageResponse 2 True True"  # it ran as a rewritten top-level await
    set_latency(kernel, 0.0)


def test_interrupt_cancels_promptly_and_the_kernel_recovers(kernel: Kernel) -> None:
    set_latency(kernel, 10.0)
    reply = kernel.run("%%imagine --size 256x256 -o r_interrupted\nslow fox", interrupt_after=0.5)
    set_latency(kernel, 0.0)
    assert reply.status == "error"
    assert reply.elapsed < 2.5, reply.elapsed
    (error,) = reply.of_type("error")
    assert error["content"]["ename"] == "ImagineCancelled"
    assert error["content"]["traceback"] == [
        "generation cancelled (nothing was bound; the next cell will work)"
    ]
    assert kernel.ok("print('r_interrupted' in dir())").text.strip() == "False"
    assert kernel.ok("%%imagine --size 256x256 -s 1\nfox").of_type("execute_result")


def test_nesting_under_capture_and_time(kernel: Kernel) -> None:
    captured = kernel.ok("%%capture cap\n%%imagine --size 256x256 -s 1 -o r_cap\nfox")
    assert not captured.of_type("execute_result") and not captured.of_type("display_data")
    assert kernel.ok("print(len(cap.outputs), r_cap.request.seed)").text.strip() == "1 1"
    timed = kernel.ok("%%time\n%%imagine --size 256x256 -s 2 -o r_time\nfox")
    assert "Wall time" in timed.text and len(timed.of_type("execute_result")) == 1
    after = kernel.ok("%%imagine --size 256x256 -s 3\nfox")  # back to the top-level await form
    assert after.of_type("execute_result")
    assert kernel.ok("print('run_cell_async' in In[-2])").text.strip() == "True"


def test_usage_errors_are_one_line_in_the_kernel(kernel: Kernel) -> None:
    reply = kernel.run("%%imagine --seeed 3\nfox")
    assert reply.status == "error"
    shown = reply.text + "".join("".join(e["content"]["traceback"]) for e in reply.of_type("error"))
    assert "unknown option --seeed; did you mean --seed?" in shown
    assert "Traceback" not in shown


def test_is_complete_waits_for_the_body(kernel: Kernel) -> None:
    kernel.client.is_complete("%%imagine -n 2\n")
    reply = kernel.client.get_shell_msg(timeout=10)
    assert reply["content"]["status"] == "incomplete"
