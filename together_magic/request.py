"""The one place where options become an ``ImageRequest``: the magic, the panel and the CLI all come here.

Everything a user can get wrong is caught here and reported as one ``OptionError`` line that names the
option and what it accepts; nothing is sent until the request is known to be well formed.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from .config import Imagine, parse_size
from .offline.catalogue import MODELS, find_model

if TYPE_CHECKING:
    from random import Random

    from .types import ImageRequest

__all__ = [
    "OPTIONS",
    "OptionError",
    "Plan",
    "add_options",
    "build_plan",
    "interpolate",
    "magic_code",
    "make_parser",
    "parse_tokens",
    "plan_from_line",
    "split_line",
]

F = TypeVar("F", bound=Callable[..., Any])
MAX_SEED = 2**32 - 1
_INTERPOLATION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class OptionError(ValueError):
    """A mistake in the options or the prompt; its message is one line naming the option."""


# (flags, argparse keyword arguments): the single definition behind %%imagine?, the panel and the CLI.
OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("prompt",),
        {
            "nargs": "*",
            "help": "the prompt, quoted (line magic and command line; the cell magic takes the cell body)",
        },
    ),
    (("-m", "--model"), {"metavar": "MODEL", "help": "model id (default: Imagine.model)"}),
    (("-n", "--n"), {"type": int, "metavar": "N", "help": "number of images, 1-4"}),
    (
        ("-s", "--seed"),
        {"type": int, "metavar": "SEED", "help": "seed; a random one is drawn and shown if omitted"},
    ),
    (("-W", "--width"), {"type": int, "metavar": "PX", "help": "width in pixels (a multiple of 8)"}),
    (("-H", "--height"), {"type": int, "metavar": "PX", "help": "height in pixels (a multiple of 8)"}),
    (("--size",), {"metavar": "WxH", "help": "width and height at once, e.g. 1024x768"}),
    (("--steps",), {"type": int, "metavar": "N", "help": "denoising steps (default: the model's)"}),
    (("--negative",), {"metavar": "TEXT", "help": "negative prompt: what the image should not contain"}),
    (
        ("-g", "--guidance"),
        {"type": float, "metavar": "SCALE", "help": "guidance_scale: how closely to follow the prompt"},
    ),
    (("--format",), {"choices": ["jpeg", "png"], "help": "output format (default jpeg)"}),
    (
        ("--image",),
        {"metavar": "PATH_OR_URL_OR_VARIABLE", "help": "reference image: a file, a URL or a variable"},
    ),
    (
        ("-p", "--param"),
        {"action": "append", "metavar": "KEY=VALUE", "help": "any other API field (repeatable)"},
    ),
    (("-o", "--out"), {"metavar": "NAME", "help": "also bind the ImageResponse to this variable"}),
    (("--save",), {"metavar": "DIR", "help": "save the images in DIR with their parameters embedded"}),
    (("--no-display",), {"action": "store_true", "help": "do not show the images"}),
    (("--no-cache",), {"action": "store_true", "help": "always ask the API, even for a cached request"}),
    (
        ("--from",),
        {"dest": "from_path", "metavar": "PATH", "help": "re-run the request stored in a saved image"},
    ),
    (("--no-interpolate",), {"action": "store_true", "help": "keep {{ }} in the prompt literally"}),
]

# Names of request fields as the user typed them, for translating validation errors.
FIELD_OPTIONS = {
    "prompt": "the prompt",
    "model": "--model",
    "n": "--n",
    "seed": "--seed",
    "width": "--width",
    "height": "--height",
    "steps": "--steps",
    "negative_prompt": "--negative",
    "guidance_scale": "--guidance",
    "output_format": "--format",
}


def add_options(parser: argparse.ArgumentParser) -> None:
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise OptionError(message)


def make_parser(prog: str = "%%imagine") -> argparse.ArgumentParser:
    """The options as an argparse parser that raises ``OptionError`` instead of exiting."""
    parser = _RaisingParser(prog=prog, add_help=False)
    add_options(parser)
    return parser


_PARSER: argparse.ArgumentParser | None = None


def plan_from_line(
    line: str, body: str | None, *, config: Imagine, namespace: Mapping[str, Any] | None = None
) -> Plan:
    """The whole path from a ``%%imagine`` line (and cell body, or None for ``%imagine``) to a plan.

    The magic and the panel both come through here, so a panel's "copy as code" cell, run as a
    magic, builds exactly the request the panel sent.
    """
    global _PARSER
    if _PARSER is None:
        _PARSER = make_parser()
    tokens = split_line(line, namespace if namespace is not None else {})
    literal = "--no-interpolate" in tokens
    args = parse_tokens(_PARSER, tokens)
    if body is not None and args.prompt:
        raise OptionError(
            f"unexpected {' '.join(args.prompt)!r} on the %%imagine line: "
            "the prompt goes in the cell body and options start with -"
        )
    prompt = body if body is not None else " ".join(args.prompt)
    if not literal:
        prompt = interpolate(prompt, namespace or {})
    return build_plan(args, prompt, config=config, namespace=namespace)


def magic_code(request: ImageRequest, *, image_variable: str | None = None) -> str:
    """The ``%%imagine`` cell that sends exactly ``request`` (the panel's "copy as code")."""
    import shlex

    payload = request.payload()
    tokens = ["-m", payload.pop("model"), "-n", str(payload.pop("n")), "-s", str(payload.pop("seed", 0))]
    tokens += ["-W", str(payload.pop("width")), "-H", str(payload.pop("height"))]
    prompt = str(payload.pop("prompt"))
    for field, flag in (("steps", "--steps"), ("guidance_scale", "-g"), ("negative_prompt", "--negative")):
        if field in payload:
            tokens += [flag, str(payload.pop(field))]
    if payload.get("output_format") in ("jpeg", "png"):
        tokens += ["--format", payload.pop("output_format")]
    payload.pop("response_format", None)
    reference = payload.pop("image_url", None)
    if reference is not None:
        tokens += [
            "--image",
            image_variable if image_variable and str(reference).startswith("data:") else str(reference),
        ]
    for key, value in payload.items():
        text = value if isinstance(value, str) else json.dumps(value)
        tokens += ["-p", f"{key}={text}"]
    if "{{" in prompt:
        tokens.append("--no-interpolate")
    return f"%%imagine {shlex.join(tokens)}\n{prompt}"


def magic_options(func: F) -> F:
    """Decorate a magic with every option, in OPTIONS order, so ``%%imagine?`` shows the full help."""
    from IPython.core import magic_arguments

    for flags, kwargs in reversed(OPTIONS):
        func = magic_arguments.argument(*flags, **kwargs)(func)  # type: ignore[no-untyped-call]
    return magic_arguments.magic_arguments()(func)  # type: ignore[no-untyped-call,no-any-return]


def split_line(line: str, namespace: Mapping[str, Any] | None = None) -> list[str]:
    """Shell-like tokens (``--negative "blurry, text"`` stays whole), with ``{{ expr }}`` filled in.

    Each ``{{ ... }}`` is set aside before splitting, so ``--seed {{ base + i }}`` is one value however
    many spaces it holds; ``namespace=None`` or ``--no-interpolate`` leaves them as written.
    """
    from IPython.utils.process import arg_split  # type: ignore[attr-defined]

    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"__together_magic_{len(kept) - 1}__"

    protected = _INTERPOLATION.sub(keep, line)
    try:
        tokens = list(arg_split(protected, posix=True, strict=True))
    except ValueError as exc:
        raise OptionError(f"could not read the options: {exc} (check the quotes)") from None
    literal = namespace is None or "--no-interpolate" in tokens

    def restore(match: re.Match[str]) -> str:
        original = kept[int(match.group(1))]
        return original if literal else interpolate(original, namespace or {})

    return [re.sub(r"__together_magic_(\d+)__", restore, token) for token in tokens]


def _option_strings() -> list[str]:
    return [flag for flags, _ in OPTIONS for flag in flags if flag.startswith("--")]


def parse_tokens(parser: argparse.ArgumentParser, tokens: Sequence[str]) -> argparse.Namespace:
    """Parse like argparse, but an unknown option is one line with a suggestion."""
    import difflib

    known = _option_strings()
    for token in tokens:
        if token.startswith("--") and token.split("=", 1)[0] not in known:
            name = token.split("=", 1)[0]
            if not any(flag.startswith(name) for flag in known):  # argparse accepts unique prefixes
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]}?" if close else "; see %%imagine? for the options"
                raise OptionError(f"unknown option {name}{hint}")
    try:
        args, extra = parser.parse_known_args(list(tokens))
    except SystemExit:  # plain argparse parsers exit; the magic's parser raises UsageError instead
        raise OptionError("could not read the options; see --help") from None
    if extra:
        raise OptionError(f"unexpected {' '.join(extra)!r}; options start with - (see %%imagine?)")
    return args


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace ``{{ expr }}`` with ``str(eval(expr))`` in the user's namespace; other braces stay."""

    def evaluate(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if not expr:
            raise OptionError(
                "empty {{ }} in the prompt; put a variable or expression inside, or use --no-interpolate"
            )
        try:
            scope = namespace if isinstance(namespace, dict) else dict(namespace)
            value = eval(expr, scope)  # the user's own namespace, as IPython's {var} expansion uses
        except Exception as exc:
            raise OptionError(
                f"{{{{ {expr} }}}} failed: {type(exc).__name__}: {exc} "
                "(use --no-interpolate for literal braces)"
            ) from None
        return str(value)

    return _INTERPOLATION.sub(evaluate, text)


@dataclass
class Plan:
    """What to send and what to do with the answer."""

    request: ImageRequest
    out: str | None = None
    save: Path | None = None
    display: bool = True
    cache: bool = True


def _typed(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    if value[:1] in '[{"':
        try:
            return json.loads(value)
        except ValueError:
            raise OptionError(f"--param value {value!r} looks like JSON but is not valid JSON") from None
    return value


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _IDENTIFIER.match(key):
            raise OptionError(
                f"--param expects KEY=VALUE with KEY a field name (e.g. -p guidance_scale=4), got {item!r}"
            )
        params[key] = _typed(value.strip())
    return params


def _image_to_data_url(data: bytes) -> str:
    from .types import sniff_format

    fmt = sniff_format(data)
    if fmt is None:
        raise OptionError("--image: the file or variable does not hold a JPEG, PNG, WebP or GIF image")
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"


def resolve_reference(value: str, namespace: Mapping[str, Any]) -> str:
    """``--image`` accepts a variable (PIL image, bytes, path, ImageResponse...), a URL or a file path."""
    if value.startswith(("http://", "https://", "data:")):
        return value
    if _IDENTIFIER.match(value) and value in namespace:
        return _reference_from_object(namespace[value], value)
    path = Path(value).expanduser()
    if path.is_file():
        return _image_to_data_url(path.read_bytes())
    raise OptionError(f"--image: no file, URL or variable named {value!r}")


def _reference_from_object(obj: Any, name: str) -> str:
    from .types import ImageChoicesData, ImageResponse

    if isinstance(obj, ImageResponse):
        if not obj.data:
            raise OptionError(f"--image: {name} holds no images")
        obj = obj.data[0]
    if isinstance(obj, ImageChoicesData):
        return _image_to_data_url(obj.image_bytes())
    if isinstance(obj, bytes | bytearray):
        return _image_to_data_url(bytes(obj))
    if isinstance(obj, str | Path):
        return resolve_reference(str(obj), {})
    if hasattr(obj, "save") and hasattr(obj, "mode"):  # a PIL image
        import io

        out = io.BytesIO()
        obj.convert("RGB").save(out, format="PNG")
        return _image_to_data_url(out.getvalue())
    raise OptionError(f"--image: {name} is a {type(obj).__name__}, not an image, path or URL")


def _size_from(args: argparse.Namespace, base: Mapping[str, Any], config: Imagine) -> tuple[int, int]:
    if args.size is not None:
        if args.width is not None or args.height is not None:
            raise OptionError("use either --size or --width/--height, not both")
        parsed = parse_size(args.size)
        if parsed is None:
            raise OptionError(f"--size must look like WIDTHxHEIGHT, e.g. 1024x768; got {args.size!r}")
        return parsed
    width = args.width if args.width is not None else base.get("width", config.width)
    height = args.height if args.height is not None else base.get("height", config.height)
    return int(width), int(height)


def check_fields(fields: Mapping[str, Any]) -> None:
    """Catch what the API would refuse, with the option's name instead of the field's."""
    spec = find_model(str(fields["model"]))
    n = fields["n"]
    if not isinstance(n, int) or not 1 <= n <= 4:
        raise OptionError(f"--n must be between 1 and 4, got {n}")
    low, high, multiple = (spec.min_size, spec.max_size, spec.size_multiple) if spec else (64, 4096, 8)
    for name in ("width", "height"):
        value = fields[name]
        if not isinstance(value, int) or not low <= value <= high or value % multiple:
            where = f" for {spec.id}" if spec else ""
            raise OptionError(
                f"--{name} must be a multiple of {multiple} between {low} and {high}{where}, got {value}"
            )
    steps = fields.get("steps")
    if steps is not None:
        top = spec.max_steps if spec else 100
        if not isinstance(steps, int) or not 1 <= steps <= top:
            raise OptionError(
                f"--steps must be between 1 and {top}{f' for {spec.id}' if spec else ''}, got {steps}"
            )
    seed = fields.get("seed")
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise OptionError(f"--seed must be between 0 and {MAX_SEED}, got {seed}")
    guidance = fields.get("guidance_scale")
    if guidance is not None and (not isinstance(guidance, int | float) or not 0 <= guidance <= 30):
        raise OptionError(f"--guidance must be between 0 and 30, got {guidance}")


def build_plan(
    args: argparse.Namespace,
    prompt: str,
    *,
    config: Imagine,
    namespace: Mapping[str, Any] | None = None,
    rng: Random | None = None,
) -> Plan:
    """Turn parsed options and a prompt (already interpolated) into a checked request and its handling."""
    import pydantic

    from .types import ImageRequest

    ns = namespace or {}
    base: dict[str, Any] = {}
    if args.from_path:
        from .metadata import read_parameters

        try:
            base = read_parameters(args.from_path).payload()
        except FileNotFoundError:
            raise OptionError(f"--from: no file {args.from_path!r}") from None
        except ValueError as exc:
            raise OptionError(f"--from: {exc}") from None
    prompt = prompt.strip() or str(base.get("prompt", "")).strip()
    if not prompt:
        raise OptionError("the prompt is empty: write it in the cell body (or quote it after %imagine)")
    width, height = _size_from(args, base, config)
    fields: dict[str, Any] = {
        **base,
        "prompt": prompt,
        "model": args.model or base.get("model") or config.model,
        "n": args.n if args.n is not None else base.get("n", config.n),
        "width": width,
        "height": height,
        "response_format": base.get("response_format", config.response_format),
    }
    steps = args.steps if args.steps is not None else base.get("steps", config.steps)
    guidance = args.guidance if args.guidance is not None else base.get("guidance_scale", config.guidance)
    optional = {
        "steps": steps,
        "guidance_scale": guidance,
        "negative_prompt": args.negative if args.negative is not None else base.get("negative_prompt"),
        "output_format": args.format or base.get("output_format"),
        "seed": args.seed if args.seed is not None else base.get("seed"),
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    if args.image:
        fields["image_url"] = resolve_reference(args.image, ns)
    fields.update(parse_params(args.param))
    if fields.get("seed") is None:
        import random

        fields["seed"] = (rng or random.SystemRandom()).randrange(MAX_SEED + 1)
    check_fields(fields)
    try:
        request = ImageRequest(**fields)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "?"
        option = FIELD_OPTIONS.get(field, f"--param {field}")
        raise OptionError(f"{option}: {first['msg']}, got {first.get('input')!r}") from None
    if args.out is not None and not _IDENTIFIER.match(args.out):
        raise OptionError(f"--out must be a Python variable name, got {args.out!r}")
    save = args.save or config.save_dir or None
    return Plan(
        request=request,
        out=args.out,
        save=Path(save).expanduser() if save else None,
        display=not args.no_display,
        cache=config.cache and not args.no_cache,
    )


def known_models() -> str:
    return ", ".join(MODELS)
