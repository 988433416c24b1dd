"""A worker that dies mid-request must not hold a student's images, or an identical request, for long.

The reservation and the single-flight claim of a request on its way upstream are renewed by its worker;
a worker killed with SIGKILL stops renewing, and one lease later both stop counting. A live worker's
request, however slow, keeps them (tested with a lease shorter than the upstream's latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from together_magic.gateway import ledger
from together_magic.gateway.core import Gateway as GatewayCore
from together_magic.gateway.ledger import Ask, Grant, Wait
from together_magic.gateway.roster import Roster, Student
from together_magic.gateway.settings import GatewaySettings
from together_magic.offline.validate import parse_job

from ..conftest import Server
from .conftest import SENTINEL, Gateway, bearer, body


def _held(roster: Roster) -> list[tuple[int, str]]:
    return roster.store.read(
        lambda c: c.execute(
            "SELECT r.student, i.cache_key FROM gateway_reservations r"
            " JOIN gateway_inflight i ON i.reservation = r.id"
        ).fetchall()
    )


def _wait_for_hold(roster: Roster) -> tuple[int, str]:
    deadline = time.monotonic() + 15
    while not (held := _held(roster)):
        assert time.monotonic() < deadline, "the request never reserved anything"
        time.sleep(0.05)
    return held[0]


def test_a_killed_worker_frees_the_students_images_and_the_single_flight_after_the_lease(
    start_gateway: Callable[..., Gateway],
) -> None:
    slow = Server(["--require-key", SENTINEL, "--latency", "30"])
    try:
        gateway = start_gateway("--upstream", slow.base_url)
        token = gateway.add("kim", images=1)
        url = f"{gateway.root}/v1/images/generations"

        def doomed() -> None:
            with contextlib.suppress(httpx.TransportError):  # the gateway is killed under it
                httpx.post(url, json=body(5), headers=bearer(token), timeout=40)

        thread = threading.Thread(target=doomed)
        thread.start()
        roster = Roster(gateway.data)
        try:
            sid, key = _wait_for_hold(roster)
            gateway.process.kill()
            gateway.process.wait(10)
            thread.join(40)
            # Within the lease the dead request still counts: an identical one waits, kim has no image left.
            soon = time.time() + 1
            early = roster.store.write(
                lambda c: ledger.claim(c, Ask(sid, 1, 0, key), ledger.Policy(rate=60), soon)
            )
            assert isinstance(early, Wait), early
            # One lease later, nobody renews it: kim's image is back and the identical request goes ahead.
            later = time.time() + ledger.LEASE_SECONDS + 1
            verdict = roster.store.write(
                lambda c: ledger.claim(c, Ask(sid, 1, 0, key), ledger.Policy(rate=60), later)
            )
            assert isinstance(verdict, Grant), verdict
            assert _held(roster) == [(sid, key)]  # the new claim, and only it
        finally:
            roster.close()
    finally:
        slow.stop()


def test_a_live_worker_keeps_its_slow_request_reserved_past_the_lease(tmp_path: Path) -> None:
    slow = Server(["--require-key", SENTINEL, "--latency", "5"])
    try:
        settings = GatewaySettings(upstream=slow.base_url, data=tmp_path / "class")
        roster = Roster(settings.data)
        token = roster.add("lee", images=1, budget=None, expires=None)
        who = roster.student(token)
        assert isinstance(who, Student)

        async def run() -> tuple[object, int]:
            gateway = GatewayCore(settings, SENTINEL)
            gateway.policy = dataclasses.replace(gateway.policy, lease=1.2)  # renewed every 0.2 s
            raw = body(9)
            request = gateway.admit(who, raw, parse_job(raw), base_url="http://x", request_id="gw-1")
            task = asyncio.create_task(gateway.generate(request))
            try:
                await asyncio.to_thread(_wait_for_hold, roster)
                await asyncio.sleep(2.5)  # two leases: only renewal keeps the claim alive
                verdict = roster.store.write(
                    lambda c: ledger.claim(c, request.ask, gateway.policy, time.time())
                )
                reply = await asyncio.wait_for(task, 20)
            finally:
                await gateway.aclose()
            return verdict, reply.status

        verdict, status = asyncio.run(run())
        assert isinstance(verdict, Wait), verdict  # not a second trip upstream, not lee's image twice
        assert status == 200
        usage = roster.usage()[0]
        assert (usage.images_used, usage.refused) == (1, 0)
        assert _held(roster) == []
        roster.close()
    finally:
        slow.stop()
