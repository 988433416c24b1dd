"""Interrupt ``%%imagine`` and cancel the panel at random moments, through a real kernel, 20 times each."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from ..kernel import Kernel, loaded_kernel, set_latency

ROUNDS = 20
CHECK = (
    "import asyncio\n"
    "_gen = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), '__qualname__', '') == 'generate']\n"
    "_bound = globals().get('r_int')\n"
    "_whole = _bound is not None and bool(_bound.data) and bool(_bound.image_bytes())\n"
    "print(len(_gen), 'none' if _bound is None else ('whole' if _whole else 'half'))\n"
    "globals().pop('r_int', None)"
)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = loaded_kernel(tmp_path_factory.mktemp("interrupts"), "%config Imagine.cache = False")
    set_latency(k, 0.4)
    yield k
    k.stop()


def test_random_interrupts_of_the_magic(kernel: Kernel, figures: Callable[[str], None]) -> None:
    rng = random.Random(20261121)
    outcomes: dict[str, int] = {"cancelled": 0, "finished": 0}
    worst = 0.0
    for round_ in range(ROUNDS):
        delay = rng.uniform(0.0, 0.6)  # before, during and after the 0.4 s request
        reply = kernel.run(
            f"%%imagine --size 256x256 -s {round_} -o r_int\nfox {round_}", interrupt_after=delay
        )
        errors = reply.of_type("error")
        if reply.status == "error":
            assert [e["content"]["ename"] for e in errors] in (["ImagineCancelled"], ["KeyboardInterrupt"])
            outcomes["cancelled"] += 1
            worst = max(worst, reply.elapsed - delay)
        elif reply.status == "ok":
            outcomes["finished"] += 1
        else:  # the interrupt swallowed the kernel's reply: the cell's state is whatever it reached
            outcomes["reply lost"] = outcomes.get("reply lost", 0) + 1
        pending, bound = kernel.ok(CHECK).text.split()
        assert pending == "0"  # no generation left running on the kernel's loop
        allowed = {"error": {"none"}, "ok": {"whole"}}.get(reply.status, {"none", "whole"})
        assert bound in allowed  # never half-bound
        assert kernel.ok("print(1 + 1)").text.strip() == "2"  # the kernel is alive and answers
    assert kernel.ok("%%imagine --size 256x256 -s 99\nowl").of_type("execute_result")
    figures(
        f"{ROUNDS} interrupts at random moments: {outcomes}; slowest stop {worst:.2f} s after the interrupt"
    )


def test_random_cancels_in_the_panel(kernel: Kernel, figures: Callable[[str], None]) -> None:
    rng = random.Random(7)
    kernel.ok("p = %imagine_panel\np.prompt.value = 'a fox'\np.width.value, p.height.value = 256, 256")
    cancel_id = kernel.ok("print(p.cancel.model_id)").text.strip()
    generate_id = kernel.ok("print(p.generate.model_id)").text.strip()
    cancelled = finished = 0
    for _ in range(ROUNDS):
        kernel.click(generate_id)
        kernel.ok(f"await asyncio.sleep({rng.uniform(0.0, 0.6):.3f})")
        kernel.click(cancel_id)
        state = kernel.ok(
            "await asyncio.sleep(0.2)\n"
            "print(p.busy, p.task.cancelled() if p.task else None, p.generate.disabled, len(p.responses))"
        ).text.split()
        busy, was_cancelled, disabled, count = state
        assert busy == "False" and disabled == "False"
        cancelled += was_cancelled == "True"
        finished += was_cancelled == "False"
        assert int(count) == finished
    pending = kernel.ok(CHECK).text.split()[0]
    assert pending == "0"
    figures(
        f"{ROUNDS} panel cancels at random moments: {cancelled} cancelled, {finished} had already finished"
    )
