"""``%%imagine`` against a cloud whose list differs from the catalogue (``serve --models``, with a key)."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from together_magic.models import CATALOGUE_AS_OF

from ..cloud_helpers import ADDED, DROPPED, Cloud, cloud
from .test_magic import ip, run, usage_error

__all__ = ["cloud", "ip"]


@pytest.fixture
def on_cloud(ip: InteractiveShell, cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> InteractiveShell:
    for name, value in cloud.env().items():
        monkeypatch.setenv(name, value)
    return ip


def test_did_you_mean_suggests_a_model_only_the_cloud_lists(on_cloud: InteractiveShell) -> None:
    shown = usage_error(on_cloud, "%%imagine -m acme/painter-3 --size 256x256\na fox")
    assert "404" in shown and f"did you mean {ADDED[0]}?" in shown, shown
    made = run(on_cloud, f"%%imagine -m {ADDED[0]} --size 256x256 --seed 4\na fox")  # and it is served
    assert made.model == ADDED[0]


def test_a_listed_model_the_cloud_refuses_says_the_catalogue_may_be_stale(on_cloud: InteractiveShell) -> None:
    shown = usage_error(on_cloud, f"%%imagine -m {DROPPED} --size 256x256\na fox")
    assert shown.startswith("NotFoundError: 404"), shown
    assert f"the catalogue (Together's list of {CATALOGUE_AS_OF}) lists {DROPPED}" in shown
    assert (
        "the catalogue may be stale; together-magic models --check compares it with the cloud's list" in shown
    )
