"""The table of ``%%imagine``'s options: flags, help and argparse settings, and nothing else.

Kept apart from ``options`` (the typed ``ImagineOptions``) because ``%load_ext`` needs only this table, for
``%%imagine?``'s help; the dataclass and its machinery load on the first generation.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["FIELD_OPTIONS", "IDENTIFIER", "MAX_VARY", "OPTIONS", "add_options"]

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VARY = 3


# (flags, argparse keyword arguments): the single definition behind %%imagine?, the panel and the CLI.
# Every value is read as text and typed by ``line.from_args``, so errors name the option our way.
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
    (
        ("--lora",),
        {"action": "append", "metavar": "PATH[:SCALE]", "help": "LoRA (retired models only: not served)"},
    ),
    (
        ("--upsample",),
        {"action": argparse.BooleanOptionalAction, "help": "let the model rewrite the prompt (FLUX.2 [pro])"},
    ),
    (("-p", "--param"), {"action": "append", "metavar": "KEY=VALUE", "help": "any other API field"}),
    (("--vary",), {"action": "append", "metavar": "AXIS=VALUES", "help": "sweep an axis (up to 3)"}),
    (("--each",), {"metavar": "VAR", "help": "one generation per item of VAR (a batch); see --out"}),
    (("--rpm",), {"metavar": "N", "help": "with --each: at most N requests a minute"}),
    (("--concurrency",), {"metavar": "N", "help": "with --each: at most N requests in flight"}),
    (("--retry-failed",), {"action": "store_true", "help": "with --each: run the failed items again"}),
    (("--new",), {"action": "store_true", "help": "with --each: start a new batch in a used folder"}),
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


def add_options(parser: argparse.ArgumentParser) -> None:
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)
