"""``together-magic batch FILE --out DIR``: the terminal's way to make many images, paced and resumable.

The same engine as ``generate_many``. Standard output gets a line when the batch starts and its summary
when it ends; a progress bar goes to stderr only when stderr is a terminal, so a successful run in a pipe
or CI leaves stderr empty. Exit codes: 0 all done, 1 some items failed (listed), 2 a usage mistake,
130 interrupted (what finished is kept; the same command continues).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..batches.api import run_batch
from ..batches.view import progress_mode
from ..config import Imagine
from ..errors import OptionError, TogetherError, explain
from ..generation.flags import OPTIONS
from ..generation.line import from_args

__all__ = ["add_batch_command", "run_batch_command"]

_REQUEST_OPTIONS = {
    "--model",
    "--n",
    "--seed",
    "--width",
    "--height",
    "--size",
    "--aspect-ratio",
    "--steps",
    "--negative",
    "--guidance",
    "--format",
    "--image",
    "--reference",
    "--lora",
    "--upsample",
    "--param",
}
_NOT_HERE: dict[str, object] = {
    "prompt": [],
    "vary": None,
    "each": None,
    "save": None,
    "no_display": False,
    "no_cache": False,
    "from_path": None,
    "no_interpolate": False,
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_batch_command(commands: Any) -> None:
    """The ``batch`` sub-command, on the CLI's sub-parsers."""
    batch = commands.add_parser(
        "batch",
        help="generate one image per line/row of FILE, paced to the rate limit, resumable",
        description="FILE: .txt (one prompt a line), .csv (header = request fields) or .jsonl. Re-running "
        "the same command skips what is done; the folder holds the images and the batch's manifest.",
    )
    batch.add_argument("file", metavar="FILE", help="a .txt, .csv or .jsonl file of items")
    batch.add_argument("-o", "--out", required=True, metavar="DIR", help="folder for the images and manifest")
    batch.add_argument(
        "--prompt", metavar="TEMPLATE", help="prompt template filled per item: '{{ item.animal }} at dawn'"
    )
    for flags, kwargs in OPTIONS:
        if any(flag in _REQUEST_OPTIONS for flag in flags):
            batch.add_argument(*flags, **kwargs)
    batch.add_argument("--concurrency", type=_positive_int, metavar="N", help="most requests in flight")
    batch.add_argument("--rpm", type=_positive, metavar="N", help="never more than N requests a minute")
    batch.add_argument("--retry-failed", action="store_true", help="run the items that failed again")
    batch.add_argument("--new", action="store_true", help="start a new batch in DIR with other settings")
    batch.add_argument("--timeout", type=_positive, metavar="SECONDS", help="read timeout per request")
    batch.set_defaults(**_NOT_HERE)


def run_batch_command(args: argparse.Namespace) -> int:
    config = Imagine()
    if args.timeout is not None:
        config.timeout = args.timeout
    try:
        # The request options only: the batch's own (--rpm, --new ...) are read from ``args`` below.
        own = {"out": None, "rpm": None, "concurrency": None, "retry_failed": False, "new": False}
        fields = argparse.Namespace(**{**vars(args), **own})
        defaults = from_args(fields, None)
    except OptionError as exc:
        return _fail(str(exc), 2)
    print(f"batch: {args.file} -> {args.out}", flush=True)

    def interrupted(line: str) -> None:
        print(f"together-magic: {line}", file=sys.stderr, flush=True)

    try:
        result = asyncio.run(
            run_batch(
                args.file,
                out=args.out,
                defaults=defaults,
                template=args.prompt,
                config=config,
                concurrency=args.concurrency,
                rpm=args.rpm,
                retry_failed=args.retry_failed,
                new=args.new,
                progress=progress_mode(None, live=False),
                source="cli",
                new_flag="--new",
                on_interrupt=interrupted,
            )
        )
    except OptionError as exc:
        return _fail(str(exc), 2)
    except TogetherError as exc:
        return _fail(str(explain(exc, "cli")), 1)
    summary = result.summary
    print(f"batch {args.out}: {summary.line()}")
    if summary.failed:
        for line in summary.failure_lines():
            print(f"  failed: {line}")
        print(f"  run again with --retry-failed to try the {summary.failed} failed item(s) again")
        return 1
    return 0


def _fail(message: str, code: int) -> int:
    print(f"together-magic: error: {message}", file=sys.stderr)
    return code
