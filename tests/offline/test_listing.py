"""``GET /v1/models`` as Together answers it, and ``serve --models FILE``, through a real ``serve``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from together_magic.models import MODELS

from ..cloud_helpers import ADDED, DROPPED, Cloud, cloud
from ..conftest import ROOT, Server

__all__ = ["cloud"]

BODY = {"prompt": "a fox", "width": 256, "height": 256, "response_format": "base64"}


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_models_answer_modelinfo_for_every_listed_model(server: Server, prefix: str) -> None:
    listed = httpx.get(f"http://127.0.0.1:{server.port}{prefix}/models", timeout=10).json()
    assert isinstance(listed, list)  # a bare array, as Together's ModelInfoList
    assert [m["id"] for m in listed] == [s.id for s in MODELS.values() if s.listed]  # retired: not listed
    for entry in listed:
        spec = MODELS[entry["id"]]
        assert {"id", "object", "created", "type"} <= set(entry)  # ModelInfo's required fields
        assert (entry["object"], entry["type"], entry["display_name"]) == (
            "model",
            "image",
            spec.display_name,
        )
        assert set(entry["pricing"]) == {"hourly", "input", "output", "base", "finetune"}
        assert entry["pricing"]["base"] == (spec.price.amount or 0)
        key, field = (
            ("image_pixel", "price_per_megapixel")
            if spec.price.unit == "megapixel"
            else ("image", "example_price")
        )
        assert entry.get(key, {}).get(field) == spec.price.amount or spec.price.amount is None
    seedream = next(m for m in listed if m["id"] == "ByteDance-Seed/Seedream-3.0")
    kontext = next(m for m in listed if m["id"] == "black-forest-labs/FLUX.1-kontext-pro")
    assert seedream["image"] == {"example_price": 0.018} and "image_pixel" not in seedream
    assert kontext["image_pixel"] == {"price_per_megapixel": 0.04}


def test_models_need_the_key_under_require_key(start_server: Callable[..., Server]) -> None:
    srv = start_server("--require-key", "sk-list-key")
    for path in ("/v1/models", "/models"):
        bare = httpx.get(f"http://127.0.0.1:{srv.port}{path}", timeout=10)
        assert bare.status_code == 401
        assert bare.json()["error"]["code"] == "invalid_api_key" and bare.json()["error"]["type"]
        wrong = httpx.get(
            f"http://127.0.0.1:{srv.port}{path}", headers={"Authorization": "Bearer x"}, timeout=10
        )
        assert wrong.status_code == 401
        good = httpx.get(
            f"http://127.0.0.1:{srv.port}{path}", headers={"Authorization": "Bearer sk-list-key"}, timeout=10
        )
        assert good.status_code == 200 and len(good.json()) == len([s for s in MODELS.values() if s.listed])


def test_serve_models_file_lists_and_serves_that_list(cloud: Cloud) -> None:
    auth = {"Authorization": f"Bearer {cloud.key}"}
    listed = httpx.get(f"{cloud.root}/models", headers=auth, timeout=10).json()
    ids = [m["id"] for m in listed]
    assert set(ADDED) <= set(ids) and DROPPED not in ids and "acme/chatter" in ids  # the file, as given
    assert all(m["object"] == "model" for m in listed)
    url = f"{cloud.root}/v1/images/generations"
    added = httpx.post(url, json={**BODY, "model": ADDED[0], "seed": 3}, headers=auth, timeout=30)
    assert added.status_code == 200 and added.json()["model"] == ADDED[0]
    # an id the catalogue lacks takes the common parameters only: steps is ignored, an image input refused
    ignored = httpx.post(
        url, json={**BODY, "model": ADDED[0], "seed": 3, "steps": 9}, headers=auth, timeout=30
    )
    assert ignored.json()["data"][0]["b64_json"] == added.json()["data"][0]["b64_json"]
    edit = httpx.post(url, json={**BODY, "model": ADDED[1], "image_url": "https://x/y.png"}, headers=auth)
    assert edit.status_code == 400 and "image_url" in edit.json()["error"]["message"]
    dropped = httpx.post(url, json={**BODY, "model": DROPPED}, headers=auth, timeout=30)
    assert dropped.status_code == 404 and dropped.json()["error"]["code"] == "model_not_available"
    assert f"Unable to access model {DROPPED}." in dropped.json()["error"]["message"]
    kept = httpx.post(url, json={**BODY, "model": "black-forest-labs/FLUX.2-dev"}, headers=auth, timeout=30)
    assert kept.status_code == 200
    assert "models: the 28 in" in cloud.server.log.read_text()  # the banner says which list it serves


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("{", "is not JSON (line 1"),
        ('{"models": []}', "must be a JSON array"),
        ("[1]", "entry 1 is not a JSON object"),
        ('[{"type": "image"}]', 'entry 1 has no "id"'),
        ('[{"id": "a/b"}]', 'entry 1 (a/b) has no "type"'),
        (b"\xff\xfe[", "cannot read"),
    ],
)
def test_a_bad_models_file_is_one_line_naming_the_flag(
    tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    file = tmp_path / "models.json"
    if isinstance(content, bytes):
        file.write_bytes(content)
    elif content is not None:
        file.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "together_magic", "serve", "--port", "1", "--models", str(file)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("together-magic serve: error: argument --models: "), (
        done.stderr
    )
    assert says in lines[0] and "Traceback" not in done.stderr
