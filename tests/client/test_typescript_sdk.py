"""Together's TypeScript SDK (``together-ai``, pinned in ``tests/sdk_js/package.json``), run with Node against
a real ``together-magic serve``: every listed model generates with either TOGETHER_BASE_URL form.

``scripts/setup dev`` installs the SDK with ``npm ci``. These tests skip only when Node itself is absent,
and say so in the summary (``-ra``); a Node without the installed SDK fails them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import pytest

from together_magic.models import listed_ids

from ..conftest import Server
from .sdk_support import (
    FORMS,
    SDK_JS,
    SETUP,
    UNKNOWN,
    assert_every_model_generated,
    base_url,
    installed,
    listed_calls,
    run_sdk,
)

PINNED = json.loads((SDK_JS / "package.json").read_text())["dependencies"]["together-ai"]


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip(
            "NOT TESTED: the TypeScript SDK against serve, because Node.js is not installed "
            f"(install it, e.g. sudo apt-get install nodejs npm, then {SETUP})"
        )
    installed(SDK_JS / "node_modules" / "together-ai" / "package.json", f"together-ai {PINNED}")
    return found


@pytest.fixture(scope="module")
def fetch() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.mark.parametrize("form", FORMS)
def test_every_listed_model_generates_through_the_typescript_sdk(
    form: str, node: str, server: Server, fetch: httpx.Client
) -> None:
    calls = listed_calls()
    summary = run_sdk([node, str(SDK_JS / "generate.mjs")], base_url(server, form), [*calls, UNKNOWN],
                      list_models=True)  # fmt: skip
    assert summary["sdk"] == PINNED
    *answers, unknown = summary["generations"]
    assert_every_model_generated(calls, answers, fetch)
    assert (unknown["error"]["name"], unknown["error"]["status"]) == ("NotFoundError", 404)
    assert "model_not_available" in unknown["error"]["message"]
    listing = summary["models"]["response"]  # client.models.list(): GET BASE/models
    assert all(entry["object"] == "model" and entry["type"] == "image" for entry in listing)
    assert set(listed_ids()) <= {entry["id"] for entry in listing}
