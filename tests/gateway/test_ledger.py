"""The ledger's decisions on a real SQLite file: exact limits across processes, the pace's rolling window,
single flight, stale reservations. ``now`` is passed in, so time-dependent rules are tested without waiting.
"""

from __future__ import annotations

import io
import multiprocessing
import time
from pathlib import Path

import pytest
from PIL import Image

from together_magic.gateway import ledger
from together_magic.gateway.ledger import Ask, Cached, Grant, Policy, Refused, Wait, WallEntry
from together_magic.gateway.roster import Roster, Student
from together_magic.store import NewGeneration, NewImage, Store

FREE = Policy(rate=10**6)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


def roster(tmp_path: Path) -> Roster:
    return Roster(Store(tmp_path / "class"))


def student(r: Roster, name: str, **limits: object) -> int:
    token = r.add(name, images=limits.get("images"), budget=limits.get("budget"), expires=None)  # type: ignore[arg-type]
    who = r.student(token)
    assert isinstance(who, Student)
    return who.id


def claim(r: Roster, ask: Ask, policy: Policy = FREE, now: float | None = None) -> object:
    return r.store.write(lambda c: ledger.claim(c, ask, policy, time.time() if now is None else now))


def _claimer(folder: str, sid: int, tries: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    r = Roster(Store(folder))
    granted = 0
    for _ in range(tries):
        verdict = claim(r, Ask(sid, 1, 100))
        if isinstance(verdict, Grant):
            granted += 1
            r.store.write(
                lambda c, g=verdict: ledger.settle(c, g, Ask(sid, 1, 100), _entry(sid), time.time())
            )
    out.put(granted)


def _entry(sid: int, how: str = "upstream") -> WallEntry:
    return WallEntry(sid, None, 1, "p", {"seed": 1}, "gateway", how)


def test_limits_are_exact_across_processes(tmp_path: Path) -> None:
    r = roster(tmp_path)
    sid = student(r, "racer", images=7, budget=0.0006)  # $0.0006 = 6 requests of 100 micro-dollars
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [context.Process(target=_claimer, args=(str(r.store.folder), sid, 10, out)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert sum(out.get(timeout=5) for _ in workers) == 6  # dollars bind before images here
    usage = r.usage()[0]
    assert (usage.images_used, usage.micros_used, usage.refused) == (6, 600, 34)


def test_reservations_count_until_settled_or_released_and_expire_when_stale(tmp_path: Path) -> None:
    r = roster(tmp_path)
    sid = student(r, "one", images=1)
    first = claim(r, Ask(sid, 1, 0))
    assert isinstance(first, Grant)
    second = claim(r, Ask(sid, 1, 0))
    assert isinstance(second, Refused) and second.status == 402  # held, though not yet charged
    r.store.write(lambda c: ledger.release(c, first))
    third = claim(r, Ask(sid, 1, 0))
    assert isinstance(third, Grant)
    # A worker that died holding it: one lease after its last renewal, its reservation no longer counts.
    later = time.time() + ledger.LEASE_SECONDS + 1
    assert isinstance(claim(r, Ask(sid, 1, 0), now=later), Grant)
    refused = claim(r, Ask(sid, 2, 0), now=later)
    assert isinstance(refused, Refused)
    assert refused.message.startswith("Your class budget is spent: 1 of 1 images")  # only the new one held


def test_pace_rolling_window(tmp_path: Path) -> None:
    r = roster(tmp_path)
    sid = student(r, "pacer")
    policy = Policy(rate=3)
    t0 = 1_000_000.0
    slots = [claim(r, Ask(sid, 1, 0), policy, now=t0) for _ in range(3)]
    assert [s.send_at for s in slots if isinstance(s, Grant)] == [t0] * 3
    late = claim(r, Ask(sid, 1, 0), policy, now=t0 + 10)  # the 4th slot is at t0 + 61: 51 s away
    assert isinstance(late, Refused) and late.status == 429 and late.retry_after == 31
    soon = claim(r, Ask(sid, 1, 0), policy, now=t0 + 50)  # 11 s away: waits for it
    assert isinstance(soon, Grant) and soon.send_at == t0 + ledger.PACE_WINDOW
    after = claim(r, Ask(sid, 1, 0), policy, now=t0 + 50)  # the next one queues behind t0's other sends
    assert isinstance(after, Grant) and after.send_at == t0 + ledger.PACE_WINDOW


def test_single_flight_wait_then_cached(tmp_path: Path) -> None:
    r = roster(tmp_path)
    a, b = student(r, "a", images=1), student(r, "b", images=0)
    owner = claim(r, Ask(a, 1, 0, key="k1"))
    assert isinstance(owner, Grant)
    assert isinstance(
        claim(r, Ask(b, 1, 0, key="k1")), Wait
    )  # b has no images left, yet waits: it'll be free
    r.store.record(
        NewGeneration(source="gateway", request={"prompt": "p", "model": "m"}, images=[NewImage(jpeg())],
                      backend="gateway", cache_key="k1")
    )  # fmt: skip
    r.store.write(lambda c: ledger.settle(c, owner, Ask(a, 1, 0, key="k1"), _entry(a), time.time()))
    assert isinstance(claim(r, Ask(b, 1, 0, key="k1")), Cached)
    refused = r.store.write(
        lambda c: ledger.claim(c, Ask(b, 1, 0, key="k1"), FREE, time.time(), check_cache=False)
    )
    assert isinstance(refused, Refused) and refused.status == 402
    r.store.write(lambda c: ledger.free(c, _entry(b, "cached"), time.time()))
    usage = {u.name: u for u in r.usage()}
    assert (usage["a"].images_used, usage["b"].images_used, usage["b"].cached) == (1, 0, 1)


def test_a_revoked_student_is_refused_even_mid_wait(tmp_path: Path) -> None:
    r = roster(tmp_path)
    sid = student(r, "gone", images=5)
    r.revoke("gone")
    verdict = claim(r, Ask(sid, 1, 0))
    assert isinstance(verdict, Refused) and (verdict.status, verdict.kind) == (401, "auth")
    assert "revoked" in verdict.message


@pytest.mark.parametrize(
    ("micros", "text"), [(0, "$0.00"), (169, "$0.000169"), (20_000, "$0.02"), (5_000_000, "$5.00")]
)
def test_dollars_are_never_rounded_away(micros: int, text: str) -> None:
    from together_magic.gateway.roster import dollars

    assert dollars(micros) == text


def test_evicting_the_cache_leaves_the_wall_row_without_images(tmp_path: Path) -> None:
    r = roster(tmp_path)
    sid = student(r, "evicted")
    generation = r.store.record(
        NewGeneration(source="gateway", request={"prompt": "p", "model": "m"}, images=[NewImage(jpeg())],
                      backend="gateway", cache_key="k2")
    )  # fmt: skip
    entry = WallEntry(sid, generation, 1, "p", {"seed": 1}, "gateway", "cached")
    wall_id = r.store.write(lambda c: ledger.free(c, entry, time.time()))
    assert r.store.evict(0) == 1
    query = "SELECT generation_id FROM gateway_wall WHERE id = ?"
    assert r.store.read(lambda c: c.execute(query, (wall_id,)).fetchone()) == (None,)
