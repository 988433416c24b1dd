"""``together-magic class add|list|revoke|teacher``: the teacher's side of the classroom gateway.

They work on the gateway's data folder directly (the same SQLite file the running gateway uses, safely
shared), so they work whether or not the gateway is running, and a revocation holds on its next request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Any

from ..errors import OptionError
from ..store.store import StoreError
from .roster import Roster, Usage, dollars, parse_expiry
from .server import _dollars, _whole
from .settings import default_data_dir

__all__ = ["DEFAULT_IMAGES", "add_class_commands", "run_class"]

DEFAULT_IMAGES = 20
"""Images per student when ``class add`` is not given ``--images``."""


def _data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", metavar="DIR", default=None, help=f"the gateway's class data (default {default_data_dir()})"
    )


def add_class_commands(commands: Any) -> None:
    """Add the ``class`` group to the CLI's sub-commands (``commands`` is argparse's subparsers action)."""
    group = commands.add_parser(
        "class", help="students' tokens and budgets for the classroom gateway (serve --upstream)"
    )
    sub = group.add_subparsers(dest="class_command", required=True, parser_class=type(group))
    add = sub.add_parser("add", help="add a student and print their token (shown once)")
    add.add_argument("name", metavar="NAME", help="the student's name, as the wall shows it")
    add.add_argument(
        "--images",
        type=_whole(0, 1_000_000),
        default=DEFAULT_IMAGES,
        metavar="N",
        help=f"images they may make upstream (default {DEFAULT_IMAGES}; cached images are free)",
    )
    add.add_argument(
        "--budget", type=_dollars, default=None, metavar="DOLLARS", help="dollars they may spend"
    )
    add.add_argument("--expires", default=None, metavar="DATE", help="last day (YYYY-MM-DD) the token works")
    _data(add)
    listing = sub.add_parser("list", help="the class: usage, last seen, expired or revoked")
    _data(listing)
    revoke = sub.add_parser("revoke", help="revoke a student's token now (their next request gets 401)")
    revoke.add_argument("name", metavar="NAME")
    _data(revoke)
    teacher = sub.add_parser("teacher", help="a new teacher token for the class wall (/class)")
    _data(teacher)


def _fail(message: str, code: int) -> int:
    print(f"together-magic class: error: {message}", file=sys.stderr)
    return code


def run_class(args: argparse.Namespace) -> int:
    roster = Roster(args.data or default_data_dir())
    try:
        return _COMMANDS[args.class_command](roster, args)
    except OptionError as exc:
        return _fail(str(exc), 2)
    except StoreError as exc:
        return _fail(str(exc), 1)
    finally:
        roster.close()


def _limits(images: int | None, budget: float | None, expires: float | None) -> str:
    parts = [
        "no image limit" if images is None else f"{images} images",
        "no dollar limit" if budget is None else dollars(round(budget * 1_000_000)),
        "no expiry"
        if expires is None
        else "until " + dt.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M"),
    ]
    return ", ".join(parts)


def _add(roster: Roster, args: argparse.Namespace) -> int:
    expires = None if args.expires is None else parse_expiry(args.expires)
    token = roster.add(args.name, images=args.images, budget=args.budget, expires=expires)
    name = args.name.strip()
    print(f"added {name} ({_limits(args.images, args.budget, expires)})")
    print(f"token for {name} (shown only now): {token}")
    print(
        f"{name} connects with: export TOGETHER_BASE_URL=http://<gateway address>:<port> "
        f"TOGETHER_API_KEY={token}"
    )
    return 0


def _when(moment: float | None) -> str:
    return "never" if moment is None else dt.datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M")


def _row(u: Usage, now: float) -> list[str]:
    images = f"{u.images_used}" if u.images_limit is None else f"{u.images_used} of {u.images_limit}"
    spent = dollars(u.micros_used)
    money = spent if u.budget_micros is None else f"{spent} of {dollars(u.budget_micros)}"
    return [u.name, images, money, str(u.cached), str(u.offline), str(u.refused), _when(u.last_seen),
            u.status(now)]  # fmt: skip


def _list(roster: Roster, args: argparse.Namespace) -> int:
    usage = roster.usage()
    if not usage:
        print("no students yet: add one with together-magic class add NAME")
        return 0
    now = time.time()
    rows = [["name", "images", "dollars", "cached", "offline", "refused", "last seen", "status"]]
    rows += [_row(u, now) for u in usage]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _revoke(roster: Roster, args: argparse.Namespace) -> int:
    if not roster.revoke(args.name):
        return _fail(
            f"no active student named {args.name.strip()!r} (together-magic class list shows them)", 1
        )
    print(f"revoked {args.name.strip()}: their token is refused from the next request on")
    return 0


def _teacher(roster: Roster, args: argparse.Namespace) -> int:
    token = roster.new_teacher_token()
    print(f"new teacher token (the previous one no longer opens the wall): {token}")
    print(f"open the wall at http://<gateway address>:<port>/class?token={token}")
    return 0


_COMMANDS = {"add": _add, "list": _list, "revoke": _revoke, "teacher": _teacher}
