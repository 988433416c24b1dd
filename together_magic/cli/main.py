"""The ``together-magic`` command: ``serve`` (the offline backend, or with ``--upstream`` a classroom
gateway), ``class`` (the gateway's students), ``demo`` a few images, ``generate``, ``history``, ``info``.

Errors are one line on stderr and a non-zero exit code: the command runs in classrooms and CI logs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

from ..client.base import VERSION
from ..client.clients import Together, resolve_settings
from ..config import Imagine
from ..display.gallery import models_markdown, models_text
from ..errors import OptionError, TogetherError, explain, public_url
from ..generation.flags import add_options
from ..generation.generate import generate
from ..generation.line import from_args, option_strings
from ..generation.loop import Interrupted, close_loop_client
from ..generation.plan import build_plan, read_saved
from ..generation.saving import save_response
from ..histories.search import as_json, history_parser, run_history
from ..models import DEFAULT_MODEL, closest, retirement_notice
from ..store.store import StoreError
from ..sweeps.result import Sweep
from ..sweeps.run import (
    announce,
    interrupted_message,
    plan_sweep,
    run_sweep,
    save_sweep,
    saved_summary,
    wants_sweep,
)
from ..types.view import captions
from .batch import add_batch_command, run_batch_command
from .models import add_check, add_models_command, check, run_models_command
from .output import ReaderMayLeave, tolerant_output

__all__ = ["main"]

DEMO_PROMPTS = (
    "a red fox in a snowy forest",
    "sunset over a mountain lake",
    "a city skyline at night under the moon",
    "a purple and gold abstract dream",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            unknown = message.split(": ", 1)[1].split()[0]
            guess = closest(unknown, [k for k in option_strings() if k.startswith("--")])
            if guess:
                message = f"unknown option {unknown}; did you mean {guess}?"
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="together-magic", description="Together AI images from Jupyter, online or offline.")
    parser.add_argument("--version", action="version", version=f"together-magic {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser(
        "serve",
        help="run the offline, Together-compatible images endpoint (or, with --upstream, a class gateway)",
    )
    from ..gateway.commands import add_class_commands
    from ..gateway.server import add_gateway_arguments
    from ..offline.server import add_serve_arguments

    add_serve_arguments(serve)
    add_gateway_arguments(serve)
    add_class_commands(commands)

    demo = commands.add_parser("demo", help="generate a few sample images and say where they are")
    demo.add_argument("--out", default="out/demo", help="folder for the images (default out/demo)")
    demo.add_argument("--model", default=None, help="model id (default FLUX.2 dev)")
    demo.add_argument("--seed", type=int, default=42, help="seed for every prompt (default 42)")
    demo.add_argument("--size", type=int, default=768, help="width and height in pixels (default 768)")

    generate = commands.add_parser(
        "generate",
        help="generate images with the same options as %%%%imagine and save them",
        description="Options are the ones of %%imagine; images are saved (default folder: images).",
    )
    add_options(generate)
    generate.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="read timeout")
    generate.add_argument(
        "--max-images", type=int, default=None, metavar="N", help="allow --vary sweeps of up to N images (64)"
    )

    add_batch_command(commands)
    what = "plan notebooks' %%%%imagine cells, sending nothing: images, cost, cells the cloud would refuse"
    check = commands.add_parser("check", help=what + " and their fixes (exit 1 if any)")
    check.add_argument("notebooks", nargs="+", metavar="NOTEBOOK.ipynb", help="the notebooks to check")

    past = commands.add_parser("history", help="list past generations (all notebooks, the panel, the CLI)")
    history_parser(parser=past)
    past.add_argument("--json", action="store_true", help="one JSON object per generation")

    info = commands.add_parser("info", help="version, backend in use and configuration (never the key)")
    info.add_argument("--models", action="store_true", help="list the catalogued image models")
    info.add_argument("--markdown", action="store_true", help="with --models: the README's Markdown table")
    add_check(info)  # info --check (or --models --check) = models --check
    add_models_command(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from ..gateway.server import misplaced_gateway_flags, run_gateway
    from ..offline.server import run_serve

    if args.upstream is not None:
        return run_gateway(args)
    misplaced = misplaced_gateway_flags(args)
    if misplaced:
        return _fail(misplaced, 2)
    return run_serve(args)


def _class(args: argparse.Namespace) -> int:
    from ..gateway.commands import run_class

    return run_class(args)


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    model = args.model or DEFAULT_MODEL
    with Together(announce_offline=False) as client:
        where = "the offline backend (procedural renderer)" if client.offline else public_url(client.base_url)
        print(f"generating {len(DEMO_PROMPTS)} images with {model} on {where}", flush=True)
        _say_retired([model])
        for number, prompt in enumerate(DEMO_PROMPTS, start=1):
            started = time.perf_counter()
            try:
                response = client.images.generate(
                    prompt=prompt, model=model, seed=args.seed, width=args.size, height=args.size
                )
            except TogetherError as exc:
                print(f"together-magic: error: {explain(exc, 'cli')}", file=sys.stderr)
                return 1
            report = save_response(response, out)  # the same names and embedded parameters as --save
            took = time.perf_counter() - started
            if not report.ok:
                print(f"together-magic: error: {report.summary(out)}", file=sys.stderr)
                return 1
            for path in report.paths:
                print(f"[{number}/{len(DEMO_PROMPTS)}] {took:.2f} s  {path}", flush=True)
    print(f"done: the images are in {out.resolve()}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    config = Imagine()
    if args.timeout is not None:
        if not args.timeout > 0:
            return _fail(f"--timeout must be more than 0 seconds, got {args.timeout:g}", 2)
        config.timeout = args.timeout
    try:
        options = from_args(args, " ".join(args.prompt) or None)
        if options.interpolate and "{{" in options.to_cell():
            raise OptionError("{{ }} needs a notebook namespace; in the shell, use your shell's variables")
        if options.each is not None:
            raise OptionError("--each: use together-magic batch FILE --out DIR for many images")
        options = options.replace(save=options.save or "images")
        if args.max_images is not None:
            if args.max_images < 1:
                raise OptionError(f"--max-images must be a whole number of 1 or more, got {args.max_images}")
            config.max_sweep_images = args.max_images
        saved = read_saved(options.from_path) if options.from_path is not None else None  # read once
        if wants_sweep(options, saved):
            return _sweep(plan_sweep(options, config=config, where="cli", saved=saved), config)
        plan = build_plan(options, config=config, saved=saved)
    except OptionError as exc:
        return _fail(str(exc), 2)

    async def run() -> Any:
        try:
            return await generate(plan, config, source="cli", keep_partial=True)
        finally:
            await close_loop_client()

    request = plan.request
    print(f"generating {request.n} image(s) with {request.model}, seed {request.seed}", flush=True)
    _say_retired([request.model])
    ticker = _Ticker()
    try:
        generated = asyncio.run(run())
    except TogetherError as exc:
        return _fail(str(explain(exc, "cli")), 1)
    finally:
        ticker.stop()
    for line in captions(generated.response):
        print(line)
    if generated.failure is not None:  # the images above arrived (and are saved); the others did not
        return _fail(str(explain(generated.failure, "cli")), 1)
    if generated.saved is not None and not generated.saved.ok:
        return _fail(generated.saved.summary(plan.save or ""), 1)
    return 0


def _sweep(planned: Sweep, config: Imagine) -> int:
    """``generate --vary``: one line per cell, every finished cell and the contact sheet saved."""
    print(announce(planned, config), flush=True)
    _say_retired(cell.plan.request.model for cell in planned.cells)

    async def run() -> Sweep:
        try:
            return await run_sweep(planned, config, source="cli")
        finally:
            await close_loop_client()

    ticker = _Ticker()
    interrupted = False
    try:
        asyncio.run(run())
    except Interrupted:
        interrupted = True
    except TogetherError as exc:
        return _fail(str(explain(exc, "cli")), 1)
    finally:
        ticker.stop()
    folder = planned.save_dir or Path("images")
    problems = save_sweep(planned, folder) if planned.responses or not interrupted else []
    for cell in planned.cells:
        where = planned.saved.get(cell.values)
        print(f"{planned.label(cell)}: {planned.caption(cell)}" + (f" · saved {where}" if where else ""))
    if planned.sheet_path is not None:
        print(f"contact sheet: {planned.sheet_path}")
    if interrupted:
        kept = f"saved in {folder}" if planned.saved else "nothing saved"
        return _fail(interrupted_message(planned, kept), 130)
    if problems:
        return _fail(saved_summary(planned, problems, folder), 1)
    if planned.failed:
        first = next(iter(planned.failed.values()))
        return _fail(f"{len(planned.failed)} of {len(planned.cells)} cells failed (the first: {first})", 1)
    return 0


class _Ticker:
    """Seconds elapsed on the terminal while waiting (only on a TTY; erased when done)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        shown = False
        while not self._done.wait(1.0):
            if sys.stdout.isatty():
                shown = True
                print(f"\rgenerating... {time.monotonic() - started:.0f} s", end="", flush=True)
        if shown:
            print("\r" + " " * 30 + "\r", end="", flush=True)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _say_retired(model_ids: Iterable[str]) -> None:
    """One information line (stdout) per retired model about to be used, naming what to use instead."""
    for model_id in dict.fromkeys(model_ids):
        text = retirement_notice(model_id)
        if text is not None:
            print(f"note: {text}", flush=True)


def _fail(message: str, code: int) -> int:
    print(f"together-magic: error: {message}", file=sys.stderr)
    return code


def _info(args: argparse.Namespace) -> int:
    if args.check:
        return check()
    if args.models and args.markdown:
        print(models_markdown())
        return 0
    if args.models:
        print(models_text())
        return 0
    settings = resolve_settings()
    config = Imagine()
    print(f"together-magic {VERSION}")
    where = "offline (in-process procedural renderer)" if settings.offline else public_url(settings.base_url)
    print(f"backend: {where}")
    print(f"api key: {'set (TOGETHER_API_KEY)' if settings.api_key else 'not set'}")
    for name in sorted(config.trait_names(config=True)):
        print(f"Imagine.{name} = {getattr(config, name)!r}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from .check import run_check_command  # the preflight loads only for this command

    return run_check_command(args)


def _history(args: argparse.Namespace) -> int:
    try:
        result = run_history(args, Imagine())
    except OptionError as exc:
        return _fail(str(exc), 2)
    except StoreError as exc:  # the cache folder is a file, read-only, on a full disk...
        return _fail(str(exc), 1)
    if isinstance(result, str):
        print(result)
    elif args.json:
        if result.records:
            print(as_json(result))
    else:
        print(repr(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    tolerant_output()
    args = build_parser().parse_args(argv)
    handlers = {
        "serve": _serve,
        "class": _class,
        "demo": _demo,
        "generate": _generate,
        "batch": run_batch_command,
        "check": _check,
        "history": _history,
        "info": _info,
        "models": run_models_command,
    }
    real = sys.stdout  # None when started with stdout closed (``>&-``): print() then writes nothing
    if real is not None:
        sys.stdout = cast(TextIO, ReaderMayLeave(real))
    try:
        code = handlers[args.command](args)
        if sys.stdout is not None:
            sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout = real


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
