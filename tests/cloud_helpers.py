"""A simulated cloud whose model list differs from the catalogue: ``together-magic serve --models FILE``.

The file adds two models (one with a price), drops one listed model and changes one published price, and
carries a chat model (which every image listing leaves out). The server requires a key, as the cloud does.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from together_magic.models import MODELS
from together_magic.models.feed import model_info

from .conftest import Server

ADDED = ("acme/painter-2", "acme/sketch-1")
DROPPED = "google/flash-image-3.1-lite"
REPRICED = ("ByteDance-Seed/Seedream-3.0", 0.02)
"""Catalogued at $0.018 per image."""


class Cloud(NamedTuple):
    server: Server
    key: str
    file: Path

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def env(self) -> dict[str, str]:
        return {"TOGETHER_BASE_URL": self.root, "TOGETHER_API_KEY": self.key}


def cloud_list() -> list[dict[str, Any]]:
    entries = [model_info(spec) for spec in MODELS.values() if spec.listed and spec.id != DROPPED]
    for entry in entries:
        if entry["id"] == REPRICED[0]:
            entry["image"] = {"example_price": REPRICED[1]}
            entry["pricing"]["base"] = REPRICED[1]
    zero = {"hourly": 0, "input": 0, "output": 0, "base": 0, "finetune": 0}
    return [
        *entries,
        {"id": ADDED[0], "object": "model", "created": 0, "type": "image", "display_name": "Painter 2",
         "organization": "Acme", "pricing": zero},
        {"id": ADDED[1], "object": "model", "created": 0, "type": "image", "display_name": "Sketch",
         "organization": "Acme", "pricing": {**zero, "base": 0.003}},
        {"id": "acme/chatter", "object": "model", "created": 0, "type": "chat", "pricing": zero},
    ]  # fmt: skip


@pytest.fixture
def cloud(tmp_path: Path, start_server: Callable[..., Server]) -> Iterator[Cloud]:
    """The simulated cloud, with its key."""
    file = tmp_path / "cloud-models.json"
    file.write_text(json.dumps(cloud_list()))
    key = f"sk-cloud-{secrets.token_hex(8)}"
    yield Cloud(start_server("--models", str(file), "--require-key", key), key, file)
