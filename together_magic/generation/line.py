"""Reading a ``%%imagine`` line into ``ImagineOptions``: tokens, ``{{ expr }}``, typed values.

This is the one place that evaluates user code (``{{ expr }}`` in the user's namespace), and every way a
line can be wrong (a bad expression, quotes that do not close, a value of the wrong type, text that cannot
be sent as UTF-8 JSON, an unknown option) becomes one ``OptionError`` line naming the option.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from keyword import iskeyword
from typing import Any, NoReturn

from .. import models
from ..config import parse_size
from ..errors import OptionError
from .flags import IDENTIFIER, MAX_VARY, OPTIONS, add_options
from .options import ImagineOptions
from .values import MAX_JSON_DEPTH, depth, integer, number, positive, rate

__all__ = ["check_text", "from_args", "interpolate", "parse_line", "parse_tokens", "split_line"]

INTERPOLATION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"__together_magic_(\d+)__")
MAX_LINE = 100_000


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
    if len(line) > MAX_LINE:
        raise OptionError(f"the %%imagine line is {len(line):,} characters; at most {MAX_LINE:,} are read")
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"__together_magic_{len(kept) - 1}__"

    text = check_text(line, "the %%imagine line")
    protected = INTERPOLATION.sub(keep, text)
    try:
        tokens = _shell_tokens(protected)
    except ValueError as exc:
        raise OptionError(f"could not read the options: {exc} (check the quotes)") from None
    literal = namespace is None or "--no-interpolate" in tokens
    if literal and kept and _braces_all_quoted(text):
        # Read as a shell reads it, quotes inside {{ }} included: "copy as code" quoted ``no {{ don't }}``
        # (or a ``{{`` in one value and ``}}`` in another) whole, and only a shell's reading gives it back.
        with contextlib.suppress(ValueError):
            return _shell_tokens(text)

    def restore(match: re.Match[str], keep: bool) -> str:
        index = int(match.group(1))
        if index >= len(kept):
            return match.group(0)
        original = kept[index]
        return original if keep else interpolate(original, namespace or {}, "the %%imagine line")

    # A --vary value keeps its {{ }}: the sweep evaluates it to a list of values (str() would flatten a
    # list, a range or an array into text).
    out = []
    for k, token in enumerate(tokens):
        as_written = literal or token.startswith("--vary=") or (k > 0 and tokens[k - 1] == "--vary")
        out.append(_PLACEHOLDER.sub(functools.partial(restore, keep=as_written), token))
    return out


def _shell_tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    return list(lexer)


def _braces_all_quoted(text: str) -> bool:
    """Whether every ``{{`` stands inside quotes, as in a line "copy as code" wrote (it quotes each value
    holding braces whole); a bare ``{{ a b }}`` typed on the line is not."""
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and quote != "'":
            i += 2
            continue
        if quote is None and text.startswith("{{", i):
            return False
        if char in "'\"" and quote in (None, char):
            quote = None if quote == char else char
        i += 1
    return True


# ---------------------------------------------------------------------------------- parsing
class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise OptionError(message)


_PARSER: argparse.ArgumentParser | None = None


def _parser() -> argparse.ArgumentParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = _RaisingParser(prog="%%imagine", add_help=False, allow_abbrev=False)
        add_options(_PARSER)
    return _PARSER


def option_strings() -> list[str]:
    return [flag for flags, _ in OPTIONS for flag in flags if flag.startswith("-")] + ["--no-upsample"]


_DASHES = "\x00--"
"""Stands in for a value that is exactly ``--`` while argparse reads the line (it drops a bare ``--``)."""


def _takes_value(flag: str) -> bool:
    action = _parser()._option_string_actions.get(flag)
    return action is not None and action.nargs != 0


def _shield_dashes(tokens: Sequence[str]) -> list[str]:
    """``--negative=--`` and ``--negative --`` mean the text ``--``: keep it from argparse's ``--`` rule."""
    shielded = []
    for i, token in enumerate(tokens):
        name, sep, value = token.partition("=")
        if sep and value == "--" and name.startswith("-") and _takes_value(name):
            token = f"{name}={_DASHES}"
        elif token == "--" and i > 0 and "=" not in tokens[i - 1] and _takes_value(tokens[i - 1]):
            token = _DASHES
        shielded.append(token)
    return shielded


def _unshield(value: Any) -> Any:
    if value == _DASHES:
        return "--"
    if isinstance(value, list):
        return [_unshield(item) for item in value]
    return value


def parse_tokens(tokens: Sequence[str]) -> argparse.Namespace:
    """Parse like argparse, but an unknown option is one line with a suggestion, and a value may be ``--``."""
    tokens = _shield_dashes(tokens)
    known = option_strings()
    for token in tokens:
        name = token.split("=", 1)[0]
        if token == "--":
            raise OptionError(
                "a bare -- stands for nothing here; to send the text --, give it to an option: --negative=--"
            )
        if token.startswith("--") and name not in known:
            guess = models.closest(name, [k for k in known if k.startswith("--")], cutoff=0.6)
            hint = f"; did you mean {guess}?" if guess else "; see %%imagine? for the options"
            raise OptionError(f"unknown option {name}{hint}")
    args, extra = _parser().parse_known_args(list(tokens))
    if extra:
        raise OptionError(f"unexpected {' '.join(extra)!r}; options start with - (see %%imagine?)")
    for name, value in vars(args).items():
        setattr(args, name, _unshield(value))
    return args


def typed_param(key: str, value: str) -> Any:
    """``-p key=value``: booleans, null, ints, finite floats and JSON are typed; the rest stays text."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise OptionError(f"-p {key}: {value!r} is not a number JSON can carry; use a finite number")
        return number
    if value[:1] in '[{"':
        try:
            loaded = json.loads(value, parse_constant=_no_constant)
        except RecursionError:
            raise OptionError(f"-p {key}: the JSON value is nested too deeply") from None
        except ValueError:
            raise OptionError(f"-p {key}: {value[:40]!r} looks like JSON but is not valid JSON") from None
        if depth(loaded) > MAX_JSON_DEPTH:
            raise OptionError(f"-p {key}: the JSON value is nested more than {MAX_JSON_DEPTH} levels")
        return loaded
    return check_text(value, f"-p {key}")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def parse_params(items: Sequence[str] | None) -> tuple[tuple[str, Any], ...]:
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not IDENTIFIER.match(key):
            raise OptionError(
                f"--param expects KEY=VALUE with KEY a field name (-p guidance_scale=4), got {item[:60]!r}"
            )
        params[key] = typed_param(key, value.strip())
    return tuple(params.items())


def parse_lora(text: str) -> tuple[str, float]:
    """``PATH[:SCALE]`` (scale 1 when omitted); a URL's own colons stay in the path (only a numeric tail
    is a scale)."""
    path, sep, tail = text.rpartition(":")
    if sep and path and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", tail):
        return path.strip(), float(tail)
    return text.strip(), 1.0


def from_args(args: argparse.Namespace, prompt: str | None) -> ImagineOptions:
    """Type the parsed text values, naming the option in every message."""
    width = integer("--width", args.width)
    height = integer("--height", args.height)
    size: str | None = None
    if args.size is not None:
        if width is not None or height is not None:
            raise OptionError("use either --size or --width/--height, not both")
        parsed = parse_size(args.size)
        if parsed is not None:
            size = f"{parsed[0]}x{parsed[1]}"
        elif re.fullmatch(r"\s*[124]K(\s+\d+:\d+)?\s*", args.size, re.IGNORECASE):
            size = " ".join(args.size.upper().split())
        else:
            raise OptionError(
                f"--size must look like WIDTHxHEIGHT (e.g. 1024x768) or 1K/2K/4K, got {args.size!r}"
            )
    fmt = args.format
    if fmt is not None and fmt.lower() not in ("jpeg", "jpg", "png"):
        raise OptionError(f"--format must be jpeg or png, got {fmt!r}")
    if args.out is not None and args.each is None and (not IDENTIFIER.match(args.out) or iskeyword(args.out)):
        raise OptionError(f"--out must be a Python variable name, got {args.out!r}")
    batch_only = [
        f
        for f, v in (
            ("--rpm", args.rpm),
            ("--concurrency", args.concurrency),
            ("--retry-failed", args.retry_failed),
            ("--new", args.new),
        )
        if v
    ]
    if batch_only and args.each is None:
        raise OptionError(f"{batch_only[0]} goes with --each (a batch); see %%imagine?")
    if args.model is not None and not args.model.strip():
        raise OptionError("--model is empty; leave it out to use Imagine.model, or name a model")
    if len(args.vary or []) > MAX_VARY:
        raise OptionError(
            f"--vary takes at most {MAX_VARY} axes (columns, rows, grids), got {len(args.vary)}"
        )
    return ImagineOptions(
        prompt=prompt,
        model=args.model.strip() if args.model else None,
        n=integer("--n", args.n),
        seed=integer("--seed", args.seed),
        width=width,
        height=height,
        size=size,
        aspect_ratio=args.aspect_ratio.strip() if args.aspect_ratio else None,
        steps=integer("--steps", args.steps),
        negative=check_text(args.negative, "--negative") if args.negative is not None else None,
        guidance=number("--guidance", args.guidance),
        format=None if fmt is None else ("jpeg" if fmt.lower() == "jpg" else fmt.lower()),
        image=args.image,
        references=tuple(args.reference or ()),
        loras=tuple(parse_lora(item) for item in args.lora or ()),
        upsample=args.upsample,
        params=parse_params(args.param),
        vary=tuple(args.vary or ()),
        each=args.each,
        rpm=rate("--rpm", args.rpm),
        concurrency=positive("--concurrency", args.concurrency),
        retry_failed=args.retry_failed,
        new=args.new,
        out=args.out,
        save=args.save,
        display=not args.no_display,
        cache=not args.no_cache,
        from_path=args.from_path,
        interpolate=not args.no_interpolate,
    )


def parse_line(line: str, body: str | None, namespace: dict[str, Any] | None = None) -> ImagineOptions:
    """A ``%%imagine`` line (and cell body, or None for ``%imagine``) -> options, ``{{ }}`` filled in.

    ``namespace=None`` leaves ``{{ }}`` literal (the command line has no namespace). With ``--each`` the
    body is a template filled per item later, so it is kept as written.
    """
    tokens = split_line(line, namespace)
    args = parse_tokens(tokens)
    if body is not None and args.prompt:
        raise OptionError(
            f"unexpected {' '.join(args.prompt)[:60]!r} on the %%imagine line: "
            "the prompt goes in the cell body and options start with -"
        )
    prompt = body if body is not None else " ".join(args.prompt)
    prompt = check_text(prompt, "the prompt").strip()
    if namespace is not None and not args.no_interpolate and args.each is None:
        prompt = interpolate(prompt, namespace)
    return from_args(args, prompt or None)
