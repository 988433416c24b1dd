"""With a key set, the panel offers the cloud's own model list (fetched on the loop, kept for a day)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import together_magic as tm
from together_magic import config as tm_config
from together_magic.models import MODELS

from ..cloud_helpers import ADDED, DROPPED, Cloud, cloud
from ..panel_helpers import make, shell

__all__ = ["cloud", "shell"]

pytestmark = pytest.mark.anyio


def offered(panel: object) -> list[str]:
    return [value for _, value in panel.model.options]  # type: ignore[attr-defined]


async def test_the_panel_offers_the_clouds_list(
    shell: InteractiveShell, cloud: Cloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in cloud.env().items():
        monkeypatch.setenv(name, value)
    panel = make(shell)
    assert DROPPED in offered(panel)  # built at once from the catalogue: the fetch is not waited for
    assert panel.models_task is not None
    await panel.models_task
    shown = offered(panel)
    assert set(ADDED) <= set(shown) and DROPPED not in shown
    assert shown[-2:] == list(ADDED)  # after the catalogue's models, labelled as new
    labels = dict((value, label) for label, value in panel.model.options)
    assert labels[ADDED[0]] == "Painter 2 · Acme (new on the cloud)"
    assert panel.model.value == tm_config.current().model  # the choice stays
    panel.model.value = ADDED[0]  # a model the catalogue lacks: the common parameters only
    assert panel.steps_row.layout.display == "none"
    table = repr(tm.list_models())  # the magic's list: the catalogue, then how the kept list differs
    assert f"+ {ADDED[0]}" in table and f"- {DROPPED}" in table and "the cloud (kept today) lists 27" in table
    # kept in the store for a day: the next panel offers it at once, without asking the cloud
    again = make(shell)
    assert again.models_task is None and offered(again) == shown
    tm_config.current().model = DROPPED  # a choice the cloud no longer lists stays, labelled, and first
    kept = make(shell)
    assert kept.model.options[0] == (
        "Gemini 3.1 Flash-Lite Image (Nano Banana 2 Lite) · Google (not on the cloud's list now)",
        DROPPED,
    )
    assert kept.model.value == DROPPED and offered(kept)[1:] == shown
    database = Path(tm_config.current().cache_dir) / "store.sqlite3"
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT endpoint, models FROM live_models").fetchall()
    assert [row[0] for row in rows] == [f"{cloud.root}/v1"]
    assert cloud.key not in rows[0][1] and ADDED[0] in rows[0][1]


async def test_without_a_key_or_with_a_failing_cloud_the_catalogue_is_offered(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = [s.id for s in MODELS.values() if s.listed]
    panel = make(shell)
    assert panel.models_task is None and offered(panel) == catalogue  # offline: nothing is fetched
    monkeypatch.setenv("TOGETHER_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("TOGETHER_API_KEY", "sk-unreachable")
    failing = make(shell)
    assert failing.models_task is not None
    await failing.models_task
    assert offered(failing) == catalogue  # quietly the catalogue: the status says only the backend
    assert "⚠" not in failing.status.value and "model" not in failing.status.value, failing.status.value
