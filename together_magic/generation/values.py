"""Typed values of the line and of requests: numbers as the options take them, and what JSON can carry.

``line`` reads option text through these (every message names the option); ``plan`` checks the finished
request with ``json_problem`` before anything is sent, whichever front door the values came in by.
"""

from __future__ import annotations

import math
from typing import Any

from .. import models
from ..errors import OptionError

__all__ = ["MAX_JSON_DEPTH", "check_rpm", "depth", "integer", "json_problem", "number", "positive", "rate"]

MAX_JSON_DEPTH = 32
"""The deepest JSON a ``-p`` value may be: far beyond any API field, far below a recursion limit."""


def integer(option: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise OptionError(f"{option} must be a whole number, got {value!r}") from None


def positive(option: str, value: str | None) -> int | None:
    given = integer(option, value)
    if given is not None and given < 1:
        raise OptionError(f"{option} must be 1 or more, got {given}")
    return given


def number(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        parsed = float(value.strip())
    except ValueError:
        raise OptionError(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(parsed):
        raise OptionError(f"{option} must be a finite number, got {value!r}")
    return parsed


def rate(option: str, value: str | None) -> float | None:
    given = number(option, value)
    return None if given is None else check_rpm(given, option)


def check_rpm(value: object, option: str = "--rpm") -> float:
    """Requests a minute: any number from one an hour up (``0.5`` is one every two minutes), whole ones
    kept whole; a pace slower than ``models.MIN_RPM`` would wait longer than anyone watches a batch."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or math.isinf(value):
        shown = f"{value:g}" if isinstance(value, float) else repr(value)
        raise OptionError(f"{option} must be more than 0 requests a minute, got {shown}")
    if value < models.MIN_RPM:
        raise OptionError(
            f"{option} {value:g} would wait {1 / value:,.0f} minutes between requests; the slowest pace is "
            f"{models.MIN_RPM:.4f} (one request an hour)"
        )
    return int(value) if float(value).is_integer() else float(value)


def depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def json_problem(value: Any) -> str | None:
    """What in ``value`` JSON cannot carry (a NaN or infinite number, however deeply nested; an object that
    is not JSON at all), said in words, or None. Checked before anything is sent, for every front door."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            at = f" at {where}" if where else ""
            return f"{item!r}{at} is not a number JSON can carry; use a finite number"
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"the key {key!r}{f' at {where}' if where else ''} is not text, which JSON needs"
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
        elif item is not None and not isinstance(item, str | int | float):
            return f"a {type(item).__name__}{f' at {where}' if where else ''} cannot be sent as JSON"
    return None
