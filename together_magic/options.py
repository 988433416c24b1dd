"""The options of ``%%imagine`` as one table and one typed value, ``ImagineOptions``.

argparse (the magic and the CLI), the panel's form and ``--from`` all produce an ``ImagineOptions``;
``ImagineOptions.to_line()`` is the single "copy as code", and it round-trips: parsing the line it writes
gives back the same options. Values are checked for their type here, with messages that name the option
(``--guidance must be a number, got 'abc'``); what a model accepts is checked one layer down, in ``plan``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from . import models
from .interpolate import OptionError, check_text

__all__ = ["OPTIONS", "ImagineOptions", "OptionError", "add_options", "magic_options", "parse_tokens"]

F = TypeVar("F", bound=Callable[..., Any])
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VARY = 3
_MAX_JSON_DEPTH = 32

ImageSource = str | bytes
"""A reference image: a path, URL or variable name as typed, or the bytes of an upload (the panel)."""


# (flags, argparse keyword arguments): the single definition behind %%imagine?, the panel and the CLI.
# Every value is read as text and typed by ``_convert`` below, so errors name the option our way.
OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("prompt",), {"nargs": "*", "help": "the prompt, quoted (line magic and command line)"}),
    (("-m", "--model"), {"metavar": "MODEL", "help": "model id (default: Imagine.model)"}),
    (("-n", "--n"), {"metavar": "N", "help": "number of images (each gets its own seed: S, S+1, ...)"}),
    (("-s", "--seed"), {"metavar": "SEED", "help": "seed; a random one is drawn and shown if omitted"}),
    (("-W", "--width"), {"metavar": "PX", "help": "width in pixels (within the model's range)"}),
    (("-H", "--height"), {"metavar": "PX", "help": "height in pixels (within the model's range)"}),
    (("--size",), {"metavar": "WxH", "help": "width and height at once (1024x768), or a preset (2K)"}),
    (("--aspect-ratio",), {"metavar": "W:H", "help": "aspect ratio (16:9...): no width/height is sent"}),
    (("--steps",), {"metavar": "N", "help": "denoising steps (default: the model's)"}),
    (("--negative",), {"metavar": "TEXT", "help": "negative prompt: what the image should not contain"}),
    (("-g", "--guidance"), {"metavar": "SCALE", "help": "guidance: how closely to follow the prompt"}),
    (("--format",), {"metavar": "jpeg|png", "help": "output format (default jpeg)"}),
    (("--image",), {"metavar": "IMAGE", "help": "image to edit: a file, a URL or a variable"}),
    (
        ("--reference",),
        {"action": "append", "metavar": "IMAGE", "help": "reference image (repeatable; FLUX.2, Gemini)"},
    ),
    (("--lora",), {"action": "append", "metavar": "PATH[:SCALE]", "help": "LoRA (repeatable, at most 2)"}),
    (
        ("--upsample",),
        {"action": argparse.BooleanOptionalAction, "help": "let the model rewrite the prompt (FLUX.2)"},
    ),
    (("-p", "--param"), {"action": "append", "metavar": "KEY=VALUE", "help": "any other API field"}),
    (("--vary",), {"action": "append", "metavar": "AXIS=VALUES", "help": "sweep an axis (up to 3)"}),
    (("--each",), {"metavar": "VAR", "help": "one generation per item of VAR (a batch); see --out"}),
    (("-o", "--out"), {"metavar": "NAME", "help": "bind the result to NAME (with --each: the folder)"}),
    (("--save",), {"metavar": "DIR", "help": "save the images in DIR with their parameters embedded"}),
    (("--no-display",), {"action": "store_true", "help": "do not show the images"}),
    (("--no-cache",), {"action": "store_true", "help": "ask the API even for a stored request"}),
    (("--from",), {"dest": "from_path", "metavar": "PATH", "help": "re-run the request saved in an image"}),
    (("--no-interpolate",), {"action": "store_true", "help": "keep {{ }} literally"}),
]

# Request fields -> the option a user typed, for messages (shared with plan).
FIELD_OPTIONS = {
    "prompt": "the prompt",
    "model": "--model",
    "n": "--n",
    "seed": "--seed",
    "width": "--width",
    "height": "--height",
    "aspect_ratio": "--aspect-ratio",
    "steps": "--steps",
    "negative_prompt": "--negative",
    "guidance_scale": "--guidance",
    "guidance": "--guidance",
    "output_format": "--format",
    "image_url": "--image",
    "reference_images": "--reference",
    "image_loras": "--lora",
    "prompt_upsampling": "--upsample",
}


@dataclass(frozen=True)
class ImagineOptions:
    """Everything a ``%%imagine`` line can say, typed. None means "not given" (defaults apply later)."""

    prompt: str | None = None
    model: str | None = None
    n: int | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    size: str | None = None
    """``WxH`` as typed with ``--size``, or a preset label (``2K``)."""
    aspect_ratio: str | None = None
    steps: int | None = None
    negative: str | None = None
    guidance: float | None = None
    format: str | None = None
    image: ImageSource | None = None
    references: tuple[ImageSource, ...] = ()
    loras: tuple[tuple[str, float | None], ...] = ()
    upsample: bool | None = None
    params: tuple[tuple[str, Any], ...] = ()
    vary: tuple[str, ...] = ()
    each: str | None = None
    out: str | None = None
    save: str | None = None
    display: bool = True
    cache: bool = True
    from_path: str | None = None
    interpolate: bool = True

    def replace(self, **changes: Any) -> ImagineOptions:
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------------------------- to text
    def tokens(self) -> list[str]:
        """The option tokens that express exactly these options (bytes images must be files first)."""
        out: list[str] = []

        def add(flag: str, value: object) -> None:
            text = _text(value)
            out.extend([f"{flag}={text}"] if text.startswith("-") else [flag, text])

        for name, flag in _SCALARS:
            value = getattr(self, name)
            if value is not None:
                add(flag, value)
        if isinstance(self.image, bytes) or any(isinstance(r, bytes) for r in self.references):
            raise ValueError("write uploaded images to files first (ImagineOptions.image holds bytes)")
        if self.image is not None:
            add("--image", self.image)
        for reference in self.references:
            add("--reference", reference)
        for path, scale in self.loras:
            add("--lora", path if scale is None else f"{path}:{scale:g}")
        if self.upsample is not None:
            out.append("--upsample" if self.upsample else "--no-upsample")
        for key, value in self.params:
            add("-p", f"{key}={value if isinstance(value, str) else json.dumps(value)}")
        for axis in self.vary:
            add("--vary", axis)
        for name, flag in (("each", "--each"), ("out", "--out"), ("save", "--save")):
            value = getattr(self, name)
            if value is not None:
                add(flag, value)
        if self.from_path is not None:
            add("--from", self.from_path)
        out += [] if self.display else ["--no-display"]
        out += [] if self.cache else ["--no-cache"]
        literal = not self.interpolate or "{{" in (self.prompt or "") or any("{{" in t for t in out)
        return [*out, "--no-interpolate"] if literal else out

    def to_line(self) -> str:
        """The ``%%imagine`` line (without the prompt, which is the cell body)."""
        return " ".join(["%%imagine", *(shlex.quote(t) for t in self.tokens())])

    def to_cell(self) -> str:
        """The whole cell: the line, then the prompt as the body."""
        return f"{self.to_line()}\n{self.prompt or ''}"


_SCALARS = (
    ("model", "--model"),
    ("n", "--n"),
    ("seed", "--seed"),
    ("width", "--width"),
    ("height", "--height"),
    ("size", "--size"),
    ("aspect_ratio", "--aspect-ratio"),
    ("steps", "--steps"),
    ("negative", "--negative"),
    ("guidance", "--guidance"),
    ("format", "--format"),
)


def _text(value: object) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else f"{value:g}" if abs(value) < 1e15 else repr(value)
    return str(value)


# ---------------------------------------------------------------------------------- parsing
def add_options(parser: argparse.ArgumentParser) -> None:
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)


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


def parse_tokens(tokens: Sequence[str]) -> argparse.Namespace:
    """Parse like argparse, but an unknown option is one line with a suggestion."""
    known = option_strings()
    for token in tokens:
        name = token.split("=", 1)[0]
        if token.startswith("--") and name not in known:
            guess = models.closest(name, [k for k in known if k.startswith("--")], cutoff=0.6)
            hint = f"; did you mean {guess}?" if guess else "; see %%imagine? for the options"
            raise OptionError(f"unknown option {name}{hint}")
    args, extra = _parser().parse_known_args(list(tokens))
    if extra:
        raise OptionError(f"unexpected {' '.join(extra)!r}; options start with - (see %%imagine?)")
    return args


def _integer(option: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise OptionError(f"{option} must be a whole number, got {value!r}") from None


def _number(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        raise OptionError(f"{option} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise OptionError(f"{option} must be a finite number, got {value!r}")
    return number


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
        if _depth(loaded) > _MAX_JSON_DEPTH:
            raise OptionError(f"-p {key}: the JSON value is nested more than {_MAX_JSON_DEPTH} levels")
        return loaded
    return check_text(value, f"-p {key}")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > _MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


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


def parse_lora(text: str) -> tuple[str, float | None]:
    """``PATH[:SCALE]``; a URL's own colons stay in the path (only a numeric tail is a scale)."""
    path, sep, tail = text.rpartition(":")
    if sep and path and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)\s*", tail):
        scale = float(tail)
        return path.strip(), scale
    return text.strip(), None


def from_args(args: argparse.Namespace, prompt: str | None) -> ImagineOptions:
    """Type the parsed text values, naming the option in every message."""
    from .config import parse_size

    width = _integer("--width", args.width)
    height = _integer("--height", args.height)
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
    if args.out is not None and args.each is None and not IDENTIFIER.match(args.out):
        raise OptionError(f"--out must be a Python variable name, got {args.out!r}")
    if len(args.vary or []) > MAX_VARY:
        raise OptionError(
            f"--vary takes at most {MAX_VARY} axes (columns, rows, grids), got {len(args.vary)}"
        )
    return ImagineOptions(
        prompt=prompt,
        model=args.model.strip() if args.model else None,
        n=_integer("--n", args.n),
        seed=_integer("--seed", args.seed),
        width=width,
        height=height,
        size=size,
        aspect_ratio=args.aspect_ratio.strip() if args.aspect_ratio else None,
        steps=_integer("--steps", args.steps),
        negative=check_text(args.negative, "--negative") if args.negative is not None else None,
        guidance=_number("--guidance", args.guidance),
        format=None if fmt is None else ("jpeg" if fmt.lower() == "jpg" else fmt.lower()),
        image=args.image,
        references=tuple(args.reference or ()),
        loras=tuple(parse_lora(item) for item in args.lora or ()),
        upsample=args.upsample,
        params=parse_params(args.param),
        vary=tuple(args.vary or ()),
        each=args.each,
        out=args.out,
        save=args.save,
        display=not args.no_display,
        cache=not args.no_cache,
        from_path=args.from_path,
        interpolate=not args.no_interpolate,
    )


def magic_options(func: F) -> F:
    """Decorate a magic with every option, in OPTIONS order, so ``%%imagine?`` shows the full help."""
    from IPython.core import magic_arguments

    for flags, kwargs in reversed(OPTIONS):
        func = magic_arguments.argument(*flags, **kwargs)(func)  # type: ignore[no-untyped-call]
    return magic_arguments.magic_arguments()(func)  # type: ignore[no-untyped-call,no-any-return]


def parse_line(line: str, body: str | None, namespace: dict[str, Any] | None = None) -> ImagineOptions:
    """A ``%%imagine`` line (and cell body, or None for ``%imagine``) -> options, ``{{ }}`` filled in.

    ``namespace=None`` leaves ``{{ }}`` literal (the command line has no namespace). With ``--each`` the
    body is a template filled per item later, so it is kept as written.
    """
    from .interpolate import interpolate, split_line

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


def from_request(payload: dict[str, Any], *, default_format: str = "base64") -> ImagineOptions:
    """The options that send exactly this request body (``copy as code`` for a response)."""
    import base64

    body = dict(payload)
    loras = tuple(
        (str(item.get("path")), float(item["scale"]) if item.get("scale") is not None else None)
        for item in body.pop("image_loras", None) or ()
        if isinstance(item, dict)
    )

    def source(value: Any) -> ImageSource:
        text = str(value)
        if text.startswith("data:") and ";base64," in text:
            return base64.b64decode(text.split(",", 1)[1])
        return text

    guidance = body.pop("guidance_scale", None)
    if guidance is None:
        guidance = body.pop("guidance", None)
    image = body.pop("image_url", None)
    upsample = body.pop("prompt_upsampling", None)
    if body.get("response_format") == default_format:
        body.pop("response_format")
    options = ImagineOptions(
        prompt=body.pop("prompt", None),
        model=body.pop("model", None),
        n=body.pop("n", None),
        seed=body.pop("seed", None),
        width=body.pop("width", None),
        height=body.pop("height", None),
        aspect_ratio=body.pop("aspect_ratio", None),
        steps=body.pop("steps", None),
        negative=body.pop("negative_prompt", None),
        guidance=float(guidance) if isinstance(guidance, int | float) else None,
        format=body.pop("output_format", None),
        image=source(image) if image is not None else None,
        references=tuple(source(r) for r in body.pop("reference_images", None) or ()),
        loras=loras,
        upsample=upsample if isinstance(upsample, bool) else None,
    )
    return options.replace(params=tuple((k, v) for k, v in body.items() if v is not None))
