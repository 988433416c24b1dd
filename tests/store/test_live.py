"""The cloud's model list kept in the store: one row per endpoint, valid for a day."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from together_magic.store import Store
from together_magic.store.live import MAX_AGE, load_live, save_live

LIST = json.dumps([{"id": "acme/painter-2", "display_name": "Painter 2"}])


@pytest.mark.parametrize(
    ("age", "kept"), [(0.0, True), (MAX_AGE - 1, True), (MAX_AGE, True), (MAX_AGE + 1, False), (-5.0, True)]
)
def test_a_list_is_used_for_a_day(tmp_path: Path, age: float, kept: bool) -> None:
    with Store(tmp_path) as store:
        save_live(store, "http://cloud.test/v1", LIST, now=1_000_000.0)
        found = load_live(store, "http://cloud.test/v1", now=1_000_000.0 + age)
    assert (found == LIST) is kept


def test_one_row_per_endpoint_replaced_by_the_newest(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        save_live(store, "http://a.test/v1", LIST, now=10.0)
        save_live(store, "http://a.test/v1", "[]", now=20.0)
        save_live(store, "http://b.test/v1", LIST, now=20.0)
        assert load_live(store, "http://a.test/v1", now=21.0) == "[]"
        assert load_live(store, "http://b.test/v1", now=21.0) == LIST
        assert load_live(store, "http://c.test/v1", now=21.0) is None
    with Store(tmp_path) as reopened:  # another process, later: the same rows
        assert load_live(reopened, "http://b.test/v1", now=22.0) == LIST
