"""``together-magic class add|grant|list|revoke|teacher``: the teacher's side of the classroom gateway.

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
from .handout import read_roster, tokens_file, write_tokens
from .roster import Roster, Usage, dollars, new_tokens, parse_expiry
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
    add = sub.add_parser(
        "add", help="add a student and print their token (shown once), or a whole --roster into a file"
    )
    add.add_argument("name", metavar="NAME", nargs="?", help="the student's name, as the wall shows it")
    add.add_argument(
        "--roster",
        metavar="FILE",
        default=None,
        help="add every name in FILE (one per line, or a CSV with a 'name' column); names already in "
        "the class are skipped",
    )
    add.add_argument(
        "--tokens",
        metavar="FILE",
        default=None,
        help="with --roster: write the tokens here (default <roster>-tokens.csv; never over a file)",
    )
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
    grant = sub.add_parser("grant", help="give a student (or --all) more images or dollars, at once")
    grant.add_argument("name", metavar="NAME", nargs="?", help="the student (class list shows the names)")
    grant.add_argument("--all", action="store_true", help="every student whose token is not revoked")
    grant.add_argument(
        "--images", type=_whole(1, 1_000_000), default=None, metavar="N", help="this many more images"
    )
    grant.add_argument(
        "--budget", type=_dollars, default=None, metavar="DOLLARS", help="this many more dollars"
    )
    _data(grant)
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
    if (args.name is None) == (args.roster is None):
        raise OptionError("NAME: give a student's name, or --roster FILE for many (not both)")
    if args.tokens is not None and args.roster is None:
        raise OptionError("--tokens: only with --roster FILE (one student's token is printed)")
    expires = None if args.expires is None else parse_expiry(args.expires)
    limits = _limits(args.images, args.budget, expires)
    if args.roster is not None:
        return _add_roster(roster, args, expires, limits)
    token = roster.add(args.name, images=args.images, budget=args.budget, expires=expires)
    name = args.name.strip()
    print(f"added {name} ({limits})")
    print(f"token for {name} (shown only now): {token}")
    print(f"{name} connects with: {_CONNECT.format(token=token)}")
    return 0


_CONNECT = "export TOGETHER_BASE_URL=http://<gateway address>:<port> TOGETHER_API_KEY={token}"


def _add_roster(roster: Roster, args: argparse.Namespace, expires: float | None, limits: str) -> int:
    """The roster's names, less those already in the class (said, and skipped), added in one go, their
    tokens written to a new private file first (see ``handout``): never printed."""
    names = read_roster(args.roster)
    present = roster.active_names()
    skipped = [name for name in names if name in present]
    if skipped:
        print(
            f"already in the class, skipped ({len(skipped)}): {', '.join(skipped)} "
            "(together-magic class grant NAME gives one of them more)"
        )
    students = new_tokens([name for name in names if name not in present])
    if not students:
        print("nothing to add: every name in the roster is already in the class")
        return 0
    written = write_tokens(tokens_file(args.roster, args.tokens), students)
    try:
        roster.add_many(students, images=args.images, budget=args.budget, expires=expires)
    except BaseException:
        written.unlink(missing_ok=True)  # ours, just written: its tokens were never added
        raise
    count = len(students)
    print(f"added {count} student{'s' if count != 1 else ''} ({limits} each)")
    print(
        f"their tokens are in {written} (readable only by you, printed nowhere): hand each student "
        "their own line"
    )
    print(f"each connects with: {_CONNECT.format(token='<their token>')}")
    return 0


def _grant(roster: Roster, args: argparse.Namespace) -> int:
    if (args.name is None) == (not args.all):
        raise OptionError("NAME: give a student's name, or --all for the whole class (not both)")
    if args.images is None and args.budget is None:
        raise OptionError("grant: give --images N, --budget DOLLARS or both (what to add)")
    granted = roster.grant(None if args.all else args.name, images=args.images, budget=args.budget)
    if not granted:
        print("nothing granted: the class has no active students (together-magic class add NAME)")
        return 0
    added = []
    if args.images is not None:
        added.append(f"{args.images} more image{'s' if args.images != 1 else ''}")
    if args.budget is not None:
        added.append(f"{dollars(round(args.budget * 1_000_000))} more")
    what = " and ".join(added)
    now = time.time()
    if args.all:
        print(f"granted {what} to each of {len(granted)} students (revoked ones are left out)")
    else:
        _, images, money, *_, status = _row(granted[0], now)
        print(f"granted {granted[0].name} {what}: now {images} images, {money} ({status})")
    unlimited = [
        u.name
        for u in granted
        if (args.images is not None and u.images_limit is None)
        or (args.budget is not None and u.budget_micros is None)
    ]
    if unlimited:
        print(f"nothing changed for {', '.join(unlimited)}: that limit was never set (no limit)")
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


_COMMANDS = {"add": _add, "grant": _grant, "list": _list, "revoke": _revoke, "teacher": _teacher}
