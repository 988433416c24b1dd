"""``together-magic serve``: its arguments, their checks, and the uvicorn server (the ``server`` extra).

Every flag value is checked before anything starts, by the same rules as :class:`BackendOptions` (which
holds them), so a nonsense value (``--rate-limit -1``, ``--latency nan``) is one usage line and exit 2,
never a server that answers 500 to every request.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from ..models import STRICT_ENV, is_on
from .backend import DEFAULT_RATE_LIMIT, FAULTS, RENDERER_NOTICE, BackendOptions, FlagError, OfflineBackend
from .faults import DEFAULT_FAULTS
from .retired import RETIRED_HEADER

__all__ = ["MissingServerExtra", "add_serve_arguments", "run_serve", "serve"]

KEY_ENV = "TOGETHER_MAGIC_REQUIRE_KEY"
_NO_UVICORN = "together-magic serve needs uvicorn: pip install 'together-magic[server]'"


class MissingServerExtra(RuntimeError):
    pass


def _checked(option: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: parse the text, then let :class:`BackendOptions` judge the value."""

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid value: {text!r}") from None
        try:
            BackendOptions(**{option: value})
        except FlagError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None
        return value

    convert.__name__ = option  # argparse names the type in some messages
    return convert


def _faults(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``serve``; each value is checked as it is parsed (one line and exit 2 when wrong)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--require-key",
        type=_checked("require_key", str),
        metavar="KEY",
        help=f"answer 401 unless this bearer key is sent (or set {KEY_ENV})",
    )
    parser.add_argument(
        "--latency",
        type=_checked("latency", float),
        default=0.0,
        metavar="SECONDS",
        help="extra seconds before each generation answers (0-3600)",
    )
    parser.add_argument(
        "--fail-rate",
        type=_checked("fail_rate", float),
        default=0.0,
        metavar="P",
        help="fraction of generation requests answered with a fault (0-1, default 0)",
    )
    parser.add_argument(
        "--faults",
        type=_checked("faults", _faults),
        default=DEFAULT_FAULTS,
        metavar="KINDS",
        help=f"comma-separated faults for --fail-rate: {','.join(FAULTS)} "
        f"(default {','.join(DEFAULT_FAULTS)})",
    )
    parser.add_argument(
        "--fault-seed", type=int, default=None, help="seed for choosing faults (reproducible runs)"
    )
    parser.add_argument(
        "--slow-seconds",
        type=_checked("slow_seconds", float),
        default=30.0,
        help="how long a 'slow' fault waits (0-3600, default 30)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_checked("rate_limit", int),
        default=DEFAULT_RATE_LIMIT,
        metavar="N_PER_MIN",
        help=f"answer 429 with Retry-After beyond N generation requests per rolling minute "
        f"(default {DEFAULT_RATE_LIMIT}; always advertised in x-ratelimit-* headers)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help=f"answer retired models as Together's cloud does now, 404 model_not_available (or set "
        f"{STRICT_ENV}=1); without it they still render, with an {RETIRED_HEADER} header",
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def _bare(host: str) -> str:
    """``[::1]`` -> ``::1``; anything else as it is (an unbalanced bracket stays, and fails to resolve)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The address to bind for ``--host``: an IP literal or a name; raises OSError when there is none."""
    family, _, _, _, address = socket.getaddrinfo(
        _bare(host), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, (str(address[0]), int(address[1]))


def _listen(family: socket.AddressFamily, address: tuple[str, int]) -> socket.socket:
    """Bind before saying anything, so "serving on" is only ever printed when it is true."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # every answer on a kept-alive connection waits ~40 ms (Nagle's algorithm meets the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _client_host(host: str, address: str) -> str:
    """The host a client on this machine should use: a wildcard bind is reached on loopback."""
    ip = ipaddress.ip_address(address)
    if ip.is_unspecified:
        return "127.0.0.1" if ip.version == 4 else "[::1]"
    if _bare(host) == address:
        return f"[{address}]" if ip.version == 6 else address
    return host  # a name, as the user gave it


def _usage_error(message: str) -> int:
    print(f"together-magic serve: error: {message} (see --help)", file=sys.stderr)
    return 2


def run_serve(args: argparse.Namespace) -> int:
    """Check the flags (again: ``args`` may not come from :func:`add_serve_arguments`), say where, serve."""
    key = args.require_key or os.environ.get(KEY_ENV) or None
    if not isinstance(args.port, int) or isinstance(args.port, bool) or not 1 <= args.port <= 65535:
        return _usage_error(f"argument --port: must be a port number from 1 to 65535, got {args.port!r}")
    try:
        options = BackendOptions(
            require_key=key,
            latency=args.latency,
            fail_rate=args.fail_rate,
            faults=tuple(args.faults),
            rate_limit=DEFAULT_RATE_LIMIT if args.rate_limit is None else args.rate_limit,
            slow_seconds=args.slow_seconds,
            fault_seed=args.fault_seed,
            strict=bool(getattr(args, "strict", None) or is_on(os.environ.get(STRICT_ENV))),
        )
    except FlagError as exc:
        where = f"{KEY_ENV}" if exc.option == "--require-key" and not args.require_key else exc.option
        return _usage_error(f"argument {where}: {str(exc).split(': ', 1)[1]}")
    if importlib.util.find_spec("uvicorn") is None:
        print(f"together-magic: error: {_NO_UVICORN}", file=sys.stderr)
        return 1
    host = str(args.host).strip()
    try:
        if not host:
            raise OSError("give an interface address or name, e.g. 127.0.0.1")
        family, address = _resolve(host, args.port)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return _usage_error(f"argument --host: cannot use {host!r}: {reason}")
    if not key and not ipaddress.ip_address(address[0]).is_loopback:
        print(
            f"together-magic serve: warning: --host {host} can be reached from other machines and no "
            "--require-key is set: anyone who reaches this port can use it",
            file=sys.stderr,
            flush=True,
        )
    try:
        sock = _listen(family, address)
    except OSError as exc:
        print(
            f"together-magic serve: error: cannot listen on {host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    root = f"http://{_client_host(host, address[0])}:{args.port}"
    print(
        f"{RENDERER_NOTICE}\n"
        f"serving on {root} (key required: {'yes' if key else 'no'}; "
        f"rate limit: {options.rate_limit} requests per minute; "
        f"retired models: {'404, as the cloud' if options.strict else 'answered, marked retired'})\n"
        f"use it with: export TOGETHER_BASE_URL={root}\n"
        f"  one value for together-magic, the Python SDK 3 (it adds /v1), the TypeScript SDK, SDK 1.x and\n"
        f"  curl (they post to {root}/images/generations, also answered here;"
        f" {root}/v1 suits all but the Python SDK 3)",
        flush=True,
    )
    try:
        serve(host, args.port, options, log_level=args.log_level, sock=sock)
    except MissingServerExtra as exc:
        print(f"together-magic: error: {exc}", file=sys.stderr)
        return 1
    finally:
        sock.close()
    return 0


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    options: BackendOptions | None = None,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Run until interrupted (on ``sock`` when given, already bound). Loopback by default: this is a
    teaching and testing tool."""
    try:
        import uvicorn
    except ImportError:
        raise MissingServerExtra(_NO_UVICORN) from None
    from .app import create_app

    app = create_app(OfflineBackend(options))
    # Faults raise on purpose to cut connections; keep uvicorn from printing a traceback for each one.
    logging.getLogger("uvicorn.error").addFilter(
        lambda record: "fault injection" not in str(record.exc_info[1] if record.exc_info else "")
    )
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="off", access_log=log_level == "debug"
    )
    uvicorn.Server(config).run(sockets=None if sock is None else [sock])
