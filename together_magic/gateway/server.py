"""``together-magic serve --upstream URL``: the gateway's flags, its checks, and uvicorn with N workers.

Everything that can be wrong is found before anything listens (one line, exit 2): a flag, a missing key, a
TLS file, an address. Then the socket is bound (so "serving on" is only printed when true), the class data
is prepared, and uvicorn runs the app factory :func:`together_magic.gateway.app.from_environment` in each
worker; the settings reach the workers as JSON in the environment, the key as ``TOGETHER_API_KEY``, which
they inherit: it is never on a command line, in a file or in the settings.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import inspect
import ipaddress
import logging
import os
import socket
import ssl
import sys
from typing import Any

from ..errors import OptionError
from ..offline.behaviour import DEFAULT_RATE_LIMIT
from ..offline.server import _client_host, _listen, _resolve
from ..store.store import StoreError
from .roster import Roster
from .settings import (
    DEFAULT_FALLBACK_RATE,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_STUDENT_RATE,
    DEFAULT_UPSTREAM_RATE,
    FALLBACKS,
    KEY_ENV,
    SETTINGS_ENV,
    GatewaySettings,
    default_data_dir,
)

__all__ = ["add_gateway_arguments", "misplaced_gateway_flags", "run_gateway"]

APP = "together_magic.gateway.app:from_environment"
PROTOCOL = "together_magic.gateway.protocol:GuardedH11"
HEADER_BYTES = 16 * 1024
"""The most a request's line and headers may hold (h11's own default, stated): a token, a host, a length."""
KEEP_ALIVE = 5
"""Seconds an idle kept-alive connection stays open (uvicorn's default, stated)."""
_NO_UVICORN = "together-magic serve needs uvicorn: pip install 'together-magic[server]'"
_GATEWAY_ONLY = (
    "cache_mb",
    "workers",
    "data",
    "fallback",
    "upstream_rate",
    "class_budget",
    "allow_unsafe",
    "student_rate",
    "fallback_rate",
    "read_timeout",
    "max_connections",
    "ssl_keyfile",
    "ssl_certfile",
)
_OFFLINE_ONLY = {
    "require_key": None,
    "latency": 0.0,
    "fail_rate": 0.0,
    "fault_seed": None,
    "slow_seconds": 30.0,
    "rate_limit": DEFAULT_RATE_LIMIT,
    "models": None,
}


def _whole(low: int, high: int) -> Any:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return convert


def _decimal(low: float, high: float, unit: str, noun: str, prefix: str = "") -> Any:
    """An argparse type: a number from ``low`` to ``high`` (never nan or inf), said in ``unit``."""

    def convert(text: str) -> float:
        try:
            value = float(text.strip().removeprefix(prefix))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not low <= value <= high:  # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"must be {unit} from {low:g} to {high:.0f}, got {text}")
        return value

    return convert


_dollars = _decimal(0, 1_000_000, "dollars", "an amount of dollars", prefix="$")
_seconds = _decimal(0.1, 3600, "seconds", "a number of seconds")


def add_gateway_arguments(parser: argparse.ArgumentParser) -> None:
    """The classroom gateway's flags of ``serve`` (they need ``--upstream``)."""
    group = parser.add_argument_group("classroom gateway (together-magic class ... manages the students)")
    group.add_argument(
        "--upstream",
        metavar="URL",
        help="forward image requests to this Together-compatible endpoint with the key in TOGETHER_API_KEY "
        "(e.g. https://api.together.ai, or offline); students use class tokens",
    )
    group.add_argument(
        "--workers", type=_whole(1, 64), default=None, metavar="N", help="worker processes (default 1)"
    )
    group.add_argument(
        "--data", metavar="DIR", default=None, help=f"class data (default {default_data_dir()})"
    )
    group.add_argument(
        "--fallback",
        choices=FALLBACKS,
        default=None,
        help="answer with the offline renderer when the upstream fails or a budget is spent",
    )
    group.add_argument(
        "--upstream-rate",
        type=_whole(1, 1_000_000),
        default=None,
        metavar="N_PER_MIN",
        help=f"requests per minute the whole class may send upstream (default {DEFAULT_UPSTREAM_RATE})",
    )
    group.add_argument(
        "--class-budget", type=_dollars, default=None, metavar="DOLLARS", help="dollars the class may spend"
    )
    group.add_argument(
        "--cache-mb",
        type=_whole(1, 10**7),
        default=None,
        metavar="MB",
        help="keep the class data (images, database with the wall, its log) under this size (default 2000)",
    )
    group.add_argument(
        "--allow-unsafe",
        action="store_const",
        const=True,
        default=None,
        help="let students send disable_safety_checker (off: the gateway refuses it; the safety checker "
        "stays on for every request)",
    )
    for flag, kind, metavar, text in (
        ("--student-rate", _whole(1, 1_000_000), "N_PER_MIN",
         f"requests per minute each student may send, cache hits included (default {DEFAULT_STUDENT_RATE})"),
        ("--fallback-rate", _whole(1, 1_000_000), "MP_PER_MIN",
         "offline fallback megapixels per minute per student: a 1024x1024 image counts 1 "
         f"(default {DEFAULT_FALLBACK_RATE})"),
        ("--read-timeout", _seconds, "SECONDS",
         "seconds a client has for a request's headers and for each part of its body; the whole body "
         f"gets 3x (default {DEFAULT_READ_TIMEOUT:g})"),
        ("--max-connections", _whole(8, 100_000), "N",
         f"open connections per worker; more are closed at once (default {DEFAULT_MAX_CONNECTIONS})"),
    ):  # fmt: skip
        group.add_argument(flag, type=kind, default=None, metavar=metavar, help=text)
    group.add_argument("--ssl-keyfile", metavar="FILE", default=None, help="TLS key (with --ssl-certfile)")
    group.add_argument("--ssl-certfile", metavar="FILE", default=None, help="TLS certificate chain")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def misplaced_gateway_flags(args: argparse.Namespace) -> str | None:
    """The usage line for a gateway flag given without ``--upstream`` (the offline server ignores them)."""
    for name in _GATEWAY_ONLY:
        if getattr(args, name, None) is not None:
            return f"argument {_flag(name)}: only with --upstream URL (the classroom gateway)"
    return None


def _usage_error(message: str) -> int:
    print(f"together-magic serve: error: {message} (see --help)", file=sys.stderr)
    return 2


def _tls(args: argparse.Namespace) -> str | None:
    """Why the TLS files cannot be used, or None (checked here so uvicorn never fails in a worker)."""
    key, cert = args.ssl_keyfile, args.ssl_certfile
    if (key is None) != (cert is None):
        return "argument --ssl-keyfile/--ssl-certfile: give both, or neither"
    if key is None:
        return None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        return f"argument --ssl-certfile: cannot use {cert} with {key}: {reason}"
    return None


def _settings(args: argparse.Namespace) -> GatewaySettings | str:
    for name, default in _OFFLINE_ONLY.items():
        if getattr(args, name, default) != default:
            extra = " (use --upstream-rate for the class's pace)" if name == "rate_limit" else ""
            return f"argument {_flag(name)}: only for the offline server, not with --upstream{extra}"
    try:
        return GatewaySettings(
            upstream=args.upstream,
            data=args.data or default_data_dir(),
            fallback=args.fallback,
            upstream_rate=args.upstream_rate or DEFAULT_UPSTREAM_RATE,
            class_budget=args.class_budget,
            cache_mb=args.cache_mb or GatewaySettings.cache_mb,
            allow_unsafe=bool(args.allow_unsafe),
            student_rate=args.student_rate or DEFAULT_STUDENT_RATE,
            fallback_rate=args.fallback_rate or DEFAULT_FALLBACK_RATE,
            read_timeout=args.read_timeout or DEFAULT_READ_TIMEOUT,
            max_connections=args.max_connections or DEFAULT_MAX_CONNECTIONS,
        )
    except OptionError as exc:
        return f"argument {exc}"


def run_gateway(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if isinstance(settings, str):
        return _usage_error(settings)
    key = (os.environ.get(KEY_ENV) or "").strip() or None
    if key is not None and not (key.isascii() and key.isprintable()):
        return _usage_error(f"{KEY_ENV} contains characters that cannot be sent in an HTTP header")
    if key is None and settings.label == "together":
        return _usage_error(
            f"--upstream {settings.upstream} needs the teacher's key: export {KEY_ENV} in this shell "
            "(it never leaves this server)"
        )
    problem = _tls(args)
    if problem:
        return _usage_error(problem)
    if importlib.util.find_spec("uvicorn") is None:
        print(f"together-magic: error: {_NO_UVICORN}", file=sys.stderr)
        return 1
    host = str(args.host).strip()
    try:
        if not host:
            raise OSError("give an interface address or name, e.g. 127.0.0.1")
        family, address = _resolve(host, args.port)
    except (OSError, UnicodeError) as exc:
        return _usage_error(f"argument --host: cannot use {host!r}: {getattr(exc, 'strerror', None) or exc}")
    try:
        roster = Roster(settings.data)
        teacher = roster.first_teacher_token()
        roster.close()
    except (StoreError, OSError) as exc:
        print(f"together-magic serve: error: class data in {settings.data}: {exc}", file=sys.stderr)
        return 1
    try:
        sock = _listen(family, address)
    except OSError as exc:
        print(f"together-magic serve: error: cannot listen on {host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    secure = args.ssl_certfile is not None
    if not secure and not ipaddress.ip_address(address[0]).is_loopback:
        print(
            f"together-magic serve: warning: --host {host} without --ssl-certfile: class tokens cross the "
            "network unencrypted",
            file=sys.stderr,
            flush=True,
        )
    scheme = "https" if secure else "http"
    root = f"{scheme}://{_client_host(host, address[0])}:{args.port}"
    remote = f"{scheme}://{_address_for_others(address[0])}:{args.port}"
    _announce(settings, root, args.workers or 1, key is not None, teacher, students=remote)
    os.environ[SETTINGS_ENV] = settings.to_json()
    try:
        _run(args, sock, settings)
    finally:
        sock.close()
    return 0


def _address_for_others(bound: str) -> str:
    """What students on other machines type: a wildcard bind is reached at this machine's address on the
    network (the interface of its default route, found without sending anything), else its host name."""
    ip = ipaddress.ip_address(bound)
    if not ip.is_unspecified:
        return f"[{bound}]" if ip.version == 6 else bound
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    probe = (
        "192.0.2.1" if ip.version == 4 else "2001:db8::1"
    )  # documentation addresses: a UDP connect sends nothing
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect((probe, 9))
            found = ipaddress.ip_address(udp.getsockname()[0])
        if not found.is_loopback and not found.is_unspecified:
            return f"[{found}]" if found.version == 6 else str(found)
    except OSError:
        pass
    return socket.gethostname() or "<this machine's address>"


def _announce(
    settings: GatewaySettings, root: str, workers: int, keyed: bool, teacher: str | None, *, students: str
) -> None:
    data = f" --data {settings.data}" if settings.data != default_data_dir() else ""
    wall = (
        f"class wall: {root}/class?token={teacher}  (the teacher token, shown once; "
        f"'together-magic class teacher{data}' makes a new one)"
        if teacher
        else f"class wall: {root}/class  (open it with your teacher token; "
        f"'together-magic class teacher{data}' makes a new one)"
    )
    key = f"with the key in {KEY_ENV} (never shown, never stored)" if keyed else "without a key"
    safety = (
        "off when a student asks (--allow-unsafe)"
        if settings.allow_unsafe
        else "on for every request (--allow-unsafe lets students turn it off)"
    )
    print(
        f"together-magic classroom gateway: images from {settings.upstream} {key}\n"
        f"serving on {root} ({workers} worker{'s' if workers > 1 else ''}; class data in {settings.data}, "
        f"at most {settings.cache_mb} MB; upstream pace: {settings.upstream_rate} per minute; "
        f"per student: {settings.student_rate} requests a minute; fallback: {settings.fallback or 'none'})\n"
        f"safety checker: {safety}\n"
        f"students: export TOGETHER_BASE_URL={students} TOGETHER_API_KEY=<their token from "
        f"'together-magic class add NAME{data}'>\n{wall}",
        flush=True,
    )


class HideQueries(logging.Filter):
    """Cut the query string from uvicorn's access lines: ``/class?token=`` carries the teacher's token
    (and a client may put its own in a query); ``--log-level debug`` must not write them to a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{arg.partition('?')[0]}?..." if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


def _run(args: argparse.Namespace, sock: Any, settings: GatewaySettings) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    workers = args.workers or 1
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # applied again in every worker process
    log_config.setdefault("filters", {})["hide_queries"] = {"()": f"{__name__}.HideQueries"}
    log_config["handlers"]["access"]["filters"] = ["hide_queries"]
    config = uvicorn.Config(
        APP,
        factory=True,
        workers=workers,
        log_level=args.log_level,
        log_config=log_config,
        access_log=args.log_level == "debug",
        lifespan="on",
        http=PROTOCOL,  # uvicorn's h11 with a header deadline and a connection limit (see protocol)
        h11_max_incomplete_event_size=HEADER_BYTES,
        timeout_keep_alive=KEEP_ALIVE,
        limit_concurrency=settings.max_connections + 1,  # protocol closes connections past the limit
        ssl_keyfile=args.ssl_keyfile,
        ssl_certfile=args.ssl_certfile,
    )
    server = uvicorn.Server(config)
    if workers == 1:
        server.run(sockets=[sock])
    elif "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.50
        Multiprocess(config, target=server.run, sockets=[sock]).run()  # type: ignore[call-arg]
    else:
        Multiprocess(config, sockets=[sock]).run()
