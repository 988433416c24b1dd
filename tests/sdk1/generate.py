"""Run Together's Python SDK 1.x (``.venv-sdk1``, made by ``scripts/setup dev``) against together-magic.

The twin of ``tests/sdk_js/generate.mjs``, run by ``.venv-sdk1/bin/python`` (SDK 1.x and SDK 3 share the
import name ``together``, so 1.x cannot live in ``.venv``). The SDK reads ``TOGETHER_BASE_URL`` and
``TOGETHER_API_KEY`` itself, as a user's script would. stdin: ``{"calls": [<images.generate keywords>],
"list_models": bool}``; stdout: one JSON object ``{"sdk", "base_url", "generations": [{"call", "response"}
or {"call", "error"}], "models"}``. Every call is made, failures included, so one run reports every model.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import together


def failure(exc: Exception) -> dict[str, Any]:
    return {"name": type(exc).__name__, "status": getattr(exc, "http_status", None), "message": str(exc)}


def main() -> None:
    request = json.load(sys.stdin)
    client = together.Together(max_retries=0)
    generations: list[dict[str, Any]] = []
    for call in request["calls"]:
        try:
            generations.append(
                {"call": call, "response": client.images.generate(**call).model_dump(mode="json")}
            )
        except Exception as exc:  # every model is reported, the failing ones too
            generations.append({"call": call, "error": failure(exc)})
    models: dict[str, Any] | None = None
    if request.get("list_models"):
        try:
            models = {"response": [m.model_dump(mode="json") for m in client.models.list()]}
        except Exception as exc:
            models = {"error": failure(exc)}
    summary = {"sdk": together.version, "base_url": client.client.base_url, "generations": generations}
    json.dump({**summary, "models": models}, sys.stdout)


if __name__ == "__main__":
    main()
