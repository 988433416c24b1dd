"""Together's Python SDK 1.x (``together==1.6.0`` in ``.venv-sdk1``, pinned in
``tests/sdk1/requirements.txt``) against a real ``together-magic serve``: every listed model generates with
either TOGETHER_BASE_URL form.

SDK 1.x and SDK 3 share the import name ``together``, so 1.x runs in its own venv, made by
``scripts/setup dev``; a missing venv fails these tests (it is never skipped).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ..conftest import ROOT, Server
from . import sdk_support as sdk

SCRIPT = ROOT / "tests" / "sdk1" / "generate.py"
PINNED = next(
    line.split("==")[1] for line in (SCRIPT.parent / "requirements.txt").read_text().splitlines()
    if line.startswith("together==")
)  # fmt: skip


def sdk1(server: Server, form: str, calls: list[dict[str, Any]], **request: Any) -> dict[str, Any]:
    python = sdk.installed(sdk.SDK1_PYTHON, f"together {PINNED} (SDK 1.x)")
    return sdk.run_sdk([str(python), str(SCRIPT)], sdk.base_url(server, form), calls, **request)


@pytest.mark.parametrize("form", sdk.FORMS)
def test_every_listed_model_generates_through_sdk_1(form: str, server: Server, fetch: httpx.Client) -> None:
    calls = sdk.listed_calls()
    summary = sdk1(server, form, [*calls, sdk.UNKNOWN])
    sdk.check_batch(summary, calls, PINNED, "InvalidRequestError", fetch)


def test_sdk_1_lists_every_listed_model(server: Server) -> None:
    sdk.check_listing(sdk1(server, "/v1", [], list_models=True)["models"]["response"])
