"""What the official-SDK tests share: one call per listed model, both base URL forms, an answer's check.

Each SDK (Python 3.x in-process; Python 1.x and TypeScript in their own runtimes, through the scripts in
``tests/sdk1`` and ``tests/sdk_js``) makes the same calls against a real ``together-magic serve``, and each
answer is checked here alike: it parsed, it names the model, and its image decodes (Pillow) to a real JPEG
or PNG of the size asked for, whether it came as ``b64_json`` or as a URL.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from together_magic.models import MODELS, ModelSpec, listed_ids

from ..conftest import ROOT, Server

SDK1_PYTHON = ROOT / ".venv-sdk1" / "bin" / "python"
SDK_JS = ROOT / "tests" / "sdk_js"
SETUP = "run scripts/setup dev (it installs the official SDKs the suite runs)"
FORMS = ("bare host", "/v1")
"""The two TOGETHER_BASE_URL forms: ``http://HOST:PORT`` (SDK 3's convention) and ``http://HOST:PORT/v1``
(the TypeScript SDK's, SDK 1.x's and curl's)."""
UNKNOWN = {"model": "no-such/model", "prompt": "x"}
"""A call every SDK must turn into its 404 error type (the last of each batch)."""


def base_url(server: Server, form: str) -> str:
    root = server.base_url.removesuffix("/v1")
    return root if form == "bare host" else f"{root}/v1"


def first_size(spec: ModelSpec) -> tuple[int, int]:
    """The model's first documented size: its first preset, else its smallest square (fast to render)."""
    if spec.limits.presets:
        _, width, height = spec.limits.presets[0]
        return width, height
    low, step = spec.limits.size[0], spec.limits.multiple
    side = -(-low // step) * step
    return side, side


def listed_calls() -> list[dict[str, Any]]:
    """One ``images.generate`` body per listed model, taking only what it accepts; URL and base64 answers
    alternate, so every SDK meets both kinds of item."""
    calls = []
    for index, model_id in enumerate(listed_ids()):
        spec = MODELS[model_id]
        width, height = first_size(spec)
        call: dict[str, Any] = {
            "model": model_id, "prompt": "a lake at dawn", "width": width, "height": height, "n": 1,
            "seed": index, "response_format": "url" if index % 2 else "base64",
        }  # fmt: skip
        if spec.limits.steps:
            call["steps"] = spec.limits.steps[0]
        calls.append(call)
    return calls


def image_bytes(item: dict[str, Any], fetch: httpx.Client) -> bytes:
    if item["type"] == "b64_json":
        return base64.b64decode(item["b64_json"], validate=True)
    answer = fetch.get(item["url"])
    answer.raise_for_status()
    return answer.content


def problems(calls: list[dict[str, Any]], answers: list[dict[str, Any]], fetch: httpx.Client) -> list[str]:
    """What is wrong with each answer (an empty list: every model generated a real image)."""
    found = []
    for call, answer in zip(calls, answers, strict=True):
        model = call["model"]
        if "error" in answer:
            found.append(f"{model}: {answer['error']}")
            continue
        response = answer["response"]
        kind = "url" if call["response_format"] == "url" else "b64_json"
        if (response["model"], response["object"], bool(response["id"])) != (model, "list", True):
            found.append(f"{model}: model/object/id {response['model']!r} {response['object']!r}")
        items = response["data"]
        if [(item["index"], item["type"]) for item in items] != [(0, kind)]:
            found.append(f"{model}: data {[(i['index'], i['type']) for i in items]}, wanted [(0, {kind!r})]")
            continue
        picture = Image.open(io.BytesIO(image_bytes(items[0], fetch)))
        picture.load()  # decodes every pixel: a truncated or fake image fails here
        if picture.format not in ("JPEG", "PNG") or picture.size != (call["width"], call["height"]):
            found.append(
                f"{model}: a {picture.format} of {picture.size}, asked {call['width']}x{call['height']}"
            )
    return found


def assert_every_model_generated(
    calls: list[dict[str, Any]], answers: list[dict[str, Any]], fetch: httpx.Client
) -> None:
    found = problems(calls, answers, fetch)
    assert not found, f"{len(found)} of {len(calls)} models failed:\n" + "\n".join(found)


def check_batch(
    summary: dict[str, Any], calls: list[dict[str, Any]], pinned: str, not_found: str, fetch: httpx.Client
) -> None:
    """A script's run of ``calls`` then ``UNKNOWN``: the pinned SDK, every model generated, and the unknown
    model turned into the SDK's own 404 error type."""
    assert summary["sdk"] == pinned
    *answers, unknown = summary["generations"]
    assert_every_model_generated(calls, answers, fetch)
    assert (unknown["error"]["name"], unknown["error"]["status"]) == (not_found, 404)
    assert "model_not_available" in unknown["error"]["message"]


def check_listing(listing: list[dict[str, Any]]) -> None:
    """An SDK's ``models.list()``: image models, every listed one among them."""
    assert all(entry["object"] == "model" and entry["type"] == "image" for entry in listing)
    assert set(listed_ids()) <= {entry["id"] for entry in listing}


def run_sdk(command: list[str], base: str, calls: list[dict[str, Any]], **request: Any) -> dict[str, Any]:
    """Run one SDK script (one process for every call) with the base URL and key in the environment, as a
    user sets them; its whole answer, parsed. The script must write nothing to stderr."""
    env = {**os.environ, "TOGETHER_BASE_URL": base, "TOGETHER_API_KEY": "any-key", "TOGETHER_NO_BANNER": "1"}
    done = subprocess.run(
        command, input=json.dumps({"calls": calls, **request}), capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", f"{command} failed:\n{done.stderr}"
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["base_url"].rstrip("/") == base, summary["base_url"]  # it took TOGETHER_BASE_URL
    return summary


def installed(path: Path, what: str) -> Path:
    """``path``, which ``scripts/setup dev`` installs; a missing install fails the test (never a skip)."""
    assert path.exists(), f"{what} is not installed at {path}: {SETUP}"
    return path
