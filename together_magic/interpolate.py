"""Reading a magic line: shell-like tokens and ``{{ expr }}`` filled in from the user's namespace.

Kept apart from the option table because it is the one place that evaluates user code, and every way it can
fail (a bad expression, a value that cannot be sent, quotes that do not close) must become one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["OptionError", "check_text", "interpolate", "split_line"]

INTERPOLATION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"__together_magic_(\d+)__")
MAX_LINE = 100_000


class OptionError(ValueError):
    """A mistake in the options or the prompt; its message is one line naming the option."""


def check_text(text: str, what: str) -> str:
    """Refuse text that cannot travel as UTF-8 JSON (lone surrogates from ``chr(0xd800)``, say)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise OptionError(
            f"{what} contains U+{ord(bad):04X}, a character that cannot be sent; remove it"
        ) from None
    return text


def interpolate(text: str, namespace: Mapping[str, Any], what: str = "the prompt") -> str:
    """Replace ``{{ expr }}`` with ``str(eval(expr))`` in the user's namespace; other braces stay."""

    def evaluate(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if not expr:
            raise OptionError(
                f"empty {{{{ }}}} in {what}; put a variable or expression inside, or use --no-interpolate"
            )
        try:
            scope = namespace if isinstance(namespace, dict) else dict(namespace)
            value = eval(expr, scope)  # the user's own namespace, as IPython's {var} expansion uses
            shown = str(value)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            detail = " ".join(str(exc).split())[:120]
            raise OptionError(
                f"{{{{ {expr[:60]} }}}} in {what} failed: {type(exc).__name__}: {detail} "
                "(use --no-interpolate for literal braces)"
            ) from None
        return check_text(shown, f"{{{{ {expr[:60]} }}}} in {what}")

    return INTERPOLATION.sub(evaluate, text)


def split_line(line: str, namespace: Mapping[str, Any] | None = None) -> list[str]:
    """Shell-like tokens (``--negative "blurry, text"`` stays whole), with ``{{ expr }}`` filled in.

    Each ``{{ ... }}`` is set aside before splitting, so ``--seed {{ base + i }}`` is one value however
    many spaces it holds; ``namespace=None`` or ``--no-interpolate`` leaves them as written.
    """
    import shlex

    if len(line) > MAX_LINE:
        raise OptionError(f"the %%imagine line is {len(line):,} characters; at most {MAX_LINE:,} are read")
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"__together_magic_{len(kept) - 1}__"

    protected = INTERPOLATION.sub(keep, check_text(line, "the %%imagine line"))
    try:
        lexer = shlex.shlex(protected, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        tokens = list(lexer)
    except ValueError as exc:
        raise OptionError(f"could not read the options: {exc} (check the quotes)") from None
    literal = namespace is None or "--no-interpolate" in tokens

    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(kept):
            return match.group(0)
        original = kept[index]
        return original if literal else interpolate(original, namespace or {}, "the %%imagine line")

    return [_PLACEHOLDER.sub(restore, token) for token in tokens]
