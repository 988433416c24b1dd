"""``together-magic models [--check]``: the catalogue, and whether it still matches the cloud's list.

``--check`` asks the configured server (``TOGETHER_BASE_URL`` and ``TOGETHER_API_KEY``, as every client
here resolves them) for ``GET /v1/models``, keeps the image models and prints what is new, what is gone and
which published price changed, headed with the catalogue's source date. Exit status as ``diff``'s: 0 the
same, 1 different, 2 the list could not be had (one line: no key, refused, 401...).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..client.clients import Together
from ..display.gallery import models_markdown, models_text
from ..errors import TogetherError, explain, public_url
from ..models.feed import compare, drift_lines

__all__ = ["add_models_command", "run_models_command"]


def add_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare the catalogue with the image models the configured cloud lists (GET /v1/models); "
        "exit 0 when they match, 1 when they differ, 2 when the list cannot be had",
    )


def add_models_command(commands: Any) -> None:
    models = commands.add_parser(
        "models", help="the catalogued image models (--check: against the cloud's list)"
    )
    add_check(models)
    models.add_argument("--markdown", action="store_true", help="the README's Markdown table")


def _fail(message: str) -> int:
    print(f"together-magic: error: models --check: {message}", file=sys.stderr)
    return 2


def check() -> int:
    try:
        client = Together(announce_offline=False, max_retries=0)
    except TogetherError as exc:  # an unusable TOGETHER_BASE_URL or key
        return _fail(str(exc))
    with client:
        if client.offline:
            return _fail(
                "it asks a cloud for its list, and none is configured: set TOGETHER_API_KEY (and "
                "TOGETHER_BASE_URL for a server other than Together's)"
            )
        try:
            live = client.models.list()
        except TogetherError as exc:
            return _fail(str(explain(exc, "cli")))
        drift = compare(live)
        for line in drift_lines(drift, public_url(client.base_url), len(live)):
            print(line)
    return 1 if drift.total else 0


def run_models_command(args: argparse.Namespace) -> int:
    if args.check:
        return check()
    print(models_markdown() if args.markdown else models_text())
    return 0
