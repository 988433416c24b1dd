"""Hide that really hides, and links that do not outlive what they show, through a real two-worker gateway.

A teacher hides an image: it leaves the wall, every ``/shrt/`` link to it answers 410, and the request that
makes it is refused to every other student (the shared cache never serves it again; its maker keeps their
own copy); showing it again undoes all of that. A link also stops with its student's token and after
``LINK_SECONDS``, and is never cacheable by a shared proxy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from together_magic.gateway.wall import LINK_SECONDS

from .conftest import Gateway, Stub, bearer, body

GENERATIONS = "/v1/images/generations"
_HTTP = httpx.Client(timeout=30)


@pytest.fixture(scope="module", autouse=True)
def _pool() -> Iterator[None]:
    """The module's one connection pool, closed when its tests are done."""
    yield
    _HTTP.close()


@pytest.fixture(scope="module")
def school(stub_process: Stub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    args = [
        "--upstream",
        stub_process.root,
        "--workers",
        "2",
        "--fallback",
        "offline",
        "--upstream-rate",
        "10000",
    ]
    gw = Gateway(tmp_path_factory.mktemp("hide"), [*args, "--student-rate", "100000"])
    yield gw
    gw.stop()


def _post(gw: Gateway, token: str, payload: Any) -> httpx.Response:
    return _HTTP.post(f"{gw.root}{GENERATIONS}", json=payload, headers=bearer(token))


def _teacher(gw: Gateway) -> dict[str, str]:
    return bearer(gw.teacher_token())


def _wall(gw: Gateway, hidden: bool = False) -> list[dict[str, Any]]:
    answer = _HTTP.get(f"{gw.root}/class/api/wall?hidden={int(hidden)}", headers=_teacher(gw))
    return list(answer.json()["entries"])


def _hide(gw: Gateway, wall_id: int, hidden: bool) -> None:
    answer = _HTTP.post(
        f"{gw.root}/class/api/hide", json={"id": wall_id, "hidden": hidden}, headers=_teacher(gw)
    )
    assert answer.status_code == 200, answer.text


def _links(answer: httpx.Response) -> list[str]:
    return [item["url"] for item in answer.json()["data"]]


@pytest.mark.parametrize("how", ["upstream", "cached", "offline"])
def test_a_hidden_image_is_gone_for_the_class_and_back_when_shown(
    school: Gateway, stub: Stub, how: str
) -> None:
    maker = school.add(f"maker-{how}", images=0 if how == "offline" else 5)
    friend, other = school.add(f"friend-{how}", images=5), school.add(f"other-{how}", images=5)
    request = body(hash(how) % 10_000, prompt=f"a picture to hide ({how})", response_format="url")
    made = _post(school, maker, request)
    assert made.status_code == 200, made.text
    assert made.headers["x-together-magic-backend"] == ("offline" if how == "offline" else "gateway")
    links = _links(made)
    if how == "cached":  # the teacher hides the copy a friend got from the shared cache
        copy = _post(school, friend, request)
        assert copy.headers["x-together-magic-cache"] == "hit"
        links += _links(copy)
    rows = [e for e in _wall(school) if e["prompt"] == request["prompt"]]
    assert rows and all(_HTTP.get(link).status_code == 200 for link in links)
    _hide(school, rows[0]["id"], True)

    assert not [e for e in _wall(school) if e["prompt"] == request["prompt"]]  # every copy left the wall
    assert {_HTTP.get(link).status_code for link in links} == {410}
    calls = len(stub.calls())
    refused = _post(school, other, request)  # the same seeded request from anyone else: not served
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "hidden_by_teacher"
    assert "hid the image this exact request makes" in refused.json()["error"]["message"]
    assert len(stub.calls()) == calls  # nor made again upstream
    own = _post(school, maker, request)  # the student who made it keeps their own copy
    assert own.status_code == 200, own.text
    assert not [e for e in _wall(school) if e["prompt"] == request["prompt"]]  # and it stays off the wall
    assert all(e["hidden"] for e in _wall(school, hidden=True) if e["prompt"] == request["prompt"])
    for entry in _wall(school, hidden=True):  # the teacher still sees it (greyed) on the wall's own route
        if entry["prompt"] == request["prompt"] and entry["images"]:
            assert (
                _HTTP.get(f"{school.root}/class/image/{entry['id']}/0", headers=_teacher(school)).status_code
                == 200
            )

    _hide(school, rows[0]["id"], False)
    assert [e for e in _wall(school) if e["prompt"] == request["prompt"]]
    assert {_HTTP.get(link).status_code for link in links} == {200}
    back = _post(school, other, request)
    assert back.status_code == 200, back.text


def test_links_stop_with_revocation_and_age_and_are_private(school: Gateway) -> None:
    links = {}
    for seed, name in enumerate(("kept", "revoked", "old"), 400):
        token = school.add(f"link-{name}", images=3)
        made = _post(school, token, body(seed, prompt=f"link {name}", response_format="url"))
        links[name] = _links(made)
    fresh = _HTTP.get(links["kept"][0])
    assert fresh.status_code == 200 and fresh.content[:3] == b"\xff\xd8\xff"
    control = fresh.headers["cache-control"]
    assert control.startswith("private, max-age=") and 0 < int(control.split("=")[1]) <= LINK_SECONDS
    assert school.roster.revoke("link-revoked")
    gone = _HTTP.get(links["revoked"][0])
    assert gone.status_code == 410 and "revoked or has expired" in gone.json()["error"]["message"]
    token = links["old"][0].rsplit("/", 1)[1].rpartition("-")[0]
    school.roster.store.write(
        lambda c: c.execute(
            "UPDATE gateway_wall SET created = ? WHERE url_token = ?", (time.time() - LINK_SECONDS - 1, token)
        )
    )  # the link was handed out an hour and a second ago
    aged = _HTTP.get(links["old"][0])
    assert aged.status_code == 410 and f"links live {LINK_SECONDS // 60} minutes" in aged.text
    assert _HTTP.get(links["kept"][0]).status_code == 200
    assert _HTTP.get(links["kept"][0].replace("-0", "-9")).status_code == 404
