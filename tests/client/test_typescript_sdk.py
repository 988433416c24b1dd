"""Together's TypeScript SDK (``together-ai``, pinned in ``tests/sdk_js/package.json``), run with Node against
a real ``together-magic serve``: every listed model generates with either TOGETHER_BASE_URL form.

``scripts/setup dev`` installs the SDK with ``npm ci``. These tests skip only when Node itself is absent,
and say so in the summary (``-ra``); a Node without the installed SDK fails them.
"""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from ..conftest import Server
from . import sdk_support as sdk

PINNED = json.loads((sdk.SDK_JS / "package.json").read_text())["dependencies"]["together-ai"]


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip(
            "NOT TESTED: the TypeScript SDK against serve, because Node.js is not installed "
            f"(install it, e.g. sudo apt-get install nodejs npm, then {sdk.SETUP})"
        )
    sdk.installed(sdk.SDK_JS / "node_modules" / "together-ai" / "package.json", f"together-ai {PINNED}")
    return found


@pytest.mark.parametrize("form", sdk.FORMS)
def test_every_listed_model_generates_through_the_typescript_sdk(
    form: str, node: str, server: Server, fetch: httpx.Client
) -> None:
    calls = sdk.listed_calls()
    script = [node, str(sdk.SDK_JS / "generate.mjs")]
    summary = sdk.run_sdk(script, sdk.base_url(server, form), [*calls, sdk.UNKNOWN], list_models=True)
    sdk.check_batch(summary, calls, PINNED, "NotFoundError", fetch)
    sdk.check_listing(summary["models"]["response"])  # client.models.list(): GET BASE/models
