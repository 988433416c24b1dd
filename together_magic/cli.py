"""The ``together-magic`` command: ``serve`` the offline backend, ``demo`` a few images, ``info``.

Errors are one line on stderr and a non-zero exit code: the command runs in classrooms and CI logs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__

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
            import difflib

            from .request import OPTIONS

            unknown = message.split(": ", 1)[1].split()[0]
            known = [flag for flags, _ in OPTIONS for flag in flags if flag.startswith("--")]
            close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
            if close:
                message = f"unknown option {unknown}; did you mean {close[0]}?"
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="together-magic", description="Together AI images from Jupyter, online or offline.")
    parser.add_argument("--version", action="version", version=f"together-magic {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the offline, Together-compatible images endpoint")
    from .offline.server import add_serve_arguments

    add_serve_arguments(serve)

    demo = commands.add_parser("demo", help="generate a few sample images and say where they are")
    demo.add_argument("--out", default="out/demo", help="folder for the images (default out/demo)")
    demo.add_argument("--model", default=None, help="model id (default FLUX.1 schnell)")
    demo.add_argument("--seed", type=int, default=42, help="seed for every prompt (default 42)")
    demo.add_argument("--size", type=int, default=768, help="width and height in pixels (default 768)")

    generate = commands.add_parser(
        "generate",
        help="generate images with the same options as %%%%imagine and save them",
        description="Options are the ones of %%imagine; images are saved (default folder: images).",
    )
    from .request import add_options

    add_options(generate)

    commands.add_parser("info", help="version, backend in use and configuration (never the key)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from .offline.server import run_serve

    return run_serve(args)


def _demo(args: argparse.Namespace) -> int:
    from .client import Together
    from .errors import TogetherError
    from .files import save_response
    from .offline import DEFAULT_MODEL

    out = Path(args.out)
    model = args.model or DEFAULT_MODEL
    with Together() as client:
        where = "the offline backend" if client.offline else client.base_url
        print(f"generating {len(DEMO_PROMPTS)} images with {model} on {where}", flush=True)
        for number, prompt in enumerate(DEMO_PROMPTS, start=1):
            started = time.perf_counter()
            try:
                response = client.images.generate(
                    prompt=prompt, model=model, seed=args.seed, width=args.size, height=args.size
                )
            except TogetherError as exc:
                print(f"together-magic: error: {exc}", file=sys.stderr)
                return 1
            paths = save_response(response, out)  # the same names and embedded parameters as --save
            took = time.perf_counter() - started
            for path in paths:
                print(f"[{number}/{len(DEMO_PROMPTS)}] {took:.2f} s  {path}", flush=True)
    print(f"done: the images are in {out.resolve()}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    import asyncio
    import threading

    from .config import Imagine
    from .display import captions
    from .errors import TogetherError
    from .files import save_response
    from .request import OptionError, build_plan
    from .runner import close_loop_client, generate

    config = Imagine()
    try:
        if args.no_interpolate is False and "{{" in " ".join(args.prompt):
            raise OptionError("{{ }} needs a notebook namespace; in the shell, use your shell's variables")
        plan = build_plan(args, " ".join(args.prompt), config=config)
    except OptionError as exc:
        print(f"together-magic: error: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def progress() -> None:
        started = time.monotonic()
        while not done.wait(1.0):
            if sys.stderr.isatty():
                print(
                    f"\rgenerating... {time.monotonic() - started:.0f} s", end="", file=sys.stderr, flush=True
                )
        if sys.stderr.isatty():
            print("\r" + " " * 30 + "\r", end="", file=sys.stderr, flush=True)

    async def run() -> Any:
        try:
            return await generate(plan, config)
        finally:
            await close_loop_client()

    request = plan.request
    print(
        f"generating {request.n} image(s) with {request.model}, seed {request.seed}",
        file=sys.stderr,
        flush=True,
    )
    ticker = threading.Thread(target=progress, daemon=True)
    ticker.start()
    try:
        response = asyncio.run(run())
    except TogetherError as exc:
        print(f"together-magic: error: {exc}", file=sys.stderr)
        return 1
    finally:
        done.set()
        ticker.join()
    try:
        response._saved = save_response(response, plan.save or Path("images"))
    except OSError as exc:
        print(f"together-magic: error: could not save: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for line in captions(response):
        print(line)
    return 0


def _info(_: argparse.Namespace) -> int:
    from .client import resolve_settings
    from .config import Imagine

    settings = resolve_settings()
    config = Imagine()
    print(f"together-magic {__version__}")
    print(f"backend: {'offline (in-process procedural renderer)' if settings.offline else settings.base_url}")
    print(f"api key: {'set (TOGETHER_API_KEY)' if settings.api_key else 'not set'}")
    for name in sorted(config.trait_names(config=True)):
        print(f"Imagine.{name} = {getattr(config, name)!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"serve": _serve, "demo": _demo, "generate": _generate, "info": _info}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
