"""The pacer on a virtual clock: spacing never exceeds the rate, a 429 gates everyone, concurrency adapts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from together_magic.batches.pacing import MARGIN, Pacer
from together_magic.models.ratelimit import RateLimit


class FakeClock:
    """Virtual time: ``sleep`` advances it instantly, so minutes of pacing take milliseconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def make(clock: FakeClock, **kwargs: float | int | None) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


async def start_times(pacer: Pacer, clock: FakeClock, count: int, hold: float = 0.0) -> list[float]:
    """Run ``count`` requests through the pacer, each lasting ``hold`` virtual seconds."""
    starts: list[float] = []

    async def one() -> None:
        await pacer.acquire()
        starts.append(clock())
        if hold:
            await clock.sleep(hold)
        pacer.release()
        pacer.succeeded(None)

    await asyncio.gather(*(one() for _ in range(count)))
    return sorted(starts)


def most_in_window(starts: list[float], window: float = 60.0) -> int:
    best, first = 0, 0
    for last, time_ in enumerate(starts):
        while time_ - starts[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def run(coro: Callable[[], Awaitable[object]]) -> object:
    return asyncio.run(coro())  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(rpm=st.integers(min_value=1, max_value=1200), count=st.integers(min_value=1, max_value=150))
def test_never_more_than_rpm_in_any_minute(rpm: int, count: int) -> None:
    clock = FakeClock()
    pacer = make(clock, rpm=rpm, max_concurrency=64)
    starts = run(lambda: start_times(pacer, clock, count))
    assert isinstance(starts, list)
    assert most_in_window(starts) <= rpm
    if count > 1:  # and it is not timid: evenly spaced at the rate
        assert starts[-1] == pytest.approx((count - 1) * 60 / rpm, rel=1e-5, abs=1e-3)


def test_the_servers_limit_is_learned_and_paced_below() -> None:
    clock = FakeClock()
    pacer = make(clock, max_concurrency=8)
    assert pacer.rate is None
    pacer.succeeded(RateLimit(limit=600, remaining=599, reset=1))
    assert pacer.rate == pytest.approx(600 * MARGIN) and pacer.limit == 600
    starts = run(lambda: start_times(pacer, clock, 1200))
    assert isinstance(starts, list)
    assert most_in_window(starts) <= 600
    achieved = (len(starts) - 1) / (starts[-1] - starts[0]) * 60
    assert achieved >= 0.97 * 600


def test_rpm_wins_when_it_is_lower_than_the_server() -> None:
    pacer = make(FakeClock(), rpm=100)
    pacer.succeeded(RateLimit(limit=600))
    assert pacer.rate == 100 and pacer.limit == 100


def test_a_429_closes_the_gate_for_everyone_and_halves_concurrency() -> None:
    clock = FakeClock()
    pacer = make(clock, max_concurrency=16, start_concurrency=8)

    async def scenario() -> list[float]:
        await pacer.acquire()
        pacer.release()
        wait = pacer.throttled(3.0, RateLimit(limit=60, remaining=0, reset=3))
        assert wait == 3.0
        assert pacer.concurrency == 4 and pacer.stats.server_limit == 60
        pacer.throttled(2.0, None)  # a second 429 of the same burst: no second cut
        assert pacer.concurrency == 4
        return await start_times(pacer, clock, 3)

    starts = run(scenario)
    assert isinstance(starts, list)
    assert starts[0] >= 3.0  # nobody started before Retry-After had passed
    assert pacer.stats.throttled == 2 and pacer.stats.gated_seconds == pytest.approx(3.0)


def test_a_429_without_any_hint_still_waits() -> None:
    clock = FakeClock()
    pacer = make(clock)
    assert pacer.throttled(None, None) >= 1.0


def test_remaining_zero_waits_for_the_reset() -> None:
    clock = FakeClock()
    pacer = make(clock)
    pacer.succeeded(RateLimit(limit=None, remaining=0, reset=5))
    starts = run(lambda: start_times(pacer, clock, 1))
    assert starts == [5.0]


def test_concurrency_grows_slowly_while_requests_queue_and_never_passes_the_cap() -> None:
    clock = FakeClock()
    pacer = make(clock, max_concurrency=6, start_concurrency=2)
    run(lambda: start_times(pacer, clock, 200, hold=0.5))
    assert pacer.concurrency == 6
    assert pacer.stats.peak_concurrency <= 6
    clock2 = FakeClock()
    slow = make(clock2, max_concurrency=50, start_concurrency=2)
    run(lambda: start_times(slow, clock2, 12, hold=0.5))
    assert slow.concurrency <= 5  # +1 per window of successes, not +1 per success


def test_in_flight_never_exceeds_concurrency_under_random_load() -> None:
    clock = FakeClock()
    pacer = make(clock, max_concurrency=5, start_concurrency=3)
    rng = random.Random(3)
    peak = 0

    async def one() -> None:
        nonlocal peak
        await pacer.acquire()
        peak = max(peak, pacer.in_flight)
        assert pacer.in_flight <= pacer.concurrency
        await clock.sleep(rng.uniform(0, 1))
        pacer.release()
        if rng.random() < 0.1:
            pacer.throttled(0.5, None)
        else:
            pacer.succeeded(None)

    async def scenario() -> None:
        await asyncio.gather(*(one() for _ in range(300)))

    run(scenario)
    assert 1 <= peak <= 5 and pacer.in_flight == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="rpm"):
        Pacer(rpm=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        Pacer(max_concurrency=0)
